import { ZflashError, inputError, targetError } from '../errors.js';
import type { Compression } from './image-types.js';

const FORMAT_NAMES: Readonly<Record<Compression, string>> = {
  none: 'raw',
  gzip: 'gzip',
  bzip2: 'bzip2',
  xz: 'xz',
  zip: 'zip',
  zstd: 'zstd',
};

export const formatName = (compression: Compression): string => FORMAT_NAMES[compression];

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

export interface DecodePosition {
  /** Bytes of the image file read (or consumed by the decoder) so far. */
  readonly compressedOffset?: number;
  /** Uncompressed image bytes produced so far. */
  readonly outputOffset?: number;
}

export function imageCorruptError(
  path: string,
  compression: Compression,
  detail: string,
  position: DecodePosition = {},
  cause?: unknown,
): ZflashError {
  const where: string[] = [];
  if (position.compressedOffset !== undefined) {
    where.push(`near byte ${position.compressedOffset} of the file`);
  }
  if (position.outputOffset !== undefined) {
    where.push(`after ${mib(position.outputOffset)} of image data`);
  }
  return new ZflashError(
    'target',
    'ZFLASH_IMAGE_CORRUPT',
    `The ${formatName(compression)} image ${path} is damaged: ${detail}${where.length ? ` (${where.join(', ')})` : ''}.`,
    'The download is incomplete or damaged. Download the image again, and check it against the SHA-256 the publisher lists.',
    { path, compression, detail, ...position },
    cause === undefined ? undefined : { cause },
  );
}

export function imageUnsupportedError(path: string, detail: string): ZflashError {
  return targetError(
    'ZFLASH_IMAGE_UNSUPPORTED',
    `Zeta Flash cannot read ${path}: ${detail}.`,
    'Decompress or unpack the image with another tool and choose the resulting .iso or .img.',
    { path, detail },
  );
}

export function imageTooShortError(path: string, have: number, wanted: number): ZflashError {
  return targetError(
    'ZFLASH_IMAGE_TOO_SHORT',
    `The image ${path} holds only ${have} bytes, fewer than the ${wanted} bytes Zeta Flash needs to read from its start.`,
    'This is not a complete installer image. Choose the full .iso or .img file.',
    { path, have, wanted },
  );
}

/** Maps a failure to open or read the image file itself (not its content) to a target error. */
export function imageFileError(path: string, err: unknown): ZflashError {
  if (err instanceof ZflashError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = err instanceof Error ? err.message : String(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return inputError(
      'ZFLASH_IMAGE_NOT_FOUND',
      `The image ${path} does not exist.`,
      'Check the path, or choose the image again: it may have been moved or deleted.',
      { path, code },
    );
  }
  return new ZflashError(
    'target',
    'ZFLASH_IMAGE_UNREADABLE',
    `The image ${path} cannot be read: ${reason}`,
    code === 'EACCES' || code === 'EPERM'
      ? 'Your account may not read this file. Copy it somewhere you own, or fix its permissions.'
      : 'Choose a regular image file on a working disk. If it sits on removable or network storage, copy it to the computer first.',
    { path, ...(code ? { code } : {}) },
    { cause: err },
  );
}

/** Errors from the file system carry an errno code; decoder failures do not. */
export const isFileSystemError = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && (err as Error).name !== 'AbortError';
};
