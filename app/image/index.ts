export type { Compression, ImageNotice, ImageSourceInfo, ZipImageEntry } from './image-types.js';
export {
  DEFAULT_CHUNK_SIZE,
  compressionFromName,
  detectCompression,
  imageFileName,
  openImageStream,
  probeImage,
  readImagePrefix,
} from './image-source.js';
export type { OpenImageStreamOptions } from './image-source.js';
export {
  findSidecarChecksum,
  parseSha256Hex,
  sha256File,
  verifyImageChecksum,
} from './checksum.js';
export type { ProgressOptions, SidecarChecksum } from './checksum.js';
