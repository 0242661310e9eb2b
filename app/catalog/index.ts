/** The Zeta installer catalogue: signed release manifest, verified download, cache. */
export { fetchReleaseManifest, pickImage, signatureUrl, type CatalogOptions } from './catalog.js';
export {
  defaultCacheDir,
  listCachedImages,
  pruneCache,
  ensureCacheDir,
  type CachedImage,
} from './cache.js';
export {
  downloadImage,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
} from './download.js';
export { DEFAULT_STALL_MS, type FetchLike } from './http.js';
export { DEFAULT_MANIFEST_URL, RELEASE_PUBLIC_KEYS } from './release-key.js';
export {
  ARCHITECTURES,
  DEFAULT_ARCHITECTURE,
  imageFileName,
  isArchitecture,
  parseArchitecture,
  parseManifestUrl,
  parseReleaseKey,
  parseReleaseManifest,
  trustedKeys,
  verifyManifestSignature,
  type Architecture,
  type ManifestImage,
  type ReleaseManifest,
} from './release-manifest.js';
