import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgeKeyFile, MAX_KEY_FILE_BYTES } from './key-file.js';

const dir = mkdtempSync(join(tmpdir(), 'zflash-keyfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, args: string[]): { priv: string; pub: string } {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', 'test', '-f', path]);
  return { priv: readFileSync(path, 'utf8'), pub: readFileSync(`${path}.pub`, 'utf8') };
}

/** A Blob that records which of its bytes were read. */
class WatchedBlob extends Blob {
  readonly reads: string[] = [];
  override slice(start?: number, end?: number): Blob {
    this.reads.push(`slice ${start}-${end}`);
    return super.slice(start, end);
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    this.reads.push('all');
    return super.arrayBuffer();
  }
}

describe('a file dropped on the window', () => {
  const keys = {
    openssh: keygen('ed', ['-t', 'ed25519']),
    pem: keygen('rsa', ['-t', 'rsa', '-b', '3072', '-m', 'PEM']),
    pkcs8: keygen('ec', ['-t', 'ecdsa', '-m', 'PKCS8']),
  };

  it.each(Object.keys(keys))(
    'a %s private key is refused from its first bytes; the rest is never read',
    async (kind) => {
      const blob = new WatchedBlob([keys[kind as keyof typeof keys].priv]);
      expect(await judgeKeyFile(blob)).toEqual({ kind: 'private' });
      expect(blob.reads).toEqual(['slice 0-512']);
    },
  );

  it('a private key behind a public line is refused too', async () => {
    const blob = new Blob([keys.openssh.pub, keys.openssh.priv]);
    expect(await judgeKeyFile(blob)).toEqual({ kind: 'private' });
  });

  it('a PuTTY key file is refused', async () => {
    const ppk = 'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nAAAA\n';
    expect(await judgeKeyFile(new Blob([ppk]))).toEqual({ kind: 'private' });
  });

  it('a .pub gives its lines; comments and blank lines are dropped', async () => {
    const text = `# mine\n\n${keys.openssh.pub}${keys.pem.pub}`;
    expect(await judgeKeyFile(new Blob([text]))).toEqual({
      kind: 'public',
      lines: [keys.openssh.pub.trim(), keys.pem.pub.trim()],
    });
  });

  it('binary, empty and oversized files are named for what they are', async () => {
    expect(await judgeKeyFile(new Blob([new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1])]))).toEqual({
      kind: 'not-text',
    });
    expect(await judgeKeyFile(new Blob(['\n# only a comment\n']))).toEqual({ kind: 'empty' });
    expect(await judgeKeyFile(new Blob(['a'.repeat(MAX_KEY_FILE_BYTES + 1)]))).toEqual({
      kind: 'too-large',
      bytes: MAX_KEY_FILE_BYTES + 1,
    });
  });
});
