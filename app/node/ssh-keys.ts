/**
 * SSH public keys are the only way into a fresh node, and they are copied onto a
 * stick that leaves the operator's desk. So: every key is decoded down to its wire
 * blob and re-serialized (type, base64 of our own encoding, sanitized comment), and
 * nothing else from the input reaches `zeta-authorized-keys.pub`. Private keys are
 * recognised before anything else is parsed and refused without quoting a byte of
 * them. Fingerprints and sizes match `ssh-keygen -l` so the operator can compare.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { access, open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import sshpk from 'sshpk';
import { inputError, ZflashError } from '../errors.js';
import { SSH_KEY_TYPES } from './types.js';
import type { Notice, SshKeyType, SshPublicKey } from './types.js';

/** Real key files are a few hundred bytes; anything bigger was picked by mistake. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** RSA below 2048 bits is factorable in practice; OpenSSH 9.x refuses to create or accept it. */
const MIN_RSA_BITS = 2048;
/** OpenSSH's own ceiling (SSHBUF_MAX_BIGNUM / OPENSSL_RSA_MAX_MODULUS_BITS). */
const MAX_RSA_BITS = 16384;

/** Options OpenSSH allows in front of a key in authorized_keys (sshd(8), AUTHORIZED_KEYS FILE FORMAT). */
const AUTHORIZED_KEYS_OPTIONS = [
  'agent-forwarding',
  'cert-authority',
  'command',
  'environment',
  'expiry-time',
  'from',
  'no-agent-forwarding',
  'no-port-forwarding',
  'no-pty',
  'no-touch-required',
  'no-user-rc',
  'no-x11-forwarding',
  'permitlisten',
  'permitopen',
  'port-forwarding',
  'principals',
  'pty',
  'restrict',
  'tunnel',
  'user-rc',
  'verify-required',
  'x11-forwarding',
];

/**
 * Markers of private key files: OpenSSH, PEM (PKCS#1, SEC1, PKCS#8, encrypted), the
 * ssh.com/Tectia format, PuTTY, and the bare base64 body of an OpenSSH private key
 * ("openssh-key-v1\0") for when only the middle of the file was pasted.
 */
const PRIVATE_KEY_MARKERS: readonly RegExp[] = [
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/,
  /-{4,5} ?BEGIN SSH2 ENCRYPTED PRIVATE KEY ?-{4,5}/,
  /^\s*PuTTY-User-Key-File-/m,
  /^\s*b3BlbnNzaC1rZXktdjEA/m,
];

const RFC4716_BEGIN = /^-{4,5} ?BEGIN SSH2 PUBLIC KEY ?-{4,5}$/;
const RFC4716_END = /^-{4,5} ?END SSH2 PUBLIC KEY ?-{4,5}$/;

/**
 * Characters removed from comments: controls (a newline would end the line and start
 * a new, unvetted one), lone surrogates, bidi overrides (text that reads differently
 * than it is, "Trojan Source"), Unicode line separators and stray BOMs.
 */
const UNSAFE_COMMENT_CHARS = /[\p{Cc}\p{Cs}\p{Bidi_Control}\u2028\u2029\uFEFF]/gu;

interface ParseOptions {
  readonly source: string | undefined;
  /** Hint for a private key: readSshKeyFile can name the sibling `.pub` file. */
  readonly privateKeyHint?: string;
}

interface Place {
  readonly source: string | undefined;
  readonly line: number;
}

function where(place: Place): string {
  return place.source ? `Line ${place.line} of ${place.source}` : `Line ${place.line}`;
}

function placeDetails(place: Place, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(place.source ? { source: place.source } : {}), line: place.line, ...extra };
}

function invalidKey(place: Place, why: string, type?: string): never {
  throw inputError(
    'ZFLASH_KEY_INVALID',
    `${where(place)} is not a valid ${type ?? 'SSH'} public key: ${why}.`,
    'Copy the whole key again from the .pub file; it is a single line starting with its type, such as ssh-ed25519.',
    placeDetails(place, type ? { type } : {}),
  );
}

// ---------------------------------------------------------------------------
// Wire format (RFC 4251 §5): a blob is a sequence of uint32-length-prefixed strings.

function readWireStrings(blob: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let off = 0;
  while (off < blob.length) {
    if (off + 4 > blob.length) return null;
    const len = blob.readUInt32BE(off);
    off += 4;
    if (len > blob.length - off) return null;
    out.push(blob.subarray(off, off + len));
    off += len;
  }
  return out;
}

function writeWireStrings(parts: readonly Buffer[]): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    chunks.push(len, p);
  }
  return Buffer.concat(chunks);
}

/** Strict base64: the standard alphabet, padding optional, no stray trailing bits. */
function decodeBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const bare = text.replace(/=+$/, '');
  if (bare.length % 4 === 1) return null;
  const buf = Buffer.from(bare, 'base64');
  if (buf.toString('base64').replace(/=+$/, '') !== bare) return null;
  return buf;
}

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

/** Node (OpenSSL) refuses EC points that are not on the curve; OpenSSH does the same check. */
function ecPointIsValid(q: Buffer, crv: 'P-256' | 'P-384' | 'P-521', coordLen: number): boolean {
  if (q.length !== 1 + 2 * coordLen || q[0] !== 0x04) return false;
  const jwk: JsonWebKey = {
    kty: 'EC',
    crv,
    x: b64url(q.subarray(1, 1 + coordLen)),
    y: b64url(q.subarray(1 + coordLen)),
  };
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

const EC_CURVES = {
  nistp256: { crv: 'P-256', coordLen: 32, bits: 256 },
  nistp384: { crv: 'P-384', coordLen: 48, bits: 384 },
  nistp521: { crv: 'P-521', coordLen: 66, bits: 521 },
} as const;

interface DecodedKey {
  readonly type: SshKeyType;
  /** Our own serialization of the parsed key: this, not the input, goes on the stick. */
  readonly blob: Buffer;
  readonly bits: number;
}

/**
 * FIDO keys (`ssh-keygen -t ed25519-sk / ecdsa-sk`) are unknown to sshpk, so their
 * layout from OpenSSH's PROTOCOL.u2f is checked here: the public key plus the
 * relying-party "application" string.
 */
function decodeSecurityKey(type: SshKeyType, parts: Buffer[], place: Place): DecodedKey {
  const application = parts[parts.length - 1];
  // OpenSSH reads the application with sshbuf_get_cstring, which refuses embedded NULs.
  if (!application || application.includes(0))
    invalidKey(place, 'its application string is malformed', type);
  if (type === 'sk-ssh-ed25519@openssh.com') {
    if (parts.length !== 3 || parts[1]?.length !== 32) {
      invalidKey(place, 'the key data has the wrong structure', type);
    }
  } else {
    if (parts.length !== 4 || parts[1]?.toString('latin1') !== 'nistp256') {
      invalidKey(place, 'the key data has the wrong structure', type);
    }
    const q = parts[2] ?? Buffer.alloc(0);
    if (!ecPointIsValid(q, 'P-256', 32))
      invalidKey(place, 'its public point is not on the curve', type);
  }
  return { type, blob: writeWireStrings(parts), bits: 256 };
}

function decodeWithSshpk(
  type: SshKeyType,
  blob: Buffer,
  parts: Buffer[],
  place: Place,
): DecodedKey {
  // Count the fields ourselves first: given extra fields, sshpk would read the blob as a private key.
  const expected = type === 'ssh-ed25519' ? 2 : 3;
  if (parts.length !== expected) invalidKey(place, 'the key data has the wrong structure', type);
  if (type === 'ssh-ed25519' && parts[1]?.length !== 32) {
    invalidKey(place, 'an Ed25519 key must be 32 bytes', type);
  }
  if (type.startsWith('ecdsa-sha2-')) {
    const curveName = type.slice('ecdsa-sha2-'.length) as keyof typeof EC_CURVES;
    const curve = EC_CURVES[curveName];
    if (parts[1]?.toString('latin1') !== curveName) {
      invalidKey(place, 'the curve inside the key does not match its type', type);
    }
    if (!ecPointIsValid(parts[2] ?? Buffer.alloc(0), curve.crv, curve.coordLen)) {
      invalidKey(place, 'its public point is not on the curve', type);
    }
  }

  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(blob, 'rfc4253');
  } catch {
    invalidKey(place, 'the key data is damaged or incomplete', type);
  }
  if (!sshpk.Key.isKey(key, [1, 0]) || sshpk.PrivateKey.isPrivateKey(key, [1, 0])) {
    invalidKey(place, 'the key data has the wrong structure', type);
  }
  const canonical = key.toBuffer('rfc4253');
  // A blob that does not survive a round trip carries padding or non-minimal numbers
  // OpenSSH would never write; refusing it keeps "what we show" equal to "what we write".
  if (!canonical.equals(blob)) invalidKey(place, 'the key data is not in canonical form', type);

  if (type === 'ssh-rsa') {
    const bits = key.size;
    if (bits < MIN_RSA_BITS) {
      throw inputError(
        'ZFLASH_KEY_WEAK_RSA',
        `${where(place)} is a ${bits}-bit RSA key; RSA keys must have at least ${MIN_RSA_BITS} bits.`,
        'Create a new key with ssh-keygen -t ed25519 and choose its .pub file.',
        placeDetails(place, { type, bits }),
      );
    }
    if (bits > MAX_RSA_BITS)
      invalidKey(place, `RSA keys may have at most ${MAX_RSA_BITS} bits`, type);
    const e = parts[1] ?? Buffer.alloc(0);
    if (e.length === 0 || ((e[e.length - 1] ?? 0) & 1) === 0) {
      invalidKey(place, 'its public exponent is not valid', type);
    }
    try {
      createPublicKey(key.toString('pkcs8'));
    } catch {
      invalidKey(place, 'the key data is damaged or incomplete', type);
    }
  }
  return { type, blob: canonical, bits: key.size };
}

function decodeBlob(declaredType: string | null, base64: string, place: Place): DecodedKey {
  const blob = decodeBase64(base64);
  if (!blob || blob.length === 0) {
    invalidKey(place, 'the key data is not valid base64', declaredType ?? undefined);
  }
  const parts = readWireStrings(blob);
  if (!parts || parts.length === 0) {
    invalidKey(place, 'the key data is damaged or incomplete', declaredType ?? undefined);
  }
  const innerType = (parts[0] ?? Buffer.alloc(0)).toString('latin1');
  if (declaredType !== null && innerType !== declaredType) {
    invalidKey(place, 'the type written in front does not match the key data', declaredType);
  }
  refuseUnsupportedType(innerType, place);
  if (!(SSH_KEY_TYPES as readonly string[]).includes(innerType)) {
    invalidKey(place, 'the key data is damaged or incomplete');
  }
  const type = innerType as SshKeyType;
  return type.startsWith('sk-')
    ? decodeSecurityKey(type, parts, place)
    : decodeWithSshpk(type, blob, parts, place);
}

function refuseUnsupportedType(type: string, place: Place): void {
  if ((SSH_KEY_TYPES as readonly string[]).includes(type)) return;
  if (type === 'ssh-dss') {
    throw inputError(
      'ZFLASH_KEY_UNSUPPORTED',
      `${where(place)} is a DSA key; DSA keys are not accepted because current OpenSSH no longer supports them.`,
      'Create a new key with ssh-keygen -t ed25519 and choose its .pub file.',
      placeDetails(place, { type }),
    );
  }
  if (/^[a-z0-9.-]+-cert-v0[0-9]@openssh\.com$/.test(type)) {
    throw inputError(
      'ZFLASH_KEY_UNSUPPORTED',
      `${where(place)} is an SSH certificate; only plain public keys are accepted.`,
      'Choose the plain public key (the .pub file without -cert in its name).',
      placeDetails(place, { type }),
    );
  }
  if (/^(ssh|ecdsa|sk|x509v3|spki|pgp|null)-[a-z0-9@.-]{1,60}$/.test(type)) {
    throw inputError(
      'ZFLASH_KEY_UNSUPPORTED',
      `${where(place)} has the key type "${type}", which is not accepted; use Ed25519, ECDSA, RSA (2048 bits or more) or a FIDO security key.`,
      'Create a new key with ssh-keygen -t ed25519 and choose its .pub file.',
      placeDetails(place, { type }),
    );
  }
}

function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The installer (installer-scripts/zeta-install.sh) and the NixOS module (nixos/lib/validate.nix)
 * keep only key lines whose comment uses these characters, so the engine writes nothing else:
 * a key whose comment they would reject would be silently lost on the node.
 */
const COMMENT_OUTSIDE_INSTALLER_SET = /[^A-Za-z0-9 @._+:,/=-]/gu;

function sanitizeComment(raw: string): { comment: string; changed: boolean } {
  const cleaned = raw
    .replace(UNSAFE_COMMENT_CHARS, (ch) => (/\s/u.test(ch) ? ' ' : ''))
    .replace(/\s+/gu, ' ')
    .trim();
  const comment = cleaned.replace(COMMENT_OUTSIDE_INSTALLER_SET, '_');
  const changed = comment !== raw.replace(/\s+/gu, ' ').trim();
  return { comment, changed };
}

function makeKey(decoded: DecodedKey, comment: string): SshPublicKey {
  const base64 = decoded.blob.toString('base64');
  return Object.freeze({
    type: decoded.type,
    base64,
    comment,
    line: `${decoded.type} ${base64}${comment ? ` ${comment}` : ''}`,
    fingerprint: fingerprintOf(decoded.blob),
    bits: decoded.bits,
  });
}

// ---------------------------------------------------------------------------
// Text handling

function refuseBinary(source: string | undefined, hint?: string): never {
  throw inputError(
    'ZFLASH_KEY_FILE_BINARY',
    `${source ?? 'The pasted text'} is not a text file; an SSH public key file is plain UTF-8 text.`,
    hint ?? 'Choose the .pub file that ssh-keygen created, for example ~/.ssh/id_ed25519.pub.',
    source ? { source } : {},
  );
}

function refuseTooLarge(source: string | undefined, size: number): never {
  throw inputError(
    'ZFLASH_KEY_FILE_TOO_LARGE',
    `${source ?? 'The pasted text'} is ${size} bytes; an SSH public key file may be at most ${MAX_KEY_FILE_BYTES} bytes (64 KiB).`,
    'Choose the .pub file that holds your public key; it is usually well under 1 KiB.',
    { ...(source ? { source } : {}), size, limit: MAX_KEY_FILE_BYTES },
  );
}

function toText(input: string | Uint8Array, source: string | undefined): string {
  if (typeof input === 'string') {
    const size = Buffer.byteLength(input, 'utf8');
    if (size > MAX_KEY_FILE_BYTES) refuseTooLarge(source, size);
    if (input.includes('\0')) refuseBinary(source);
    return input.replace(/^\uFEFF/, '');
  }
  if (input.length > MAX_KEY_FILE_BYTES) refuseTooLarge(source, input.length);
  const b0 = input[0];
  const b1 = input[1];
  if ((b0 === 0xff && b1 === 0xfe) || (b0 === 0xfe && b1 === 0xff)) {
    // PowerShell's `>` writes UTF-16 with a BOM: name the fix rather than just "binary".
    refuseBinary(
      source,
      'The file is saved as UTF-16; save it as UTF-8 (for example with Set-Content -Encoding utf8) or choose the original .pub file.',
    );
  }
  if (input.includes(0)) refuseBinary(source);
  try {
    // fatal: invalid UTF-8 is refused instead of becoming U+FFFD; the BOM is dropped.
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    refuseBinary(source);
  }
}

function refusePrivateKey(text: string, options: ParseOptions): void {
  if (!PRIVATE_KEY_MARKERS.some((re) => re.test(text))) return;
  // Deliberately no excerpt, line number or cause: nothing of the key may reach a
  // message, a log, the diagnostics snapshot or the stick.
  throw inputError(
    'ZFLASH_PRIVATE_KEY',
    `${options.source ?? 'The pasted text'} is a private key; a private key must never leave this machine.`,
    options.privateKeyHint ??
      'Choose the public key instead: the file with the same name ending in .pub (for example id_ed25519.pub).',
    options.source ? { source: options.source } : {},
  );
}

function looksLikeOptions(tokens: readonly string[]): boolean {
  const first = (tokens[0] ?? '').toLowerCase();
  const name = /^[a-z0-9-]+/.exec(first)?.[0] ?? '';
  if (AUTHORIZED_KEYS_OPTIONS.includes(name) && /^[a-z0-9-]+($|[=,])/.test(first)) return true;
  return tokens.slice(1).some((t) => (SSH_KEY_TYPES as readonly string[]).includes(t));
}

interface RawKey {
  readonly place: Place;
  readonly type: string | null;
  readonly base64: string;
  readonly comment: string;
}

/** Collects the header and body lines of one RFC 4716 block (PuTTYgen's "export"). */
function readRfc4716Block(
  lines: readonly string[],
  start: number,
  place: Place,
): { raw: RawKey; next: number } {
  let comment = '';
  let body = '';
  let pendingHeader: string | null = null;
  for (let i = start + 1; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (pendingHeader !== null) {
      pendingHeader += line;
      if (pendingHeader.endsWith('\\')) {
        pendingHeader = pendingHeader.slice(0, -1);
        continue;
      }
    } else if (RFC4716_END.test(line)) {
      if (body === '') invalidKey(place, 'the SSH2 key block has no key data');
      return { raw: { place, type: null, base64: body, comment }, next: i + 1 };
    } else if (line.includes(':') && body === '') {
      // RFC 4716 §3.3: headers ("Tag: value") precede the body; a trailing backslash continues them.
      if (line.endsWith('\\')) {
        pendingHeader = line.slice(0, -1);
        continue;
      }
      pendingHeader = line;
    } else {
      if (line !== '') body += line;
      continue;
    }
    const header = pendingHeader;
    pendingHeader = null;
    const colon = header.indexOf(':');
    const tag = header.slice(0, colon).trim().toLowerCase();
    if (tag === 'comment') {
      const value = header.slice(colon + 1).trim();
      comment = /^".*"$/s.test(value) ? value.slice(1, -1) : value;
    }
  }
  invalidKey(place, 'the SSH2 key block has no "---- END SSH2 PUBLIC KEY ----" line');
}

function collectRawKeys(text: string, source: string | undefined): RawKey[] {
  const lines = text.split(/\r\n|\r|\n/);
  const out: RawKey[] = [];
  let i = 0;
  while (i < lines.length) {
    const place: Place = { source, line: i + 1 };
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    if (RFC4716_BEGIN.test(line)) {
      const { raw, next } = readRfc4716Block(lines, i, place);
      out.push(raw);
      i = next;
      continue;
    }
    const match = /^(\S+)(?:[ \t]+(\S+))?(?:[ \t]+(.*))?$/s.exec(line);
    const tokens = line.split(/[ \t]+/);
    const type = match?.[1] ?? '';
    if ((SSH_KEY_TYPES as readonly string[]).includes(type)) {
      const base64 = match?.[2];
      if (!base64) invalidKey(place, 'the key data after the type is missing', type);
      out.push({ place, type, base64, comment: match?.[3] ?? '' });
      i++;
      continue;
    }
    refuseUnsupportedType(type, place);
    if (looksLikeOptions(tokens)) {
      throw inputError(
        'ZFLASH_KEY_OPTIONS',
        `${where(place)} has authorized_keys options (such as command=, from= or restrict) in front of the key; only plain public keys are accepted.`,
        'Remove everything before the key type so the line starts with, for example, ssh-ed25519.',
        placeDetails(place),
      );
    }
    invalidKey(place, 'a key line must start with its type, such as ssh-ed25519');
  }
  return out;
}

function parseText(
  input: string | Uint8Array,
  options: ParseOptions,
): {
  keys: SshPublicKey[];
  notices: Notice[];
} {
  const text = toText(input, options.source);
  refusePrivateKey(text, options);

  const keys: SshPublicKey[] = [];
  const notices: Notice[] = [];
  const firstSeen = new Map<string, number>();
  for (const raw of collectRawKeys(text, options.source)) {
    const decoded = decodeBlob(raw.type, raw.base64, raw.place);
    const { comment, changed } = sanitizeComment(raw.comment);
    if (changed) {
      notices.push({
        code: 'ZFLASH_KEY_COMMENT_SANITIZED',
        message: `${where(raw.place)}: the key's comment was changed to "${comment}": the node's installer accepts only letters, digits, spaces and @._+:,/=- there.`,
      });
    }
    const key = makeKey(decoded, comment);
    const id = `${key.type} ${key.base64}`;
    const earlier = firstSeen.get(id);
    if (earlier !== undefined) {
      notices.push({
        code: 'ZFLASH_KEY_DUPLICATE',
        message: `${where(raw.place)} repeats the key from line ${earlier} (${key.fingerprint}); it is used once.`,
      });
      continue;
    }
    firstSeen.set(id, raw.place.line);
    keys.push(key);
  }

  if (keys.length === 0) {
    throw inputError(
      'ZFLASH_NO_KEYS',
      `${options.source ?? 'The pasted text'} contains no SSH public key; a node needs at least one to be reachable.`,
      'Choose a .pub file such as ~/.ssh/id_ed25519.pub, or create a key with ssh-keygen -t ed25519.',
      options.source ? { source: options.source } : {},
    );
  }
  return { keys, notices };
}

/**
 * Parses OpenSSH public key text (authorized_keys style, several keys allowed) or an
 * RFC 4716 "SSH2 PUBLIC KEY" block. `source` names the text in messages (a file name).
 * Comments are kept as inert text: `${...}` and the like survive verbatim because keys
 * reach NixOS as a data file, never as Nix source (DESIGN.md).
 */
export function parseAuthorizedKeys(
  text: string | Uint8Array,
  source?: string,
): { keys: SshPublicKey[]; notices: Notice[] } {
  return parseText(text, { source });
}

function fileError(err: unknown, path: string): ZflashError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return inputError(
      'ZFLASH_KEY_FILE_NOT_FOUND',
      `The key file ${path} does not exist.`,
      'Check the path; public keys usually live in ~/.ssh and end in .pub.',
      { path },
    );
  }
  return inputError(
    'ZFLASH_KEY_FILE_UNREADABLE',
    `The key file ${path} cannot be read${code ? ` (${code})` : ''}.`,
    'Check that the file exists and that you are allowed to read it.',
    { path, ...(code ? { errno: code } : {}) },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads and parses a public key file, refusing oversized, binary and private key files. */
export async function readSshKeyFile(
  path: string,
): Promise<{ keys: SshPublicKey[]; notices: Notice[] }> {
  const source = basename(path);
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw fileError(err, path);
  }
  if (!info.isFile()) {
    throw inputError(
      'ZFLASH_KEY_FILE_UNREADABLE',
      `${path} is not a regular file.`,
      'Choose a public key file, for example ~/.ssh/id_ed25519.pub.',
      { path },
    );
  }
  if (info.size > MAX_KEY_FILE_BYTES) refuseTooLarge(source, info.size);

  // Read at most one byte past the limit: the file may have grown since stat.
  const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
  let length = 0;
  try {
    const handle = await open(path, 'r');
    try {
      while (length < buf.length) {
        const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fileError(err, path);
  }
  if (length > MAX_KEY_FILE_BYTES) refuseTooLarge(source, length);

  const sibling = `${path}.pub`;
  const privateKeyHint =
    !path.endsWith('.pub') && (await exists(sibling))
      ? `Choose ${basename(sibling)} instead: it holds the matching public key.`
      : undefined;
  return parseText(buf.subarray(0, length), {
    source,
    ...(privateKeyHint ? { privateKeyHint } : {}),
  });
}

/** Concatenates key lists, keeping the first occurrence of each key (type + blob). */
export function mergeKeys(lists: readonly (readonly SshPublicKey[])[]): SshPublicKey[] {
  const seen = new Set<string>();
  const out: SshPublicKey[] = [];
  for (const list of lists) {
    for (const key of list) {
      const id = `${key.type} ${key.base64}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(key);
    }
  }
  return out;
}

/**
 * Re-derives a key from its `line` and checks every field against the claim. The
 * privileged side uses this (through the identity schema) so a key object forged
 * over IPC cannot smuggle a different line or fingerprint onto the stick.
 */
export function recheckKey(key: SshPublicKey): string | null {
  if (/[\r\n]/.test(key.line)) return 'the key line contains a line break';
  let parsed: SshPublicKey[];
  try {
    parsed = parseText(key.line, { source: undefined }).keys;
  } catch (err) {
    return err instanceof ZflashError ? err.message : 'the key line cannot be parsed';
  }
  const [again] = parsed;
  if (parsed.length !== 1 || !again) return 'the key line must hold exactly one key';
  for (const field of ['type', 'base64', 'comment', 'line', 'fingerprint', 'bits'] as const) {
    if (again[field] !== key[field]) return `the key's ${field} does not match its line`;
  }
  return null;
}
