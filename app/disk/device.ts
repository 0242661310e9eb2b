/**
 * The small byte-device interface every disk structure is read and written through.
 * The same FAT and partition code patches an image file, a real block device, or an
 * in-memory overlay over a read-only source (the flash engine's stream substitution).
 */
import { constants as fsc, type BigIntStats } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ZflashError } from '../errors.js';
import { targetError, ioError } from '../errors.js';

export interface ByteDevice {
  /** Size in bytes of everything addressable. */
  readonly size: number;
  /** What the bytes are, for messages ("the image", "the drive"); an image when unsaid. */
  readonly kind?: DeviceKind;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Uint8Array): Promise<void>;
}

export type DeviceKind = 'image' | 'drive';

/** "the image" or "the drive", for sentences about `dev`. */
export function theTarget(dev: { readonly kind?: DeviceKind }): string {
  return dev.kind === 'drive' ? 'the drive' : 'the image';
}

export interface Extent {
  readonly offset: number;
  readonly data: Buffer;
}

function checkRange(
  dev: { size: number; kind?: DeviceKind },
  offset: number,
  length: number,
  what: string,
): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > dev.size) {
    throw targetError(
      'ZFLASH_OUT_OF_RANGE',
      `A ${what} of ${length} bytes at offset ${offset} lies outside ${theTarget(dev)} (${dev.size} bytes).`,
      'The image or drive looks truncated or its tables point past its end; use a complete image.',
      { offset, length, size: dev.size },
    );
  }
}

/** A window of another device (a partition), addressed from 0. */
export class RangeDevice implements ByteDevice {
  readonly kind: DeviceKind | undefined;
  constructor(
    private readonly base: ByteDevice,
    readonly start: number,
    readonly size: number,
  ) {
    checkRange(base, start, size, 'partition');
    this.kind = base.kind;
  }
  read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length, 'read');
    return this.base.read(this.start + offset, length);
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this, offset, data.length, 'write');
    return this.base.write(this.start + offset, data);
  }
}

/**
 * Records writes in memory over a base that is only ever read. Reads see the writes.
 * `extents()` returns the changed bytes, merged and sorted, which is what the flash engine
 * substitutes into the stream and what `commit()` copies to a writable device.
 */
export class OverlayDevice implements ByteDevice {
  readonly size: number;
  readonly kind: DeviceKind | undefined;
  // Byte-exact pieces keyed by offset; kept non-overlapping and merged on write.
  private pieces: Extent[] = [];

  constructor(private readonly base: Pick<ByteDevice, 'read' | 'size' | 'kind'>) {
    this.size = base.size;
    this.kind = base.kind;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length, 'read');
    const out = await this.base.read(offset, length);
    const end = offset + length;
    for (const p of this.pieces) {
      const pEnd = p.offset + p.data.length;
      if (pEnd <= offset || p.offset >= end) continue;
      const from = Math.max(offset, p.offset);
      const to = Math.min(end, pEnd);
      p.data.copy(out, from - offset, from - p.offset, to - p.offset);
    }
    return out;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this, offset, data.length, 'write');
    if (data.length === 0) return;
    let start = offset;
    let end = offset + data.length;
    const keep: Extent[] = [];
    const touching: Extent[] = [];
    for (const p of this.pieces) {
      const pEnd = p.offset + p.data.length;
      if (pEnd < start || p.offset > end) keep.push(p);
      else touching.push(p);
    }
    for (const p of touching) {
      start = Math.min(start, p.offset);
      end = Math.max(end, p.offset + p.data.length);
    }
    const merged = Buffer.alloc(end - start);
    for (const p of touching) p.data.copy(merged, p.offset - start);
    Buffer.from(data.buffer, data.byteOffset, data.length).copy(merged, offset - start);
    keep.push({ offset: start, data: merged });
    keep.sort((a, b) => a.offset - b.offset);
    this.pieces = keep;
  }

  /** The changed ranges, sorted, non-overlapping. */
  extents(): readonly Extent[] {
    return this.pieces;
  }

  /** Copies every recorded write to `target` (usually the device this overlay was read from). */
  async commit(target: ByteDevice): Promise<void> {
    for (const p of this.pieces) await target.write(p.offset, p.data);
  }
}

/** A device kept entirely in memory (tests, and prefixes of compressed images). */
export class MemoryDevice implements ByteDevice {
  constructor(
    readonly buffer: Buffer,
    readonly kind: DeviceKind = 'image',
  ) {}
  get size(): number {
    return this.buffer.length;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length, 'read');
    return Buffer.from(this.buffer.subarray(offset, offset + length));
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this, offset, data.length, 'write');
    this.buffer.set(data, offset);
  }
}

export interface OpenFileDeviceOptions {
  readonly writable: boolean;
}

/** An image file or a block device opened through a file handle. */
export class FileDevice implements ByteDevice {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
    readonly isBlockDevice: boolean,
    readonly writable: boolean,
  ) {}

  get kind(): DeviceKind {
    return this.isBlockDevice ? 'drive' : 'image';
  }

  static async open(path: string, options: OpenFileDeviceOptions): Promise<FileDevice> {
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      throw fsError(err, path, 'open');
    }
    const isBlock = st.isBlockDevice();
    if (!isBlock && !st.isFile()) {
      throw targetError(
        'ZFLASH_TARGET_NOT_A_DISK',
        `${path} is neither an image file nor a block device.`,
        'Give the path of an image file (.iso, .img) or of a whole drive (for example /dev/sdb).',
        { path },
      );
    }
    // O_EXCL on a Linux block device fails with EBUSY while any partition is mounted,
    // which is exactly when writing under the OS would corrupt it.
    const flags = options.writable
      ? fsc.O_RDWR | (isBlock && process.platform === 'linux' ? fsc.O_EXCL : 0)
      : fsc.O_RDONLY;
    let handle: FileHandle;
    try {
      handle = await open(path, flags);
    } catch (err) {
      throw fsError(err, path, options.writable ? 'open for writing' : 'open');
    }
    try {
      const size = isBlock ? await blockDeviceSize(path, st.rdev, handle) : st.size;
      return new FileDevice(path, handle, size, isBlock, options.writable);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length, 'read');
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.handle.read(buf, done, length - done, offset + done));
      } catch (err) {
        throw ioError(
          'ZFLASH_READ_FAILED',
          `Reading ${this.path} failed at offset ${offset + done}.`,
          'The drive may have been unplugged or is failing; replug it or try another one.',
          { path: this.path, offset: offset + done, cause: String(err) },
        );
      }
      if (n === 0) {
        throw targetError(
          'ZFLASH_TARGET_TRUNCATED',
          `${this.path} ends early: nothing could be read at offset ${offset + done}.`,
          'The image is incomplete (an interrupted download?). Download it again.',
          { path: this.path, offset: offset + done },
        );
      }
      done += n;
    }
    return buf;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this, offset, data.length, 'write');
    let done = 0;
    while (done < data.length) {
      try {
        const { bytesWritten } = await this.handle.write(
          data,
          done,
          data.length - done,
          offset + done,
        );
        done += bytesWritten;
      } catch (err) {
        throw ioError(
          'ZFLASH_WRITE_FAILED',
          `Writing ${this.path} failed at offset ${offset + done}.`,
          'The drive may be failing, write-protected or unplugged; try another stick.',
          { path: this.path, offset: offset + done, cause: String(err) },
        );
      }
    }
  }

  async sync(): Promise<void> {
    try {
      await this.handle.sync();
    } catch (err) {
      throw ioError(
        'ZFLASH_WRITE_FAILED',
        `Flushing the writes to ${this.path} failed.`,
        'The drive may be failing or was unplugged; try again with another stick.',
        { path: this.path, cause: String(err) },
      );
    }
  }

  /** fstat of the open handle: what was opened, whatever its path names by now. */
  stat(): Promise<BigIntStats> {
    return this.handle.stat({ bigint: true });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Linux: /sys/dev/block/MAJ:MIN/size counts 512-byte sectors whatever the logical size. */
async function blockDeviceSize(path: string, rdev: number, handle: FileHandle): Promise<number> {
  if (process.platform === 'linux') {
    const major = Math.floor(rdev / 256) & 0xfff;
    const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
    try {
      const text = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
      return Number(text.trim()) * 512;
    } catch {
      // fall through to the generic probe
    }
  }
  // Elsewhere a block device's stat size is 0; find the end by binary search on reads.
  const probe = Buffer.alloc(1);
  let lo = 0;
  let hi = 1;
  while ((await handle.read(probe, 0, 1, hi - 1)).bytesRead === 1) {
    lo = hi;
    hi *= 2;
    if (hi > 2 ** 50) break;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await handle.read(probe, 0, 1, mid - 1)).bytesRead === 1) lo = mid;
    else hi = mid;
  }
  if (lo === 0) {
    throw targetError(
      'ZFLASH_TARGET_EMPTY',
      `${basename(path)} reports no size: there is no medium in it.`,
      'Insert the card or stick, or choose another drive.',
      { path },
    );
  }
  return lo;
}

export function fsError(err: unknown, path: string, action: string): ZflashError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return targetError(
        'ZFLASH_TARGET_NOT_FOUND',
        `${path} does not exist.`,
        'Check the path; for a drive, run `zflash drives` to list what is plugged in.',
        { path },
      );
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return targetError(
        'ZFLASH_TARGET_READ_ONLY',
        `${path} cannot be ${action === 'open' ? 'read' : 'written'}: it is read-only or you lack permission.`,
        'Check the write-protect switch on the stick or card, or run with the needed rights.',
        { path, errno: code },
      );
    case 'EBUSY':
      return targetError(
        'ZFLASH_TARGET_BUSY',
        `${path} is in use (mounted or opened by another program).`,
        'Unmount its partitions or close the program using it, then try again.',
        { path },
      );
    default:
      return targetError(
        'ZFLASH_TARGET_UNREADABLE',
        `Could not ${action} ${path}: ${code ?? String(err)}.`,
        'Check that the path is right and the drive is still plugged in.',
        { path, errno: code ?? null },
      );
  }
}
