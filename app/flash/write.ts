/**
 * The write + verify pipeline: image stream → ESP patch substituted → drive, the first MiB
 * (the partition tables) written last, then the whole written range read back from the
 * device and compared block by block.
 *
 * Our own loop rather than etcher-sdk's decompressThenFlash because that has no "first MiB
 * last" ordering, and because knowing the offset of every block lets failures say where
 * they happened. etcher-sdk still opens and drives the device (destination.ts).
 */
import { createRequire } from 'node:module';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Extent } from '../disk/device.js';
import { cancelledError, ioError, targetError, ZflashError } from '../errors.js';
import { imageFileError, imageTooShortError } from '../image/image-errors.js';
import { openImageStream } from '../image/image-source.js';
import type { ImageSourceInfo } from '../image/image-types.js';
import { alignedBuffer, type Destination } from './destination.js';
import { ProgressThrottle, type FlashProgress } from './progress.js';

const require = createRequire(import.meta.url);
interface XxHash {
  update(b: Uint8Array): void;
  digest(): Buffer;
}
const xxhash = require('xxhash-addon') as {
  XXHash3: new (seed: Buffer) => XxHash;
  XXHash128: new (seed: Buffer) => XxHash;
};
const SEED = Buffer.alloc(8);

const MiB = 1024 * 1024;
export const HEAD_BYTES = MiB;
export const BLOCK_BYTES = 4 * MiB;
const SECTOR = 512;

export interface WriteJob {
  readonly image: ImageSourceInfo;
  readonly patch: readonly Extent[];
  readonly destination: Destination;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: FlashProgress) => void;
  /** Read the written range back and compare (default true). */
  readonly verify?: boolean;
}

export interface WriteResult {
  readonly bytesWritten: number;
  /** XXH128 of the overlaid stream as written (every block of it read back equal, when verified). */
  readonly digest: string;
  readonly verified: boolean;
}

/** Copies the parts of `patch` that fall inside [offset, offset+length) into `block`. */
export function applyPatch(
  block: Buffer,
  offset: number,
  length: number,
  patch: readonly Extent[],
): void {
  const end = offset + length;
  for (const e of patch) {
    const eEnd = e.offset + e.data.length;
    if (eEnd <= offset || e.offset >= end) continue;
    const from = Math.max(offset, e.offset);
    const to = Math.min(end, eEnd);
    e.data.copy(block, from - offset, from - e.offset, to - e.offset);
  }
}

const alignUp = (n: number) => Math.ceil(n / SECTOR) * SECTOR;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

async function stillThere(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

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
  const errno = (err as NodeJS.ErrnoException).code ?? String(err);
  if (dest.kind === 'drive' && !(await stillThere(dest.path))) {
    return ioError(
      'ZFLASH_DRIVE_VANISHED',
      `The drive ${dest.path} disappeared while writing at ${mib(offset)}.`,
      'Keep the stick plugged in; replug it and flash again.',
      { offset },
    );
  }
  if (dest.kind === 'file' && (errno === 'ENOSPC' || errno === 'EFBIG')) {
    return targetError(
      'ZFLASH_TARGET_FULL',
      `The disk holding ${dest.path} ran out of space at ${mib(offset)}.`,
      'Free some space or write the image file elsewhere.',
      { offset },
    );
  }
  if (dest.kind === 'drive') {
    const fake = () =>
      ioError(
        'ZFLASH_FAKE_CAPACITY',
        `The stick stopped taking data at ${mib(offset)} although it reports ${mib(dest.capacity)}: it holds less than it claims (a fake-capacity stick) or is failing there.`,
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
    `Writing to ${dest.path} failed at offset ${offset} (${mib(offset)}): ${errno}.`,
    'The drive may be failing or write-protected; try another stick or port.',
    { offset, errno },
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
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const n = Math.min(chunk.length, want.length - filled);
    chunk.copy(want, filled, 0, n);
    filled += n;
    if (filled === want.length) break;
  }
  stream.destroy();
  applyPatch(want, offset, filled, job.patch);
  for (let i = 0; i < filled; i++) if (want[i] !== got[i]) return offset + i;
  return offset;
}

export async function writeImage(job: WriteJob): Promise<WriteResult> {
  const { destination: dest, image, signal } = job;
  const total = image.size !== null && image.sizeIsExact ? image.size : null;
  const progress = new ProgressThrottle(job.onProgress);
  const check = () => {
    if (signal?.aborted)
      throw cancelledError(
        'The flash was cancelled. The stick was left without a partition table, so it cannot be mistaken for a finished one.',
      );
  };
  if (total !== null && total > dest.capacity) {
    throw targetError(
      'ZFLASH_DRIVE_TOO_SMALL',
      `The image needs ${mib(total)} but ${dest.path} holds only ${mib(dest.capacity)}.`,
      'Use a larger stick.',
      { needed: total, capacity: dest.capacity },
    );
  }

  // 1. Wipe the first MiB (old tables) so an interrupted stick never looks like a finished
  // one, and on a drive the last MiB too (a stale backup GPT there confuses tools later).
  check();
  const zeros = alignedBuffer(HEAD_BYTES).fill(0);
  try {
    if (dest.kind === 'drive') {
      await dest.write(zeros, HEAD_BYTES, 0);
      if (
        dest.capacity >= 2 * HEAD_BYTES &&
        (total === null || total <= dest.capacity - HEAD_BYTES)
      ) {
        const tail = Math.floor((dest.capacity - HEAD_BYTES) / SECTOR) * SECTOR;
        await dest.write(
          zeros,
          dest.capacity - tail >= HEAD_BYTES ? HEAD_BYTES : alignUp(dest.capacity - tail),
          tail,
        );
      }
      await dest.sync();
    }
  } catch (err) {
    throw await classifyWriteFailure(dest, 0, err);
  }

  // 2. Stream, patch, hash and write everything after the first MiB. Two aligned blocks:
  // one being written while the next is filled from the source.
  progress.start('writing', total);
  const whole = new xxhash.XXHash128(SEED);
  const blockHashes: Buffer[] = [];
  const head = alignedBuffer(HEAD_BYTES).fill(0);
  let headLength = 0;
  const blocks = [alignedBuffer(BLOCK_BYTES), alignedBuffer(BLOCK_BYTES)];
  let current = 0;
  let fill = 0;
  let blockOffset = 0;
  let pending: Promise<void> | null = null;
  let written = 0;

  const flushBlock = async (length: number) => {
    const block = blocks[current] as Buffer;
    applyPatch(block, blockOffset, length, job.patch);
    const view = block.subarray(0, length);
    whole.update(view);
    const h = new xxhash.XXHash3(SEED);
    h.update(view);
    blockHashes.push(h.digest());
    if (blockOffset + length > dest.capacity) {
      throw targetError(
        'ZFLASH_DRIVE_TOO_SMALL',
        `The image is larger than ${dest.path} (${mib(dest.capacity)}).`,
        'Use a larger stick.',
        { capacity: dest.capacity },
      );
    }
    let writeFrom = 0;
    if (blockOffset < HEAD_BYTES) {
      headLength = Math.min(HEAD_BYTES, length);
      block.copy(head, 0, 0, headLength);
      writeFrom = headLength;
    }
    if (pending) await pending;
    check();
    const start = blockOffset + writeFrom;
    const len = length - writeFrom;
    const toWrite = dest.kind === 'drive' ? alignUp(len) : len;
    if (toWrite > len) block.fill(0, length, writeFrom + toWrite);
    pending =
      len > 0
        ? dest.write(writeFrom === 0 ? block : block.subarray(writeFrom), toWrite, start).then(
            () => {
              written = start + len;
              progress.update(written, total);
            },
            async (err: unknown) => {
              throw await classifyWriteFailure(dest, start, err);
            },
          )
        : null;
    // Keep an unhandled rejection from surfacing before we await it.
    pending?.catch(() => undefined);
    current ^= 1;
    blockOffset += length;
    fill = 0;
  };

  // A raw image is read straight into the aligned blocks (no stream chunks to copy or to
  // pile up for the garbage collector); compressed images come through their decoder stream.
  const stream =
    image.compression === 'none'
      ? null
      : openImageStream(image, { highWaterMark: BLOCK_BYTES, ...(signal ? { signal } : {}) });
  try {
    if (stream === null) {
      let fh: FileHandle;
      try {
        fh = await open(image.path, 'r');
      } catch (err) {
        throw imageFileError(image.path, err);
      }
      try {
        const limit = total ?? Number.MAX_SAFE_INTEGER;
        while (true) {
          check();
          // Never past the probed size, even if the file grows while it is written.
          const want = Math.min(BLOCK_BYTES - fill, limit - (blockOffset + fill));
          if (want <= 0) break;
          let n: number;
          try {
            ({ bytesRead: n } = await fh.read(
              blocks[current] as Buffer,
              fill,
              want,
              blockOffset + fill,
            ));
          } catch (err) {
            throw imageFileError(image.path, err);
          }
          if (n === 0) break;
          fill += n;
          if (fill === BLOCK_BYTES) await flushBlock(BLOCK_BYTES);
        }
      } finally {
        await fh.close();
      }
      if (total !== null && blockOffset + fill < total)
        throw imageTooShortError(image.path, blockOffset + fill, total);
    } else {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        let pos = 0;
        while (pos < chunk.length) {
          const block = blocks[current] as Buffer;
          const n = Math.min(chunk.length - pos, BLOCK_BYTES - fill);
          chunk.copy(block, fill, pos, pos + n);
          fill += n;
          pos += n;
          if (fill === BLOCK_BYTES) await flushBlock(BLOCK_BYTES);
        }
      }
    }
    if (fill > 0) await flushBlock(fill);
    if (pending) await pending;
    check();
  } catch (err) {
    stream?.destroy();
    if (pending) await (pending as Promise<void>).catch(() => undefined);
    if (signal?.aborted)
      throw cancelledError(
        'The flash was cancelled. The stick was left without a partition table, so it cannot be mistaken for a finished one.',
      );
    throw err;
  }
  const imageBytes = blockOffset;
  if (imageBytes === 0)
    throw targetError('ZFLASH_IMAGE_EMPTY', 'The image is empty.', 'Choose a complete image file.');

  // 3. The first MiB last, then make it durable.
  progress.start('finishing', null);
  try {
    await dest.write(head, dest.kind === 'drive' ? alignUp(headLength) : headLength, 0);
    await dest.sync();
  } catch (err) {
    throw await classifyWriteFailure(dest, 0, err);
  }
  const digest = whole.digest().toString('hex');
  if (job.verify === false) return { bytesWritten: imageBytes, digest, verified: false };

  // 4. Read everything back from the device and compare block hashes: every block equal
  // means the whole stream equals `digest`, so no second whole-stream hash is needed.
  progress.start('verifying', imageBytes);
  const readBuf = alignedBuffer(BLOCK_BYTES);
  for (let i = 0, off = 0; off < imageBytes; i++, off += BLOCK_BYTES) {
    check();
    const len = Math.min(BLOCK_BYTES, imageBytes - off);
    let n: number;
    try {
      n = await dest.read(readBuf, dest.kind === 'drive' ? alignUp(len) : len, off);
    } catch (err) {
      if (dest.kind === 'drive' && !(await stillThere(dest.path))) {
        throw ioError(
          'ZFLASH_DRIVE_VANISHED',
          `The drive ${dest.path} disappeared during verification.`,
          'Keep the stick plugged in; replug it and flash again.',
        );
      }
      throw ioError(
        'ZFLASH_READ_FAILED',
        `Reading ${dest.path} back failed at offset ${off}.`,
        'The stick may be failing; try another one.',
        { offset: off, errno: (err as NodeJS.ErrnoException).code },
      );
    }
    const view = readBuf.subarray(0, len);
    const h = new xxhash.XXHash3(SEED);
    h.update(view);
    if (n < len || !h.digest().equals(blockHashes[i] as Buffer)) {
      const at = n < len ? off + n : await firstDifference(job, off, Buffer.from(view));
      throw ioError(
        'ZFLASH_VERIFY_MISMATCH',
        `Verification failed: the stick returned different data at offset ${at} (${mib(at)}) than was written.`,
        dest.kind === 'drive'
          ? 'The stick is failing or holds less than it claims (a fake-capacity stick). Use another stick.'
          : 'Flash again; if it fails again, use another stick.',
        { offset: at },
      );
    }
    progress.update(off + len, imageBytes);
  }
  progress.update(imageBytes, imageBytes, true);
  return { bytesWritten: imageBytes, digest, verified: true };
}
