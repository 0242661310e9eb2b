/**
 * Image sources: raw .iso/.img and compressed images (gzip, bzip2, xz, zip, zstd), detected by
 * their magic bytes. `probeImage` learns what the file is and how big the image inside will be
 * (so "drive too small" is caught before anything is written); `openImageStream` yields the
 * uncompressed bytes in large chunks for the flash engine and for verification.
 */
import { createReadStream } from 'node:fs';
import type { ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { ZflashError, assertNever, cancelledError, targetError } from '../errors.js';
import {
  imageCorruptError,
  imageFileError,
  imageTooShortError,
  imageUnsupportedError,
  isFileSystemError,
} from './image-errors.js';
import type { Compression, ImageNotice, ImageSourceInfo, ZipImageEntry } from './image-types.js';
import { loadLzma } from '../native.js';
import { Bzip2FormatError, decodeBzip2 } from './bzip2.js';
import { decodeXz } from './xz-decoder.js';
import { loadYauzl, type YauzlEntry, type YauzlZipFile } from './yauzl.js';
import {
  ZstdFormatError,
  decodeZstd,
  isSkippableMagic,
  isZstdMagic,
  nodeZstdDecompress,
  readZstdLayout,
  type CreateZstdDecompress,
} from './zstd.js';

const MiB = 1024 * 1024;
/** The chunk size `dd bs=4M` uses; large reads and writes are what make flashing fast. */
export const DEFAULT_CHUNK_SIZE = 4 * MiB;
const TWO_POW_32 = 2 ** 32;
const IMAGE_ENTRY = /\.(img|iso|raw)$/i;

// --- detection ---------------------------------------------------------------------------

/** What the first bytes say the file is. */
export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number): number => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68 && b(3) >= 0x31 && b(3) <= 0x39) {
    return 'bzip2';
  }
  if ([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00].every((v, i) => b(i) === v)) return 'xz';
  // Local file header, or the end-of-central-directory record of an empty archive.
  if (
    b(0) === 0x50 &&
    b(1) === 0x4b &&
    ((b(2) === 3 && b(3) === 4) || (b(2) === 5 && b(3) === 6))
  ) {
    return 'zip';
  }
  if (head.length >= 4) {
    const magic = Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0);
    if (isZstdMagic(magic) || isSkippableMagic(magic)) return 'zstd';
  }
  return 'none';
}

/** What the file name says it is (null when the name says nothing). */
export function compressionFromName(path: string): Compression | null {
  const name = basename(path).toLowerCase();
  const ext = name.slice(name.lastIndexOf('.') + 1);
  switch (ext) {
    case 'gz':
    case 'gzip':
      return 'gzip';
    case 'bz2':
      return 'bzip2';
    case 'xz':
      return 'xz';
    case 'zip':
      return 'zip';
    case 'zst':
    case 'zstd':
      return 'zstd';
    case 'iso':
    case 'img':
    case 'raw':
      return 'none';
    default:
      return null;
  }
}

const describe = (c: Compression): string => (c === 'none' ? 'uncompressed' : `${c}-compressed`);

// --- probing -----------------------------------------------------------------------------

export async function probeImage(path: string): Promise<ImageSourceInfo> {
  const abs = resolve(path);
  let fh: FileHandle;
  try {
    fh = await open(abs, 'r');
  } catch (err) {
    throw imageFileError(abs, err);
  }
  try {
    let fileSize: number;
    let head: Buffer;
    try {
      const stat = await fh.stat();
      if (!stat.isFile()) {
        throw targetError(
          'ZFLASH_IMAGE_UNREADABLE',
          `${abs} is not a regular file${stat.isDirectory() ? ' but a folder' : ''}.`,
          'Choose the image file itself (.iso, .img, or a compressed image such as .img.zst).',
          { path: abs },
        );
      }
      fileSize = stat.size;
      head = Buffer.alloc(Math.min(16, fileSize));
      if (head.length > 0) await fh.read(head, 0, head.length, 0);
    } catch (err) {
      throw imageFileError(abs, err);
    }
    if (fileSize === 0) {
      throw targetError(
        'ZFLASH_IMAGE_EMPTY',
        `The image ${abs} is empty (0 bytes).`,
        'The download probably did not finish. Download the image again.',
        { path: abs },
      );
    }

    const compression = detectCompression(head);
    const notices: ImageNotice[] = [];
    const named = compressionFromName(abs);
    if (named !== null && named !== compression) {
      notices.push({
        code: 'ZFLASH_IMAGE_NAME_MISMATCH',
        message: `${basename(abs)} is named like a ${describe(named)} image but its content is ${describe(compression)}; reading it as ${describe(compression)}.`,
      });
    }
    const base = { path: abs, fileSize, notices };
    const unknownSize = (why: string): ImageSourceInfo => {
      notices.push({ code: 'ZFLASH_IMAGE_SIZE_UNKNOWN', message: why });
      return { ...base, compression, size: null, sizeIsExact: false } as ImageSourceInfo;
    };

    switch (compression) {
      case 'none':
        return { ...base, compression, size: fileSize, sizeIsExact: true };
      case 'gzip': {
        const size = await gzipSizeEstimate(fh, abs, fileSize);
        notices.push({
          code: 'ZFLASH_IMAGE_SIZE_ESTIMATED',
          message:
            'gzip records the image size only modulo 4 GiB, so the size shown is an estimate; a drive that is too small is caught while writing.',
        });
        return { ...base, compression, size, sizeIsExact: false };
      }
      case 'bzip2':
        return unknownSize(
          'bzip2 does not record the image size; a drive that is too small is caught while writing.',
        );
      case 'xz': {
        const size = await xzSize(fh, abs, fileSize);
        return { ...base, compression, size, sizeIsExact: true };
      }
      case 'zip': {
        const zipEntry = await findZipImageEntry(abs);
        return {
          ...base,
          compression,
          zipEntry: zipEntry.entry,
          size: zipEntry.size,
          sizeIsExact: true,
        };
      }
      case 'zstd': {
        let layout;
        try {
          layout = await readZstdLayout(fh, fileSize);
        } catch (err) {
          throw zstdError(abs, err, { compressedOffset: (err as ZstdFormatError).offset });
        }
        if (!layout.allChecksummed) {
          notices.push({
            code: 'ZFLASH_IMAGE_NO_CHECKSUM',
            message:
              'This zstd image was compressed without content checksums, so damage inside it may go unnoticed; verify the file with its SHA-256.',
          });
        }
        if (layout.contentSize === null) {
          return unknownSize(
            'This zstd image does not record its size (made with --no-content-size or from a pipe); a drive that is too small is caught while writing.',
          );
        }
        if (layout.contentSize === 0) throw emptyImage(abs);
        return { ...base, compression, size: layout.contentSize, sizeIsExact: true };
      }
      default:
        return assertNever(compression, 'compression');
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

const emptyImage = (path: string): ZflashError =>
  targetError(
    'ZFLASH_IMAGE_EMPTY',
    `The compressed image ${path} contains no data.`,
    'This is not an installer image. Download the image again.',
    { path },
  );

function zstdError(
  path: string,
  err: unknown,
  position: { compressedOffset?: number; outputOffset?: number },
): ZflashError {
  if (err instanceof ZflashError) return err;
  if (err instanceof ZstdFormatError && err.unsupported) {
    return imageUnsupportedError(path, `the zstd data ${err.message}`);
  }
  if (isFileSystemError(err)) return imageFileError(path, err);
  const message = err instanceof Error ? err.message : String(err);
  // libzstd's ZSTD_error_frameParameter_windowTooLarge: made with --long beyond 128 MiB
  // windows, which libzstd (and the zstd command) refuse to decode unless told to.
  if (/too much memory/i.test(message)) {
    return imageUnsupportedError(path, `the zstd data needs a larger window: ${message}`);
  }
  return imageCorruptError(path, 'zstd', message, position, err);
}

/**
 * gzip's ISIZE trailer is the size modulo 2^32 (of the last member only). Deflate never shrinks
 * data by much less than nothing (stored blocks cost 5 bytes per 64 KiB), so the image is at
 * least about as big as the file: the estimate is the smallest size ≡ ISIZE (mod 2^32) that is
 * not below that floor. Exact for ordinary single-member files whose image is < 4 GiB bigger
 * than the file.
 */
async function gzipSizeEstimate(fh: FileHandle, path: string, fileSize: number): Promise<number> {
  if (fileSize < 18) {
    throw imageCorruptError(path, 'gzip', 'the file is too short to hold a gzip member');
  }
  const trailer = Buffer.alloc(4);
  try {
    await fh.read(trailer, 0, 4, fileSize - 4);
  } catch (err) {
    throw imageFileError(path, err);
  }
  const isize = trailer.readUInt32LE(0);
  const floor = Math.floor((fileSize - 32) * (65535 / 65540));
  const wraps = Math.max(0, Math.ceil((floor - isize) / TWO_POW_32));
  return isize + wraps * TWO_POW_32;
}

async function xzSize(fh: FileHandle, path: string, fileSize: number): Promise<number> {
  const lzma = loadLzma();
  const info = await new Promise<{ uncompressedSize: number }>((resolvePromise, reject) => {
    lzma.parseFileIndex(
      {
        fileSize,
        read: (count, offset, callback) => {
          const buf = Buffer.alloc(count);
          fh.read(buf, 0, count, offset).then(
            ({ bytesRead }) =>
              bytesRead === count
                ? callback(null, buf)
                : callback(new Error('the file ends early')),
            (err: Error) => callback(err),
          );
        },
      },
      (err, result) =>
        err || !result ? reject(err ?? new Error('no index')) : resolvePromise(result),
    );
  }).catch((err: unknown) => {
    if (isFileSystemError(err)) throw imageFileError(path, err);
    throw imageCorruptError(
      path,
      'xz',
      `its index (at the end of the file) cannot be read: ${err instanceof Error ? err.message : String(err)}; the file is truncated or damaged`,
      {},
      err,
    );
  });
  if (info.uncompressedSize === 0) throw emptyImage(path);
  return info.uncompressedSize;
}

async function findZipImageEntry(path: string): Promise<{ entry: ZipImageEntry; size: number }> {
  const yauzl = loadYauzl();
  const entries = await new Promise<YauzlEntry[]>((resolvePromise, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: true }, (err, zip?: YauzlZipFile) => {
      if (err || !zip) return reject(err ?? new Error('cannot open'));
      const found: YauzlEntry[] = [];
      zip.on('entry', (entry: YauzlEntry) => {
        found.push(entry);
        zip.readEntry();
      });
      zip.on('end', () => resolvePromise(found));
      zip.on('error', reject);
      zip.readEntry();
    });
  }).catch((err: unknown) => {
    if (isFileSystemError(err)) throw imageFileError(path, err);
    throw imageCorruptError(
      path,
      'zip',
      `its table of contents cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      {},
      err,
    );
  });

  const files = entries.filter((e) => !e.fileName.endsWith('/'));
  const candidates = files.filter(
    (e) =>
      IMAGE_ENTRY.test(e.fileName) &&
      !e.fileName.startsWith('__MACOSX/') &&
      !basename(e.fileName).startsWith('._'),
  );
  const [only] = candidates;
  if (candidates.length !== 1 || !only) {
    const names = files.map((e) => e.fileName);
    throw targetError(
      'ZFLASH_IMAGE_ZIP_AMBIGUOUS',
      candidates.length === 0
        ? `The zip archive ${path} contains no .img, .iso or .raw file (it holds: ${names.slice(0, 10).join(', ') || 'nothing'}).`
        : `The zip archive ${path} contains ${candidates.length} images (${candidates
            .map((e) => e.fileName)
            .slice(0, 10)
            .join(', ')}); Zeta Flash cannot tell which one to write.`,
      'Unpack the archive and choose the image file you want to write.',
      { path, entries: names.slice(0, 50) },
    );
  }
  if (only.isEncrypted()) {
    throw imageUnsupportedError(path, `the zip entry ${only.fileName} is encrypted`);
  }
  if (only.compressionMethod !== 0 && only.compressionMethod !== 8) {
    throw imageUnsupportedError(
      path,
      `the zip entry ${only.fileName} uses compression method ${only.compressionMethod} (only stored and deflate are supported)`,
    );
  }
  if (only.uncompressedSize === 0) throw emptyImage(path);
  return {
    entry: {
      name: only.fileName,
      method: only.compressionMethod,
      compressedSize: only.compressedSize,
      localHeaderOffset: only.relativeOffsetOfLocalHeader,
      crc32: only.crc32,
    },
    size: only.uncompressedSize,
  };
}

// --- streaming ---------------------------------------------------------------------------

export interface OpenImageStreamOptions {
  readonly signal?: AbortSignal;
  /** Uncompressed offset to start at (compressed formats decode and drop what comes before). */
  readonly start?: number;
  /** Read size for the file and target size of the chunks produced. Default 4 MiB. */
  readonly highWaterMark?: number;
  /**
   * The zstd decoder as a zlib-style Transform factory. Default: Node's own
   * `zlib.createZstdDecompress` where this Node has it (≥ 22.15, as in Electron), else libzstd
   * through the zstd-napi binding.
   */
  readonly createZstdDecompress?: CreateZstdDecompress;
}

interface DecodeProgress {
  compressedOffset: number;
  outputOffset: number;
}

/**
 * The uncompressed image bytes as a Readable of large chunks. Every failure arrives as a
 * ZflashError: ZFLASH_IMAGE_CORRUPT for damaged data, ZFLASH_CANCELLED when `signal` aborts.
 */
export function openImageStream(
  info: ImageSourceInfo,
  opts: OpenImageStreamOptions = {},
): Readable {
  const chunkSize = opts.highWaterMark ?? DEFAULT_CHUNK_SIZE;
  const start = opts.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`invalid start ${start}`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`invalid highWaterMark ${chunkSize}`);
  }
  // Aborted as soon as the stream is destroyed (by the consumer, by `signal`, or after its
  // end): stops file reads and decoding at once rather than at the generator's next yield.
  const inner = new AbortController();
  const zstd = opts.createZstdDecompress ?? nodeZstdDecompress();
  const readable = Readable.from(decodeImage(info, start, chunkSize, inner.signal, zstd), {
    objectMode: false,
    highWaterMark: chunkSize,
  });
  const signal = opts.signal;
  const onAbort = (): void => {
    readable.destroy(cancelledError());
  };
  const destroy = readable._destroy.bind(readable);
  readable._destroy = (err, callback) => {
    signal?.removeEventListener('abort', onAbort);
    inner.abort();
    destroy(err, callback);
  };
  if (signal) {
    if (signal.aborted) process.nextTick(onAbort);
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  return readable;
}

async function* decodeImage(
  info: ImageSourceInfo,
  start: number,
  chunkSize: number,
  signal: AbortSignal,
  nodeZstd: CreateZstdDecompress | null,
): AsyncGenerator<Buffer> {
  const progress: DecodeProgress = { compressedOffset: 0, outputOffset: 0 };
  const cleanups: (() => void)[] = [];
  const fileStream = (
    options: { start?: number; end?: number; highWaterMark?: number } = {},
  ): ReadStream => {
    const s = createReadStream(info.path, { highWaterMark: chunkSize, ...options, signal });
    cleanups.push(() => s.destroy());
    return s;
  };
  /** Drops output before `start` and counts what passes. */
  function* emit(chunk: Buffer): Generator<Buffer> {
    const at = progress.outputOffset;
    progress.outputOffset += chunk.length;
    if (progress.outputOffset <= start) return;
    yield at < start ? chunk.subarray(start - at) : chunk;
  }
  try {
    switch (info.compression) {
      case 'none': {
        progress.outputOffset = start;
        const src = fileStream({ start });
        for await (const chunk of src as AsyncIterable<Buffer>) {
          progress.outputOffset += chunk.length;
          progress.compressedOffset = progress.outputOffset;
          yield chunk;
        }
        return;
      }
      case 'gzip':
        yield* piped(
          fileStream(),
          zlib.createGunzip({ chunkSize }),
          progress,
          emit,
          cleanups,
          chunkSize,
        );
        break;
      case 'xz': {
        const src = fileStream();
        for await (const out of decodeXz(src as AsyncIterable<Buffer>, chunkSize, progress)) {
          yield* emit(out);
        }
        break;
      }
      case 'bzip2': {
        const blocks = decodeBzip2(fileStream() as AsyncIterable<Buffer>, chunkSize, progress);
        for await (const out of rechunk(blocks, chunkSize)) yield* emit(out);
        break;
      }
      case 'zip': {
        const entry = info.zipEntry;
        const dataStart = await zipDataOffset(info.path, entry);
        const src = fileStream({ start: dataStart, end: dataStart + entry.compressedSize - 1 });
        // zlib.crc32 arrived in Node 20.15; without it the entry's CRC goes unchecked.
        const crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : null;
        let crc = 0;
        const check = function* (chunk: Buffer): Generator<Buffer> {
          if (crc32) crc = crc32(chunk, crc);
          yield* emit(chunk);
        };
        if (entry.method === 0) {
          for await (const chunk of src as AsyncIterable<Buffer>) {
            progress.compressedOffset = src.bytesRead;
            yield* check(chunk);
          }
        } else {
          yield* piped(
            src,
            zlib.createInflateRaw({ chunkSize }),
            progress,
            check,
            cleanups,
            chunkSize,
          );
        }
        if (crc32 && crc >>> 0 !== entry.crc32 >>> 0) {
          throw new DecodeFailure('the CRC-32 of the unpacked data does not match the archive');
        }
        break;
      }
      case 'zstd': {
        if (nodeZstd) {
          yield* piped(fileStream(), nodeZstd({ chunkSize }), progress, emit, cleanups, chunkSize);
        } else {
          const src = fileStream() as AsyncIterable<Buffer>;
          for await (const out of decodeZstd(src, chunkSize, progress)) yield* emit(out);
        }
        break;
      }
      default:
        assertNever(info, 'image source');
    }
    if (info.sizeIsExact && info.size !== null && progress.outputOffset !== info.size) {
      throw new DecodeFailure(
        `it decoded to ${progress.outputOffset} bytes but its header declares ${info.size}`,
      );
    }
  } catch (err) {
    // Stopped because the stream was destroyed: it already carries its error (the
    // cancellation, or none when the consumer just stopped reading), so end quietly.
    if (signal.aborted) return;
    throw decodeError(info, err, progress);
  } finally {
    for (const cleanup of cleanups) cleanup();
  }
}

/** A problem our own checks found in the decoded data. */
class DecodeFailure extends Error {}

function decodeError(info: ImageSourceInfo, err: unknown, progress: DecodeProgress): ZflashError {
  if (err instanceof ZflashError) return err;
  if (isFileSystemError(err)) return imageFileError(info.path, err);
  const position = {
    compressedOffset:
      err instanceof Bzip2FormatError || err instanceof ZstdFormatError
        ? err.offset
        : progress.compressedOffset,
    outputOffset: progress.outputOffset,
  };
  if (info.compression === 'zstd') return zstdError(info.path, err, position);
  const message = err instanceof Error ? err.message : String(err);
  return imageCorruptError(info.path, info.compression, message, position, err);
}

/** Pipes the file into a zlib decoder (gzip, deflate, Node's zstd) and iterates its output. */
async function* piped(
  src: ReadStream,
  decoder: Transform,
  progress: DecodeProgress,
  emit: (chunk: Buffer) => Generator<Buffer>,
  cleanups: (() => void)[],
  chunkSize: number,
): AsyncGenerator<Buffer> {
  const out = decoder;
  cleanups.push(() => {
    src.unpipe();
    out.destroy();
    decoder.destroy();
  });
  // pipe() does not forward the file stream's errors (EIO, abort): hand them to the reader.
  src.once('error', (err) => out.destroy(err));
  src.pipe(decoder);
  // zlib hands out consecutive slices of one output buffer, cut wherever an input chunk ended;
  // re-join neighbours (no copy) so the writer gets chunks of about `chunkSize`.
  let held: Buffer | null = null;
  for await (const chunk of out as AsyncIterable<Buffer>) {
    progress.compressedOffset = src.bytesRead;
    if (
      held &&
      held.buffer === chunk.buffer &&
      held.byteOffset + held.length === chunk.byteOffset &&
      held.length < chunkSize
    ) {
      held = Buffer.from(held.buffer, held.byteOffset, held.length + chunk.length);
    } else {
      if (held) yield* emit(held);
      held = chunk;
    }
    if (held.length >= chunkSize) {
      yield* emit(held);
      held = null;
    }
  }
  if (held) yield* emit(held);
}

/**
 * Chunks of about `chunkSize` from a decoder that yields pieces of any size (bzip2: one block,
 * 0.1–46 MB): small pieces are joined, large ones cut (without copying).
 */
async function* rechunk(pieces: AsyncIterable<Buffer>, chunkSize: number): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldLength = 0;
  for await (const piece of pieces) {
    let rest = piece;
    while (heldLength + rest.length >= chunkSize) {
      const take = chunkSize - heldLength;
      const out =
        heldLength === 0
          ? rest.subarray(0, take)
          : Buffer.concat([...held, rest.subarray(0, take)]);
      held = [];
      heldLength = 0;
      rest = rest.subarray(take);
      yield out;
    }
    if (rest.length > 0) {
      held.push(rest);
      heldLength += rest.length;
    }
  }
  if (heldLength > 0) yield Buffer.concat(held, heldLength);
}

/** Data of a zip entry starts after its local header, whose name/extra lengths may differ from the central directory's. */
async function zipDataOffset(path: string, entry: ZipImageEntry): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const header = Buffer.alloc(30);
    const { bytesRead } = await fh.read(header, 0, 30, entry.localHeaderOffset);
    if (bytesRead < 30 || header.readUInt32LE(0) !== 0x04034b50) {
      throw new DecodeFailure(`the local header of ${entry.name} is missing`);
    }
    return entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  } finally {
    await fh.close();
  }
}

// --- prefix ------------------------------------------------------------------------------

/**
 * The first `length` uncompressed bytes, in memory: enough to locate and patch the ESP of a
 * compressed image, which nixpkgs places within the first tens of MiB.
 */
export async function readImagePrefix(
  info: ImageSourceInfo,
  length: number,
  opts: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`invalid length ${length}`);
  if (opts.signal?.aborted) throw cancelledError();
  const result = Buffer.alloc(length);
  if (length === 0) return result;
  let filled = 0;
  if (info.compression === 'none') {
    let fh: FileHandle;
    try {
      fh = await open(info.path, 'r');
    } catch (err) {
      throw imageFileError(info.path, err);
    }
    try {
      while (filled < length) {
        if (opts.signal?.aborted) throw cancelledError();
        const n = Math.min(length - filled, DEFAULT_CHUNK_SIZE);
        const { bytesRead } = await fh.read(result, filled, n, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
    } catch (err) {
      throw imageFileError(info.path, err);
    } finally {
      await fh.close().catch(() => undefined);
    }
  } else {
    const stream = openImageStream(info, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      highWaterMark: Math.min(DEFAULT_CHUNK_SIZE, Math.max(64 * 1024, length)),
    });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const n = Math.min(chunk.length, length - filled);
        chunk.copy(result, filled, 0, n);
        filled += n;
        if (filled >= length) break;
      }
    } finally {
      stream.destroy();
    }
  }
  if (filled < length) throw imageTooShortError(info.path, filled, length);
  return result;
}

export const imageFileName = (info: ImageSourceInfo): string =>
  info.compression === 'zip' ? basename(info.zipEntry.name) : basename(info.path);
