/** yauzl (zip central directory), CommonJS without bundled types: a typed, lazily loaded surface. */
import type { EventEmitter } from 'node:events';
import { loadModule } from '../native.js';

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

let yauzl: Yauzl | undefined;

export const loadYauzl = (): Yauzl =>
  (yauzl ??= loadModule<Yauzl>('yauzl', 'zip reader', 'ZFLASH_DECODER_MISSING'));
