// Keys come from the real ssh-keygen, and its `-l` output is the judge for type, size
// and fingerprint. FIDO keys cannot be generated without hardware, so their blobs are
// built by hand here and still judged by ssh-keygen.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import {
  MAX_KEY_FILE_BYTES,
  mergeKeys,
  parseAuthorizedKeys,
  readSshKeyFile,
  recheckKey,
} from './ssh-keys.js';
import type { SshPublicKey } from './types.js';

let dir: string;

function keygen(name: string, args: string[], comment = `${name}@test`): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', comment, '-f', file]);
  return file;
}

interface KeygenLine {
  bits: number;
  fingerprint: string;
  comment: string;
  kind: string;
}

/** Parses `ssh-keygen -lf FILE`: "<bits> <fingerprint> <comment> (<KIND>)" per key. */
function judge(file: string): KeygenLine[] {
  const out = execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const m = /^(\d+) (SHA256:\S+) (.*) \(([A-Z0-9-]+)\)$/.exec(line);
      if (!m) throw new Error(`unexpected ssh-keygen output: ${line}`);
      return { bits: Number(m[1]), fingerprint: m[2]!, comment: m[3]!, kind: m[4]! };
    });
}

function wire(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const b = typeof p === 'string' ? Buffer.from(p) : p;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return [len, b];
    }),
  );
}

function skEd25519Line(comment: string): string {
  const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  const blob = wire('sk-ssh-ed25519@openssh.com', Buffer.from(jwk.x!, 'base64url'), 'ssh:');
  return `sk-ssh-ed25519@openssh.com ${blob.toString('base64')} ${comment}`;
}

function ecPoint(curve: 'P-256' | 'P-384'): Buffer {
  const jwk = generateKeyPairSync('ec', { namedCurve: curve }).publicKey.export({ format: 'jwk' });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x!, 'base64url'),
    Buffer.from(jwk.y!, 'base64url'),
  ]);
}

function skEcdsaLine(comment: string): string {
  const blob = wire('sk-ecdsa-sha2-nistp256@openssh.com', 'nistp256', ecPoint('P-256'), 'ssh:');
  return `sk-ecdsa-sha2-nistp256@openssh.com ${blob.toString('base64')} ${comment}`;
}

function catchError(fn: () => unknown): ZflashError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error('expected a ZflashError');
}

async function catchAsync(promise: Promise<unknown>): Promise<ZflashError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error('expected a ZflashError');
}

const keys: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-keys-'));
  keys.ed25519 = keygen('id_ed25519', ['-t', 'ed25519']);
  keys.ecdsa256 = keygen('id_ecdsa256', ['-t', 'ecdsa', '-b', '256']);
  keys.ecdsa384 = keygen('id_ecdsa384', ['-t', 'ecdsa', '-b', '384']);
  keys.ecdsa521 = keygen('id_ecdsa521', ['-t', 'ecdsa', '-b', '521']);
  keys.rsa2048 = keygen('id_rsa2048', ['-t', 'rsa', '-b', '2048']);
  keys.rsa3000 = keygen('id_rsa3000', ['-t', 'rsa', '-b', '3000']);
  keys.rsa1024 = keygen('id_rsa1024', ['-t', 'rsa', '-b', '1024']);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('keys made by ssh-keygen', () => {
  const cases: [string, string, string][] = [
    ['ed25519', 'ssh-ed25519', 'ED25519'],
    ['ecdsa256', 'ecdsa-sha2-nistp256', 'ECDSA'],
    ['ecdsa384', 'ecdsa-sha2-nistp384', 'ECDSA'],
    ['ecdsa521', 'ecdsa-sha2-nistp521', 'ECDSA'],
    ['rsa2048', 'ssh-rsa', 'RSA'],
    ['rsa3000', 'ssh-rsa', 'RSA'],
  ];
  it.each(cases)('%s: type, bits, fingerprint and line match ssh-keygen', async (name, type) => {
    const pub = `${keys[name]!}.pub`;
    const [expected] = judge(pub);
    const { keys: parsed, notices } = await readSshKeyFile(pub);
    expect(notices).toEqual([]);
    expect(parsed).toHaveLength(1);
    const key = parsed[0]!;
    expect(key.type).toBe(type);
    expect(key.bits).toBe(expected!.bits);
    expect(key.fingerprint).toBe(expected!.fingerprint);
    expect(key.comment).toBe(expected!.comment);
    // ssh-keygen writes canonical keys, so re-serializing must reproduce the file exactly.
    expect(`${key.line}\n`).toBe(readFileSync(pub, 'utf8'));
    expect(Object.isFrozen(key)).toBe(true);
    expect(recheckKey(key)).toBeNull();
  });

  it('parses a multi-key file with CRLF, a BOM, comments and blank lines', () => {
    const lines = ['ed25519', 'ecdsa256', 'rsa2048'].map((n) =>
      readFileSync(`${keys[n]!}.pub`, 'utf8').trim(),
    );
    const text = [
      '# my keys',
      '',
      lines[0],
      '   ',
      '  # indented comment',
      lines[1],
      lines[0], // duplicate of line 3
      `\t${lines[2]}  `,
      '',
    ].join('\r\n');
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    const { keys: parsed, notices } = parseAuthorizedKeys(bytes, 'keys.pub');
    expect(parsed.map((k) => k.line)).toEqual(lines);
    expect(notices).toEqual([
      {
        code: 'ZFLASH_KEY_DUPLICATE',
        message: `Line 7 of keys.pub repeats the key from line 3 (${parsed[0]!.fingerprint}); it is used once.`,
      },
    ]);

    // ssh-keygen judges the same keys (as LF without BOM: it keeps a CR in the comment).
    const file = join(dir, 'multi.pub');
    writeFileSync(file, text.replace(/\r\n/g, '\n'));
    const judged = judge(file);
    expect(parsed.map((k) => k.fingerprint)).toEqual(
      [judged[0], judged[1], judged[3]].map((j) => j!.fingerprint),
    );
  });

  it('refuses RSA below 2048 bits', async () => {
    const err = await catchAsync(readSshKeyFile(`${keys.rsa1024!}.pub`));
    expect(err.code).toBe('ZFLASH_KEY_WEAK_RSA');
    expect(err.kind).toBe('input');
    expect(err.message).toBe(
      'Line 1 of id_rsa1024.pub is a 1024-bit RSA key; RSA keys must have at least 2048 bits.',
    );
    expect(err.details).toMatchObject({ line: 1, bits: 1024 });
    expect(err.hint).toBe('Create a new key with ssh-keygen -t ed25519 and choose its .pub file.');
  });

  it('refuses DSA', () => {
    let line: string;
    try {
      line = readFileSync(`${keygen('id_dsa', ['-t', 'dsa'])}.pub`, 'utf8');
    } catch {
      // Newer OpenSSH cannot create DSA keys any more; a structurally plausible blob suffices.
      line = `ssh-dss ${wire('ssh-dss', Buffer.alloc(129, 1), Buffer.alloc(21, 1), Buffer.alloc(128, 2), Buffer.alloc(128, 3)).toString('base64')} old`;
    }
    const err = catchError(() => parseAuthorizedKeys(`# old\n${line}`));
    expect(err.code).toBe('ZFLASH_KEY_UNSUPPORTED');
    expect(err.message).toMatch(/^Line 2 is a DSA key; DSA keys are not accepted/);
  });
});

describe('FIDO security keys (hand-built blobs judged by ssh-keygen)', () => {
  it.each([
    ['sk-ssh-ed25519@openssh.com', skEd25519Line, 'ED25519-SK'],
    ['sk-ecdsa-sha2-nistp256@openssh.com', skEcdsaLine, 'ECDSA-SK'],
  ] as const)('%s', (type, make, kind) => {
    const line = make('me@yubikey');
    const file = join(dir, `${kind}.pub`);
    writeFileSync(file, `${line}\n`);
    const [expected] = judge(file);
    expect(expected!.kind).toBe(kind);
    const [key] = parseAuthorizedKeys(line).keys;
    expect(key).toMatchObject({
      type,
      bits: expected!.bits,
      fingerprint: expected!.fingerprint,
      comment: 'me@yubikey',
      line,
    });
  });

  it('refuses an sk-ecdsa key whose point is not on the curve', () => {
    const q = ecPoint('P-256');
    q[64] = q[64]! ^ 1;
    const blob = wire('sk-ecdsa-sha2-nistp256@openssh.com', 'nistp256', q, 'ssh:');
    const err = catchError(() =>
      parseAuthorizedKeys(`sk-ecdsa-sha2-nistp256@openssh.com ${blob.toString('base64')}`),
    );
    expect(err.code).toBe('ZFLASH_KEY_INVALID');
    expect(err.message).toContain('not on the curve');
  });

  it('refuses an sk-ed25519 key with a short public key or no application', () => {
    const short = wire('sk-ssh-ed25519@openssh.com', Buffer.alloc(31, 7), 'ssh:');
    const noApp = wire('sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 7));
    for (const blob of [short, noApp]) {
      const err = catchError(() =>
        parseAuthorizedKeys(`sk-ssh-ed25519@openssh.com ${blob.toString('base64')}`),
      );
      expect(err.code).toBe('ZFLASH_KEY_INVALID');
    }
  });
});

describe('RFC 4716 (SSH2 / PuTTYgen export)', () => {
  it('converts ssh-keygen -e output to the same key', () => {
    const pub = `${keys.ecdsa384!}.pub`;
    const rfc = execFileSync('ssh-keygen', ['-e', '-f', pub], { encoding: 'utf8' });
    expect(rfc).toContain('---- BEGIN SSH2 PUBLIC KEY ----');
    const { keys: parsed } = parseAuthorizedKeys(rfc, 'export.txt');
    const [expected] = judge(pub);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]!.fingerprint).toBe(expected!.fingerprint);
    expect(parsed[0]!.type).toBe('ecdsa-sha2-nistp384');
    expect(parsed[0]!.comment).toMatch(/^384-bit ECDSA, converted by /);
  });

  it('reads a PuTTYgen-style block with a continued header, CRLF and wrapped base64', () => {
    const line = readFileSync(`${keys.rsa2048!}.pub`, 'utf8').trim();
    const b64 = line.split(' ')[1]!;
    const wrapped = b64.match(/.{1,70}/g)!.join('\r\n');
    const text = [
      '---- BEGIN SSH2 PUBLIC KEY ----',
      'Comment: "rsa-key-\\',
      '20240101"',
      'x-private-header: ignored',
      wrapped,
      '---- END SSH2 PUBLIC KEY ----',
      '',
    ].join('\r\n');
    const [key] = parseAuthorizedKeys(text).keys;
    expect(key!.line).toBe(`ssh-rsa ${b64} rsa-key-20240101`);
    expect(key!.fingerprint).toBe(judge(`${keys.rsa2048!}.pub`)[0]!.fingerprint);
  });

  it('refuses a block without an END line, naming where it starts', () => {
    const err = catchError(() =>
      parseAuthorizedKeys('\n---- BEGIN SSH2 PUBLIC KEY ----\nAAAAC3NzaC1lZDI1NTE5\n'),
    );
    expect(err.code).toBe('ZFLASH_KEY_INVALID');
    expect(err.message).toMatch(/^Line 2 /);
  });
});

describe('private keys', () => {
  function assertNoSecret(err: ZflashError, secret: string): void {
    const haystacks = [
      err.message,
      err.hint,
      JSON.stringify(err.details ?? {}),
      JSON.stringify(err),
      JSON.stringify(err.toJSON()),
      String(err.stack),
      String(err.cause ?? ''),
    ];
    const body = secret
      .split(/\r?\n/)
      .filter((l) => l.length >= 16 && !l.startsWith('-----') && !l.startsWith('PuTTY'));
    expect(body.length).toBeGreaterThan(0);
    for (const hay of haystacks) {
      for (const chunk of body) {
        // Any 16-character window of the key body would be a leak.
        for (let i = 0; i + 16 <= chunk.length; i += 8) {
          expect(hay).not.toContain(chunk.slice(i, i + 16));
        }
      }
    }
  }

  it('refuses an OpenSSH private key file without leaking it, pointing at the .pub', async () => {
    const secret = readFileSync(keys.ed25519!, 'utf8');
    expect(secret).toContain('-----BEGIN OPENSSH PRIVATE KEY-----');
    const err = await catchAsync(readSshKeyFile(keys.ed25519!));
    expect(err.code).toBe('ZFLASH_PRIVATE_KEY');
    expect(err.message).toBe(
      'id_ed25519 is a private key; a private key must never leave this machine.',
    );
    expect(err.hint).toBe('Choose id_ed25519.pub instead: it holds the matching public key.');
    assertNoSecret(err, secret);
  });

  it('names no .pub file when the private key file has none beside it', async () => {
    const secret = readFileSync(keys.ed25519!, 'utf8');
    const alone = join(dir, 'copied_key');
    writeFileSync(alone, secret);
    const err = await catchAsync(readSshKeyFile(alone));
    expect(err.code).toBe('ZFLASH_PRIVATE_KEY');
    expect(err.hint).toBe(
      'Choose the public key instead: the file with the same name ending in .pub (for example id_ed25519.pub).',
    );
    assertNoSecret(err, secret);
  });

  it.each([
    ['PEM', ['-m', 'PEM', '-t', 'rsa', '-b', '2048'], 'BEGIN RSA PRIVATE KEY'],
    ['PKCS8', ['-m', 'PKCS8', '-t', 'ecdsa'], 'BEGIN PRIVATE KEY'],
    ['PEM EC', ['-m', 'PEM', '-t', 'ecdsa'], 'BEGIN EC PRIVATE KEY'],
  ])('refuses a %s private key pasted as text', (name, args, marker) => {
    const secret = readFileSync(keygen(`priv-${name.replace(' ', '-')}`, args), 'utf8');
    expect(secret).toContain(marker);
    const err = catchError(() => parseAuthorizedKeys(secret));
    expect(err.code).toBe('ZFLASH_PRIVATE_KEY');
    expect(err.hint).toMatch(/\.pub/);
    assertNoSecret(err, secret);
  });

  it('refuses an encrypted PKCS#8 key, a PuTTY key, and a bare OpenSSH key body', () => {
    const pkcs8 = generateKeyPairSync('ed25519').privateKey.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'correct horse battery',
    }) as string;
    expect(pkcs8).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const putty = [
      'PuTTY-User-Key-File-3: ssh-ed25519',
      'Encryption: none',
      'Comment: eddsa-key-20240101',
      'Public-Lines: 2',
      'AAAAC3NzaC1lZDI1NTE5AAAAIKnFtYz0Ez7xNB3yTQyX9nLRZ0mEdS5Rsl4aRf2v1c9E',
      'Private-Lines: 1',
      'AAAAIFq0Hn8x0dF3rBrhJYcJwBqkPZkqL0xk1a3Vh0Aa9bYQ',
      'Private-MAC: 7d0e2c4f5a3b1e9c8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d',
    ].join('\n');
    const openssh = readFileSync(keys.ecdsa256!, 'utf8');
    const body = openssh.split('\n').slice(1, -2).join('\n');
    for (const secret of [pkcs8, putty, body]) {
      const err = catchError(() => parseAuthorizedKeys(`ssh-ed25519 AAAA\n${secret}`));
      expect(err.code).toBe('ZFLASH_PRIVATE_KEY');
      assertNoSecret(err, secret);
    }
  });
});

describe('refused lines and files', () => {
  const ed = (): string => readFileSync(`${keys.ed25519!}.pub`, 'utf8').trim();

  it.each([
    'command="/bin/date" ',
    'from="10.0.0.0/8",no-pty ',
    'restrict ',
    'no-agent-forwarding,no-X11-forwarding ',
    'environment="A=b c" ',
  ])('refuses authorized_keys options %j with the line number', (options) => {
    const err = catchError(() =>
      parseAuthorizedKeys(`# keys\n\n${options}${ed()}\n`, 'authorized_keys'),
    );
    expect(err.code).toBe('ZFLASH_KEY_OPTIONS');
    expect(err.message).toMatch(/^Line 3 of authorized_keys has authorized_keys options/);
    expect(err.details).toEqual({ source: 'authorized_keys', line: 3 });
  });

  it('refuses a line that is not a key, a type mismatch, damaged base64 and trailing data', () => {
    const [type, b64] = ed().split(' ') as [string, string];
    const blob = Buffer.from(b64, 'base64');
    const rsaB64 = readFileSync(`${keys.rsa2048!}.pub`, 'utf8').split(' ')[1]!;
    const bad: [string, RegExp][] = [
      ['hello world', /must start with its type/],
      [b64, /must start with its type/],
      [`ssh-rsa ${b64}`, /type written in front does not match/],
      [`${type} ${b64.slice(0, -5)}`, /not valid base64|damaged or incomplete/],
      [
        `${type} ${Buffer.concat([blob, Buffer.from([0, 0, 0, 0])]).toString('base64')}`,
        /wrong structure/,
      ],
      [`${type}`, /key data after the type is missing/],
      [`ssh-rsa ${rsaB64}!`, /not valid base64/],
      [`ssh-ed25519-cert-v01@openssh.com ${b64}`, /certificate/],
      [`ssh-ed448 ${b64}`, /"ssh-ed448", which is not accepted/],
    ];
    for (const [line, why] of bad) {
      const err = catchError(() => parseAuthorizedKeys(`\n${line}\n`));
      expect(['ZFLASH_KEY_INVALID', 'ZFLASH_KEY_UNSUPPORTED']).toContain(err.code);
      expect(err.message).toMatch(/^Line 2 /);
      expect(err.message).toMatch(why);
    }
  });

  it('refuses non-canonical RSA numbers (padding OpenSSH never writes)', () => {
    const rsaB64 = readFileSync(`${keys.rsa2048!}.pub`, 'utf8').split(' ')[1]!;
    const blob = Buffer.from(rsaB64, 'base64');
    // Re-encode e with a superfluous leading zero byte.
    const typeLen = blob.readUInt32BE(0);
    const eOff = 4 + typeLen;
    const eLen = blob.readUInt32BE(eOff);
    const e = blob.subarray(eOff + 4, eOff + 4 + eLen);
    const n = blob.subarray(eOff + 4 + eLen + 4);
    const padded = wire('ssh-rsa', Buffer.concat([Buffer.from([0]), e]), n);
    const err = catchError(() => parseAuthorizedKeys(`ssh-rsa ${padded.toString('base64')}`));
    expect(err.code).toBe('ZFLASH_KEY_INVALID');
    expect(err.message).toContain('not in canonical form');
  });

  it('accepts exactly 64 KiB and refuses 64 KiB + 1 byte before reading', async () => {
    const line = `${ed()}\n`;
    const filler = '#'.repeat(MAX_KEY_FILE_BYTES - line.length - 1) + '\n';
    const exact = join(dir, 'exact.pub');
    writeFileSync(exact, line + filler);
    expect(readFileSync(exact).length).toBe(MAX_KEY_FILE_BYTES);
    expect((await readSshKeyFile(exact)).keys).toHaveLength(1);

    const over = join(dir, 'over.pub');
    writeFileSync(over, line + filler + '\n');
    const err = await catchAsync(readSshKeyFile(over));
    expect(err.code).toBe('ZFLASH_KEY_FILE_TOO_LARGE');
    expect(err.details).toEqual({ source: 'over.pub', size: 65537, limit: 65536 });
    expect(catchError(() => parseAuthorizedKeys(Buffer.alloc(65537, 0x23))).code).toBe(
      'ZFLASH_KEY_FILE_TOO_LARGE',
    );
  });

  it('refuses binary files: NUL bytes, invalid UTF-8, UTF-16', async () => {
    const files: [string, Buffer][] = [
      ['nul.pub', Buffer.concat([Buffer.from(`${ed()}\n`), Buffer.from([0])])],
      ['latin1.pub', Buffer.concat([Buffer.from(`${ed()} caf`), Buffer.from([0xe9, 0x0a])])],
      [
        'utf16.pub',
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${ed()}\n`, 'utf16le')]),
      ],
    ];
    for (const [name, bytes] of files) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const err = await catchAsync(readSshKeyFile(file));
      expect(err.code).toBe('ZFLASH_KEY_FILE_BINARY');
      expect(err.message).toBe(
        `${name} is not a text file; an SSH public key file is plain UTF-8 text.`,
      );
    }
    const err = await catchAsync(readSshKeyFile(join(dir, 'utf16.pub')));
    expect(err.hint).toMatch(/UTF-16/);
  });

  it('refuses files with no keys, missing files and directories', async () => {
    const empty = join(dir, 'empty.pub');
    writeFileSync(empty, '# nothing here\n\n');
    expect((await catchAsync(readSshKeyFile(empty))).code).toBe('ZFLASH_NO_KEYS');
    expect(catchError(() => parseAuthorizedKeys('')).code).toBe('ZFLASH_NO_KEYS');
    expect((await catchAsync(readSshKeyFile(join(dir, 'missing.pub')))).code).toBe(
      'ZFLASH_KEY_FILE_NOT_FOUND',
    );
    expect((await catchAsync(readSshKeyFile(dir))).code).toBe('ZFLASH_KEY_FILE_UNREADABLE');
  });
});

describe('comments', () => {
  const ed = (): string =>
    readFileSync(`${keys.ed25519!}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');

  it('turns ${...}, quotes and shell syntax in a comment into inert underscores, with a notice', () => {
    // The installer and the NixOS module accept only [A-Za-z0-9 @._+:,/=-] in comments; a
    // comment outside that set would get the key silently dropped on the node.
    const comment = 'ops@zeta ${builtins.readFile /etc/shadow} `id` $(reboot)';
    const { keys: parsed, notices } = parseAuthorizedKeys(`${ed()} ${comment}\n`);
    expect(parsed[0]!.comment).toBe('ops@zeta __builtins.readFile /etc/shadow_ _id_ __reboot_');
    expect(parsed[0]!.line).toBe(`${ed()} ${parsed[0]!.comment}`);
    expect(parsed[0]!.line).toMatch(/^[A-Za-z0-9 @._+:,/=-]+$/);
    expect(notices.map((n) => n.code)).toEqual(['ZFLASH_KEY_COMMENT_SANITIZED']);
  });

  it('strips control, bidi and separator characters with a notice, and collapses whitespace', () => {
    const text = `${ed()}   bad\x1b[31m red\x07\u202e evil\u2028x\t\tend  \x7f\n`;
    const { keys: parsed, notices } = parseAuthorizedKeys(text, 'k.pub');
    expect(parsed[0]!.comment).toBe('bad_31m red evil x end');
    expect(parsed[0]!.line).toBe(`${ed()} bad_31m red evil x end`);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ code: 'ZFLASH_KEY_COMMENT_SANITIZED' });
    expect(notices[0]!.message).toMatch(/^Line 1 of k\.pub: .*"bad_31m red evil x end"/);
  });

  it('replaces non-ASCII comment characters the installer would reject, and allows none', () => {
    const { keys: parsed } = parseAuthorizedKeys(`${ed()} Zoë's 🚀 laptop\n${skEd25519Line('')}`);
    expect(parsed[0]!.comment).toBe('Zo__s _ laptop');
    expect(parsed[1]!.comment).toBe('');
    expect(parsed[1]!.line.split(' ')).toHaveLength(2);
  });

  it('leaves an ordinary comment alone, with no notice', () => {
    const { keys: parsed, notices } = parseAuthorizedKeys(`${ed()} alice@laptop-2.lan\n`);
    expect(parsed[0]!.comment).toBe('alice@laptop-2.lan');
    expect(notices).toEqual([]);
  });
});

describe('mergeKeys and recheckKey', () => {
  it('dedupes by type and blob, keeping the first occurrence and its comment', () => {
    const ed = readFileSync(`${keys.ed25519!}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    const a = parseAuthorizedKeys(`${ed} first`).keys;
    const b = parseAuthorizedKeys(`${ed} second\n${skEd25519Line('x')}`).keys;
    const merged = mergeKeys([a, b, a]);
    expect(merged.map((k) => k.comment)).toEqual(['first', 'x']);
  });

  it('detects a key object whose fields were altered', () => {
    const [key] = parseAuthorizedKeys(readFileSync(`${keys.ed25519!}.pub`)).keys;
    expect(recheckKey(key!)).toBeNull();
    expect(recheckKey({ ...key!, fingerprint: 'SHA256:' + 'A'.repeat(43) })).toMatch(/fingerprint/);
    expect(recheckKey({ ...key!, line: `${key!.line}\nssh-rsa AAAA` })).toMatch(/line break/);
    expect(recheckKey({ ...key!, bits: 4096 })).toMatch(/bits/);
  });
});

describe('the edges mutation testing found untested', () => {
  const pub = () => readFileSync(`${keys.ed25519}.pub`, 'utf8').trim();
  const refusedWith = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ZflashError) return e;
      throw e;
    }
    throw new Error('expected a refusal');
  };

  it('names every authorized_keys option in front of a key as such', () => {
    const options = [
      'agent-forwarding',
      'cert-authority',
      'command="uptime"',
      'environment="A=B"',
      'expiry-time="20300101"',
      'from="10.0.0.0/8"',
      'no-agent-forwarding',
      'no-port-forwarding',
      'no-pty',
      'no-touch-required',
      'no-user-rc',
      'no-x11-forwarding',
      'permitlisten="8080"',
      'permitopen="host:22"',
      'port-forwarding',
      'principals="a"',
      'pty',
      'restrict,pty',
      'tunnel="1"',
      'user-rc',
      'verify-required',
      'x11-forwarding',
      'RESTRICT',
    ];
    for (const o of options) {
      // Known by its name alone, not only by the key type after it.
      expect(refusedWith(() => parseAuthorizedKeys(`${o} AAAA`)).code, o).toBe(
        'ZFLASH_KEY_OPTIONS',
      );
      const err = refusedWith(() => parseAuthorizedKeys(`${o} ${pub()}`, 'keys.txt'));
      expect(err.code, o).toBe('ZFLASH_KEY_OPTIONS');
      expect(err.message).toBe(
        'Line 1 of keys.txt has authorized_keys options (such as command=, from= or restrict) in front of the key; only plain public keys are accepted.',
      );
      expect(err.hint).toBe(
        'Remove everything before the key type so the line starts with, for example, ssh-ed25519.',
      );
      expect(err.details).toEqual({ source: 'keys.txt', line: 1 });
    }
    // Not an option (a word that only starts like one), and nothing key-like after it.
    for (const line of ['ptyx AAAA', 'restrictions here', 'no-ptyx=1 AAAA']) {
      expect(refusedWith(() => parseAuthorizedKeys(line)).code, line).toBe('ZFLASH_KEY_INVALID');
    }
    // An unknown word before a real key type still reads as options.
    expect(refusedWith(() => parseAuthorizedKeys(`whatever ${pub()}`)).code).toBe(
      'ZFLASH_KEY_OPTIONS',
    );
  });

  it('measures text in UTF-8 bytes, exactly up to the limit, and drops one leading BOM', () => {
    const line = `${pub()}\n`;
    const exact = line + '#'.repeat(MAX_KEY_FILE_BYTES - Buffer.byteLength(line));
    expect(parseAuthorizedKeys(exact).keys).toHaveLength(1);
    expect(parseAuthorizedKeys(Buffer.from(exact)).keys).toHaveLength(1);
    // One character more than the last '#', one byte more in UTF-8.
    const over = refusedWith(() => parseAuthorizedKeys(`${exact.slice(0, -1)}é`));
    expect(over.code).toBe('ZFLASH_KEY_FILE_TOO_LARGE');
    expect(over.message).toBe(
      `The pasted text is ${MAX_KEY_FILE_BYTES + 1} bytes; an SSH public key file may be at most ${MAX_KEY_FILE_BYTES} bytes (64 KiB).`,
    );
    expect(over.hint).toBe(
      'Choose the .pub file that holds your public key; it is usually well under 1 KiB.',
    );
    expect(over.details).toEqual({ size: MAX_KEY_FILE_BYTES + 1, limit: MAX_KEY_FILE_BYTES });
    expect(parseAuthorizedKeys(`\uFEFF${line}`).keys).toHaveLength(1);
    const nul = refusedWith(() => parseAuthorizedKeys(`${line}\0`, 'k.pub'));
    expect(nul).toMatchObject({
      code: 'ZFLASH_KEY_FILE_BINARY',
      message: 'k.pub is not a text file; an SSH public key file is plain UTF-8 text.',
      hint: 'Choose the .pub file that ssh-keygen created, for example ~/.ssh/id_ed25519.pub.',
      details: { source: 'k.pub' },
    });
    expect(refusedWith(() => parseAuthorizedKeys(`${line}\0`)).details).toEqual({});
    for (const bom of [
      [0xff, 0xfe],
      [0xfe, 0xff],
    ]) {
      const err = refusedWith(() => parseAuthorizedKeys(Buffer.from([...bom, 0x41, 0x41])));
      expect(err.hint).toContain('saved as UTF-16');
    }
    expect(refusedWith(() => parseAuthorizedKeys(Buffer.from([0xff, 0x41]))).hint).not.toContain(
      'UTF-16',
    );
  });

  it('says which key file cannot be read, and why', async () => {
    const missing = join(dir, 'nope', 'id.pub');
    await expect(readSshKeyFile(missing)).rejects.toMatchObject({
      code: 'ZFLASH_KEY_FILE_NOT_FOUND',
      message: `The key file ${missing} does not exist.`,
      hint: 'Check the path; public keys usually live in ~/.ssh and end in .pub.',
      details: { path: missing },
    });
    const notDir = `${keys.ed25519}.pub/x`;
    await expect(readSshKeyFile(notDir)).rejects.toMatchObject({
      code: 'ZFLASH_KEY_FILE_NOT_FOUND',
    });
    await expect(readSshKeyFile(dir)).rejects.toMatchObject({
      code: 'ZFLASH_KEY_FILE_UNREADABLE',
      message: `${dir} is not a regular file.`,
      hint: 'Choose a public key file, for example ~/.ssh/id_ed25519.pub.',
      details: { path: dir },
    });
    const big = join(dir, 'big.pub');
    writeFileSync(big, Buffer.alloc(MAX_KEY_FILE_BYTES + 1, 0x23));
    await expect(readSshKeyFile(big)).rejects.toMatchObject({
      code: 'ZFLASH_KEY_FILE_TOO_LARGE',
      details: { source: 'big.pub', size: MAX_KEY_FILE_BYTES + 1 },
    });
    const exact = join(dir, 'exact.pub');
    writeFileSync(exact, `${pub()}\n`.padEnd(MAX_KEY_FILE_BYTES, '#'));
    expect((await readSshKeyFile(exact)).keys).toHaveLength(1);
  });
});

describe('damaged key data, each check on its own', () => {
  const refusal = (text: string) => catchError(() => parseAuthorizedKeys(text, 'k.pub'));
  const line = (type: string, blob: Buffer) => `${type} ${blob.toString('base64')} c`;
  const ed = () =>
    Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const ecPoint = (crv: 'P-256' | 'P-384') => {
    const jwk = generateKeyPairSync('ec', { namedCurve: crv }).publicKey.export({ format: 'jwk' });
    return Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from(jwk.y!, 'base64url'),
    ]);
  };
  const invalid = (l: string, why: string, type = 'ssh-ed25519') => {
    const err = refusal(l);
    expect(err.code, l.slice(0, 40)).toBe('ZFLASH_KEY_INVALID');
    expect(err.message).toBe(`Line 1 of k.pub is not a valid ${type} public key: ${why}.`);
    expect(err.hint).toBe(
      'Copy the whole key again from the .pub file; it is a single line starting with its type, such as ssh-ed25519.',
    );
    expect(err.details).toEqual({ source: 'k.pub', line: 1, type });
  };

  it('base64: only the standard alphabet, optional padding, no stray bits', () => {
    const good = wire('ssh-ed25519', ed()).toString('base64');
    expect(parseAuthorizedKeys(`ssh-ed25519 ${good.replace(/=+$/, '')}`).keys).toHaveLength(1);
    // Padding before the end, the URL alphabet, a length of 4n+1 characters.
    for (const bad of [`${good}A`, `${good.slice(0, -2)}-_`, `${good.replace(/=+$/, '')}AB`])
      invalid(`ssh-ed25519 ${bad}`, 'the key data is not valid base64');
    // Stray bits in the last character: "AB" leaves 0001 over; "AA" is the same byte, clean.
    invalid('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AB', 'the key data is not valid base64');
    invalid('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AA', 'the key data is damaged or incomplete');
  });

  it('wire strings: a length past the end, or a length cut short', () => {
    const blob = wire('ssh-ed25519', ed());
    invalid(
      line('ssh-ed25519', blob.subarray(0, blob.length - 1)),
      'the key data is damaged or incomplete',
    );
    invalid(
      line('ssh-ed25519', Buffer.concat([blob, Buffer.from([0, 0])])),
      'the key data is damaged or incomplete',
    );
    // Exactly one more empty string is a wrong structure, not damage.
    invalid(
      line('ssh-ed25519', Buffer.concat([blob, Buffer.alloc(4)])),
      'the key data has the wrong structure',
    );
    invalid(
      line('ssh-ed25519', wire('ssh-ed25519', ed().subarray(1))),
      'an Ed25519 key must be 32 bytes',
    );
    invalid(
      line('ssh-ed25519', wire('ssh-rsa', ed())),
      'the type written in front does not match the key data',
    );
  });

  it('ECDSA: the curve named inside, the point length and its 0x04 prefix', () => {
    const t = 'ecdsa-sha2-nistp256';
    expect(parseAuthorizedKeys(line(t, wire(t, 'nistp256', ecPoint('P-256')))).keys).toHaveLength(
      1,
    );
    invalid(
      line(t, wire(t, 'nistp384', ecPoint('P-256'))),
      'the curve inside the key does not match its type',
      t,
    );
    invalid(
      line(t, wire(t, 'nistp256', ecPoint('P-384'))),
      'its public point is not on the curve',
      t,
    );
    const compressed = ecPoint('P-256');
    compressed[0] = 0x02;
    invalid(line(t, wire(t, 'nistp256', compressed)), 'its public point is not on the curve', t);
    const off = ecPoint('P-256');
    off[64] = (off[64] ?? 0) ^ 1;
    invalid(line(t, wire(t, 'nistp256', off)), 'its public point is not on the curve', t);
  });

  it('FIDO keys: the application string, the Ed25519 length, the P-256 structure', () => {
    const sk = 'sk-ssh-ed25519@openssh.com';
    invalid(line(sk, wire(sk, ed(), 'ssh:\0x')), 'its application string is malformed', sk);
    invalid(
      line(sk, wire(sk, ed().subarray(2), 'ssh:')),
      'the key data has the wrong structure',
      sk,
    );
    invalid(line(sk, wire(sk, ed(), 'x', 'ssh:')), 'the key data has the wrong structure', sk);
    const ske = 'sk-ecdsa-sha2-nistp256@openssh.com';
    expect(
      parseAuthorizedKeys(line(ske, wire(ske, 'nistp256', ecPoint('P-256'), 'ssh:'))).keys,
    ).toHaveLength(1);
    invalid(
      line(ske, wire(ske, 'nistp384', ecPoint('P-256'), 'ssh:')),
      'the key data has the wrong structure',
      ske,
    );
    invalid(line(ske, wire(ske, 'nistp256', 'ssh:')), 'the key data has the wrong structure', ske);
    invalid(
      line(ske, wire(ske, 'nistp256', ecPoint('P-384'), 'ssh:')),
      'its public point is not on the curve',
      ske,
    );
  });

  it('RSA: an even or empty exponent', () => {
    const pub = readFileSync(`${keys.rsa2048}.pub`, 'utf8').split(' ');
    const parts = [] as Buffer[];
    const blob = Buffer.from(pub[1]!, 'base64');
    for (let off = 0; off < blob.length;) {
      const len = blob.readUInt32BE(off);
      parts.push(blob.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    invalid(
      line('ssh-rsa', wire('ssh-rsa', Buffer.from([0x01, 0x00, 0x00]), parts[2]!)),
      'its public exponent is not valid',
      'ssh-rsa',
    );
  });

  it('names unsupported types: DSA, certificates, other key types', () => {
    expect(refusal('ssh-dss AAAA')).toMatchObject({
      code: 'ZFLASH_KEY_UNSUPPORTED',
      message:
        'Line 1 of k.pub is a DSA key; DSA keys are not accepted because current OpenSSH no longer supports them.',
      details: { source: 'k.pub', line: 1, type: 'ssh-dss' },
    });
    expect(refusal('ssh-ed25519-cert-v01@openssh.com AAAA')).toMatchObject({
      code: 'ZFLASH_KEY_UNSUPPORTED',
      message: 'Line 1 of k.pub is an SSH certificate; only plain public keys are accepted.',
      hint: 'Choose the plain public key (the .pub file without -cert in its name).',
      details: { type: 'ssh-ed25519-cert-v01@openssh.com' },
    });
    expect(refusal('x509v3-sign-rsa AAAA')).toMatchObject({
      code: 'ZFLASH_KEY_UNSUPPORTED',
      message:
        'Line 1 of k.pub has the key type "x509v3-sign-rsa", which is not accepted; use Ed25519, ECDSA, RSA (2048 bits or more) or a FIDO security key.',
      details: { type: 'x509v3-sign-rsa' },
    });
    // Only whole type names: a longer word is just not a key line.
    for (const l of [
      'Xa-cert-v01@openssh.com AAAA',
      'ssh-ed25519-cert-v01@openssh.com! AAAA',
      'xssh-foo AAAA',
      'ssh-foo! AAAA',
    ])
      expect(refusal(l).code, l).toBe('ZFLASH_KEY_INVALID');
  });
});

describe('markers, SSH2 blocks and comments, exactly', () => {
  const body = () => readFileSync(`${keys.ed25519}.pub`, 'utf8').split(' ')[1]!;
  const block = (lines: string[]) => lines.join('\n');

  it('knows private keys by their markers, whatever the dashes and spaces', () => {
    for (const text of [
      '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nxx',
      '-----BEGIN SSH2 ENCRYPTED PRIVATE KEY-----\nxx',
      'PuTTY-User-Key-File-3: ssh-ed25519\n',
      '  PuTTY-User-Key-File-2: ssh-rsa\n',
      'line\n  b3BlbnNzaC1rZXktdjEAAAAA\n',
    ]) {
      expect(catchError(() => parseAuthorizedKeys(text)).code, text).toBe('ZFLASH_PRIVATE_KEY');
    }
    // Not at the start of a line: not a marker (the text is then just not a key).
    for (const text of [
      'x PuTTY-User-Key-File-3: x',
      'xb3BlbnNzaC1rZXktdjEA',
      '- BEGIN SSH2 ENCRYPTED PRIVATE KEY -',
    ])
      expect(catchError(() => parseAuthorizedKeys(text)).code, text).not.toBe('ZFLASH_PRIVATE_KEY');
  });

  it('reads SSH2 public key blocks: dashes, continued and quoted headers, comments', () => {
    for (const [begin, end] of [
      ['---- BEGIN SSH2 PUBLIC KEY ----', '---- END SSH2 PUBLIC KEY ----'],
      ['-----BEGIN SSH2 PUBLIC KEY-----', '-----END SSH2 PUBLIC KEY-----'],
    ] as const) {
      const { keys: got } = parseAuthorizedKeys(
        block([
          begin,
          'Comment: "op@laptop \\',
          'continued"',
          'x-tag: value',
          body().slice(0, 30),
          body().slice(30),
          end,
        ]),
      );
      expect(got[0]?.comment).toBe('op@laptop continued');
    }
    const unquoted = parseAuthorizedKeys(
      block([
        '---- BEGIN SSH2 PUBLIC KEY ----',
        'Comment: plain one',
        body(),
        '---- END SSH2 PUBLIC KEY ----',
      ]),
    );
    expect(unquoted.keys[0]?.comment).toBe('plain one');
    const noEnd = catchError(() =>
      parseAuthorizedKeys(block(['---- BEGIN SSH2 PUBLIC KEY ----', body()]), 'k.pub'),
    );
    expect(noEnd.message).toBe(
      'Line 1 of k.pub is not a valid SSH public key: the SSH2 key block has no "---- END SSH2 PUBLIC KEY ----" line.',
    );
    const empty = catchError(() =>
      parseAuthorizedKeys(
        block(['---- BEGIN SSH2 PUBLIC KEY ----', 'Comment: x', '---- END SSH2 PUBLIC KEY ----']),
      ),
    );
    expect(empty.message).toBe(
      'Line 1 is not a valid SSH public key: the SSH2 key block has no key data.',
    );
    // Not a block marker unless the whole line is one.
    expect(
      catchError(() => parseAuthorizedKeys(`x---- BEGIN SSH2 PUBLIC KEY ----\n${body()}`)).code,
    ).toBe('ZFLASH_KEY_INVALID');
  });

  it('squeezes whitespace in comments, and a key line keeps one space before its comment', () => {
    const r = parseAuthorizedKeys(`ssh-ed25519 ${body()}   two\t\tspaced   words  `);
    expect(r.keys[0]?.comment).toBe('two spaced words');
    expect(r.keys[0]?.line).toBe(`ssh-ed25519 ${body()} two spaced words`);
    expect(r.notices).toEqual([]);
    const none = parseAuthorizedKeys(`ssh-ed25519 ${body()}`);
    expect(none.keys[0]?.line).toBe(`ssh-ed25519 ${body()}`);
    expect(none.keys[0]?.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('no key at all: says which text holds none', () => {
    expect(catchError(() => parseAuthorizedKeys('# only a comment\n', 'k.pub'))).toMatchObject({
      code: 'ZFLASH_NO_KEYS',
      message: 'k.pub contains no SSH public key; a node needs at least one to be reachable.',
      hint: 'Choose a .pub file such as ~/.ssh/id_ed25519.pub, or create a key with ssh-keygen -t ed25519.',
      details: { source: 'k.pub' },
    });
    expect(catchError(() => parseAuthorizedKeys('')).message).toBe(
      'The pasted text contains no SSH public key; a node needs at least one to be reachable.',
    );
  });

  it('recheckKey: a line with two keys, or one that is not a key, is named', () => {
    const [key] = parseAuthorizedKeys(`ssh-ed25519 ${body()} c`).keys;
    expect(recheckKey({ ...key!, line: `${key!.line} ssh-ed25519 ${body()}` })).not.toBeNull();
    expect(recheckKey({ ...key!, line: 'not a key' })).toBe(
      'Line 1 is not a valid SSH public key: a key line must start with its type, such as ssh-ed25519.',
    );
  });
});

describe('RSA sizes at OpenSSH’s ceiling', () => {
  /** An RSA public key whose modulus has exactly `bits` bits (not a product of two primes: only the size is judged). */
  function rsaLineOfBits(bits: number): string {
    const n = Buffer.alloc(Math.ceil(bits / 8), 0xa5);
    n[0] = (1 << ((bits - 1) % 8)) | (bits % 8 === 0 ? 0x25 : 0);
    n[n.length - 1] = n[n.length - 1]! | 1;
    const mpint = n[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), n]) : n;
    return `ssh-rsa ${wire('ssh-rsa', Buffer.from([1, 0, 1]), mpint).toString('base64')} big`;
  }

  it('accepts 16384 bits as ssh-keygen does, and refuses 16385 bits as ssh-keygen does', () => {
    const top = rsaLineOfBits(16384);
    const file = join(dir, 'rsa16384.pub');
    writeFileSync(file, `${top}\n`);
    const [expected] = judge(file);
    const [key] = parseAuthorizedKeys(top).keys;
    expect(key).toMatchObject({ type: 'ssh-rsa', bits: 16384, line: top });
    expect(key!.bits).toBe(expected!.bits);
    expect(key!.fingerprint).toBe(expected!.fingerprint);

    const over = rsaLineOfBits(16385);
    writeFileSync(file, `${over}\n`);
    expect(() => execFileSync('ssh-keygen', ['-lf', file], { stdio: 'pipe' })).toThrow(
      /is not a public key file/,
    );
    const err = catchError(() => parseAuthorizedKeys(over, 'big.pub'));
    expect(err).toMatchObject({
      code: 'ZFLASH_KEY_INVALID',
      message:
        'Line 1 of big.pub is not a valid ssh-rsa public key: RSA keys may have at most 16384 bits.',
      details: { source: 'big.pub', line: 1, type: 'ssh-rsa' },
    });
  });
});

describe('spacing, forged key objects and unreadable files', () => {
  const edLine = () => readFileSync(`${keys.ed25519!}.pub`, 'utf8').trim();

  it('accepts several spaces or tabs between the type, the key data and the comment, as sshd does', () => {
    const [type, b64, comment] = edLine().split(' ') as [string, string, string];
    for (const sep of ['  ', '\t', ' \t ']) {
      const { keys: parsed, notices } = parseAuthorizedKeys(`${type}${sep}${b64}${sep}${comment}`);
      expect(parsed.map((k) => k.line)).toEqual([edLine()]);
      expect(notices).toEqual([]);
    }
  });

  it('recheckKey names each field of a forged key object that its line does not back', () => {
    const [ed] = parseAuthorizedKeys(edLine()).keys;
    const [ec] = parseAuthorizedKeys(readFileSync(`${keys.ecdsa256!}.pub`)).keys;
    const forged: [keyof SshPublicKey, unknown][] = [
      ['type', ec!.type],
      ['base64', ec!.base64],
      ['comment', 'someone-else@desk'],
      // The same key, type and comment, but not the line this engine writes.
      ['line', ed!.line.replace(' ', '  ')],
      ['fingerprint', ec!.fingerprint],
      ['bits', 521],
    ];
    for (const [field, value] of forged) {
      // Everything else stays the honest key's: only the one field lies.
      const key = { ...ed!, [field]: value } as SshPublicKey;
      expect(recheckKey(key), field).toBe(`the key's ${field} does not match its line`);
    }
  });

  it('names the errno of a key file that cannot be read for another reason', async () => {
    const loop = join(dir, 'loop.pub');
    symlinkSync(loop, loop);
    await expect(readSshKeyFile(loop)).rejects.toMatchObject({
      code: 'ZFLASH_KEY_FILE_UNREADABLE',
      message: `The key file ${loop} cannot be read (ELOOP).`,
      hint: 'Check that the file exists and that you are allowed to read it.',
      details: { path: loop, errno: 'ELOOP' },
    });
  });
});

describe('an unknown key type is quoted only while it is short', () => {
  it('names a type of up to 60 characters after its family, and no longer one', () => {
    for (const type of ['ssh-a', `ecdsa-${'b'.repeat(60)}`]) {
      expect(catchError(() => parseAuthorizedKeys(`${type} AAAA`))).toMatchObject({
        code: 'ZFLASH_KEY_UNSUPPORTED',
        message: `Line 1 has the key type "${type}", which is not accepted; use Ed25519, ECDSA, RSA (2048 bits or more) or a FIDO security key.`,
      });
    }
    // 61 characters, or none, after the family: not quoted back, just not a key line.
    for (const type of [`ssh-${'a'.repeat(61)}`, 'ssh-']) {
      expect(catchError(() => parseAuthorizedKeys(`${type} AAAA`)).message).toBe(
        'Line 1 is not a valid SSH public key: a key line must start with its type, such as ssh-ed25519.',
      );
    }
  });
});

describe('what an SSH2 block carries is judged like a key line', () => {
  const block = (blob: Buffer) =>
    [
      '---- BEGIN SSH2 PUBLIC KEY ----',
      'Comment: "exported"',
      ...blob.toString('base64').match(/.{1,70}/g)!,
      '---- END SSH2 PUBLIC KEY ----',
    ].join('\n');

  it('reads a Comment header continued over three lines', () => {
    const b64 = readFileSync(`${keys.ed25519!}.pub`, 'utf8').split(' ')[1]!;
    const text = [
      '---- BEGIN SSH2 PUBLIC KEY ----',
      'Comment: "ops \\',
      'at the \\',
      'desk"',
      b64,
      '---- END SSH2 PUBLIC KEY ----',
    ].join('\n');
    const [key] = parseAuthorizedKeys(text).keys;
    expect(key!.line).toBe(`ssh-ed25519 ${b64} ops at the desk`);
  });

  it('refuses a DSA key exported by PuTTYgen as a DSA key', () => {
    const dsa = wire('ssh-dss', Buffer.alloc(129, 1), Buffer.alloc(21, 1), Buffer.alloc(128, 2));
    expect(catchError(() => parseAuthorizedKeys(block(dsa), 'dsa.txt'))).toMatchObject({
      code: 'ZFLASH_KEY_UNSUPPORTED',
      message:
        'Line 1 of dsa.txt is a DSA key; DSA keys are not accepted because current OpenSSH no longer supports them.',
      details: { source: 'dsa.txt', line: 1, type: 'ssh-dss' },
    });
  });

  it('refuses a block whose key data names no key type at all, without echoing it as one', () => {
    const junk = wire('hello world', Buffer.alloc(32, 7), Buffer.alloc(4, 1));
    expect(catchError(() => parseAuthorizedKeys(block(junk), 'k.txt'))).toMatchObject({
      code: 'ZFLASH_KEY_INVALID',
      message:
        'Line 1 of k.txt is not a valid SSH public key: the key data is damaged or incomplete.',
      details: { source: 'k.txt', line: 1 },
    });
  });
});

describe('hints and sizes the operator reads', () => {
  const ed = () => readFileSync(`${keys.ed25519!}.pub`, 'utf8').trim();

  it('gives each refusal its own hint, and a pasted private key no file name', () => {
    const hint = 'Create a new key with ssh-keygen -t ed25519 and choose its .pub file.';
    expect(catchError(() => parseAuthorizedKeys('ssh-dss AAAA')).hint).toBe(hint);
    expect(catchError(() => parseAuthorizedKeys('ssh-ed448 AAAA')).hint).toBe(hint);
    const secret = readFileSync(keys.ecdsa256!, 'utf8');
    const pasted = catchError(() => parseAuthorizedKeys(secret));
    expect(pasted.message).toBe(
      'The pasted text is a private key; a private key must never leave this machine.',
    );
    expect(pasted.details).toEqual({});
    const named = catchError(() => parseAuthorizedKeys(secret, 'id_ecdsa'));
    expect(named.details).toEqual({ source: 'id_ecdsa' });
  });

  it('blames UTF-16 only for its two byte-order marks', () => {
    for (const bytes of [
      [0x41, 0xfe],
      [0xfe, 0x41],
      [0x41, 0xff],
      [0xff, 0xff],
    ]) {
      const err = catchError(() => parseAuthorizedKeys(Buffer.from(bytes)));
      expect(err.message).toBe(
        'The pasted text is not a text file; an SSH public key file is plain UTF-8 text.',
      );
      expect(err.hint, String(bytes)).toBe(
        'Choose the .pub file that ssh-keygen created, for example ~/.ssh/id_ed25519.pub.',
      );
    }
  });

  it('an SSH2 block without a Comment header gives a key without a comment', () => {
    const b64 = ed().split(' ')[1]!;
    const text = ['---- BEGIN SSH2 PUBLIC KEY ----', b64, '---- END SSH2 PUBLIC KEY ----'];
    const [key] = parseAuthorizedKeys(text.join('\n')).keys;
    expect(key!.line).toBe(`ssh-ed25519 ${b64}`);
    expect(key!.comment).toBe('');
  });

  it('reads a key in the last bytes of a 64 KiB file, and says how big a larger file is', async () => {
    // No newline after the key: its last byte is the file's last byte.
    const line = ed();
    const exact = join(dir, 'key-last.pub');
    writeFileSync(exact, `${'#'.repeat(MAX_KEY_FILE_BYTES - line.length - 1)}\n${line}`);
    expect(readFileSync(exact).length).toBe(MAX_KEY_FILE_BYTES);
    expect((await readSshKeyFile(exact)).keys.map((k) => k.line)).toEqual([ed()]);

    const huge = join(dir, 'huge.pub');
    writeFileSync(huge, Buffer.alloc(1024 * 1024, 0x23));
    const err = await catchAsync(readSshKeyFile(huge));
    expect(err.message).toBe(
      'huge.pub is 1048576 bytes; an SSH public key file may be at most 65536 bytes (64 KiB).',
    );
  });
});
