/**
 * The write + verify pipeline, in four steps: wipe (the old tables), pump (the overlaid
 * image from 1 MiB on), head (the first MiB, holding the partition tables, written last and
 * made durable), verify (everything read back through the same handle and compared block by
 * block). The blocks come from block-source.ts: the image with the ESP patch substituted.
 *
 * Our own loop rather than etcher-sdk's decompressThenFlash because that has no "first MiB
 * last" ordering, and because knowing the offset of every block lets failures say where
 * they happened. The device is opened by destination.ts (our unmount, O_DIRECT, O_EXCL).
 *
 * Several reads and writes are in flight at once (`depth`): a device served one request at
 * a time idles between them, and the image is read and hashed while the device works. A
 * cancelled or failed flash never leaves I/O running behind it, and never leaves a stick
 * that looks finished: its error says what state the target was left in (`details.state`).
 */
import { stat } from 'node:fs/promises';
import { cancelledError, ioError, targetError, ZflashError } from '../errors.js';
import { imageTooShortError } from '../image/image-errors.js';
import { openImageStream } from '../image/image-source.js';
import type { ImageSourceInfo } from '../image/image-types.js';
import type { Extent } from '../disk/device.js';
import { applyPatch, BlockPool, openImageBlocks, type BlockSource } from './block-source.js';
import { alignedBuffer, type Destination } from './destination.js';
import { ProgressThrottle, type FlashProgress } from './progress.js';
import { distinctSizes, formatSize } from '../format.js';
import { loadXxhash } from '../native.js';

export { applyPatch } from './block-source.js';

const SEED = Buffer.alloc(8);

const MiB = 1024 * 1024;
export const HEAD_BYTES = MiB;
const SECTOR = 512;

/** How the pipeline cuts its I/O. bench/flash-io.ts measures the choices. */
export interface IoTuning {
  /** Bytes per read and per write: a whole number of MiB. */
  readonly blockBytes: number;
  /** Writes (and, ahead of them, image reads) in flight at once; verify reads likewise. */
  readonly depth: number;
}

/**
 * 2 MiB × 2, measured with bench/flash-io.ts on a loop device with direct I/O (512 MiB, three
 * runs, each ratio over a dd run just before it): one request at a time took 1.06–1.44× dd's
 * time for write + verify; two in flight 0.82–0.90×; three or four, or 4–8 MiB blocks, no
 * better (Node's 4 libuv threads serve the image reads and the device I/O alike). On a USB
 * stick the kernel splits requests to max_sectors_kb anyway: a second request queued keeps the
 * stick busy, and few bytes in flight (4 MiB) keep a cancel prompt at 10 MB/s. Memory:
 * (2 × depth + 1) blocks, 10 MiB.
 */
export const DEFAULT_IO: IoTuning = { blockBytes: 2 * MiB, depth: 2 };
export const BLOCK_BYTES = DEFAULT_IO.blockBytes;

/**
 * What a flash that did not finish left on the target, in `details.state` of its error:
 * - `untouched`: nothing was written;
 * - `no-partition-table`: the first MiB is zeros (wiped before anything else), the image
 *   written partly, or wholly without its first MiB;
 * - `wiped-again`: the whole image was written, then its first MiB was wiped again;
 * - `complete-but-unverified`: the whole image with its partition tables is there, not
 *   verified (wiping it again failed; read back, the first MiB is the image's);
 * - `unknown`: a write at the very start failed, or wiping again failed and the first MiB
 *   could not be read back or is neither zeros nor the image's.
 */
export type TargetState =
  'untouched' | 'no-partition-table' | 'wiped-again' | 'complete-but-unverified' | 'unknown';

export interface WriteJob {
  readonly image: ImageSourceInfo;
  readonly patch: readonly Extent[];
  readonly destination: Destination;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: FlashProgress) => void;
  /** Read the written range back and compare (default true). */
  readonly verify?: boolean;
  /** Block size and queue depth (default DEFAULT_IO). */
  readonly io?: Partial<IoTuning>;
  /**
   * Where the overlaid blocks come from, opened once the target is wiped: by default
   * `openImageBlocks(image, patch, …)`. write-many.ts hands each stick its own view of one
   * shared read, with that stick's patch on top. It must yield the image with `patch`
   * applied: a verify mismatch is located by reading `image` again and applying `patch`.
   */
  readonly source?: (o: { chunkBytes: number; signal?: AbortSignal }) => Promise<BlockSource>;
}

export interface WriteResult {
  readonly bytesWritten: number;
  /** XXH128 of the overlaid stream as written (every block of it read back equal, when verified). */
  readonly digest: string;
  readonly verified: boolean;
}

const alignUp = (n: number) => Math.ceil(n / SECTOR) * SECTOR;
/** Sizes in the one unit system every screen uses (app/format.ts). */
const sizeText = (n: number) => formatSize(n);
const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException)?.code ?? String(err);
/** Length to write or read at the end of the image: drives take whole sectors. */
const ioLength = (dest: Destination, n: number) => (dest.kind === 'drive' ? alignUp(n) : n);

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}

async function stillThere(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function tuning(io: Partial<IoTuning> | undefined): IoTuning {
  const t = { ...DEFAULT_IO, ...io };
  if (!Number.isSafeInteger(t.blockBytes) || t.blockBytes < MiB || t.blockBytes % MiB) {
    throw new RangeError(`blockBytes must be a whole number of MiB, not ${t.blockBytes}`);
  }
  if (!Number.isSafeInteger(t.depth) || t.depth < 1 || t.depth > 64) {
    throw new RangeError(`depth must be 1..64, not ${t.depth}`);
  }
  return t;
}

// --- failures -------------------------------------------------------------------------------

/**
 * Turns a failed write at `offset` into what happened: the drive vanished, or it takes
 * data below some point but not above (a fake-capacity stick), or a plain I/O error.
 */
async function classifyWriteFailure(
  dest: Destination,
  offset: number,
  err: unknown,
): Promise<ZflashError> {
  if (err instanceof ZflashError) return err;
  const errno = errnoOf(err);
  if (dest.kind === 'drive' && !(await stillThere(dest.path))) {
    return ioError(
      'ZFLASH_DRIVE_VANISHED',
      `The drive ${dest.path} disappeared while writing at ${sizeText(offset)}.`,
      'Keep the stick plugged in; replug it and flash again.',
      { offset },
    );
  }
  if (dest.kind === 'file' && (errno === 'ENOSPC' || errno === 'EFBIG')) {
    return targetError(
      'ZFLASH_TARGET_FULL',
      `The disk holding ${dest.path} ran out of space at ${sizeText(offset)}.`,
      'Free some space or write the image file elsewhere.',
      { offset },
    );
  }
  if (dest.kind === 'drive') {
    const fake = () =>
      ioError(
        'ZFLASH_FAKE_CAPACITY',
        `The stick stopped taking data at ${sizeText(offset)} although it reports ${sizeText(dest.capacity)}: it holds less than it claims (a fake-capacity stick) or is failing there.`,
        'Use another stick; this one loses data past that point.',
        { offset, claimed: dest.capacity, errno },
      );
    // A drive that says "no space" below the capacity it reported is lying about its size.
    if (errno === 'ENOSPC') return fake();
    // Otherwise rewrite a block that already took data, well below the failure: if that
    // works, the failure depends on the offset — again a stick that holds less than it claims.
    if (offset >= 2 * BLOCK_BYTES) {
      const probeAt = Math.floor(offset / 2 / BLOCK_BYTES) * BLOCK_BYTES;
      const probe = alignedBuffer(SECTOR * 8);
      try {
        if ((await dest.read(probe, probe.length, probeAt)) === probe.length) {
          await dest.write(probe, probe.length, probeAt);
          await dest.sync();
          return fake();
        }
      } catch {
        // the probe failed as well: a general I/O failure
      }
    }
  }
  return ioError(
    'ZFLASH_WRITE_FAILED',
    `Writing to ${dest.path} failed at offset ${offset} (${sizeText(offset)}): ${errno}.`,
    'The drive may be failing or write-protected; try another stick or port.',
    { offset, errno },
  );
}

async function readFailure(dest: Destination, offset: number, err: unknown): Promise<ZflashError> {
  if (dest.kind === 'drive' && !(await stillThere(dest.path))) {
    return ioError(
      'ZFLASH_DRIVE_VANISHED',
      `The drive ${dest.path} disappeared during verification.`,
      'Keep the stick plugged in; replug it and flash again.',
      { offset },
    );
  }
  return ioError(
    'ZFLASH_READ_FAILED',
    `Reading ${dest.path} back failed at offset ${offset}.`,
    'The stick may be failing; try another one.',
    { offset, errno: errnoOf(err) },
  );
}

/** Reads the overlaid source again from `offset` to find the first byte that differs from `got`. */
async function firstDifference(job: WriteJob, offset: number, got: Buffer): Promise<number> {
  const stream = openImageStream(job.image, {
    start: offset,
    highWaterMark: got.length,
    ...(job.signal ? { signal: job.signal } : {}),
  });
  const want = Buffer.alloc(got.length);
  let filled = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const n = Math.min(chunk.length, want.length - filled);
      chunk.copy(want, filled, 0, n);
      filled += n;
      if (filled === want.length) break;
    }
  } finally {
    stream.destroy();
  }
  applyPatch(want, offset, filled, job.patch);
  for (let i = 0; i < filled; i++) if (want[i] !== got[i]) return offset + i;
  return offset;
}

// --- 1. wipe --------------------------------------------------------------------------------

/**
 * Zeros over the first MiB (old tables), so an interrupted stick never looks like a finished
 * one, and on a drive over the last MiB too (a stale backup GPT there confuses tools later).
 */
async function wipe(dest: Destination, total: number | null): Promise<void> {
  if (dest.kind !== 'drive') return;
  const zeros = alignedBuffer(HEAD_BYTES).fill(0);
  try {
    await dest.write(zeros, HEAD_BYTES, 0);
    if (
      dest.capacity >= 2 * HEAD_BYTES &&
      (total === null || total <= dest.capacity - HEAD_BYTES)
    ) {
      const tail = Math.floor((dest.capacity - HEAD_BYTES) / SECTOR) * SECTOR;
      const len = dest.capacity - tail >= HEAD_BYTES ? HEAD_BYTES : alignUp(dest.capacity - tail);
      await dest.write(zeros, len, tail);
    }
    await dest.sync();
  } catch (err) {
    throw await classifyWriteFailure(dest, 0, err);
  }
}

// --- 2. pump --------------------------------------------------------------------------------

interface Pumped {
  /** Image bytes taken from the source. */
  readonly bytes: number;
  /** The image's first MiB (or less, for a smaller image), held back for step 3. */
  readonly head: Buffer;
  readonly headLength: number;
  readonly digest: string;
  /** XXH3 of each block, in order, for step 4. */
  readonly blockHashes: readonly Buffer[];
}

interface Filled {
  readonly buf: Buffer;
  readonly offset: number;
  readonly want: number;
  readonly n: number;
  readonly err?: unknown;
}

/**
 * The one fill loop: up to `depth` blocks being filled ahead, each one in turn hashed, its
 * part inside the first MiB set aside, the rest written with up to `depth` writes in flight.
 * Whatever ends it (the end of the image, a failure, an abort), it returns or throws only
 * once every fill and write it started has ended.
 */
async function pump(
  src: BlockSource,
  dest: Destination,
  pool: BlockPool,
  o: { depth: number; total: number | null; signal?: AbortSignal; progress: ProgressThrottle },
): Promise<Pumped> {
  const blockBytes = pool.blockBytes;
  const limit = o.total ?? Number.MAX_SAFE_INTEGER;
  const head = alignedBuffer(HEAD_BYTES).fill(0);
  let headLength = 0;
  const whole = new (loadXxhash().XXHash128)(SEED);
  const blockHashes: Buffer[] = [];
  const fills: Promise<Filled>[] = [];
  const writes = new Set<Promise<void>>();
  let failed: { offset: number; err: unknown } | null = null;
  let next = 0;
  let ended = false;
  let bytes = 0;
  let done = 0;

  const fill = async () => {
    const buf = await pool.acquire();
    const offset = next;
    const want = Math.min(blockBytes, limit - offset);
    next += want;
    fills.push(
      src.fill(buf, want, offset).then(
        (n) => ({ buf, offset, want, n }),
        (err: unknown) => ({ buf, offset, want, n: 0, err }),
      ),
    );
  };
  const write = (buf: Buffer, start: number, from: number, length: number) => {
    const len = length - from;
    const toWrite = ioLength(dest, len);
    if (toWrite > len) buf.fill(0, length, from + toWrite);
    const p: Promise<void> = dest
      .write(from ? buf.subarray(from) : buf, toWrite, start + from)
      .then(
        () => {
          done += len;
          o.progress.update(done, o.total);
        },
        (err: unknown) => {
          // The lowest failing offset is the one that says where the stick stops holding data.
          if (!failed || start + from < failed.offset) failed = { offset: start + from, err };
        },
      )
      .finally(() => {
        pool.release(buf);
        writes.delete(p);
      });
    writes.add(p);
  };

  try {
    while (!failed) {
      throwIfAborted(o.signal);
      while (!ended && fills.length < o.depth && next < limit) {
        await fill();
        throwIfAborted(o.signal);
      }
      const f = fills.shift();
      if (!f) break;
      const { buf, offset, want, n, err } = await f;
      if (err !== undefined) {
        pool.release(buf);
        throw err;
      }
      throwIfAborted(o.signal);
      // A short fill is the end of the image; the fills after it (already asked for) get 0.
      if (n < want) ended = true;
      if (n === 0) {
        pool.release(buf);
        continue;
      }
      if (offset + n > dest.capacity) {
        pool.release(buf);
        throw targetError(
          'ZFLASH_DRIVE_TOO_SMALL',
          `The image is larger than ${dest.path} (${sizeText(dest.capacity)}).`,
          'Use a larger stick.',
          { capacity: dest.capacity },
        );
      }
      const view = buf.subarray(0, n);
      whole.update(view);
      const h = new (loadXxhash().XXHash3)(SEED);
      h.update(view);
      blockHashes.push(h.digest());
      bytes = offset + n;
      let from = 0;
      if (offset < HEAD_BYTES) {
        from = Math.min(HEAD_BYTES - offset, n);
        buf.copy(head, offset, 0, from);
        headLength = offset + from;
        done += from;
      }
      if (from === n) {
        pool.release(buf);
        continue;
      }
      while (writes.size >= o.depth) await Promise.race(writes);
      throwIfAborted(o.signal);
      write(buf, offset, from, n);
    }
    await Promise.all(writes);
    const failure = failed as { offset: number; err: unknown } | null;
    if (failure) throw await classifyWriteFailure(dest, failure.offset, failure.err);
    o.progress.update(done, o.total, true);
    return { bytes, head, headLength, digest: whole.digest().toString('hex'), blockHashes };
  } finally {
    // Nothing left running behind us: every fill and write in flight ends first.
    await Promise.allSettled([...fills, ...writes]);
  }
}

// --- 3. head --------------------------------------------------------------------------------

async function writeHead(dest: Destination, p: Pumped): Promise<void> {
  try {
    await dest.write(p.head, ioLength(dest, p.headLength), 0);
    await dest.sync();
  } catch (err) {
    throw await classifyWriteFailure(dest, 0, err);
  }
}

// --- 4. verify ------------------------------------------------------------------------------

/**
 * Reads the written range back through the destination's own handle (O_DIRECT on a drive:
 * the device, not the page cache) with `depth` reads in flight, hashing each block as it
 * arrives: every block equal means the whole stream equals the digest of step 2.
 */
async function verify(
  job: WriteJob,
  p: Pumped,
  pool: BlockPool,
  o: { depth: number; progress: ProgressThrottle },
): Promise<void> {
  const dest = job.destination;
  const blockBytes = pool.blockBytes;
  const reads: Promise<Filled>[] = [];
  let next = 0;
  const read = async () => {
    const buf = await pool.acquire();
    const offset = next;
    const want = Math.min(blockBytes, p.bytes - offset);
    next += want;
    reads.push(
      dest.read(buf, ioLength(dest, want), offset).then(
        (n) => ({ buf, offset, want, n }),
        (err: unknown) => ({ buf, offset, want, n: 0, err }),
      ),
    );
  };
  try {
    for (let i = 0; ; i++) {
      throwIfAborted(job.signal);
      while (reads.length < o.depth && next < p.bytes) {
        await read();
        throwIfAborted(job.signal);
      }
      const r = reads.shift();
      if (!r) break;
      const { buf, offset, want, n, err } = await r;
      try {
        if (err !== undefined) throw await readFailure(dest, offset, err);
        throwIfAborted(job.signal);
        const view = buf.subarray(0, want);
        const h = new (loadXxhash().XXHash3)(SEED);
        h.update(view);
        if (n < want || !h.digest().equals(p.blockHashes[i] as Buffer)) {
          const at = n < want ? offset + n : await firstDifference(job, offset, Buffer.from(view));
          throw ioError(
            'ZFLASH_VERIFY_MISMATCH',
            `Verification failed: the stick returned different data at offset ${at} (${sizeText(at)}) than was written.`,
            dest.kind === 'drive'
              ? 'The stick is failing or holds less than it claims (a fake-capacity stick). Use another stick.'
              : 'Flash again; if it fails again, use another stick.',
            { offset: at },
          );
        }
      } finally {
        pool.release(buf);
      }
      o.progress.update(offset + want, p.bytes);
    }
  } finally {
    await Promise.allSettled(reads);
  }
}

// --- when it does not finish ----------------------------------------------------------------

/** After the head was (or may have been) written: zeros over it again, then say what is there. */
async function wipeAgain(
  dest: Destination,
  p: Pumped,
): Promise<{ state: TargetState; errno?: string }> {
  const len = ioLength(dest, p.headLength);
  const zeros = alignedBuffer(HEAD_BYTES).fill(0);
  try {
    await dest.write(zeros, len, 0);
    await dest.sync();
    return { state: 'wiped-again' };
  } catch (err) {
    const errno = errnoOf(err);
    try {
      const back = alignedBuffer(HEAD_BYTES);
      const n = await dest.read(back, len, 0);
      const got = back.subarray(0, p.headLength);
      if (n >= p.headLength && got.equals(p.head.subarray(0, p.headLength))) {
        return { state: 'complete-but-unverified', errno };
      }
      if (n >= p.headLength && got.every((b) => b === 0)) return { state: 'wiped-again', errno };
    } catch {
      // cannot even be read: unknown
    }
    return { state: 'unknown', errno };
  }
}

function cancelled(dest: Destination, state: TargetState, errno?: string): ZflashError {
  const what = dest.kind === 'drive' ? 'stick' : 'image file';
  const sentences: Record<TargetState, string> = {
    untouched: `The flash was cancelled before anything was written to ${dest.path}.`,
    'no-partition-table': `The flash was cancelled while writing: ${dest.path} was left without a partition table, so it cannot be mistaken for a finished ${what}.`,
    'wiped-again': `The flash was cancelled after the image was written but before it was verified: its first MiB was wiped again, so ${dest.path} has no partition table and cannot be mistaken for a finished ${what}.`,
    'complete-but-unverified': `The flash was cancelled after the image was written but before it was verified, and wiping its first MiB again failed (${errno}): ${dest.path} holds the whole image with its partition table, unverified.`,
    // Without `errno` nothing was wiped again: the very first write (the wipe) failed.
    unknown: errno
      ? `The flash was cancelled after the image was written; wiping its first MiB again failed (${errno}) and it could not be read back, so the state of ${dest.path} is unknown.`
      : `The flash was cancelled as it began, and the first write to ${dest.path} failed: what its first MiB holds is unknown.`,
  };
  return new ZflashError(
    'cancelled',
    'ZFLASH_CANCELLED',
    sentences[state],
    state === 'untouched'
      ? 'Nothing was written; start again when ready.'
      : `Do not use this ${what} as it is: flash it again.`,
    { state, ...(errno ? { errno } : {}) },
  );
}

/** A failure after the head was written also says what it left (never a stick that looks finished). */
function withState(err: ZflashError, state: TargetState, errno?: string): ZflashError {
  const after: Partial<Record<TargetState, string>> = {
    'wiped-again': ' Its first MiB was wiped again, so it cannot pass for a finished stick.',
    'complete-but-unverified': ` Wiping its first MiB again failed (${errno}): it still holds a partition table. Do not use it as it is.`,
    unknown: errno
      ? ` Wiping its first MiB again failed (${errno}) and it could not be read back: its state is unknown.`
      : ' Its first MiB may hold anything: do not use it as it is.',
  };
  return new ZflashError(
    err.kind,
    err.code,
    err.message + (after[state] ?? ''),
    err.hint,
    { ...err.details, state, ...(errno ? { wipeErrno: errno } : {}) },
    { cause: err },
  );
}

// --- the whole job --------------------------------------------------------------------------

export async function writeImage(job: WriteJob): Promise<WriteResult> {
  const { destination: dest, image, signal } = job;
  const io = tuning(job.io);
  const total = image.size !== null && image.sizeIsExact ? image.size : null;
  const progress = new ProgressThrottle(job.onProgress);
  let state: TargetState = 'untouched';
  let pumped: Pumped | null = null;
  let headIssued = false;
  try {
    if (total !== null && total > dest.capacity) {
      const [needs, holds] = distinctSizes(total, dest.capacity);
      throw targetError(
        'ZFLASH_DRIVE_TOO_SMALL',
        `The image needs ${needs} but ${dest.path} holds only ${holds}.`,
        'Use a larger stick.',
        { needed: total, capacity: dest.capacity },
      );
    }
    throwIfAborted(signal);
    state = 'unknown';
    await wipe(dest, total);
    state = 'no-partition-table';
    throwIfAborted(signal);

    progress.start('writing', total);
    const pool = new BlockPool(2 * io.depth + 1, io.blockBytes);
    const open = job.source ?? ((o) => openImageBlocks(image, job.patch, o));
    const src = await open({ chunkBytes: io.blockBytes, ...(signal ? { signal } : {}) });
    try {
      pumped = await pump(src, dest, pool, { depth: io.depth, total, signal, progress });
    } finally {
      await src.close();
    }
    if (total !== null && pumped.bytes < total) {
      throw imageTooShortError(image.path, pumped.bytes, total);
    }
    if (pumped.bytes === 0) {
      throw targetError(
        'ZFLASH_IMAGE_EMPTY',
        'The image is empty.',
        'Choose a complete image file.',
      );
    }

    progress.start('finishing', null);
    throwIfAborted(signal);
    headIssued = true;
    await writeHead(dest, pumped);
    throwIfAborted(signal);
    if (job.verify === false)
      return { bytesWritten: pumped.bytes, digest: pumped.digest, verified: false };

    progress.start('verifying', pumped.bytes);
    await verify(job, pumped, pool, { depth: io.depth, progress });
    // Checked once more: a cancelled flash is never reported finished, whenever it came.
    throwIfAborted(signal);
    progress.update(pumped.bytes, pumped.bytes, true);
    return { bytesWritten: pumped.bytes, digest: pumped.digest, verified: true };
  } catch (err) {
    let errno: string | undefined;
    if (headIssued && pumped) ({ state, errno } = await wipeAgain(dest, pumped));
    if (signal?.aborted) throw cancelled(dest, state, errno);
    if (err instanceof ZflashError) throw withState(err, state, errno);
    throw err;
  }
}
