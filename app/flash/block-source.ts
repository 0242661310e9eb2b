/**
 * Where the writer's blocks come from, as small layers in the manner of coreos-installer's
 * readers: the image (a raw file read straight into the writer's aligned buffers, or a
 * decoder's stream copied into them), then the ESP patch substituted on top. The writer has
 * one fill loop whatever the image is, and never sees a chunk of a decoder.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Extent } from '../disk/device.js';
import { imageFileError } from '../image/image-errors.js';
import { openImageStream } from '../image/image-source.js';
import type { ImageSourceInfo } from '../image/image-types.js';
import { alignedBuffer } from './destination.js';

export interface BlockSource {
  /**
   * Fills `buf[0, length)` with the image bytes from `offset` and says how many it filled:
   * fewer than `length` only at the end of the image. Calls come in offset order, each
   * starting where the previous one ended, and may overlap (reads ahead); a source that
   * cannot seek serves them one after the other.
   */
  fill(buf: Buffer, length: number, offset: number): Promise<number>;
  /** Stops reading; waits for any fill still running. */
  close(): Promise<void>;
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

/**
 * A raw image file, read by position: several fills run at once, straight into the
 * caller's buffers (no stream chunks to copy or to leave to the garbage collector).
 * Never reads past `limit` (the probed size), even if the file grows meanwhile.
 */
export async function openRawSource(path: string, limit: number): Promise<BlockSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw imageFileError(path, err);
  }
  const running = new Set<Promise<number>>();
  const fill = async (buf: Buffer, length: number, offset: number) => {
    const want = Math.max(0, Math.min(length, limit - offset));
    let filled = 0;
    while (filled < want) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, filled, want - filled, offset + filled));
      } catch (err) {
        throw imageFileError(path, err);
      }
      if (n === 0) break;
      filled += n;
    }
    return filled;
  };
  return {
    fill(buf, length, offset) {
      const p = fill(buf, length, offset);
      running.add(p);
      const forget = () => running.delete(p);
      p.then(forget, forget);
      return p;
    },
    async close() {
      await Promise.allSettled(running);
      await fh.close();
    },
  };
}

/**
 * A stream of image bytes (a decoder's output) cut into the caller's blocks. Fills are
 * served one after the other, in the order they were asked for.
 */
export function streamSource(stream: Readable): BlockSource {
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let chunk: Buffer | null = null;
  let pos = 0;
  let ended = false;
  let queue: Promise<unknown> = Promise.resolve();
  const fillNow = async (buf: Buffer, length: number) => {
    let filled = 0;
    while (filled < length && !ended) {
      if (chunk === null || pos === chunk.length) {
        const next = await chunks.next();
        if (next.done) {
          ended = true;
          break;
        }
        chunk = next.value;
        pos = 0;
        continue;
      }
      const n = Math.min(chunk.length - pos, length - filled);
      chunk.copy(buf, filled, pos, pos + n);
      pos += n;
      filled += n;
    }
    return filled;
  };
  return {
    fill(buf, length) {
      const p = queue.then(() => fillNow(buf, length));
      queue = p.catch(() => {
        // a failed fill ends the stream: later fills find it ended
        ended = true;
      });
      return p;
    },
    async close() {
      stream.destroy();
      await queue;
    },
  };
}

/** The ESP patch substituted into every block as it is filled. */
export function patchedSource(inner: BlockSource, patch: readonly Extent[]): BlockSource {
  if (patch.length === 0) return inner;
  return {
    async fill(buf, length, offset) {
      const n = await inner.fill(buf, length, offset);
      applyPatch(buf, offset, n, patch);
      return n;
    },
    close: () => inner.close(),
  };
}

/** The overlaid image as blocks: raw files by position, compressed ones through their decoder. */
export async function openImageBlocks(
  image: ImageSourceInfo,
  patch: readonly Extent[],
  opts: { chunkBytes: number; signal?: AbortSignal },
): Promise<BlockSource> {
  const limit = image.size !== null && image.sizeIsExact ? image.size : Number.MAX_SAFE_INTEGER;
  const inner =
    image.compression === 'none'
      ? await openRawSource(image.path, limit)
      : streamSource(
          openImageStream(image, {
            highWaterMark: opts.chunkBytes,
            ...(opts.signal ? { signal: opts.signal } : {}),
          }),
        );
  return patchedSource(inner, patch);
}

/**
 * A fixed set of aligned blocks, handed out and given back: what bounds the writer's memory
 * (reads ahead and writes in flight together never hold more than `count` blocks).
 */
export class BlockPool {
  private readonly free: Buffer[];
  private readonly waiting: ((b: Buffer) => void)[] = [];

  constructor(
    count: number,
    readonly blockBytes: number,
  ) {
    this.free = Array.from({ length: count }, () => alignedBuffer(blockBytes));
  }

  /** A free block; waits for one to be given back when all are in use. */
  acquire(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(b: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(b);
    else this.free.push(b);
  }
}
