/**
 * How the privileged helper opens the files its requester prepared (the job, the events
 * file) without being turned against files it was not meant to touch.
 *
 * Every check is made on the open handle, never on a path that could change between the
 * check and the use: a requester who owns a folder on the path can swap a file or a folder
 * for a link after any check by path (lstat, then read, then unlink let such a requester make
 * root read and delete a root-owned file). So: open once with O_NOFOLLOW (and O_NONBLOCK, so
 * a FIFO cannot hang us), fstat the handle, read through it. The helper never deletes by
 * path; when it must change a file (truncating the job once read, appending events) it
 * reopens it and goes on only if the new handle is the very inode it checked.
 *
 * "The requester" is exactly one uid (resolveRequester). Root is not a requester unless root
 * asked: a helper started by pkexec for uid 1000 refuses root's files.
 */
import { constants as fsc } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { inputError, type ZflashError } from '../errors.js';
import { MAX_JOB_BYTES } from './protocol.js';

// Not every platform defines these (Windows has none of them).
const O_NOFOLLOW = fsc.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fsc.O_NONBLOCK ?? 0;
const O_NOCTTY = fsc.O_NOCTTY ?? 0;

const UID = /^(0|[1-9]\d{0,9})$/;

export interface RequesterInput {
  /** Set by pkexec to the uid that ran it. */
  readonly pkexecUid: string | undefined;
  /** Set by sudo to the uid that ran it. */
  readonly sudoUid: string | undefined;
  /** `--requester UID`: what the client says it is (osascript and UAC set neither variable). */
  readonly argRequester: string | undefined;
  /** The helper's own uid; null where there are none (Windows). */
  readonly uid: number | null;
}

const usage = (why: string): ZflashError =>
  inputError(
    'ZFLASH_HELPER_USAGE',
    `The helper was started with unexpected arguments: ${why}.`,
    'Start the flash again from Zeta Flash.',
  );

function parseUid(value: string, what: string): number {
  if (!UID.test(value) || Number(value) > 0xffffffff) throw usage(`${what} is not a user id`);
  return Number(value);
}

/**
 * The one uid whose files the helper accepts: PKEXEC_UID if set, else SUDO_UID, else the
 * `--requester` the client passed, else the helper's own uid. Null on Windows, which has no
 * POSIX owners (a UAC-elevated process reads files by ACL).
 */
export function resolveRequester(input: RequesterInput): number | null {
  if (input.pkexecUid) return parseUid(input.pkexecUid, 'PKEXEC_UID');
  if (input.sudoUid) return parseUid(input.sudoUid, 'SUDO_UID');
  if (input.argRequester !== undefined) return parseUid(input.argRequester, '--requester');
  return input.uid;
}

type Why = (reason: string) => ZflashError;

const jobRefused =
  (path: string): Why =>
  (reason) =>
    inputError(
      'ZFLASH_HELPER_JOB',
      `The helper refused its job file: ${reason}.`,
      'Start the flash again from Zeta Flash.',
      { path },
    );

const eventsRefused =
  (path: string): Why =>
  (reason) =>
    inputError(
      'ZFLASH_HELPER_JOB',
      `The helper refused its events file: ${reason}.`,
      'Start the flash again from Zeta Flash.',
      { path },
    );

interface Owned {
  readonly isFile: () => boolean;
  readonly uid: number;
  readonly mode: number;
}

/** Owner-only and owned by the requester (skipped where there are no POSIX owners). */
function checkOwner(st: Owned, requester: number | null, bad: Why): void {
  if (requester === null) return;
  if (st.uid !== requester) throw bad(`it belongs to uid ${st.uid}, not to the requester`);
  if ((st.mode & 0o077) !== 0)
    throw bad(
      `others can read or change it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, must be 0600)`,
    );
}

/**
 * The job's folder: a real folder (not a link), the requester's, closed to others (0700),
 * which is what keeps anyone else from creating a `cancel` file or replacing events.jsonl.
 * By path, so it states the client's promise; the files in it are checked on their handles.
 */
export async function checkJobFolder(dir: string, requester: number | null): Promise<void> {
  const bad = (reason: string) =>
    inputError(
      'ZFLASH_HELPER_JOB',
      `The helper refused the folder of its job: ${reason}.`,
      'Start the flash again from Zeta Flash.',
      { path: dir },
    );
  const st = await lstat(dir).catch(() => null);
  if (!st) throw bad('it does not exist');
  if (st.isSymbolicLink()) throw bad('it is a link');
  if (!st.isDirectory()) throw bad('it is not a folder');
  if (requester === null) return;
  if (st.uid !== requester) throw bad(`it belongs to uid ${st.uid}, not to the requester`);
  if ((st.mode & 0o077) !== 0)
    throw bad(
      `others can enter it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, must be 0700)`,
    );
}

/** Opens `path` read-only without following a final link and checks the handle. */
async function openChecked(path: string, requester: number | null, bad: Why): Promise<FileHandle> {
  // A cheap first look, so the usual wrong path (a device, a folder) is never even opened;
  // what counts is the fstat below.
  const pre = await lstat(path).catch(() => null);
  if (!pre) throw bad('it does not exist');
  if (pre.isSymbolicLink()) throw bad('it is a link');
  if (!pre.isFile()) throw bad('it is not a regular file');
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(code === 'ELOOP' ? 'it is a link' : `it cannot be opened (${code ?? String(err)})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw bad('it is not a regular file');
    checkOwner(st, requester, bad);
    // Another name for the same file (a hard link) could be a file the requester does not own
    // on a system without protected_hardlinks (macOS has none).
    if (st.nlink !== 1) throw bad(`it has ${st.nlink} names (a hard link)`);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Reopens `path` with `flags` and returns the handle only if it is the inode `checked` is. */
async function reopenSame(
  path: string,
  checked: FileHandle,
  flags: number,
  bad: Why,
): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(code === 'ELOOP' ? 'it was replaced by a link' : `it cannot be opened (${code})`);
  }
  const [a, b] = await Promise.all([checked.stat({ bigint: true }), fh.stat({ bigint: true })]);
  if (a.dev !== b.dev || a.ino !== b.ino) {
    await fh.close();
    throw bad('it was replaced while it was being opened');
  }
  return fh;
}

/**
 * Reads the job through one checked handle (regular file, the requester's, 0600, one name,
 * at most MAX_JOB_BYTES), then empties that same file so the node's identity does not outlive
 * a requester killed before it could remove its folder. Never unlinks: the folder is the
 * requester's to remove (client.ts), and a path is not something root should delete by.
 */
export async function readJobFile(path: string, requester: number | null): Promise<string> {
  const bad = jobRefused(path);
  const fh = await openChecked(path, requester, bad);
  try {
    if ((await fh.stat()).size > MAX_JOB_BYTES) throw bad('it is too large');
    // The owner may still be writing to it: read at most one byte past the limit.
    const buf = Buffer.alloc(MAX_JOB_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > MAX_JOB_BYTES) throw bad('it is too large');
    }
    // If the path names another file by now, that file is left alone: what is parsed came
    // through the checked handle, and emptying is only a courtesy to a requester that died.
    const w = await reopenSame(path, fh, fsc.O_WRONLY, bad).catch(() => null);
    if (w) await w.truncate(0).finally(() => w.close());
    return buf.subarray(0, got).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Opens the events file the requester made for appending, after the same checks as the job. */
export async function openEventsFile(path: string, requester: number | null): Promise<FileHandle> {
  const bad = eventsRefused(path);
  const fh = await openChecked(path, requester, bad);
  try {
    return await reopenSame(path, fh, fsc.O_WRONLY | fsc.O_APPEND, bad);
  } finally {
    await fh.close();
  }
}
