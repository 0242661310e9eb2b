/**
 * The privileged one-shot helper: `node helper/entry.js write --job FILE [--channel files]`.
 *
 * Fixed verb, the job in a file only its owner can read (never on the command line),
 * JSON lines out, the exit-code enum on exit — as VS Code's elevated `--file-write` does,
 * and unlike Etcher's unauthenticated localhost WebSocket. It stops by itself when its
 * parent goes away, through one of two channels:
 *
 * - stdio (no elevation, pkexec): events on stdout; the parent holds our stdin open and
 *   closing it (to cancel, or by dying) aborts the write. A signal would not reach a root
 *   process started by pkexec, EOF does.
 * - files (osascript, UAC): those do not connect the elevated process to the parent's pipes
 *   (`do shell script` returns output only at the end), so events are appended to
 *   `events.jsonl` beside the job, a `cancel` file there cancels, and the job's parentPid is
 *   polled. The events file must already exist, belong to the requester and not be a link:
 *   root never creates or follows a path the user chose.
 */
import { constants as fsc, existsSync, openSync, writeSync } from 'node:fs';
import { lstat, readFile, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ZflashError } from '../errors.js';
import { ExitCode, inputError, toZflashError } from '../errors.js';
import {
  CANCEL_FILE,
  EVENTS_FILE,
  HELPER_VERB,
  writeJobSchema,
  type HelperEvent,
} from './protocol.js';
import { runWriteJob } from './run-job.js';

type Emit = (e: HelperEvent) => void;

const stdoutEmit: Emit = (e) => {
  process.stdout.write(`${JSON.stringify(e)}\n`);
};

function requesters(): number[] {
  return [
    process.getuid?.(),
    Number(process.env['PKEXEC_UID']),
    Number(process.env['SUDO_UID']),
  ].filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
}

/** Opens the pre-made events file beside the job for appending, refusing links and strangers' files. */
async function openEventsFile(jobPath: string): Promise<Emit> {
  const path = join(dirname(jobPath), EVENTS_FILE);
  const refuse = () =>
    inputError(
      'ZFLASH_HELPER_JOB',
      "The helper refused its events file (missing, a link, or not the requester's).",
      'Start the flash again from Zeta Flash.',
    );
  const st = await lstat(path).catch(() => null);
  if (!st || !st.isFile()) throw refuse();
  if (process.platform !== 'win32' && (!requesters().includes(st.uid) || (st.mode & 0o077) !== 0))
    throw refuse();
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_APPEND | (fsc.O_NOFOLLOW ?? 0));
  return (e) => {
    writeSync(fd, `${JSON.stringify(e)}\n`);
  };
}

/** The job file must be a regular file, not a link, readable by its owner only, owned by the requester. */
async function readJob(path: string, keepDir: boolean): Promise<unknown> {
  const st = await lstat(path).catch(() => null);
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
    if (!requesters().includes(st.uid)) throw bad('it belongs to another user');
  }
  if (st.size > 256 * 1024) throw bad('it is too large');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } finally {
    // Read once, then gone: a job (the node's identity) must not outlive a parent that was
    // killed before it could clean up.
    await unlink(path).catch(() => undefined);
    if (!keepDir && basename(dirname(path)).startsWith('zflash-job-'))
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
  const [verb, flag, jobPath, ...rest] = argv;
  const files = rest.length === 2 && rest[0] === '--channel' && rest[1] === 'files';
  let emit: Emit = stdoutEmit;
  let parentPid: number | null = null;
  if (!files) {
    // Parent gone or asked us to stop: stdin reaches its end.
    process.stdin.on('end', abort);
    process.stdin.on('close', abort);
    process.stdin.on('error', abort);
    process.stdin.resume();
  }
  const parent = process.ppid;
  const watchdog = setInterval(() => {
    if (!files && process.ppid !== parent) abort();
    if (files && jobPath) {
      if (existsSync(join(dirname(jobPath), CANCEL_FILE))) abort();
      if (parentPid !== null && !isAlive(parentPid)) abort();
    }
  }, 250);
  watchdog.unref();

  try {
    if (verb !== HELPER_VERB || flag !== '--job' || !jobPath || (rest.length > 0 && !files)) {
      throw inputError(
        'ZFLASH_HELPER_USAGE',
        'The helper was started with unexpected arguments.',
        'Start the flash again from Zeta Flash.',
      );
    }
    if (files) emit = await openEventsFile(jobPath);
    const parsed = writeJobSchema.safeParse(await readJob(jobPath, files));
    if (!parsed.success) {
      throw inputError(
        'ZFLASH_HELPER_JOB',
        `The helper refused its job: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`,
        'Start the flash again from Zeta Flash.',
      );
    }
    parentPid = parsed.data.parentPid;
    const result = await runWriteJob(parsed.data, { signal: controller.signal, emit });
    emit(result);
    return ExitCode.ok;
  } catch (err) {
    const e: ZflashError = toZflashError(err);
    const { details, ...restJson } = e.toJSON();
    emit({
      type: 'error',
      error:
        e.kind === 'bug'
          ? { ...restJson, details: details ?? {} }
          : { ...restJson, ...(details ? { details } : {}) },
    });
    return e.exitCode;
  } finally {
    clearInterval(watchdog);
    if (!files) process.stdin.pause();
  }
}

/** Whether a process exists (EPERM: it does, but belongs to someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
