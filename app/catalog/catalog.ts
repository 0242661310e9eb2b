/**
 * "Which Zeta installer can I download?": fetches the release manifest and its detached
 * signature, verifies the signature over the exact bytes, then parses. Everything comes in as
 * a parameter (URL, keys, fetch, signal): front ends decide where those come from.
 */
import type { KeyObject } from 'node:crypto';
import { targetError } from '../errors.js';
import { DEFAULT_STALL_MS, getLimited, unreachable, type FetchLike } from './http.js';
import {
  MAX_MANIFEST_BYTES,
  MAX_SIGNATURE_BYTES,
  isAllowedUrl,
  parseManifestUrl,
  parseReleaseManifest,
  verifyManifestSignature,
  type Architecture,
  type ManifestImage,
  type ReleaseManifest,
} from './release-manifest.js';

export interface CatalogOptions {
  readonly manifestUrl: string;
  /** Trusted Ed25519 public keys (`trustedKeys(RELEASE_PUBLIC_KEYS)` in a release build). */
  readonly keys: readonly KeyObject[];
  readonly fetch?: FetchLike;
  readonly signal?: AbortSignal;
  readonly stallMs?: number;
}

/** The detached signature sits next to the manifest: `<manifest URL>.sig`. */
export function signatureUrl(manifestUrl: string): string {
  const u = new URL(manifestUrl);
  u.pathname += '.sig';
  return u.href;
}

export async function fetchReleaseManifest(opts: CatalogOptions): Promise<ReleaseManifest> {
  const url = parseManifestUrl(opts.manifestUrl).href;
  const common = {
    fetch: opts.fetch ?? globalThis.fetch,
    stallMs: opts.stallMs ?? DEFAULT_STALL_MS,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  const tooLarge = (what: string) => () =>
    targetError(
      'ZFLASH_CATALOG_INVALID',
      `The ${what} at ${url} is far larger than a real one; it was not trusted.`,
      'Check the manifest URL setting; use the default unless you run a mirror.',
      { url },
    );
  const manifest = await getLimited(url, {
    ...common,
    maxBytes: MAX_MANIFEST_BYTES,
    fail: unreachable('release manifest', url),
    tooLarge: tooLarge('release manifest'),
  });
  const sigUrl = signatureUrl(url);
  const sig = await getLimited(sigUrl, {
    ...common,
    maxBytes: MAX_SIGNATURE_BYTES,
    fail: unreachable('release manifest signature', sigUrl),
    tooLarge: tooLarge('release manifest signature'),
  });
  for (const final of [manifest.finalUrl, sig.finalUrl]) {
    // A redirect must not downgrade to plain http off this computer.
    if (!isAllowedUrl(new URL(final)))
      throw unreachable('release manifest', url)(`redirected to ${final}, which is not https`);
  }
  verifyManifestSignature(manifest.bytes, sig.bytes, opts.keys, url);
  return parseReleaseManifest(manifest.bytes, url);
}

/** The manifest's image for `arch`, or a clear refusal. */
export function pickImage(manifest: ReleaseManifest, arch: Architecture): ManifestImage {
  const img = manifest.images.find((i) => i.arch === arch);
  if (img) return img;
  const offered = manifest.images.map((i) => i.arch);
  throw targetError(
    'ZFLASH_CATALOG_NO_IMAGE',
    `Release ${manifest.version} has no Zeta installer for ${arch}.`,
    offered.length
      ? `It offers: ${offered.join(', ')}. Choose one of those, or build the installer with \`nix build ./nixos#installer-iso\`.`
      : 'Build the installer with `nix build ./nixos#installer-iso`, or try again after the next release.',
    { arch, offered, version: manifest.version },
  );
}
