// A real home folder with keys made by ssh-keygen, a private key misnamed .pub, and a symlink.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listLocalPublicKeys } from './local-keys.js';

let home: string;
let outside: string;
const fp = (file: string) =>
  execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' }).split(' ')[1];

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'zflash-home-'));
  outside = mkdtempSync(join(tmpdir(), 'zflash-outside-'));
  const ssh = join(home, '.ssh');
  mkdirSync(ssh, { mode: 0o700 });
  for (const [name, type] of [
    ['id_ed25519', 'ed25519'],
    ['id_ecdsa', 'ecdsa'],
  ] as const) {
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', join(ssh, name)]);
  }
  // A private key saved under a .pub name by mistake.
  copyFileSync(join(ssh, 'id_ecdsa'), join(ssh, 'oops.pub'));
  // The same key twice (a copy) is listed once.
  copyFileSync(join(ssh, 'id_ed25519.pub'), join(ssh, 'copy.pub'));
  // A symlink to a key elsewhere is not followed.
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(outside, 'k')]);
  symlinkSync(join(outside, 'k.pub'), join(ssh, 'linked.pub'));
  writeFileSync(join(ssh, 'known_hosts'), 'not a key file\n');
});
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('listLocalPublicKeys', () => {
  it('lists the public keys in ~/.ssh with their ssh-keygen fingerprints', async () => {
    const { keys } = await listLocalPublicKeys(home);
    const ssh = join(home, '.ssh');
    expect(keys.map((k) => [k.file, k.fingerprint]).sort()).toEqual(
      [
        [join(ssh, 'id_ecdsa.pub'), fp(join(ssh, 'id_ecdsa.pub'))],
        // copy.pub sorts first, so the duplicate key is reported from there.
        [join(ssh, 'copy.pub'), fp(join(ssh, 'id_ed25519.pub'))],
      ].sort(),
    );
  });

  it('skips a private key with a notice that quotes none of it', async () => {
    const { notices } = await listLocalPublicKeys(home);
    const oops = notices.find((n) => n.message.startsWith('oops.pub'));
    expect(oops?.code).toBe('ZFLASH_PRIVATE_KEY');
    const body = readFileSync(join(home, '.ssh', 'id_ecdsa'), 'utf8').split('\n')[1] ?? '';
    expect(JSON.stringify(notices)).not.toContain(body.slice(0, 20));
  });

  it('does not follow a symlink out of ~/.ssh', async () => {
    const { keys } = await listLocalPublicKeys(home);
    expect(keys.some((k) => k.fingerprint === fp(join(outside, 'k.pub')))).toBe(false);
  });

  it('returns nothing for a home without ~/.ssh', async () => {
    expect(await listLocalPublicKeys(outside)).toEqual({ keys: [], notices: [] });
  });
});
