/** How commands print: one JSON document with --json, short plain text otherwise. */
import { toZflashError, type ZflashError } from '../errors.js';
import type { CliIo } from './io.js';

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printJsonLine(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Prints an error as one plain sentence, a hint and its stable code (stderr), or as
 * `{"type":"error","error":{...}}` on one line of stdout with --json. Returns the exit code to end with.
 */
export function reportError(io: CliIo, err: unknown, json: boolean): number {
  const e: ZflashError = toZflashError(err);
  if (json) {
    // One line, so it also ends a stream of JSON-lines progress events cleanly.
    printJsonLine(io, { type: 'error', error: e.toJSON() });
  } else {
    io.stderr.write(`error: ${e.message}\nhint: ${e.hint}\ncode: ${e.code}\n`);
    if (e.kind === 'bug' && e.details?.stack) io.stderr.write(`\n${String(e.details.stack)}\n`);
  }
  return e.exitCode;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'unknown size';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
