/**
 * Downloads a Zeta installer image named by a verified release manifest into the cache:
 * into `<name>.part`, resuming with an HTTP range request after an interruption, flushed to
 * disk, then hashed against the manifest's SHA-256 and only then renamed to its final name.
 * A file that fails the check is deleted, so a half or forged image is never offered.
 * Nothing here needs elevated rights; the cache is the user's own folder.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { cancelledError, ioError, ZflashError } from '../errors.js';
import { cacheError, ensureCacheDir, pruneCache } from './cache.js';
import { DEFAULT_STALL_MS, describeFetchError, watchdog, type FetchLike } from './http.js';
import { isAllowedUrl, type ManifestImage } from './release-manifest.js';

export interface DownloadProgress {
  /** `verify`: hashing bytes already on disk (a cached image, or the part being resumed). */
  readonly phase: 'download' | 'verify';
  readonly bytes: number;
  readonly total: number;
  /** Bytes that were already on disk when this download started. */
  readonly resumedFrom: number;
}

export interface DownloadOptions {
  readonly cacheDir: string;
  readonly fetch?: FetchLike;
  readonly signal?: AbortSignal;
  readonly stallMs?: number;
  readonly onProgress?: (p: DownloadProgress) => void;
}

export interface DownloadResult {
  readonly path: string;
  readonly image: ManifestImage;
  /** The verified image was already in the cache; nothing was downloaded. */
  readonly cached: boolean;
  readonly resumedFrom: number;
  /** Older images and partial downloads of the same architecture that were deleted. */
  readonly pruned: readonly string[];
}

// Never follow a symlink planted at our file names (where the platform can say so).
const NOFOLLOW = fsc.O_NOFOLLOW ?? 0;
const CHUNK = 1024 * 1024;
const cancelText =
  'The download was cancelled; what arrived is kept and the next download resumes from there.';

function corrupt(image: ManifestImage, what: string, details: Record<string, unknown> = {}) {
  return ioError(
    'ZFLASH_DOWNLOAD_CORRUPT',
    `The downloaded Zeta installer ${image.version} (${image.arch}) ${what}; the file was deleted.`,
    'Try again; if it happens again, the download is being tampered with or the mirror is broken — report it.',
    { url: image.url, expectedSha256: image.sha256, expectedSize: image.size, ...details },
  );
}

function failed(image: ManifestImage, why: string, kept: number) {
  return ioError(
    'ZFLASH_DOWNLOAD_FAILED',
    `Downloading the Zeta installer ${image.version} (${image.arch}) failed (${why}).`,
    kept > 0
      ? 'Check the internet connection and run the download again: it resumes where it stopped.'
      : 'Check the internet connection (and a proxy, if one is needed), then try again.',
    { url: image.url, why, bytesKept: kept },
  );
}

/** Progress at most ~200 times per file, whatever the chunk size: deterministic, no clock. */
function progressGate(total: number, onProgress: DownloadOptions['onProgress']) {
  const step = Math.max(CHUNK, Math.floor(total / 200));
  let last = -Infinity;
  return (p: DownloadProgress, force = false) => {
    if (!onProgress) return;
    if (force || p.bytes - last >= step || p.bytes === p.total) {
      last = p.bytes;
      onProgress(p);
    }
  };
}

async function hashPrefix(
  fh: FileHandle,
  length: number,
  hash: Hash,
  report: (bytes: number) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const buf = Buffer.alloc(CHUNK);
  let pos = 0;
  while (pos < length) {
    if (signal?.aborted) throw cancelledError();
    const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, length - pos), pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
    report(pos);
  }
}

async function openNoFollow(path: string, flags: number): Promise<FileHandle | null> {
  try {
    return await open(path, flags | NOFOLLOW, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') {
      // Something put a link where our file goes: remove the link (never its target).
      await unlink(path);
      return null;
    }
    throw err;
  }
}

/** A verified image already in the cache, or null. A mismatching one is deleted. */
async function checkCached(
  image: ManifestImage,
  path: string,
  opts: DownloadOptions,
): Promise<boolean> {
  const fh = await openNoFollow(path, fsc.O_RDONLY);
  if (!fh) return false;
  try {
    const st = await fh.stat();
    if (st.isFile() && st.size === image.size) {
      const hash = createHash('sha256');
      const gate = progressGate(image.size, opts.onProgress);
      await hashPrefix(
        fh,
        image.size,
        hash,
        (bytes) => gate({ phase: 'verify', bytes, total: image.size, resumedFrom: 0 }),
        opts.signal,
      );
      if (hash.digest('hex') === image.sha256) return true;
    }
  } finally {
    await fh.close();
  }
  await unlink(path);
  return false;
}

function parseContentRange(h: string | null): { start: number; total: number | null } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h?.trim() ?? '');
  if (!m) return null;
  return { start: Number(m[1]), total: m[3] === '*' ? null : Number(m[3]) };
}

export async function downloadImage(
  image: ManifestImage,
  opts: DownloadOptions,
): Promise<DownloadResult> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  const finalPath = join(opts.cacheDir, image.fileName);
  const partPath = `${finalPath}.part`;
  await ensureCacheDir(opts.cacheDir);

  const wrapFs = (err: unknown, action: string): never => {
    if (err instanceof ZflashError) throw err;
    throw cacheError(opts.cacheDir, err, action);
  };

  if (await checkCached(image, finalPath, opts).catch((e) => wrapFs(e, 'read'))) {
    const pruned = await pruneCache(opts.cacheDir, image.arch, [image.fileName]);
    return { path: finalPath, image, cached: true, resumedFrom: 0, pruned };
  }

  const fh =
    (await openNoFollow(partPath, fsc.O_RDWR | fsc.O_CREAT).catch((e) => wrapFs(e, 'written'))) ??
    (await open(partPath, fsc.O_RDWR | fsc.O_CREAT | NOFOLLOW, 0o644).catch((e) =>
      wrapFs(e, 'written'),
    ));
  let removePart = false;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw cacheError(opts.cacheDir, new Error('EISDIR'), 'written');
    let have = st.size;
    if (have > image.size) {
      await fh.truncate(0);
      have = 0;
    }
    const resumedFrom = have;
    let hash = createHash('sha256');
    const gate = progressGate(image.size, opts.onProgress);
    await hashPrefix(
      fh,
      have,
      hash,
      (bytes) => gate({ phase: 'verify', bytes, total: image.size, resumedFrom }),
      opts.signal,
    );

    // One try with a range; a server that cannot honour it gets one plain try from zero.
    for (let attempt = 0; have < image.size; attempt++) {
      if (attempt > 1) throw failed(image, 'the server does not serve the file consistently', have);
      const dog = watchdog(opts.signal, stallMs);
      try {
        let res: Response;
        try {
          res = await doFetch(image.url, {
            signal: dog.signal,
            redirect: 'follow',
            headers: {
              'accept-encoding': 'identity',
              ...(have > 0 ? { range: `bytes=${have}-` } : {}),
            },
          });
        } catch (err) {
          if (opts.signal?.aborted) throw cancelledError(cancelText);
          throw failed(image, dog.stalled ? 'no answer' : describeFetchError(err), have);
        }
        if (res.url && !isAllowedUrl(new URL(res.url))) {
          await res.body?.cancel().catch(() => undefined);
          throw failed(image, `redirected to ${res.url}, which is not https`, have);
        }
        if (res.status === 416 || (res.status === 206 && have === 0)) {
          // The server disagrees about what we hold: start over from zero.
          await res.body?.cancel().catch(() => undefined);
          await fh.truncate(0);
          have = 0;
          hash = createHash('sha256');
          continue;
        }
        if (res.status === 206) {
          const range = parseContentRange(res.headers.get('content-range'));
          if (range?.total != null && range.total !== image.size) {
            await res.body?.cancel().catch(() => undefined);
            removePart = true;
            throw corrupt(image, `is ${range.total} bytes on the server, not ${image.size}`);
          }
          if (!range || range.start !== have) {
            await res.body?.cancel().catch(() => undefined);
            await fh.truncate(0);
            have = 0;
            hash = createHash('sha256');
            continue;
          }
        } else if (res.status === 200) {
          const declared = res.headers.get('content-length');
          if (declared !== null && Number(declared) !== image.size) {
            await res.body?.cancel().catch(() => undefined);
            removePart = true;
            throw corrupt(image, `is ${declared} bytes on the server, not ${image.size}`);
          }
          if (have > 0) {
            // The server ignored the range and sends the whole file.
            await fh.truncate(0);
            have = 0;
            hash = createHash('sha256');
          }
        } else {
          await res.body?.cancel().catch(() => undefined);
          throw failed(image, `HTTP ${res.status}`, have);
        }
        const startedAt = have;
        try {
          for await (const chunk of res.body ?? []) {
            dog.touch();
            if (have + chunk.length > image.size) {
              removePart = true;
              throw corrupt(image, `is larger than the ${image.size} bytes the manifest names`);
            }
            let off = 0;
            while (off < chunk.length) {
              const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, have + off);
              off += bytesWritten;
            }
            hash.update(chunk);
            have += chunk.length;
            gate({ phase: 'download', bytes: have, total: image.size, resumedFrom });
          }
        } catch (err) {
          if (err instanceof ZflashError) throw err;
          if (opts.signal?.aborted) throw cancelledError(cancelText);
          const errno = (err as NodeJS.ErrnoException).code;
          if (errno === 'ENOSPC' || errno === 'EIO' || errno === 'EDQUOT')
            throw cacheError(opts.cacheDir, err, 'written');
          throw failed(image, dog.stalled ? 'the transfer stalled' : describeFetchError(err), have);
        }
        if (have < image.size) {
          throw failed(
            image,
            `the connection ended after ${have - startedAt} bytes, ${image.size - have} short`,
            have,
          );
        }
      } finally {
        dog.dispose();
      }
    }

    await fh.sync().catch((e) => wrapFs(e, 'written'));
    const digest = hash.digest('hex');
    if (digest !== image.sha256) {
      removePart = true;
      throw corrupt(image, `does not match the SHA-256 the signed manifest names`, {
        actualSha256: digest,
      });
    }
    await fh.close();
    await rename(partPath, finalPath).catch((e) => wrapFs(e, 'written'));
    await syncDir(opts.cacheDir);
    const pruned = await pruneCache(opts.cacheDir, image.arch, [image.fileName]);
    return { path: finalPath, image, cached: false, resumedFrom, pruned };
  } finally {
    await fh.close().catch(() => undefined);
    if (removePart) await unlink(partPath).catch(() => undefined);
  }
}

/** Makes the rename durable where the platform allows opening a folder (not Windows). */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const d = await open(dir, fsc.O_RDONLY).catch(() => null);
  if (!d) return;
  await d.sync().catch(() => undefined);
  await d.close();
}
