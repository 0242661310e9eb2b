/**
 * The release manifest: which Zeta installer image each architecture gets, with its size and
 * SHA-256, signed with the release key. Format and signing steps: docs/release.md.
 *
 * The signature is checked over the exact bytes served, before they are parsed: nothing in an
 * unsigned or forged manifest (not even its JSON structure) reaches the rest of the engine.
 * Ed25519 through node:crypto (OpenSSL underneath): a maintained implementation, no new
 * dependency.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ZflashError, inputError, targetError } from '../errors.js';

/** NixOS system names an installer can be built for (nixpkgs' `hostPlatform.system`). */
export const ARCHITECTURES = ['x86_64-linux', 'aarch64-linux'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];
/**
 * What `image get` fetches when not told: the nodes' architecture, not this computer's (a
 * MacBook on arm64 makes sticks for x86_64 cluster nodes), and the only one built today.
 */
export const DEFAULT_ARCHITECTURE: Architecture = 'x86_64-linux';

export const MANIFEST_FORMAT = 1;
export const MAX_MANIFEST_BYTES = 1024 * 1024;
export const MAX_SIGNATURE_BYTES = 1024;

export function isArchitecture(s: string): s is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(s);
}

export function parseArchitecture(s: string): Architecture {
  if (isArchitecture(s)) return s;
  throw inputError(
    'ZFLASH_ARCH_UNKNOWN',
    `"${s}" is not an installer architecture Zeta Flash knows.`,
    `Use one of: ${ARCHITECTURES.join(', ')}.`,
    { arch: s },
  );
}

// The version becomes part of a file name in the cache: digits, dots and a plain suffix only.
const version = z
  .string()
  .max(40)
  .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/);

const imageSchema = z.looseObject({
  url: z.string().min(1).max(2048),
  size: z
    .number()
    .int()
    .positive()
    .max(2 ** 40),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  nixpkgsRev: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .nullable()
    .optional(),
});

// Unknown top-level fields and unknown architectures are tolerated so that a later release
// can add to the manifest without locking out older apps; `zetaReleaseManifest` changes when
// the meaning of a known field does.
const manifestSchema = z.looseObject({
  zetaReleaseManifest: z.literal(MANIFEST_FORMAT),
  version,
  date: z.iso.datetime({ offset: true }),
  images: z.record(z.string().max(64), z.unknown()),
});

export interface ManifestImage {
  readonly arch: Architecture;
  readonly version: string;
  readonly date: string;
  /** Absolute: relative URLs in the manifest are resolved against the manifest's own URL. */
  readonly url: string;
  readonly size: number;
  readonly sha256: string;
  readonly nixpkgsRev: string | null;
  /** The name the image gets in the cache folder. */
  readonly fileName: string;
}

export interface ReleaseManifest {
  readonly manifestUrl: string;
  readonly version: string;
  readonly date: string;
  readonly images: readonly ManifestImage[];
  /** Architectures the manifest names that this Zeta Flash does not know (skipped). */
  readonly ignoredArchitectures: readonly string[];
}

export const imageFileName = (v: string, arch: Architecture) => `zeta-installer-${v}-${arch}.iso`;

/**
 * https everywhere; plain http only to this computer (tests, a local mirror). The bytes are
 * signed and hashed either way, but over plain http a network attacker could hold back new
 * releases by replaying an old signed manifest.
 */
export function isAllowedUrl(u: URL): boolean {
  if (u.protocol === 'https:') return true;
  if (u.protocol !== 'http:') return false;
  const h = u.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function parseManifestUrl(text: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw inputError(
      'ZFLASH_CATALOG_URL_INVALID',
      `"${text}" is not a URL.`,
      'Give the full https:// URL of a manifest.json, or leave the setting empty for the default.',
      { url: text },
    );
  }
  if (!isAllowedUrl(u)) {
    throw inputError(
      'ZFLASH_CATALOG_URL_INVALID',
      `The release manifest URL ${u.href} is not https.`,
      'Use an https:// URL (plain http is accepted only for this computer, 127.0.0.1 or localhost).',
      { url: u.href },
    );
  }
  return u;
}

/** Public keys from PEM text; a key that is not Ed25519 is refused. */
export function parseReleaseKey(pem: string, source = 'the release key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw inputError(
      'ZFLASH_RELEASE_KEY_INVALID',
      `${source} is not a PEM public key.`,
      'Give the Ed25519 public key as PEM ("-----BEGIN PUBLIC KEY-----"), as `openssl pkey -pubout` prints it.',
      { source },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw inputError(
      'ZFLASH_RELEASE_KEY_INVALID',
      `${source} is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519.`,
      "Release manifests are signed with Ed25519; give that key's public half.",
      { source, type: key.asymmetricKeyType ?? null },
    );
  }
  return key;
}

/** The built-in keys (app/catalog/release-key.ts) or the ones a front end was given. */
export function trustedKeys(pems: readonly string[]): KeyObject[] {
  if (pems.length === 0) {
    throw new ZflashError(
      'bug',
      'ZFLASH_CATALOG_NO_KEY',
      'This build of Zeta Flash carries no release key, so it cannot trust any release manifest.',
      'Build the installer yourself (`nix build ./nixos#installer-iso`), or use a Zeta Flash release; a fork that signs its own manifests passes its key with --release-key.',
    );
  }
  return pems.map((p, i) => parseReleaseKey(p, `release key ${i + 1}`));
}

/**
 * Checks a detached signature (base64 of the 64-byte Ed25519 signature, as
 * `manifest.json.sig`) over the exact manifest bytes with any of the trusted keys.
 */
export function verifyManifestSignature(
  manifest: Buffer,
  signatureText: Buffer,
  keys: readonly KeyObject[],
  manifestUrl: string,
): void {
  const text = signatureText.toString('latin1').trim();
  const sig = /^[A-Za-z0-9+/]{86}==$/.test(text) ? Buffer.from(text, 'base64') : null;
  const ok = sig !== null && sig.length === 64 && keys.some((k) => verify(null, manifest, k, sig));
  if (!ok) {
    throw targetError(
      'ZFLASH_CATALOG_SIGNATURE',
      `The release manifest at ${manifestUrl} is not signed by the Zeta release key: it was not trusted, and nothing was downloaded.`,
      'Someone may be tampering with the download, or the manifest URL points at the wrong place. Check the manifest URL setting; use the default unless you run a mirror.',
      { manifestUrl, signatureWellFormed: sig !== null },
    );
  }
}

function invalid(manifestUrl: string, what: string) {
  return targetError(
    'ZFLASH_CATALOG_INVALID',
    `The release manifest at ${manifestUrl} is signed but not one this Zeta Flash reads: ${what}.`,
    'Update Zeta Flash; if it is current, report this to the project.',
    { manifestUrl, problem: what },
  );
}

/** Parses manifest bytes whose signature was already verified. */
export function parseReleaseManifest(bytes: Buffer, manifestUrl: string): ReleaseManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(manifestUrl, 'it is not JSON');
  }
  const format = (json as { zetaReleaseManifest?: unknown } | null)?.zetaReleaseManifest;
  if (typeof format === 'number' && format > MANIFEST_FORMAT)
    throw invalid(manifestUrl, `it uses manifest format ${format}, newer than ${MANIFEST_FORMAT}`);
  const top = manifestSchema.safeParse(json);
  if (!top.success) {
    const i = top.error.issues[0];
    throw invalid(manifestUrl, `${i?.path.join('.') || 'root'}: ${i?.message ?? 'invalid'}`);
  }
  const m = top.data;
  const images: ManifestImage[] = [];
  const ignoredArchitectures: string[] = [];
  for (const [arch, raw] of Object.entries(m.images)) {
    if (!isArchitecture(arch)) {
      ignoredArchitectures.push(arch);
      continue;
    }
    const img = imageSchema.safeParse(raw);
    if (!img.success) {
      const i = img.error.issues[0];
      throw invalid(
        manifestUrl,
        `images.${arch}.${i?.path.join('.') || ''}: ${i?.message ?? 'invalid'}`,
      );
    }
    let url: URL;
    try {
      url = new URL(img.data.url, manifestUrl);
    } catch {
      throw invalid(manifestUrl, `images.${arch}.url is not a URL`);
    }
    if (!isAllowedUrl(url)) throw invalid(manifestUrl, `images.${arch}.url is not https`);
    images.push({
      arch,
      version: m.version,
      date: m.date,
      url: url.href,
      size: img.data.size,
      sha256: img.data.sha256,
      nixpkgsRev: img.data.nixpkgsRev ?? null,
      fileName: imageFileName(m.version, arch),
    });
  }
  return { manifestUrl, version: m.version, date: m.date, images, ignoredArchitectures };
}
