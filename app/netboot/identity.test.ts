// The identity initrd: a real newc archive (GNU cpio lists and unpacks it) holding exactly the
// bytes renderPayload makes for the stick, minus the secrets.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PAYLOAD_FILES } from '../payload/manifest.js';
import { renderPayload } from '../payload/render.js';
import { identity } from '../roster/roster.fixtures.js';
import { newcArchive } from './cpio.js';
import { identityInitrd, publicIdentity, withheldSecrets } from './identity.js';

const createdAt = new Date('2025-06-01T12:00:00.000Z');
let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

function cpio(args: string[], input: Buffer, cwd?: string) {
  const r = spawnSync('cpio', args, { input, cwd, encoding: 'buffer' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe('the identity initrd', () => {
  it('is a newc archive cpio lists: zeta/ and the three payload files', () => {
    const archive = identityInitrd(identity('node-07'), { createdAt });
    const listed = cpio(['-t', '--quiet'], archive);
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim().split('\n')).toEqual([
      'zeta',
      `zeta/${PAYLOAD_FILES.keys}`,
      `zeta/${PAYLOAD_FILES.hostname}`,
      `zeta/${PAYLOAD_FILES.manifest}`,
    ]);
    const verbose = cpio(['-tv', '--quiet'], archive).stdout;
    expect(verbose).toMatch(/^drwxr-xr-x .* zeta$/m);
    expect(verbose).toMatch(/^-rw-r--r-- .* zeta\/zeta-node.json$/m);
  });

  it('unpacks to the bytes renderPayload makes for the stick (same identity, same time)', () => {
    const id = identity('node-07', ['worker', 'gpu']);
    dir = mkdtempSync(join(tmpdir(), 'zflash-cpio-'));
    const r = cpio(['-idm', '--quiet'], identityInitrd(id, { createdAt }), dir);
    expect(r.status, r.stderr).toBe(0);
    const stick = renderPayload(id, { createdAt });
    expect(readdirSync(join(dir, 'zeta')).sort()).toEqual(stick.map((f) => f.name).sort());
    for (const f of stick) expect(readFileSync(join(dir, 'zeta', f.name))).toEqual(f.data);
  });

  it('never carries the Wi-Fi PSK or the password hash, and says which were left out', () => {
    const id = identity('node-07', ['worker'], true);
    expect(id.wifi?.psk).toMatch(/^[0-9a-f]{64}$/);
    expect(id.passwordHash).toMatch(/^\$/);
    expect(withheldSecrets(id)).toEqual(['wifi', 'password']);
    const archive = identityInitrd(id, { createdAt });
    expect(archive.includes(Buffer.from(id.wifi!.psk))).toBe(false);
    expect(archive.includes(Buffer.from(id.passwordHash!))).toBe(false);
    expect(archive.includes(Buffer.from(id.wifi!.ssid))).toBe(false);
    // What it does carry is the stick's payload for the public identity, manifest valid.
    dir = mkdtempSync(join(tmpdir(), 'zflash-cpio-'));
    cpio(['-idm', '--quiet'], archive, dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'zeta', PAYLOAD_FILES.manifest), 'utf8'));
    expect(manifest).toMatchObject({
      schema: 2,
      hostname: 'node-07',
      wifi: null,
      passwordHash: null,
    });
    const pub = renderPayload(publicIdentity(id), { createdAt });
    for (const f of pub) expect(readFileSync(join(dir, 'zeta', f.name))).toEqual(f.data);
  });

  it('is reproducible: the same identity and time give the same bytes', () => {
    const a = identityInitrd(identity('node-07'), { createdAt });
    const b = identityInitrd(identity('node-07'), { createdAt });
    expect(a.equals(b)).toBe(true);
    expect(a.length % 4).toBe(0);
  });

  it('the writer refuses absolute and parent paths', () => {
    expect(() => newcArchive([{ path: '/etc/passwd', kind: 'file', mode: 0o644 }])).toThrow();
    expect(() => newcArchive([{ path: 'zeta/../../x', kind: 'file', mode: 0o644 }])).toThrow();
    const ok = newcArchive([{ path: 'a', kind: 'file', mode: 0o600, data: Buffer.from('x') }]);
    dir = mkdtempSync(join(tmpdir(), 'zflash-cpio-'));
    writeFileSync(join(dir, 'a.cpio'), ok);
    expect(cpio(['-t', '--quiet'], ok).stdout).toBe('a\n');
  });
});
