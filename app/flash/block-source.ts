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

export interface TeeOptions {
  /** How many views (one per stick). */
  readonly views: number;
  /** Bytes per shared block read from the inner source (the writer's block size). */
  readonly blockBytes: number;
  /**
   * Shared blocks held at most: how far the fastest view may run ahead of the slowest live
   * one, and the tee's whole memory (`window × blockBytes`). At least 2.
   */
  readonly window: number;
  /** Inner fills in flight at once (a raw file serves them concurrently); default 2. */
  readonly readDepth?: number;
}

interface SharedBlock {
  readonly buf: Buffer;
  /** Bytes the inner source put in it; meaningful once `ready`. */
  n: number;
  ready: boolean;
}

interface ViewState {
  closed: boolean;
  /** Where the next fill must start (fills come in offset order, each where the last ended). */
  next: number;
  /** Offsets of fills still running: the lowest is what this view still needs. */
  readonly pending: number[];
}

const closedView = () => new Error('this view of the image was closed');

/**
 * One reader, several readers of it: the inner source (the raw image, or its decoder) is read
 * once, in shared blocks, and each view fills its caller's buffers by copying from them — so
 * N sticks cost one decode of a compressed image, or one read of a raw file, not N.
 *
 * A shared block is released once every live view has filled past it. Blocks are read ahead
 * up to `window` past the lowest one still held, and no further: the fastest stick waits for
 * the slowest there, which bounds memory. A closed view (its stick failed or was cancelled)
 * no longer holds anyone back; when the last view closes, the inner source is closed (a
 * decoder stops). An inner failure (a corrupt download) fails every view that reaches it:
 * the image is shared, so is its damage.
 *
 * Our own rather than a stream tee (`PassThrough` pipes): a piped stream goes at the pace of
 * its slowest consumer with unbounded per-consumer buffering beyond highWaterMark if one
 * ignores backpressure, cannot drop a consumer that failed without ending the others, and
 * would copy every chunk into stream buffers before ours; views here copy once, straight into
 * the writer's aligned buffers.
 */
export class BlockTee {
  readonly views: readonly BlockSource[];
  private readonly state: ViewState[];
  private readonly blocks = new Map<number, SharedBlock>();
  private readonly free: Buffer[] = [];
  private waiters: (() => void)[] = [];
  /** Lowest block index still held. */
  private base = 0;
  /** Next block index to read from the inner source. */
  private nextRead = 0;
  private reading = 0;
  /** Bytes in the image, once a short inner fill has said where it ends. */
  private end: number | null = null;
  private failure: { err: unknown } | null = null;
  private innerClosed: Promise<void> | null = null;
  private readonly readDepth: number;
  private delivered = 0;

  constructor(
    private readonly inner: BlockSource,
    private readonly opts: TeeOptions,
  ) {
    if (!Number.isSafeInteger(opts.views) || opts.views < 1)
      throw new RangeError(`views must be at least 1, not ${opts.views}`);
    if (!Number.isSafeInteger(opts.window) || opts.window < 2)
      throw new RangeError(`window must be at least 2 blocks, not ${opts.window}`);
    if (!Number.isSafeInteger(opts.blockBytes) || opts.blockBytes < 1)
      throw new RangeError(`blockBytes must be positive, not ${opts.blockBytes}`);
    this.readDepth = Math.max(1, Math.min(opts.readDepth ?? 2, opts.window));
    this.state = Array.from({ length: opts.views }, () => ({
      closed: false,
      next: 0,
      pending: [],
    }));
    this.views = this.state.map((s) => ({
      fill: (buf, length, offset) => this.fill(s, buf, length, offset),
      close: () => this.closeView(s),
    }));
    this.readMore();
  }

  /** Bytes the inner source delivered so far: the image read once, however many views. */
  get bytesRead(): number {
    return this.delivered;
  }

  /** Closes every view (their pending fills fail) and the inner source. */
  async close(): Promise<void> {
    for (const s of this.state) await this.closeView(s);
    await this.closeInner();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private allClosed(): boolean {
    return this.state.every((s) => s.closed);
  }

  /** Starts inner fills while the window has room. */
  private readMore(): void {
    const { blockBytes, window } = this.opts;
    while (
      this.reading < this.readDepth &&
      this.nextRead < this.base + window &&
      this.failure === null &&
      this.innerClosed === null &&
      (this.end === null || this.nextRead * blockBytes < this.end)
    ) {
      const index = this.nextRead++;
      const block: SharedBlock = {
        buf: this.free.pop() ?? Buffer.allocUnsafeSlow(blockBytes),
        n: 0,
        ready: false,
      };
      this.blocks.set(index, block);
      this.reading++;
      this.inner.fill(block.buf, blockBytes, index * blockBytes).then(
        (n) => {
          this.reading--;
          block.n = n;
          block.ready = true;
          this.delivered += n;
          // A short fill is the end of the image; the fills after it (already asked) get 0.
          if (n < blockBytes) {
            const end = index * blockBytes + n;
            this.end = this.end === null ? end : Math.min(this.end, end);
          }
          this.release();
          this.readMore();
          this.wake();
        },
        (err: unknown) => {
          this.reading--;
          this.failure ??= { err };
          this.wake();
        },
      );
    }
  }

  /** The lowest offset any live view still needs (Infinity when none is live). */
  private lowestNeeded(): number {
    let low = Number.POSITIVE_INFINITY;
    for (const s of this.state) {
      if (s.closed) continue;
      low = Math.min(low, s.pending.length ? Math.min(...s.pending) : s.next);
    }
    return low;
  }

  /** Gives back the blocks every live view has filled past. */
  private release(): void {
    const low = this.lowestNeeded();
    const { blockBytes } = this.opts;
    for (;;) {
      const block = this.blocks.get(this.base);
      if (!block || !block.ready || (this.base + 1) * blockBytes > low) break;
      this.blocks.delete(this.base);
      this.free.push(block.buf);
      this.base++;
    }
  }

  private async fill(s: ViewState, buf: Buffer, length: number, offset: number): Promise<number> {
    if (s.closed) throw closedView();
    if (offset !== s.next) {
      throw new Error(`tee: fills must come in order (asked ${offset}, expected ${s.next})`);
    }
    // The slowest view's next block is always inside the window; one fill must fit in it.
    const { blockBytes } = this.opts;
    const span = Math.ceil((offset + length) / blockBytes) - Math.floor(offset / blockBytes);
    if (span > this.opts.window) {
      throw new RangeError(`tee: a fill of ${length} bytes spans more than the window allows`);
    }
    s.next = offset + length;
    s.pending.push(offset);
    let filled = 0;
    try {
      while (filled < length) {
        const at = offset + filled;
        if (this.end !== null && at >= this.end) break;
        const index = Math.floor(at / blockBytes);
        const block = this.blocks.get(index);
        if (!block || !block.ready) {
          if (s.closed) throw closedView();
          if (this.failure) throw this.failure.err;
          // Not read yet: the window moves on when slower views catch up.
          this.readMore();
          await this.changed();
          continue;
        }
        const from = at - index * blockBytes;
        if (from >= block.n) break; // the end of the image
        const n = Math.min(block.n - from, length - filled);
        block.buf.copy(buf, filled, from, from + n);
        filled += n;
      }
      return filled;
    } finally {
      s.pending.splice(s.pending.indexOf(offset), 1);
      this.release();
      this.readMore();
      this.wake();
    }
  }

  private async closeView(s: ViewState): Promise<void> {
    if (!s.closed) {
      s.closed = true;
      this.release();
      this.readMore();
      this.wake();
    }
    if (this.allClosed()) await this.closeInner();
  }

  private closeInner(): Promise<void> {
    this.innerClosed ??= this.inner.close().finally(() => {
      this.blocks.clear();
      this.free.length = 0;
    });
    return this.innerClosed;
  }
}
