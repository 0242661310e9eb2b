/**
 * An optional console password for the `zeta` user. Only a crypt(3) hash ever leaves
 * this module (NixOS `hashedPassword`), and there is no default: no password means
 * key-only login. We hash with sha512crypt because every libxcrypt and
 * `openssl passwd -6` can verify it; yescrypt is accepted when the operator brings
 * a hash made elsewhere (`mkpasswd`), since NixOS itself defaults to it.
 */
import { randomBytes } from 'node:crypto';
import { encrypt } from 'unixcrypt';
import { inputError } from '../errors.js';

export const MIN_PASSWORD_LENGTH = 8;
/** sha512crypt hashes the password once per round; megabyte passwords would stall the UI. */
export const MAX_PASSWORD_BYTES = 1024;

const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * `$6$[rounds=N$]salt$hash`: salt 1–16 crypt-base64 chars, hash 86 chars whose last one
 * carries only the 2 leftover bits of the 64-byte digest (so it is one of `./01`).
 */
const SHA512CRYPT =
  /^\$6\$(?:rounds=([1-9][0-9]{0,8})\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{85}[./01]$/;
/** `$y$<params>$salt$hash` (libxcrypt): params start with 'j', hash is 32 bytes = 43 chars. */
const YESCRYPT = /^\$y\$j[./0-9A-Za-z]{2,}\$[./0-9A-Za-z]{1,86}\$[./0-9A-Za-z]{43}$/;

/** True when `hash` has the shape of a hash we accept (used by the identity schema). */
export function isAcceptedPasswordHash(hash: string): boolean {
  const sha = SHA512CRYPT.exec(hash);
  if (sha) {
    // glibc clamps rounds to 1000..999999999; a hash outside that range was not made by crypt(3).
    const rounds = sha[1] === undefined ? 5000 : Number(sha[1]);
    return rounds >= 1000 && rounds <= 999_999_999;
  }
  return YESCRYPT.test(hash);
}

function randomSalt(length: number): string {
  // 256 is a multiple of 64, so masking each byte keeps the choice uniform.
  return [...randomBytes(length)].map((b) => CRYPT_ALPHABET[b & 63]).join('');
}

export function hashPassword(password: string): string {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw inputError(
      'ZFLASH_PASSWORD_TOO_SHORT',
      `A password must be at least ${MIN_PASSWORD_LENGTH} characters long.`,
      'Choose a longer password, or leave it empty to allow SSH key login only.',
    );
  }
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw inputError(
      'ZFLASH_PASSWORD_TOO_LONG',
      `A password may be at most ${MAX_PASSWORD_BYTES} bytes long.`,
      'Choose a shorter password.',
    );
  }
  // crypt(3) stops at NUL, and control characters cannot be typed at a login prompt.
  if (/[\p{Cc}\p{Cs}]/u.test(password)) {
    throw inputError(
      'ZFLASH_PASSWORD_INVALID',
      'A password may not contain control characters or invalid Unicode.',
      'Type the password again using visible characters only.',
    );
  }
  // unixcrypt's own random salt never picks 'z' (randomInt's upper bound is exclusive).
  return encrypt(password, `$6$${randomSalt(16)}`);
}

/** Accepts a `$6$` or `$y$` crypt hash (trailing newline from `mkpasswd > file` trimmed). */
export function validatePasswordHash(hash: string): string {
  const trimmed = hash.replace(/(?:\r?\n)+$/, '');
  if (!isAcceptedPasswordHash(trimmed)) {
    const kind = /^\$([0-9a-z]+)\$/.exec(trimmed)?.[1];
    throw inputError(
      'ZFLASH_PASSWORD_HASH_INVALID',
      kind && kind !== '6' && kind !== 'y'
        ? `Password hashes of type $${kind}$ are not accepted; use SHA-512 crypt ($6$) or yescrypt ($y$).`
        : 'The password hash is not a valid SHA-512 crypt ($6$…) or yescrypt ($y$…) hash.',
      'Create one with mkpasswd -m sha-512 or openssl passwd -6, or type the password instead.',
    );
  }
  return trimmed;
}
