/**
 * Reads a Zeta payload back from an ESP. Tolerant on purpose: a stick may have been
 * edited by hand, so every file is parsed on its own and problems are reported, not thrown.
 */
import type { FatVolume } from '../disk/fat.js';
import { ZflashError } from '../errors.js';
import { parseAuthorizedKeys } from '../node/ssh-keys.js';
import { validateHostname } from '../node/hostname.js';
import { PAYLOAD_FILES, parseManifest, type StoredManifest } from './manifest.js';

export interface PayloadKeySummary {
  readonly type: string;
  readonly fingerprint: string;
  readonly comment: string;
}

export interface PayloadInfo {
  readonly hostname: string | null;
  readonly keys: readonly PayloadKeySummary[];
  readonly roles: readonly string[];
  /** Schema 1 manifests read with their implied erase policy (blank-only, no disk). */
  readonly manifest: StoredManifest | null;
  /** What does not look right (unreadable file, invalid key, manifest disagreeing...). */
  readonly problems: readonly string[];
}

export async function readPayload(volume: FatVolume): Promise<PayloadInfo | null> {
  const [keysFile, hostFile, manifestFile] = await Promise.all([
    volume.readFile(PAYLOAD_FILES.keys),
    volume.readFile(PAYLOAD_FILES.hostname),
    volume.readFile(PAYLOAD_FILES.manifest),
  ]);
  if (!keysFile && !hostFile && !manifestFile) return null;
  const problems: string[] = [];
  const describe = (err: unknown) =>
    err instanceof ZflashError ? `${err.message} (${err.code})` : String(err);

  let hostname: string | null = null;
  if (hostFile) {
    try {
      hostname = validateHostname(hostFile.toString('utf8')).hostname;
    } catch (err) {
      problems.push(`${PAYLOAD_FILES.hostname}: ${describe(err)}`);
    }
  } else problems.push(`${PAYLOAD_FILES.hostname} is missing`);

  let keys: PayloadKeySummary[] = [];
  if (keysFile) {
    try {
      keys = parseAuthorizedKeys(keysFile, PAYLOAD_FILES.keys).keys.map((k) => ({
        type: k.type,
        fingerprint: k.fingerprint,
        comment: k.comment,
      }));
    } catch (err) {
      problems.push(`${PAYLOAD_FILES.keys}: ${describe(err)}`);
    }
  } else problems.push(`${PAYLOAD_FILES.keys} is missing`);

  let manifest: StoredManifest | null = null;
  if (manifestFile) {
    let json: unknown;
    try {
      json = JSON.parse(manifestFile.toString('utf8').replace(/^\uFEFF/, ''));
    } catch {
      problems.push(`${PAYLOAD_FILES.manifest}: not valid JSON`);
    }
    if (json !== undefined) {
      const parsed = parseManifest(json);
      if (parsed.ok) manifest = parsed.manifest;
      else problems.push(`${PAYLOAD_FILES.manifest}: ${parsed.problem}`);
    }
  }
  if (manifest && hostname && manifest.hostname !== hostname) {
    problems.push(
      `${PAYLOAD_FILES.manifest} names host ${manifest.hostname} but ${PAYLOAD_FILES.hostname} says ${hostname}`,
    );
  }
  return { hostname, keys, roles: manifest?.roles ?? [], manifest, problems };
}
