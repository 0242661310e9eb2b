// `openssl passwd -6` and perl's crypt() (libxcrypt) are the judges: a hash we make
// must be byte-identical to theirs for the same salt, and hashes they make must pass.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { hashPassword, isAcceptedPasswordHash, validatePasswordHash } from './password.js';

const SHA512CRYPT = /^\$6\$([./0-9A-Za-z]{16})\$[./0-9A-Za-z]{86}$/;

function openssl(password: string, salt: string): string {
  return execFileSync('openssl', ['passwd', '-6', '-salt', salt, password], {
    encoding: 'utf8',
  }).trim();
}

function libcCrypt(password: string, setting: string): string {
  return execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, setting], {
    encoding: 'utf8',
  });
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ZflashError) return err.code;
    throw err;
  }
  return 'none';
}

describe('hashPassword', () => {
  it.each([
    'correct horse',
    'pässwörd-ünïcode-🚀',
    'x'.repeat(100), // longer than one SHA-512 block of input
  ])('produces exactly what openssl passwd -6 produces for %j', (password) => {
    const hash = hashPassword(password);
    const salt = SHA512CRYPT.exec(hash)?.[1];
    expect(salt).toBeDefined();
    expect(openssl(password, salt!)).toBe(hash);
    expect(validatePasswordHash(hash)).toBe(hash);
  });

  it('uses a fresh 16-character salt each time, from the whole crypt alphabet', () => {
    const salts = new Set<string>();
    let chars = '';
    for (let i = 0; i < 64; i++) {
      const salt = SHA512CRYPT.exec(hashPassword('password1'))![1]!;
      salts.add(salt);
      chars += salt;
    }
    expect(salts.size).toBe(64);
    // 1024 uniform draws from 64 symbols: missing 'z' (unixcrypt's own off-by-one) is ~1e-7.
    expect(chars).toContain('z');
  });

  it('refuses short, control-character and oversized passwords', () => {
    expect(codeOf(() => hashPassword('1234567'))).toBe('ZFLASH_PASSWORD_TOO_SHORT');
    expect(codeOf(() => hashPassword(''))).toBe('ZFLASH_PASSWORD_TOO_SHORT');
    expect(codeOf(() => hashPassword('🚀🚀🚀🚀🚀🚀🚀'))).toBe('ZFLASH_PASSWORD_TOO_SHORT');
    expect(codeOf(() => hashPassword('password\n'))).toBe('ZFLASH_PASSWORD_INVALID');
    expect(codeOf(() => hashPassword('pass\0word'))).toBe('ZFLASH_PASSWORD_INVALID');
    expect(codeOf(() => hashPassword('x'.repeat(1025)))).toBe('ZFLASH_PASSWORD_TOO_LONG');
  });
});

describe('validatePasswordHash', () => {
  it('accepts sha512crypt from openssl and libxcrypt, with or without rounds', () => {
    const plain = openssl('hunter22', 'abcdefghijklmnop');
    expect(validatePasswordHash(`${plain}\n`)).toBe(plain);
    const rounds = libcCrypt('hunter22', '$6$rounds=10000$saltsalt$');
    expect(rounds).toMatch(/^\$6\$rounds=10000\$saltsalt\$/);
    expect(validatePasswordHash(`${rounds}\r\n`)).toBe(rounds);
  });

  it('accepts a real yescrypt hash', () => {
    const hash = libcCrypt('hunter22', '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$');
    expect(hash).toMatch(/^\$y\$j9T\$/);
    expect(validatePasswordHash(`${hash}\n`)).toBe(hash);
  });

  it('refuses other schemes and malformed hashes', () => {
    const good = openssl('hunter22', 'abcdefghijklmnop');
    const yes = libcCrypt('hunter22', '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$');
    const bad = [
      '',
      'hunter22',
      '!',
      '*',
      libcCrypt('hunter22', '$5$saltsalt$'),
      '$1$saltsalt$abcdefghijklmnopqrstuv',
      '$2b$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234',
      good.slice(0, -1),
      `${good}x`,
      `${good.slice(0, -1)}z`, // last char may only carry 2 bits
      ` ${good}`,
      good.replace('$6$', '$6$rounds=999$'),
      good.replace('abcdefghijklmnop', 'abc!efghijklmnop'),
      yes.slice(0, -1),
      yes.replace('$j9T$', '$$'),
      `${good}\n${good}`,
    ];
    for (const hash of bad) {
      expect(isAcceptedPasswordHash(hash)).toBe(false);
      expect(codeOf(() => validatePasswordHash(hash))).toBe('ZFLASH_PASSWORD_HASH_INVALID');
    }
    expect(() => validatePasswordHash('$5$saltsalt$' + 'a'.repeat(43))).toThrow(
      'Password hashes of type $5$ are not accepted; use SHA-512 crypt ($6$) or yescrypt ($y$).',
    );
  });
});
