import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { acquireLock } from './lock.js';
import { defaultRosterPath } from './paths.js';
import { flashRecordFor } from './record.js';
import { identity, KEY_FINGERPRINT, record, WIFI } from './roster.fixtures.js';
import {
  backupPath,
  lockPath,
  markOnline,
  openRoster,
  preferredAddress,
  recordFlash,
  writeFileAtomic,
} from './store.js';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-roster-'));
  path = join(dir, 'data', 'roster.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<ZflashError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error('expected a ZflashError');
}

/** The pid of a process that has exited (and was reaped), so kill(pid, 0) says ESRCH. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

describe('defaultRosterPath', () => {
  it('follows XDG on Linux, Application Support on macOS, APPDATA on Windows', () => {
    const homedir = '/home/ada';
    expect(defaultRosterPath({ platform: 'linux', env: {}, homedir })).toBe(
      '/home/ada/.local/share/zeta-flash/roster.json',
    );
    expect(defaultRosterPath({ platform: 'linux', env: { XDG_DATA_HOME: '/data' }, homedir })).toBe(
      '/data/zeta-flash/roster.json',
    );
    // The XDG spec: a relative value is invalid and ignored.
    expect(defaultRosterPath({ platform: 'linux', env: { XDG_DATA_HOME: 'rel' }, homedir })).toBe(
      '/home/ada/.local/share/zeta-flash/roster.json',
    );
    expect(defaultRosterPath({ platform: 'darwin', env: {}, homedir: '/Users/ada' })).toBe(
      '/Users/ada/Library/Application Support/Zeta Flash/roster.json',
    );
    expect(
      defaultRosterPath({
        platform: 'win32',
        env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' },
        homedir: 'C:\\Users\\ada',
      }),
    ).toBe('C:\\Users\\ada\\AppData\\Roaming\\Zeta Flash\\roster.json');
  });
});

describe('recordFlash and openRoster', () => {
  it('starts empty, records a flash, and keeps a backup of the previous good copy', async () => {
    expect((await openRoster(path)).source).toBe('new');
    await recordFlash(path, record('node-01'));
    const first = readFileSync(path, 'utf8');
    expect(existsSync(backupPath(path))).toBe(false); // nothing good existed before
    await recordFlash(path, record('node-02'));
    expect(readFileSync(backupPath(path), 'utf8')).toBe(first);
    const { roster, source } = await openRoster(path);
    expect(source).toBe('file');
    expect(roster.nodes.map((n) => [n.hostname, n.status])).toEqual([
      ['node-01', 'flashed'],
      ['node-02', 'flashed'],
    ]);
    // No temp files or lock left behind.
    expect(readdirSync(join(dir, 'data')).sort()).toEqual(['roster.json', 'roster.json.bak']);
  });

  it('keeps fingerprints only: no key blob, no PSK, no password hash reach the file', async () => {
    const id = identity('node-01', ['gpu'], true);
    expect(id.wifi?.psk).toMatch(/^[0-9a-f]{64}$/);
    const rec = flashRecordFor(id, {
      image: { path: '/x/img.iso', sha256: null },
      medium: { kind: 'file', path: '/vm/node-01.img', size: 1 },
      flashedAt: new Date('2025-05-01T00:00:00Z'),
      appVersion: '0.1.0',
    });
    // A careless caller spreading the identity into the record must not leak it either.
    await recordFlash(path, { ...id, ...rec } as typeof rec);
    const text = readFileSync(path, 'utf8');
    expect(text).toContain(KEY_FINGERPRINT);
    expect(text).not.toContain(id.keys[0]!.base64);
    expect(text).not.toContain(id.wifi!.psk);
    expect(text).not.toContain(WIFI.ssid);
    expect(text).not.toContain(id.passwordHash!);
    expect(text).not.toContain('passwordHash');
  });

  it('a re-flash becomes re-flashed, forgets the online state and keeps the old flash in history', async () => {
    await recordFlash(path, record('node-01', { serial: 'OLD' }));
    await markOnline(path, 'node-01', {
      addresses: ['192.0.2.7'],
      now: () => new Date('2025-05-02T00:00:00Z'),
    });
    const { node, notices } = await recordFlash(
      path,
      record('node-01', { serial: 'NEW', at: '2025-06-01T00:00:00.000Z' }),
      { reflash: true },
    );
    expect(notices).toEqual([]);
    expect(node.status).toBe('re-flashed');
    expect(node.online).toBeNull();
    expect(node.medium).toMatchObject({ serial: 'NEW' });
    expect(node.history).toHaveLength(1);
    expect(node.history[0]!.medium).toMatchObject({ serial: 'OLD' });
    expect((await openRoster(path)).roster.nodes).toHaveLength(1);
  });

  it('records a name taken meanwhile by another flash, with a notice, losing nothing', async () => {
    await recordFlash(path, record('node-01', { serial: 'A' }));
    const { node, notices } = await recordFlash(path, record('node-01', { serial: 'B' }));
    expect(notices.map((n) => n.code)).toEqual(['ZFLASH_ROSTER_NAME_REUSED']);
    expect(node.history[0]!.medium).toMatchObject({ serial: 'A' });
  });

  it('marks a node online once: firstSeen stays, lastSeen and addresses follow', async () => {
    await recordFlash(path, record('node-01'));
    const a = await markOnline(path, 'node-01', {
      addresses: ['fe80::1', '169.254.3.4', '192.0.2.7'],
      now: () => new Date('2025-05-02T00:00:00Z'),
    });
    expect(a?.firstTime).toBe(true);
    expect(a?.node.online).toMatchObject({
      address: '192.0.2.7',
      firstSeen: '2025-05-02T00:00:00.000Z',
    });
    const b = await markOnline(path, 'node-01', {
      addresses: ['192.0.2.8'],
      now: () => new Date('2025-05-03T00:00:00Z'),
    });
    expect(b?.firstTime).toBe(false);
    expect(b?.node.online).toMatchObject({
      address: '192.0.2.8',
      firstSeen: '2025-05-02T00:00:00.000Z',
      lastSeen: '2025-05-03T00:00:00.000Z',
    });
    expect(
      await markOnline(path, 'node-09', { addresses: ['192.0.2.9'], now: () => new Date() }),
    ).toBeNull();
  });

  it('prefers a routable IPv4 address, then any IPv4, then a global IPv6', () => {
    expect(preferredAddress(['fe80::1', '2001:db8::1'])).toBe('2001:db8::1');
    expect(preferredAddress(['169.254.1.1'])).toBe('169.254.1.1');
    expect(preferredAddress(['2001:db8::1', '169.254.1.1', '192.0.2.1'])).toBe('192.0.2.1');
    expect(preferredAddress([])).toBeNull();
  });
});

describe('damage', () => {
  async function twoGoodWrites() {
    await recordFlash(path, record('node-01'));
    await recordFlash(path, record('node-02'));
  }

  it('reports a damaged roster, uses the backup, and keeps the damaged file aside on the next write', async () => {
    await twoGoodWrites();
    writeFileSync(path, '{"version": 1, "nodes": [ garbage');
    const opened = await openRoster(path);
    expect(opened.source).toBe('backup');
    expect(opened.notices.map((n) => n.code)).toEqual(['ZFLASH_ROSTER_RESTORED']);
    expect(opened.notices[0]!.message).toContain('not JSON');
    expect(opened.roster.nodes.map((n) => n.hostname)).toEqual(['node-01']);

    const { notices } = await recordFlash(path, record('node-03'));
    expect(notices.map((n) => n.code)).toEqual(['ZFLASH_ROSTER_RESTORED']);
    expect((await openRoster(path)).roster.nodes.map((n) => n.hostname)).toEqual([
      'node-01',
      'node-03',
    ]);
    const damaged = readdirSync(join(dir, 'data')).filter((f) =>
      f.startsWith('roster.json.damaged-'),
    );
    expect(damaged).toHaveLength(1);
    expect(readFileSync(join(dir, 'data', damaged[0]!), 'utf8')).toContain('garbage');
  });

  it('treats valid JSON of the wrong shape as damage too', async () => {
    await twoGoodWrites();
    writeFileSync(path, JSON.stringify({ version: 1, nodes: [{ hostname: 'Bad Name' }] }));
    expect((await openRoster(path)).source).toBe('backup');
  });

  it('stops with ZFLASH_ROSTER_CORRUPT when the backup is damaged too, and writes nothing', async () => {
    await twoGoodWrites();
    writeFileSync(path, 'garbage');
    writeFileSync(backupPath(path), '{"version":1,"nodes":[{}]}');
    expect((await rejection(openRoster(path))).code).toBe('ZFLASH_ROSTER_CORRUPT');
    const e = await rejection(recordFlash(path, record('node-03')));
    expect(e.code).toBe('ZFLASH_ROSTER_CORRUPT');
    expect(e.kind).toBe('io');
    expect(readFileSync(path, 'utf8')).toBe('garbage');
    expect(readFileSync(backupPath(path), 'utf8')).toBe('{"version":1,"nodes":[{}]}');
    expect(existsSync(lockPath(path))).toBe(false);
  });

  it('refuses a roster from a newer Zeta Flash and leaves it alone', async () => {
    mkdirSync(join(dir, 'data'));
    writeFileSync(path, '{"version": 2, "nodes": [], "more": true}');
    expect((await rejection(recordFlash(path, record('node-01')))).code).toBe(
      'ZFLASH_ROSTER_NEWER',
    );
    expect(readFileSync(path, 'utf8')).toBe('{"version": 2, "nodes": [], "more": true}');
  });

  it('keeps fields a newer minor release added when it rewrites the file', async () => {
    await recordFlash(path, record('node-01'));
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    doc.cluster = 'lab';
    doc.nodes[0].rack = 'A3';
    writeFileSync(path, JSON.stringify(doc));
    await recordFlash(path, record('node-02'));
    const after = JSON.parse(readFileSync(path, 'utf8'));
    expect(after.cluster).toBe('lab');
    expect(after.nodes[0].rack).toBe('A3');
  });
});

describe('writeFileAtomic', () => {
  it('leaves the previous file and no temp file when the replace fails', async () => {
    const target = join(dir, 'out');
    mkdirSync(join(target, 'occupied'), { recursive: true }); // rename onto a non-empty folder fails
    const e = await rejection(writeFileAtomic(target, 'new'));
    expect(e.code).toBe('ZFLASH_ROSTER_WRITE_FAILED');
    expect(readdirSync(dir)).toEqual(['out']);
  });
});

describe('lock', () => {
  it('recovers a lock left by a dead process', async () => {
    mkdirSync(join(dir, 'data'));
    const pid = deadPid();
    writeFileSync(
      lockPath(path),
      JSON.stringify({
        pid,
        host: (await import('node:os')).hostname(),
        createdAt: new Date().toISOString(),
      }),
    );
    await recordFlash(path, record('node-01'), { lock: { timeoutMs: 5000 } });
    expect((await openRoster(path)).roster.nodes).toHaveLength(1);
    expect(existsSync(lockPath(path))).toBe(false);
  });

  it('waits for a live holder, then gives up with ZFLASH_ROSTER_LOCKED and changes nothing', async () => {
    await recordFlash(path, record('node-01'));
    const before = readFileSync(path, 'utf8');
    const held = await acquireLock(lockPath(path));
    try {
      const e = await rejection(recordFlash(path, record('node-02'), { lock: { timeoutMs: 200 } }));
      expect(e.code).toBe('ZFLASH_ROSTER_LOCKED');
      expect(e.details).toMatchObject({ pid: process.pid, lockPath: lockPath(path) });
      expect(e.hint).toContain(lockPath(path));
    } finally {
      await held.release();
    }
    expect(readFileSync(path, 'utf8')).toBe(before);
    await recordFlash(path, record('node-02'));
    expect((await openRoster(path)).roster.nodes).toHaveLength(2);
  });

  it('takes over a lock older than staleMs even if its pid looks alive (reused pids)', async () => {
    mkdirSync(join(dir, 'data'));
    writeFileSync(
      lockPath(path),
      JSON.stringify({
        pid: 1,
        host: (await import('node:os')).hostname(),
        createdAt: '2020-01-01T00:00:00Z',
      }),
    );
    await recordFlash(path, record('node-01'), { lock: { timeoutMs: 2000 } });
    expect(existsSync(lockPath(path))).toBe(false);
  });

  it('does not follow a symlink planted at the lock path', async () => {
    mkdirSync(join(dir, 'data'));
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, lockPath(path));
    const e = await rejection(recordFlash(path, record('node-01'), { lock: { timeoutMs: 300 } }));
    expect(e.code).toBe('ZFLASH_ROSTER_WRITE_FAILED');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('serialises transactions of one process without waiting on its own lock file', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        recordFlash(path, record(`node-${String(i + 1).padStart(2, '0')}`)),
      ),
    );
    expect((await openRoster(path)).roster.nodes).toHaveLength(20);
  });
});
