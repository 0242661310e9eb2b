/**
 * Zstandard (RFC 8878) images, decoded by libzstd itself: Node's zlib where it has zstd (Node
 * ≥ 22.15, which Electron's Node is), else the zstd-napi binding, driven one output buffer at a
 * time. libzstd verifies each frame's Content_Checksum (XXH64), walks multi-frame files and
 * skips skippable frames (pzstd's), so none of that is ours.
 *
 * What stays ours is `readZstdLayout`: the exact image size needs every frame's
 * Frame_Content_Size, and finding where a frame ends without decoding it means walking its
 * block headers. libzstd's ZSTD_findFrameCompressedSize does that walk too, but only over a
 * frame held whole in memory (GiBs for an image); ours does it with small positional reads,
 * and so also catches truncation before anything is written.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { loadZstdNapi } from '../native.js';

const ZSTD_MAGIC = 0xfd2fb528;
/** Block_Maximum_Size: no block carries more than 128 KiB, compressed or not. */
const MAX_BLOCK = 128 * 1024;

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
}

/** Header length from the Frame_Header_Descriptor byte (magic included). */
function frameHeaderLength(fhd: number): number {
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictFlag = fhd & 3;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  return 4 + 1 + (singleSegment ? 0 : 1) + (dictFlag === 3 ? 4 : dictFlag) + fcsBytes;
}

function parseFrameHeader(view: Buffer, fileOffset: number): FrameHeader {
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
  };
}

interface BlockHeader {
  readonly last: boolean;
  /** Bytes the block occupies after its 3-byte header. */
  readonly bodyLength: number;
}

function parseBlockHeader(buf: Buffer, fileOffset: number): BlockHeader {
  const raw = (buf[0] ?? 0) | ((buf[1] ?? 0) << 8) | ((buf[2] ?? 0) << 16);
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
    const header = parseFrameHeader(await bytesAt(pos, frameHeaderLength(fhd)), pos);
    frames += 1;
    total = total === null || header.contentSize === null ? null : total + header.contentSize;
    allChecksummed &&= header.hasChecksum;
    pos += header.length;
    for (;;) {
      const block = parseBlockHeader(await bytesAt(pos, 3), pos);
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

/** Node's own zstd (Node ≥ 22.15 / 23.8); absent from Node 20 and its types. */
export type CreateZstdDecompress = (options: { chunkSize?: number }) => Transform;

/** Node's zlib zstd decoder when this Node has one, else null (then use `decodeZstd`). */
export function nodeZstdDecompress(zlibModule: object = zlib): CreateZstdDecompress | null {
  const create = (zlibModule as { createZstdDecompress?: CreateZstdDecompress })
    .createZstdDecompress;
  return typeof create === 'function' ? create.bind(zlibModule) : null;
}

const INPUT_SLICE = 256 * 1024;

export interface ZstdProgress {
  /** Compressed bytes consumed by libzstd so far. */
  compressedOffset: number;
}

/**
 * libzstd through the zstd-napi binding. Its own stream class pushes everything one input chunk
 * decodes to, ignoring backpressure (a few KiB of compressed zeros can be GiBs), so we call
 * ZSTD_decompressStream ourselves into one `chunkSize` buffer at a time and yield it full.
 */
export async function* decodeZstd(
  source: AsyncIterable<Buffer>,
  chunkSize: number,
  progress: ZstdProgress,
): AsyncGenerator<Buffer> {
  const dctx = new (loadZstdNapi().DCtx)();
  let out = Buffer.allocUnsafe(chunkSize);
  let filled = 0;
  let inFrame = false;
  for await (const chunk of source) {
    let src = chunk;
    for (;;) {
      // At most INPUT_SLICE per call, so a damaged spot is named to within that many bytes.
      const [remaining, produced, consumed] = dctx.decompressStream(
        out.subarray(filled),
        src.subarray(0, INPUT_SLICE),
      );
      filled += produced;
      progress.compressedOffset += consumed;
      src = src.subarray(consumed);
      // A call that neither reads nor writes (after a frame's end, with no input left) asks
      // for the next frame's header: that is not an unfinished frame.
      if (produced > 0 || consumed > 0) inFrame = remaining !== 0;
      if (filled === out.length) {
        yield out;
        out = Buffer.allocUnsafe(chunkSize);
        filled = 0;
        continue; // libzstd may hold more output even when all input is consumed
      }
      if (src.length === 0) break;
    }
  }
  if (inFrame) {
    throw new ZstdFormatError(
      'the data ends in the middle of a frame (the file is truncated)',
      progress.compressedOffset,
    );
  }
  if (filled > 0) yield out.subarray(0, filled);
}
