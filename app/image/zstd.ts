/**
 * Zstandard framing (RFC 8878) around fzstd. fzstd decodes blocks but neither verifies the
 * frame's Content_Checksum nor bounds how much it emits per push (a few KiB of compressed
 * zeros can expand to GiBs in one synchronous call). So we walk the frame and block headers
 * ourselves, hand fzstd one whole block at a time (≤ 128 KiB of output each), and check
 * XXH64 and Frame_Content_Size at every frame end. The same walk, done with small positional
 * reads, gives the exact uncompressed size (and catches truncation) before anything is written.
 */
import { Decompress } from 'fzstd';
import type { FileHandle } from 'node:fs/promises';
import { createXxHash64 } from './native-deps.js';
import type { XxHash64 } from './native-deps.js';

const ZSTD_MAGIC = 0xfd2fb528;
/** Block_Maximum_Size: no block carries more than 128 KiB, compressed or not. */
const MAX_BLOCK = 128 * 1024;
/** Largest frame header (18) plus the first block header (3). */
const HEAD_PROBE = 21;

export const isZstdMagic = (magic: number): boolean => magic === ZSTD_MAGIC;
export const isSkippableMagic = (magic: number): boolean =>
  (magic & 0xfffffff0) >>> 0 === 0x184d2a50;

/** A structural problem in the zstd data; the caller turns it into ZFLASH_IMAGE_CORRUPT. */
export class ZstdFormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly unsupported = false,
  ) {
    super(message);
    this.name = 'ZstdFormatError';
  }
}

interface FrameHeader {
  readonly length: number;
  readonly contentSize: number | null;
  readonly hasChecksum: boolean;
  readonly dictionaryId: number;
}

/** Header length from the Frame_Header_Descriptor byte (magic included). */
function frameHeaderLength(fhd: number): number {
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictFlag = fhd & 3;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  return 4 + 1 + (singleSegment ? 0 : 1) + (dictFlag === 3 ? 4 : dictFlag) + fcsBytes;
}

function parseFrameHeader(buf: Uint8Array, at: number, fileOffset: number): FrameHeader {
  const view = Buffer.from(buf.buffer, buf.byteOffset + at, buf.length - at);
  const fhd = view[4] ?? 0;
  if (fhd & 0x08) throw new ZstdFormatError('a frame header has its reserved bit set', fileOffset);
  const singleSegment = (fhd >> 5) & 1;
  const dictFlag = fhd & 3;
  const fcsFlag = fhd >> 6;
  let p = 5 + (singleSegment ? 0 : 1);
  const dictBytes = dictFlag === 3 ? 4 : dictFlag;
  const dictionaryId = dictBytes ? view.readUIntLE(p, dictBytes) : 0;
  p += dictBytes;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  let contentSize: number | null = null;
  if (fcsBytes === 1) contentSize = view.readUInt8(p);
  else if (fcsBytes === 2) contentSize = view.readUInt16LE(p) + 256;
  else if (fcsBytes === 4) contentSize = view.readUInt32LE(p);
  else if (fcsBytes === 8) contentSize = view.readUInt32LE(p) + view.readUInt32LE(p + 4) * 2 ** 32;
  if (dictionaryId !== 0) {
    throw new ZstdFormatError(
      'it needs a zstd dictionary, which is not supported',
      fileOffset,
      true,
    );
  }
  return {
    length: frameHeaderLength(fhd),
    contentSize,
    hasChecksum: ((fhd >> 2) & 1) === 1,
    dictionaryId,
  };
}

interface BlockHeader {
  readonly last: boolean;
  /** Bytes the block occupies after its 3-byte header. */
  readonly bodyLength: number;
}

function parseBlockHeader(buf: Uint8Array, at: number, fileOffset: number): BlockHeader {
  const raw = (buf[at] ?? 0) | ((buf[at + 1] ?? 0) << 8) | ((buf[at + 2] ?? 0) << 16);
  const type = (raw >> 1) & 3;
  const size = raw >>> 3;
  if (type === 3) throw new ZstdFormatError('a block has the reserved block type', fileOffset);
  if (size > MAX_BLOCK) throw new ZstdFormatError('a block is larger than 128 KiB', fileOffset);
  return { last: (raw & 1) === 1, bodyLength: type === 1 ? 1 : size };
}

export interface ZstdLayout {
  /** Sum of all frames' Frame_Content_Size, or null if any frame omits it. */
  readonly contentSize: number | null;
  readonly frames: number;
  /** True when every frame carries a Content_Checksum. */
  readonly allChecksummed: boolean;
}

/**
 * Walks frame and block headers with positional reads through a small cached window: about
 * one 4 KiB read per 128 KiB block, so a few % of the file at worst, and nothing is decoded.
 */
export async function readZstdLayout(fh: FileHandle, fileSize: number): Promise<ZstdLayout> {
  const WINDOW = 4096;
  let winStart = 0;
  let win = Buffer.alloc(0);
  const bytesAt = async (pos: number, n: number): Promise<Buffer> => {
    if (pos + n > fileSize) {
      throw new ZstdFormatError('the file ends in the middle of a frame (truncated)', fileSize);
    }
    if (pos < winStart || pos + n > winStart + win.length) {
      const len = Math.min(Math.max(WINDOW, n), fileSize - pos);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (bytesRead < n) throw new ZstdFormatError('the file ended while reading it', pos);
      win = buf.subarray(0, bytesRead);
      winStart = pos;
    }
    return win.subarray(pos - winStart, pos - winStart + n);
  };

  let pos = 0;
  let frames = 0;
  let total: number | null = 0;
  let allChecksummed = true;
  while (pos < fileSize) {
    const magic = (await bytesAt(pos, 4)).readUInt32LE(0);
    if (isSkippableMagic(magic)) {
      pos += 8 + (await bytesAt(pos + 4, 4)).readUInt32LE(0);
      if (pos > fileSize)
        throw new ZstdFormatError('a skippable frame runs past the end of the file', pos);
      continue;
    }
    if (!isZstdMagic(magic)) {
      throw new ZstdFormatError('expected a zstd frame but found other data', pos);
    }
    const fhd = (await bytesAt(pos + 4, 1))[0] ?? 0;
    const header = parseFrameHeader(await bytesAt(pos, frameHeaderLength(fhd)), 0, pos);
    frames += 1;
    total = total === null || header.contentSize === null ? null : total + header.contentSize;
    allChecksummed &&= header.hasChecksum;
    pos += header.length;
    for (;;) {
      const block = parseBlockHeader(await bytesAt(pos, 3), 0, pos);
      pos += 3 + block.bodyLength;
      if (pos > fileSize) {
        throw new ZstdFormatError('the file ends in the middle of a block (truncated)', fileSize);
      }
      if (block.last) break;
    }
    if (header.hasChecksum) pos += 4;
    if (pos > fileSize)
      throw new ZstdFormatError('the file ends before a frame checksum (truncated)', fileSize);
  }
  if (frames === 0) throw new ZstdFormatError('the file holds no zstd frame', 0);
  return { contentSize: total, frames, allChecksummed };
}

interface FrameState {
  readonly header: FrameHeader;
  readonly hash: XxHash64 | null;
  produced: number;
}

/**
 * Incremental decoder: `push` each input chunk and iterate what it yields (output batches of
 * about `batchSize` bytes), then iterate `end()`. Throws ZstdFormatError or fzstd's errors.
 */
export class ZstdStreamDecoder {
  private readonly fz: Decompress;
  private pending: Buffer = Buffer.alloc(0);
  private skipRemaining = 0;
  private frame: FrameState | null = null;
  private frames = 0;
  private out: Uint8Array[] = [];
  private outLength = 0;
  /** Compressed bytes fully handed to fzstd (or skipped). */
  consumed = 0;

  constructor(private readonly batchSize: number) {
    this.fz = new Decompress((chunk) => {
      if (chunk.length === 0) return;
      const frame = this.frame;
      if (frame) {
        frame.produced += chunk.length;
        frame.hash?.update(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      }
      this.out.push(chunk);
      this.outLength += chunk.length;
    });
  }

  *push(chunk: Buffer): Generator<Buffer> {
    let off = 0;
    for (;;) {
      if (this.skipRemaining > 0) {
        const n = Math.min(this.skipRemaining, chunk.length - off);
        this.skipRemaining -= n;
        this.consumed += n;
        off += n;
        if (this.skipRemaining > 0) return;
      }
      const rest = chunk.length - off;
      let unit: Buffer;
      if (this.pending.length > 0) {
        // A unit began in an earlier chunk: copy just enough to complete it (≤ 128 KiB).
        const head =
          this.pending.length >= HEAD_PROBE
            ? this.pending
            : Buffer.concat([
                this.pending,
                chunk.subarray(off, off + HEAD_PROBE - this.pending.length),
              ]);
        const length = this.unitLength(head, 0, head.length);
        const need = length < 0 ? Infinity : length - this.pending.length;
        if (need > rest) {
          this.pending = Buffer.concat([this.pending, chunk.subarray(off)]);
          return;
        }
        unit = Buffer.concat([this.pending, chunk.subarray(off, off + need)]);
        this.pending = Buffer.alloc(0);
        off += need;
      } else {
        if (rest === 0) return;
        const length = this.unitLength(chunk, off, rest);
        if (length < 0 || length > rest) {
          // Copy the tail so the big input chunk is not kept alive by a view into it.
          this.pending = Buffer.from(chunk.subarray(off));
          return;
        }
        unit = chunk.subarray(off, off + length);
        off += length;
      }
      this.processUnit(unit);
      if (this.outLength >= this.batchSize) yield this.takeOutput();
    }
  }

  *end(): Generator<Buffer> {
    if (this.pending.length > 0 || this.frame !== null || this.skipRemaining > 0) {
      throw new ZstdFormatError(
        'the data ends in the middle of a frame (the file is truncated)',
        this.consumed + this.pending.length,
      );
    }
    if (this.frames === 0) throw new ZstdFormatError('the file holds no zstd frame', 0);
    if (this.outLength > 0) yield this.takeOutput();
  }

  private takeOutput(): Buffer {
    const out = this.out;
    const length = this.outLength;
    this.out = [];
    this.outLength = 0;
    const first = out[0];
    return out.length === 1 && first
      ? Buffer.from(first.buffer, first.byteOffset, first.length)
      : Buffer.concat(out, length);
  }

  /**
   * Length of the next unit at `at`: a skippable-frame header (8 bytes), or a frame header
   * plus its first block, or one block; a frame's last block includes the 4-byte checksum.
   * Negative when more bytes are needed to tell.
   */
  private unitLength(buf: Buffer, at: number, avail: number): number {
    let headerLength = 0;
    let hasChecksum = this.frame?.header.hasChecksum ?? false;
    if (this.frame === null) {
      if (avail < 4) return -1;
      const magic = buf.readUInt32LE(at);
      if (isSkippableMagic(magic)) return 8;
      if (!isZstdMagic(magic)) {
        throw new ZstdFormatError('expected a zstd frame but found other data', this.consumed);
      }
      if (avail < 5) return -1;
      const fhd = buf[at + 4] ?? 0;
      headerLength = frameHeaderLength(fhd);
      hasChecksum = ((fhd >> 2) & 1) === 1;
    }
    if (avail < headerLength + 3) return -1;
    const block = parseBlockHeader(buf, at + headerLength, this.consumed + headerLength);
    return headerLength + 3 + block.bodyLength + (block.last && hasChecksum ? 4 : 0);
  }

  private processUnit(unit: Buffer): void {
    let at = 0;
    if (this.frame === null) {
      const magic = unit.readUInt32LE(0);
      if (isSkippableMagic(magic)) {
        this.skipRemaining = unit.readUInt32LE(4);
        this.consumed += 8;
        return;
      }
      const header = parseFrameHeader(unit, 0, this.consumed);
      this.frame = { header, hash: header.hasChecksum ? createXxHash64() : null, produced: 0 };
      at = header.length;
    }
    const frame = this.frame;
    const block = parseBlockHeader(unit, at, this.consumed + at);
    // fzstd holds back a frame's first bytes until it has 18 of them; `final` on the frame's
    // last unit makes it flush, and it is ready for the next frame afterwards.
    this.fz.push(unit, block.last);
    if (block.last) this.finishFrame(frame, unit);
    this.consumed += unit.length;
  }

  private finishFrame(frame: FrameState, unit: Buffer): void {
    const { header } = frame;
    if (header.contentSize !== null && header.contentSize !== frame.produced) {
      throw new ZstdFormatError(
        `a frame decoded to ${frame.produced} bytes but its header declares ${header.contentSize}`,
        this.consumed,
      );
    }
    if (header.hasChecksum && frame.hash) {
      const expected = unit.readUInt32LE(unit.length - 4);
      const actual = frame.hash.digest().readUInt32BE(4);
      if (expected !== actual) {
        throw new ZstdFormatError(
          'the content checksum does not match the decoded data',
          this.consumed,
        );
      }
    }
    this.frame = null;
    this.frames += 1;
  }
}
