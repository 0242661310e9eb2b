/**
 * The unprivileged side of the helper: writes the job to a 0600 file in a private temp
 * folder, starts the helper (elevated when needed) with an argv array, reads its JSON
 * lines, and turns its end into a result or a ZflashError.
 *
 * Two channels (helper/main.ts): stdio where the elevated process keeps our pipes (no
 * elevation, pkexec) — cancelling closes its stdin; files where it does not (osascript,
 * UAC) — events are tailed from events.jsonl and cancelling creates the cancel file.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cancelledError, ioError, targetError, ZflashError } from '../errors.js';
import { elevationFor, isDismissed, type Elevation } from './elevation.js';
import {
  CANCEL_FILE,
  EVENTS_FILE,
  HELPER_VERB,
  helperEventSchema,
  type HelperEvent,
  type HelperResult,
  type WriteJobRequest,
} from './protocol.js';

export const HELPER_ENTRY = fileURLToPath(new URL('./entry.js', import.meta.url));

export type Channel = 'stdio' | 'files';

export interface RunHelperOptions {
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: HelperEvent) => void;
  /** Override for tests: the helper's process argv before `write --job FILE`. */
  readonly helperCommand?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly platform?: NodeJS.Platform;
  readonly isRoot?: boolean;
  /** Force a channel (tests run the files channel as root); default: by elevation kind. */
  readonly channel?: Channel;
}

export async function runHelper(
  request: WriteJobRequest,
  options: RunHelperOptions = {},
): Promise<HelperResult> {
  if (options.signal?.aborted) throw cancelledError();
  const platform = options.platform ?? process.platform;
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  const channel: Channel =
    options.channel ??
    (!isRoot && (platform === 'darwin' || platform === 'win32') ? 'files' : 'stdio');
  // Serialized as is; the helper parses it back with writeJobSchema, trusting nothing.
  const job = { ...request, parentPid: process.pid };
  const dir = await mkdtemp(join(tmpdir(), 'zflash-job-'));
  const jobPath = join(dir, 'job.json');
  try {
    await writeFile(jobPath, JSON.stringify(job), { mode: 0o600, flag: 'wx' });
    if (channel === 'files') {
      await writeFile(join(dir, EVENTS_FILE), '', { mode: 0o600, flag: 'wx' });
    }
    const argv = [
      ...(options.helperCommand ?? [process.execPath, HELPER_ENTRY]),
      HELPER_VERB,
      '--job',
      jobPath,
      ...(channel === 'files' ? ['--channel', 'files'] : []),
    ];
    const elevation = elevationFor({
      platform,
      isRoot,
      argv,
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
    return await spawnHelper(elevation, options, channel === 'files' ? dir : null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function spawnHelper(
  elevation: Exclude<Elevation, { kind: 'unavailable' }>,
  options: RunHelperOptions,
  filesDir: string | null,
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
      if (filesDir) writeFileSync(join(filesDir, CANCEL_FILE), '', { mode: 0o600 });
      // A helper that ignores both still goes: SIGTERM reaches it when not elevated.
      setTimeout(() => child.kill('SIGTERM'), 3000).unref();
    };
    options.signal?.addEventListener('abort', cancel, { once: true });

    const onLine = (line: string) => {
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
    };

    // files channel: tail events.jsonl; stdio: read the helper's stdout.
    let drain: () => void = () => undefined;
    if (filesDir) {
      const path = join(filesDir, EVENTS_FILE);
      let offset = 0;
      let partial = '';
      drain = () => {
        const fresh = readFileSync(path).subarray(offset);
        offset += fresh.length;
        const parts = (partial + fresh.toString('utf8')).split('\n');
        partial = parts.pop() ?? '';
        for (const l of parts) if (l) onLine(l);
      };
      const poll = setInterval(drain, 100);
      child.on('close', () => clearInterval(poll));
    } else {
      createInterface({ input: child.stdout }).on('line', onLine);
    }

    child.stdin.on('error', () => undefined);
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
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
      drain();
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
