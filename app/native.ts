/**
 * Every native addon the engine uses, loaded in one place and only when first needed.
 *
 * They are CommonJS `.node` binaries: a missing or mismatched build (another Node/Electron ABI,
 * a prebuild for another libc, a packaged app whose `.node` files stayed inside the asar) then
 * breaks only the feature that needs it, with one clear error, instead of every import of the
 * engine failing with a bare `dlopen` stack trace.
 */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type * as DrivelistModule from 'drivelist';
import { ZflashError, type ErrorCode } from './errors.js';

const defaultRequire = createRequire(import.meta.url);

/**
 * The packages holding `.node` binaries that the engine loads: packaging must unpack these
 * from the asar (a `.node` file cannot be dlopen()ed from inside one). etcher-sdk (and its
 * mountutils) is a development dependency now, used by the benchmarks only.
 */
export const NATIVE_MODULES = [
  '@ronomon/direct-io',
  'xxhash-addon',
  'lzma-native',
  'drivelist',
  'zstd-napi',
] as const;

export type NativeModuleName = (typeof NATIVE_MODULES)[number];

type LoadCode = Extract<ErrorCode, 'ZFLASH_DECODER_MISSING' | 'ZFLASH_NATIVE_MISSING'>;

/**
 * `require(name)`, or a ZflashError naming the module and what it is for. `req` resolves from
 * another place (tests use a folder holding a broken addon).
 */
export function loadModule<T>(
  name: string,
  purpose: string,
  code: LoadCode,
  req: NodeJS.Require = defaultRequire,
): T {
  try {
    return req(name) as T;
  } catch (err) {
    throw new ZflashError(
      'bug',
      code,
      `The ${purpose} (${name}) could not be loaded: ${err instanceof Error ? err.message : String(err)}`,
      code === 'ZFLASH_DECODER_MISSING'
        ? 'This installation of Zeta Flash is incomplete. Reinstall it, or decompress the image yourself and choose the result.'
        : 'This installation of Zeta Flash is incomplete or was built for another system. Reinstall it.',
      { module: name },
      { cause: err },
    );
  }
}

function lazy<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}

// --- @ronomon/direct-io: aligned buffers for O_DIRECT writes --------------------------------

export interface DirectIo {
  getAlignedBuffer(size: number, alignment: number): Buffer;
  readonly O_DIRECT: number;
  readonly O_EXLOCK: number;
  setF_NOCACHE(fd: number, value: 0 | 1, callback: (err?: Error | null) => void): void;
}

export const loadDirectIo = lazy(() =>
  loadModule<DirectIo>('@ronomon/direct-io', 'aligned-buffer module', 'ZFLASH_NATIVE_MISSING'),
);

// --- xxhash-addon: XXH3/XXH128 for verification ---------------------------------------------

export interface XxHash {
  update(data: Uint8Array): void;
  digest(): Buffer;
}

export interface XxHashAddon {
  XXHash3: new (seed: Buffer) => XxHash;
  XXHash128: new (seed: Buffer) => XxHash;
  XXHash64: new (seed: Buffer) => XxHash;
}

export const loadXxhash = lazy(() =>
  loadModule<XxHashAddon>('xxhash-addon', 'hash module', 'ZFLASH_NATIVE_MISSING'),
);

// --- drivelist: the drives the OS knows -----------------------------------------------------

export type Drivelist = typeof DrivelistModule;

export const loadDrivelist = lazy(() =>
  loadModule<Drivelist>('drivelist', 'drive lister', 'ZFLASH_NATIVE_MISSING'),
);

/**
 * drivelist's transform of `lsblk --json` output (plain JS inside the drivelist package,
 * loaded from where drivelist is: a packaged helper cannot import it from its own blob).
 */
export interface DrivelistLsblk {
  parse(stdout: string): DrivelistModule.Drive[];
}

export const loadDrivelistLsblk = lazy(() =>
  loadModule<DrivelistLsblk>('drivelist/js/lsblk/json.js', 'drive lister', 'ZFLASH_NATIVE_MISSING'),
);

// --- lzma-native: xz --------------------------------------------------------------------------

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

export const loadLzma = lazy(() =>
  loadModule<LzmaNative>('lzma-native', 'xz decoder', 'ZFLASH_DECODER_MISSING'),
);

// --- zstd-napi: libzstd where Node has no zlib zstd (Node < 22.15) ---------------------------

/** [bytes still to flush (0 at a frame's end), bytes written, bytes consumed] */
export type ZstdStreamResult = [remaining: number, produced: number, consumed: number];

export interface ZstdDCtx {
  /** ZSTD_decompressStream: libzstd checks each frame's content checksum itself. */
  decompressStream(dst: Uint8Array, src: Uint8Array): ZstdStreamResult;
}

export interface ZstdBinding {
  DCtx: new () => ZstdDCtx;
}

/** The low-level binding (`zstd-napi/binding`): its stream wrapper ignores backpressure. */
export const loadZstdNapi = lazy(() =>
  loadModule<ZstdBinding>('zstd-napi/binding', 'zstd decoder', 'ZFLASH_DECODER_MISSING'),
);
