/**
 * A lock file beside the roster, so two Zeta Flash processes (two terminals, the CLI and
 * the app) never lose each other's entries in a read-modify-write.
 *
 * The lock is created with O_CREAT|O_EXCL (`wx`): creation either succeeds or fails with
 * EEXIST, atomically, and it refuses to follow a symlink planted at the lock path. It holds
 * `{pid, host, token, createdAt}` so a waiting process can tell a live holder from a dead
 * one. A roster transaction lasts milliseconds, so a lock is stale when its process is gone
 * (same host, `kill(pid, 0)` says ESRCH) or when it is older than `staleMs` (a reused pid,
 * a holder on another host sharing the folder, a lock left without content by a crash
 * between create and write). Waiting is bounded: past `timeoutMs` the caller gets
 * ZFLASH_ROSTER_LOCKED naming the holder and the file to delete.
 *
 * Breaking a stale lock: rename it aside, then check that the renamed file is the very inode
 * judged stale (fstat on the handle it was read through). If another breaker got there first
 * and a live process has since taken a new lock, the rename moved that live lock: it is put
 * back with link(), which cannot clobber a lock taken in the meantime. Only a third process
 * locking within that microsecond window could then run alongside; no lock-free scheme
 * without OS locks does better, and Node has no flock().
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { ioError } from '../errors.js';

export interface LockOptions {
  /** How long to wait for another holder before giving up (ms). */
  readonly timeoutMs?: number;
  /** A lock older than this is taken for abandoned whatever its pid (ms). */
  readonly staleMs?: number;
  readonly pollMs?: number;
  /** Side effects, injectable for tests. */
  readonly pid?: number;
  readonly host?: string;
  readonly isAlive?: (pid: number) => boolean;
  readonly now?: () => number;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;
export const DEFAULT_LOCK_STALE_MS = 60_000;

interface LockInfo {
  readonly pid: number | null;
  readonly host: string | null;
  readonly createdAt: number | null;
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

export function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function parseInfo(text: string): LockInfo {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    return {
      pid: Number.isInteger(v['pid']) && (v['pid'] as number) > 0 ? (v['pid'] as number) : null,
      host: typeof v['host'] === 'string' ? v['host'] : null,
      createdAt: typeof v['createdAt'] === 'string' ? Date.parse(v['createdAt']) || null : null,
    };
  } catch {
    return { pid: null, host: null, createdAt: null };
  }
}

function writeFailed(lockPath: string, err: unknown) {
  const e = err as NodeJS.ErrnoException;
  return ioError(
    'ZFLASH_ROSTER_WRITE_FAILED',
    `The roster's lock file ${lockPath} cannot be created: ${e.code ?? e.message}.`,
    'Check that the folder exists, is yours and is writable, and that the disk is not full.',
    { path: lockPath, errno: e.code ?? null },
  );
}

/** Renames the stale lock aside and removes it, or puts back a live lock moved by mistake. */
async function breakStale(lockPath: string, ino: number, dev: number): Promise<void> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another breaker was first
    throw err;
  }
  const st = await lstat(aside);
  if (st.ino !== ino || st.dev !== dev) {
    await link(aside, lockPath).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

export interface HeldLock {
  release(): Promise<void>;
}

/** Takes the lock or throws ZFLASH_ROSTER_LOCKED / ZFLASH_ROSTER_WRITE_FAILED. */
export async function acquireLock(lockPath: string, opts: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const staleMs = opts.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const pollMs = opts.pollMs ?? 20;
  const pid = opts.pid ?? process.pid;
  const host = opts.host ?? osHostname();
  const isAlive = opts.isAlive ?? pidIsAlive;
  const now = opts.now ?? Date.now;
  const token = randomBytes(8).toString('hex');
  const deadline = now() + timeoutMs;

  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      try {
        const { ino, dev } = await fh.stat();
        await fh
          .writeFile(
            `${JSON.stringify({ pid, host, token, createdAt: new Date(now()).toISOString() })}\n`,
          )
          .catch(async (err: unknown) => {
            await unlink(lockPath).catch(() => undefined);
            throw err;
          });
        return {
          release: async () => {
            // Remove only our own lock: if we overran staleMs and someone broke it, the
            // file at the path is theirs now.
            const st = await lstat(lockPath).catch(() => null);
            if (st && st.ino === ino && st.dev === dev) await unlink(lockPath).catch(() => {});
          },
        };
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailed(lockPath, err);
    }

    // Someone holds it: read who, through a handle, so the inode judged is the one broken.
    let fh;
    try {
      // O_NOFOLLOW: a symlink planted at the lock path is refused, not judged by its target.
      fh = await open(lockPath, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw writeFailed(lockPath, err);
    }
    const seen = await fh
      .stat()
      .then(async (st) => ({ st, info: parseInfo(await fh.readFile('utf8')) }))
      .finally(() => fh.close());
    const holder = seen.info;
    const age = now() - (holder.createdAt ?? seen.st.mtimeMs);
    const deadHere = holder.pid !== null && holder.host === host && !isAlive(holder.pid);
    const stale = deadHere || age > staleMs;
    const { ino, dev } = seen.st;
    if (stale) {
      await breakStale(lockPath, ino, dev).catch((err: unknown) => {
        throw writeFailed(lockPath, err);
      });
      if (now() < deadline) continue;
    }
    if (now() >= deadline) {
      const who =
        holder.pid === null
          ? 'Another Zeta Flash'
          : `Another Zeta Flash (process ${holder.pid}${holder.host && holder.host !== host ? ` on ${holder.host}` : ''})`;
      throw ioError(
        'ZFLASH_ROSTER_LOCKED',
        `${who} is updating the roster and did not finish within ${Math.round(timeoutMs / 1000)} s.`,
        `Try again in a moment. If no other Zeta Flash is running, delete ${lockPath}.`,
        { lockPath, pid: holder.pid, host: holder.host },
      );
    }
    await sleep(pollMs + Math.floor(Math.random() * pollMs));
  }
}

// Within one process, transactions on the same roster queue here first, so a watch that
// sees two nodes at once does not wait on its own lock file.
const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` while holding the lock at `lockPath`; releases it whatever `fn` does. */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const previous = queues.get(lockPath) ?? Promise.resolve();
  const run = previous
    .catch(() => undefined)
    .then(async () => {
      const lock = await acquireLock(lockPath, opts);
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    });
  queues.set(lockPath, run);
  try {
    return await run;
  } finally {
    if (queues.get(lockPath) === run) queues.delete(lockPath);
  }
}
