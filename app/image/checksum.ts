/**
 * SHA-256 of the image FILE as given (the compressed file for compressed images), which is
 * what distributions publish: Hydra's `<image>.sha256` and `sha256sum` listings alike. The
 * caller verifies before the drive is touched.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { cancelledError, inputError, targetError } from '../errors.js';
import type { ZflashError } from '../errors.js';
import { imageFileError } from './image-errors.js';

const HASH_CHUNK = 4 * 1024 * 1024;
const HEX64 = /^[0-9a-f]{64}$/;

/** Normalizes a SHA-256 given by the operator (`--sha256`): 64 hex digits, optional `sha256:`. */
export function parseSha256Hex(text: string, source = '--sha256'): string {
  const hex = text
    .trim()
    .replace(/^sha256:/i, '')
    .toLowerCase();
  if (!HEX64.test(hex)) throw invalidChecksum(source, text);
  return hex;
}

const invalidChecksum = (source: string, text: string): ZflashError =>
  inputError(
    'ZFLASH_CHECKSUM_INVALID',
    `The SHA-256 from ${source} is not 64 hexadecimal digits: "${text.trim().slice(0, 80)}".`,
    'Copy the SHA-256 exactly as the download page lists it (64 characters, 0-9 and a-f).',
    { source },
  );

export interface ProgressOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

export async function sha256File(path: string, opts: ProgressOptions = {}): Promise<string> {
  const abs = resolve(path);
  let total: number;
  try {
    total = (await stat(abs)).size;
  } catch (err) {
    throw imageFileError(abs, err);
  }
  if (opts.signal?.aborted) throw cancelledError();
  const hash = createHash('sha256');
  let done = 0;
  const stream = createReadStream(abs, {
    highWaterMark: HASH_CHUNK,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      done += chunk.length;
      opts.onProgress?.(done, total);
    }
  } catch (err) {
    if (opts.signal?.aborted) throw cancelledError();
    throw imageFileError(abs, err);
  }
  return hash.digest('hex');
}

export interface SidecarChecksum {
  /** The `.sha256` file the checksum came from. */
  readonly path: string;
  readonly sha256: string;
  /** The file name the sidecar lists for it (null for a bare hash). */
  readonly listedName: string | null;
}

/** `HEX  name`, `HEX *name` (sha256sum), `SHA256 (name) = HEX` (BSD), or a bare `HEX`. */
function parseChecksumLine(line: string): { sha256: string; name: string | null } | null {
  const gnu = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line);
  if (gnu?.[1]) return { sha256: gnu[1].toLowerCase(), name: gnu[2]?.trim() ?? null };
  const bsd = /^SHA256\s*\((.+)\)\s*=\s*([0-9a-fA-F]{64})$/i.exec(line);
  if (bsd?.[1] && bsd[2]) return { sha256: bsd[2].toLowerCase(), name: bsd[1] };
  return null;
}

/**
 * Looks for `<image>.sha256` next to the image (how Hydra publishes NixOS ISOs). A sidecar
 * with one hash is taken even if it names another file (downloads get renamed); one listing
 * several files must list this one. A sidecar that exists but cannot be parsed is an error,
 * not silently skipped: the operator expects it to be checked.
 */
export async function findSidecarChecksum(path: string): Promise<SidecarChecksum | null> {
  const abs = resolve(path);
  const sidecar = `${abs}.sha256`;
  let text: string;
  try {
    text = await readFile(sidecar, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw imageFileError(sidecar, err);
  }
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const parsed = lines.map(parseChecksumLine);
  const entries = parsed.filter((p): p is NonNullable<typeof p> => p !== null);
  if (entries.length === 0 || entries.length !== parsed.length) {
    throw inputError(
      'ZFLASH_CHECKSUM_INVALID',
      `The checksum file ${sidecar} does not hold a SHA-256 in a known format.`,
      'It should contain 64 hexadecimal digits, optionally followed by the file name (as sha256sum prints). Fix or remove it, or pass --sha256.',
      { path: sidecar },
    );
  }
  const name = basename(abs);
  const matching = entries.filter(
    (e) => e.name !== null && basename(e.name.replace(/\\/g, '/')) === name,
  );
  const [first] = entries;
  const chosen = matching.length >= 1 ? matching[0] : entries.length === 1 ? first : undefined;
  if (!chosen || new Set(matching.map((m) => m.sha256)).size > 1) {
    throw inputError(
      'ZFLASH_CHECKSUM_INVALID',
      matching.length > 1
        ? `The checksum file ${sidecar} lists ${name} more than once with different checksums.`
        : `The checksum file ${sidecar} lists ${entries.length} files but not ${name}.`,
      'Fix or remove the checksum file, or pass the expected value with --sha256.',
      { path: sidecar, listed: entries.map((e) => e.name) },
    );
  }
  return { path: sidecar, sha256: chosen.sha256, listedName: chosen.name };
}

/**
 * Hashes the image file and throws ZFLASH_CHECKSUM_MISMATCH (target) if it differs from
 * `expectedHex`; ZFLASH_CHECKSUM_INVALID (input) if `expectedHex` is not a SHA-256. Returns
 * the digest, for the roster.
 */
export async function verifyImageChecksum(
  path: string,
  expectedHex: string,
  opts: ProgressOptions = {},
): Promise<string> {
  const expected = parseSha256Hex(expectedHex);
  const abs = resolve(path);
  const actual = await sha256File(abs, opts);
  if (actual !== expected) {
    throw targetError(
      'ZFLASH_CHECKSUM_MISMATCH',
      `The image ${basename(abs)} does not match its checksum: expected SHA-256 ${expected}, but the file has ${actual}.`,
      'The download is damaged or this is the wrong file. Download the image again, or check that the checksum belongs to this image. Nothing was written to the drive.',
      { path: abs, expected, actual },
    );
  }
  return actual;
}
