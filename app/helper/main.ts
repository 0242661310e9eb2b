/**
 * The privileged one-shot helper: `node helper/main.js write --job FILE`.
 *
 * Fixed verb, the job in a file only its owner can read (never on the command line),
 * JSON lines on stdout, the exit-code enum on exit. It stops by itself when its parent
 * goes away: the parent holds our stdin open, and closing it (on purpose to cancel, or by
 * dying) aborts the write — that works across pkexec/osascript, where the parent cannot
 * signal a root process. As VS Code's elevated `--file-write` does, and unlike Etcher's
 * unauthenticated localhost WebSocket.
 */
import { lstat, readFile, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { ZflashError } from '../errors.js';
import { ExitCode, inputError, toZflashError } from '../errors.js';
import { HELPER_VERB, writeJobSchema, type HelperEvent } from './protocol.js';
import { runWriteJob } from './run-job.js';

function emit(e: HelperEvent): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

/** The job file must be a regular file, not a link, readable by its owner only, owned by the requester. */
async function readJob(path: string): Promise<unknown> {
  const st = await lstat(path).catch(() => null);
  const requesters = [
    process.getuid?.(),
    Number(process.env['PKEXEC_UID']),
    Number(process.env['SUDO_UID']),
  ].filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  const bad = (why: string) =>
    inputError(
      'ZFLASH_HELPER_JOB',
      `The helper refused its job file: ${why}.`,
      'Start the flash again from Zeta Flash.',
      { path },
    );
  if (!st) throw bad('it does not exist');
  if (!st.isFile()) throw bad('it is not a regular file');
  if (process.platform !== 'win32') {
    if ((st.mode & 0o077) !== 0) throw bad('others can read or change it (mode must be 0600)');
    if (!requesters.includes(st.uid)) throw bad('it belongs to another user');
  }
  if (st.size > 256 * 1024) throw bad('it is too large');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } finally {
    // Read once, then gone: a job (the node's identity) must not outlive a parent that was
    // killed before it could clean up.
    await unlink(path).catch(() => undefined);
    if (basename(dirname(path)).startsWith('zflash-job-'))
      await rmdir(dirname(path)).catch(() => undefined);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw bad('it is not valid JSON');
  }
}

export async function helperMain(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.once('SIGHUP', abort);
  // Parent gone or asked us to stop: stdin reaches its end.
  process.stdin.on('end', abort);
  process.stdin.on('close', abort);
  process.stdin.on('error', abort);
  process.stdin.resume();
  const parent = process.ppid;
  const watchdog = setInterval(() => {
    if (process.ppid !== parent) abort();
  }, 500);
  watchdog.unref();

  try {
    const [verb, flag, jobPath, ...rest] = argv;
    if (verb !== HELPER_VERB || flag !== '--job' || !jobPath || rest.length > 0) {
      throw inputError(
        'ZFLASH_HELPER_USAGE',
        'The helper was started with unexpected arguments.',
        'Start the flash again from Zeta Flash.',
      );
    }
    const parsed = writeJobSchema.safeParse(await readJob(jobPath));
    if (!parsed.success) {
      throw inputError(
        'ZFLASH_HELPER_JOB',
        `The helper refused its job: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`,
        'Start the flash again from Zeta Flash.',
      );
    }
    const result = await runWriteJob(parsed.data, { signal: controller.signal, emit });
    emit(result);
    return ExitCode.ok;
  } catch (err) {
    const e: ZflashError = toZflashError(err);
    const { details, ...rest } = e.toJSON();
    emit({
      type: 'error',
      error:
        e.kind === 'bug'
          ? { ...rest, details: details ?? {} }
          : { ...rest, ...(details ? { details } : {}) },
    });
    return e.exitCode;
  } finally {
    clearInterval(watchdog);
    process.stdin.pause();
  }
}
