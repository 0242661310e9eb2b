/**
 * Diagnostics get photographed, saved and pasted into bug reports, so nothing secret may reach
 * them: no Wi-Fi PSK, no password hash, no private key, and keys only by fingerprint. Two
 * layers: the node is summarised field by field (only what is safe is copied), and every
 * string from elsewhere (error details, helper log lines) is scrubbed of the known secret
 * values and of fields whose names say they hold one.
 */
import type { NodeIdentity } from '../node/types.js';

export interface NodeFacts {
  readonly hostname: string;
  /** `SHA256:…` fingerprints, as `ssh-keygen -l` prints them. */
  readonly keys: readonly string[];
  readonly roles: readonly string[];
  /** The network name only; the PSK is never copied. */
  readonly wifi: string | null;
  /** Whether a console password is set; the hash is never copied. */
  readonly password: boolean;
}

export const HIDDEN = '[hidden]';

/** Field names whose values are secrets wherever they appear. */
const SECRET_FIELD =
  /^(psk|passphrase|password|passwordhash|hashedpassword|secret|token|privatekey|private_key)$/i;

/** The safe facts of a node: hostname, key fingerprints, roles, SSID, "password set". */
export function nodeFacts(identity: NodeIdentity): NodeFacts {
  return {
    hostname: identity.hostname,
    keys: identity.keys.map((k) => k.fingerprint),
    roles: [...identity.roles],
    wifi: identity.wifi ? identity.wifi.ssid : null,
    password: identity.passwordHash !== null,
  };
}

/** The secret strings an identity carries, to be scrubbed from free text. */
export function secretsOf(identity: NodeIdentity | null | undefined): string[] {
  if (!identity) return [];
  return [identity.wifi?.psk, identity.passwordHash].filter(
    (s): s is string => typeof s === 'string' && s.length >= 8,
  );
}

/**
 * Markers of private key material in free text: if a log line or an error detail ever held
 * one, the whole string is replaced (a partial scrub could leave enough to matter).
 */
const PRIVATE_MATERIAL =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-|b3BlbnNzaC1rZXktdjEA/;
/** crypt(3) hashes ($6$, $y$, $2b$ …): never useful in a bug report. */
const CRYPT_HASH = /\$(?:6|5|y|2[aby]|gy|7)\$[./0-9A-Za-z$=,]{8,}/g;

export function scrubText(text: string, secrets: readonly string[]): string {
  if (PRIVATE_MATERIAL.test(text)) return HIDDEN;
  let out = text;
  for (const s of secrets) out = out.split(s).join(HIDDEN);
  return out.replace(CRYPT_HASH, HIDDEN);
}

/** A deep copy of `value` with secret fields dropped and secret strings replaced. */
export function scrubValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (depth > 8) return '[…]';
  if (typeof value === 'string') return scrubText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, secrets, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_FIELD.test(k)) continue;
      out[k] = scrubValue(v, secrets, depth + 1);
    }
    return out;
  }
  return value;
}
