export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zip' | 'zstd';

export interface ImageNotice {
  readonly code: string;
  readonly message: string;
}

/** The one entry of a zip archive that is the image, located from the central directory. */
export interface ZipImageEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate: the two methods image zips use. */
  readonly method: 0 | 8;
  readonly compressedSize: number;
  readonly localHeaderOffset: number;
  readonly crc32: number;
}

interface ImageSourceBase {
  /** Absolute path of the image file. */
  readonly path: string;
  /** Size of the file on disk (the compressed size for compressed images). */
  readonly fileSize: number;
  /**
   * Uncompressed image size: exact when `sizeIsExact`, otherwise a lower-bound estimate
   * (gzip), or null when the format does not record it (bzip2, zstd without
   * Frame_Content_Size).
   */
  readonly size: number | null;
  readonly sizeIsExact: boolean;
  /** Things worth telling the operator that do not stop the flash (misnamed file, size estimated). */
  readonly notices: readonly ImageNotice[];
}

export type ImageSourceInfo =
  | (ImageSourceBase & { readonly compression: Exclude<Compression, 'zip'> })
  | (ImageSourceBase & { readonly compression: 'zip'; readonly zipEntry: ZipImageEntry });
