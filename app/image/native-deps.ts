/**
 * The decoders we borrow from etcher-sdk's dependency tree (lzma-native, unbzip2-stream,
 * yauzl) and the native XXH64 that zstd's content checksum needs (xxhash-addon). They are
 * CommonJS without bundled types, so they are loaded lazily through `createRequire` behind
 * the small typed surfaces below: a missing native prebuild then breaks only the one format
 * that needs it, not every import of `app/image`.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ZflashError } from '../errors.js';

const require = createRequire(import.meta.url);

export interface XzIndexInfo {
  readonly uncompressedSize: number;
  readonly streams: number;
  readonly blocks: number;
}

export interface LzmaNative {
  createDecompressor(options?: {
    memlimit?: number;
    bufsize?: number;
    synchronous?: boolean;
  }): Duplex;
  parseFileIndex(
    options: {
      fileSize: number;
      read: (
        count: number,
        offset: number,
        callback: (err: Error | null, buffer?: Buffer) => void,
      ) => void;
    },
    callback: (err: Error | null, info: XzIndexInfo | null) => void,
  ): void;
}

/** unbzip2-stream returns a classic (`through`) stream, not a streams2 Duplex. */
export type UnBzip2 = () => NodeJS.ReadWriteStream & { destroy(): void };

export interface YauzlEntry {
  readonly fileName: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly compressionMethod: number;
  readonly relativeOffsetOfLocalHeader: number;
  readonly crc32: number;
  isEncrypted(): boolean;
}

export interface YauzlZipFile extends EventEmitter {
  readonly entryCount: number;
  readEntry(): void;
  close(): void;
}

export interface Yauzl {
  open(
    path: string,
    options: { lazyEntries: boolean; autoClose: boolean; strictFileNames?: boolean },
    callback: (err: Error | null, zipFile?: YauzlZipFile) => void,
  ): void;
}

export interface XxHash64 {
  update(data: Buffer): void;
  digest(): Buffer;
}

interface XxHashAddon {
  XXHash64: new (seed: Buffer) => XxHash64;
}

function load<T>(name: string, format: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    throw new ZflashError(
      'bug',
      'ZFLASH_DECODER_MISSING',
      `The ${format} decoder (${name}) could not be loaded: ${err instanceof Error ? err.message : String(err)}`,
      'This installation of Zeta Flash is incomplete. Reinstall it, or decompress the image yourself and choose the result.',
      { module: name },
      { cause: err },
    );
  }
}

let lzma: LzmaNative | undefined;
let unbzip2: UnBzip2 | undefined;
let yauzl: Yauzl | undefined;
let xxhash: XxHashAddon | null | undefined;

export const loadLzma = (): LzmaNative => (lzma ??= load<LzmaNative>('lzma-native', 'xz'));
export const loadUnbzip2 = (): UnBzip2 => (unbzip2 ??= load<UnBzip2>('unbzip2-stream', 'bzip2'));
export const loadYauzl = (): Yauzl => (yauzl ??= load<Yauzl>('yauzl', 'zip'));

/**
 * XXH64 for zstd's Content_Checksum. fzstd skips that checksum, and zstd stores incompressible
 * data as raw blocks, so without it a flipped byte in a raw block would go unnoticed. Returns
 * null when the native module is unavailable: the image is still decoded, only unverified.
 */
export function createXxHash64(): XxHash64 | null {
  if (xxhash === undefined) {
    try {
      xxhash = require('xxhash-addon') as XxHashAddon;
    } catch {
      xxhash = null;
    }
  }
  return xxhash ? new xxhash.XXHash64(Buffer.alloc(8)) : null;
}
