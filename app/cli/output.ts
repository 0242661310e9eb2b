/**
 * How commands print. Text for people: results on stdout, notices and errors on stderr.
 * With --json: JSON lines on stdout, one object per line, each with a `type`
 * (docs/cli.md lists them); errors are `{"type":"error","error":{…}}`.
 */
import { toZflashError, type ZflashError } from '../errors.js';
import { cliHint } from './hints.js';
import type { CliIo } from './io.js';

export { formatSize } from '../format.js';

export interface Noticeable {
  readonly code: string;
  readonly message: string;
}

/** One JSON object on one line. Nothing is written once the reader has gone (EPIPE). */
export function printJsonLine(
  io: CliIo,
  value: { readonly type: string } & Readonly<Record<string, unknown>>,
): void {
  if (io.stdout.destroyed || io.stdout.writableEnded) return;
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printNotices(io: CliIo, notices: readonly Noticeable[], json: boolean): void {
  for (const n of notices) {
    if (json) printJsonLine(io, { type: 'notice', code: n.code, message: n.message });
    else io.stderr.write(`note: ${n.message}\n`);
  }
}

/** Reasons a drive was refused, when the error carries them (details.reasons: [{message}]). */
function reasonList(e: ZflashError): string[] {
  const reasons = e.details?.['reasons'];
  if (!Array.isArray(reasons)) return [];
  return reasons
    .map((r) => (typeof r === 'object' && r !== null ? (r as { message?: unknown }).message : null))
    .filter((m): m is string => typeof m === 'string')
    .map((m) => `  - ${m}`);
}

/**
 * Prints an error: one sentence, the reasons as a list when there are several, the hint and
 * the stable code (stderr); with --json one `{"type":"error"}` line on stdout.
 * Returns the exit code to end with.
 */
export function reportError(io: CliIo, err: unknown, json: boolean): number {
  const e: ZflashError = toZflashError(err);
  const hint = cliHint(e);
  if (json) {
    printJsonLine(io, { type: 'error', error: { ...e.toJSON(), hint } });
  } else {
    const reasons = reasonList(e);
    io.stderr.write(
      [`error: ${e.message}`, ...reasons, `hint: ${hint}`, `code: ${e.code}`, ''].join('\n'),
    );
    if (e.kind === 'bug' && e.details?.['stack'])
      io.stderr.write(`\n${String(e.details['stack'])}\n`);
  }
  return e.exitCode;
}
