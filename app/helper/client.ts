/**
 * The unprivileged side of the helper: writes the job to a 0600 file in a private temp
 * folder, starts the helper (elevated when needed) with an argv array, reads its JSON
 * lines, and turns its end into a result or a ZflashError. Cancelling closes the helper's
 * stdin, which it treats as "stop now" — a signal would not reach a root process.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cancelledError, ioError, targetError, ZflashError } from '../errors.js';
import { elevationFor, isDismissed, type Elevation } from './elevation.js';
import {
  HELPER_VERB,
  helperEventSchema,
  type HelperEvent,
  type HelperResult,
  type WriteJob,
} from './protocol.js';

export const HELPER_ENTRY = fileURLToPath(new URL('./entry.js', import.meta.url));

export interface RunHelperOptions {
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: HelperEvent) => void;
  /** Override for tests: the helper's process argv before `write --job FILE`. */
  readonly helperCommand?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly platform?: NodeJS.Platform;
  readonly isRoot?: boolean;
}

export async function runHelper(
  job: WriteJob,
  options: RunHelperOptions = {},
): Promise<HelperResult> {
  if (options.signal?.aborted) throw cancelledError();
  const dir = await mkdtemp(join(tmpdir(), 'zflash-job-'));
  const jobPath = join(dir, 'job.json');
  try {
    await writeFile(jobPath, JSON.stringify(job), { mode: 0o600, flag: 'wx' });
    const base = [
      ...(options.helperCommand ?? [process.execPath, HELPER_ENTRY]),
      HELPER_VERB,
      '--job',
      jobPath,
    ];
    const elevation = elevationFor({
      platform: options.platform ?? process.platform,
      isRoot: options.isRoot ?? process.getuid?.() === 0,
      argv: base,
      env: options.env ?? process.env,
      exists: existsSync,
    });
    if (elevation.kind === 'unavailable') {
      throw targetError(
        'ZFLASH_ELEVATION_UNAVAILABLE',
        `Zeta Flash cannot get the rights to write a drive: ${elevation.reason}.`,
        'Run the command as an administrator (for example with sudo).',
      );
    }
    return await spawnHelper(elevation, options);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function spawnHelper(
  elevation: Exclude<Elevation, { kind: 'unavailable' }>,
  options: RunHelperOptions,
): Promise<HelperResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(elevation.command, [...elevation.args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...(options.env ?? process.env) },
    });
    let result: HelperResult | null = null;
    let error: ZflashError | null = null;
    let stderr = '';
    let cancelled = false;

    const cancel = () => {
      cancelled = true;
      child.stdin.end();
      // A helper that ignores its stdin still goes: SIGTERM reaches it when not elevated.
      setTimeout(() => child.kill('SIGTERM'), 3000).unref();
    };
    options.signal?.addEventListener('abort', cancel, { once: true });

    child.stdin.on('error', () => undefined);
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let parsed;
      try {
        parsed = helperEventSchema.safeParse(JSON.parse(line));
      } catch {
        return;
      }
      if (!parsed.success) return;
      const e = parsed.data;
      if (e.type === 'result') result = e;
      else if (e.type === 'error') {
        const { kind, code, message, hint, details } = e.error;
        error = new ZflashError(kind, code, message, hint, details);
      }
      options.onEvent?.(e);
    });
    child.on('error', (err) => {
      options.signal?.removeEventListener('abort', cancel);
      reject(
        targetError(
          'ZFLASH_HELPER_START',
          `The writer could not be started: ${err.message}.`,
          'Reinstall Zeta Flash, or run it as an administrator.',
        ),
      );
    });
    child.on('close', (code) => {
      options.signal?.removeEventListener('abort', cancel);
      if (result && code === 0) return resolve(result);
      if (error) return reject(error);
      if (cancelled || isDismissed(elevation.kind, code, stderr)) return reject(cancelledError());
      reject(
        ioError(
          'ZFLASH_HELPER_DIED',
          `The writer process ended unexpectedly (exit ${code ?? 'by signal'}) without saying why.`,
          'Flash again; if it happens again, save the diagnostics and report it.',
          { exitCode: code, stderr: stderr.slice(-2000) },
        ),
      );
    });
  });
}
