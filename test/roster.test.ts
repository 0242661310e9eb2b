// `zflash roster` as a user runs it (the built CLI), and two real processes recording into
// one roster at once.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rosterEventSchema, rosterSchema } from '../app/roster/schema.js';
import { tempDir, zflash } from './fixtures.js';

const RECORD = new URL('./roster/record.mjs', import.meta.url).pathname;

let tmp: ReturnType<typeof tempDir>;
let path: string;
beforeEach(() => {
  tmp = tempDir('zflash-roster-cli-');
  path = join(tmp.path, 'roster.json');
});
afterEach(() => tmp.cleanup());

function seed(prefix: string, count: number, roles = 'worker', at = path) {
  const r = spawnSync(process.execPath, [RECORD, at, prefix, String(count), roles], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
}
const roster = (args: string[], env: Record<string, string> = { ZFLASH_ROSTER: path }) =>
  zflash(['roster', ...args], env);
const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => rosterEventSchema.parse(JSON.parse(l)));

function runAsync(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => res({ code, stderr }));
  });
}

describe('zflash roster', () => {
  it('two processes recording 50 flashes each at once keep all 100, past a stale lock', async () => {
    // A lock left by a crashed zflash: both processes must break it once, not each other's.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    writeFileSync(
      `${path}.lock`,
      JSON.stringify({
        pid: Number(dead.stdout),
        host: hostname(),
        createdAt: new Date().toISOString(),
      }),
    );
    const [a, b] = await Promise.all([
      runAsync([RECORD, path, 'a', '50']),
      runAsync([RECORD, path, 'b', '50']),
    ]);
    expect(a).toEqual({ code: 0, stderr: '' });
    expect(b).toEqual({ code: 0, stderr: '' });
    const nodes = rosterSchema.parse(JSON.parse(readFileSync(path, 'utf8'))).nodes;
    expect(nodes).toHaveLength(100);
    expect(new Set(nodes.map((n) => n.hostname)).size).toBe(100);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('lists nodes as a table and as JSON lines', () => {
    seed('node', 2, 'worker,gpu');
    const text = roster(['list']);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^HOSTNAME\s+STATUS\s+ROLES\s+ADDRESS\s+FLASHED\s+IMAGE\s+MEDIUM$/);
    expect(lines[1]).toMatch(
      /^node-01\s+flashed\s+worker,gpu\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+zeta\.iso\s+\/dev\/sdb \(Stick, serial node1, 8\.0 GB\)$/,
    );
    const json = roster(['list', '--json']);
    expect(json.code).toBe(0);
    const events = jsonLines(json.stdout);
    expect(events.map((e) => e.type === 'node' && e.hostname)).toEqual(['node-01', 'node-02']);
  });

  it('says so when the roster is empty', () => {
    const r = roster(['list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('The roster is empty');
    expect(existsSync(path)).toBe(false); // reading never creates it
  });

  it('finds the roster under XDG_DATA_HOME when no path is given, and --roster overrides', () => {
    const xdg = join(tmp.path, 'xdg');
    seed('node', 1, 'worker', join(xdg, 'zeta-flash', 'roster.json'));
    const env = { XDG_DATA_HOME: xdg, HOME: tmp.path, ZFLASH_ROSTER: '' };
    expect(roster(['list'], env).stdout).toContain('node-01');
    seed('other', 1, 'worker');
    const r = roster(['list', '--roster', path], env);
    expect(r.stdout).toContain('other-01');
    expect(r.stdout).not.toContain('node-01');
  });

  it('exports ssh-config, json, csv and colmena, to stdout or a file', () => {
    seed('node', 3);
    const ssh = roster(['export', '--format', 'ssh-config']);
    expect(ssh.code).toBe(0);
    expect(ssh.stdout).toContain('Host node-03\n  HostName node-03.local\n  User zeta\n');
    const json = roster(['export', '--format', 'json']);
    expect(rosterSchema.parse(JSON.parse(json.stdout)).nodes).toHaveLength(3);
    const csv = roster(['export', '--format', 'csv']);
    expect(csv.stdout.split('\r\n')).toHaveLength(5);
    const out = join(tmp.path, 'cluster', 'hive.nix');
    mkdirSync(join(tmp.path, 'cluster'));
    const hive = roster(['export', '--format', 'colmena', '--output', out, '--nixos', '../nixos']);
    expect(hive.code).toBe(0);
    expect(hive.stderr).toContain('Wrote 3 nodes');
    expect(readFileSync(out, 'utf8')).toContain('zeta = ./. + "/../nixos";');
  });

  it('refuses a missing or unknown format, and colmena options elsewhere', () => {
    for (const args of [
      ['export'],
      ['export', '--format', 'yaml'],
      ['export', '--format', 'csv', '--nixos', 'x'],
    ]) {
      const r = roster(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('code: ZFLASH_USAGE');
    }
  });

  it('suggests the next free name', () => {
    seed('node', 2);
    expect(roster(['next']).stdout).toBe('node-03\n');
    expect(roster(['next', '--pattern', 'gpu-{nnn}']).stdout).toBe('gpu-001\n');
    expect(jsonLines(roster(['next', '--json']).stdout)).toEqual([
      { type: 'name', hostname: 'node-03', pattern: 'node-{nn}' },
    ]);
    const bad = roster(['next', '--pattern', 'node']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('code: ZFLASH_NAME_PATTERN_INVALID');
  });

  it('warns about a damaged roster and uses the backup', () => {
    seed('node', 2);
    writeFileSync(path, '\0\0garbage');
    const r = roster(['list']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*damaged.*\[ZFLASH_ROSTER_RESTORED\]$/m);
    expect(r.stdout).toContain('node-01');
    expect(r.stdout).not.toContain('node-02');
    const json = jsonLines(roster(['list', '--json']).stdout);
    expect(json[0]).toMatchObject({ type: 'notice', code: 'ZFLASH_ROSTER_RESTORED' });
  });

  it('stops with exit 4 when the roster and its backup are both damaged', () => {
    seed('node', 2);
    writeFileSync(path, 'garbage');
    writeFileSync(`${path}.bak`, '[]');
    const r = roster(['list']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('code: ZFLASH_ROSTER_CORRUPT');
    const json = roster(['next', '--json']);
    expect(json.code).toBe(4);
    expect(jsonLines(json.stdout)).toMatchObject([
      { type: 'error', error: { code: 'ZFLASH_ROSTER_CORRUPT' } },
    ]);
    expect(readFileSync(path, 'utf8')).toBe('garbage');
  });

  it('watch: nothing to wait for ends at once; bad arguments are refused before listening', () => {
    const empty = roster(['watch', '--json']);
    expect(empty.code).toBe(0);
    expect(jsonLines(empty.stdout)).toEqual([{ type: 'done', reason: 'all-online', waiting: [] }]);
    seed('node', 1);
    const unknown = roster(['watch', 'node-09']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('code: ZFLASH_NODE_UNKNOWN');
    const timeout = roster(['watch', '--timeout', 'soon']);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('code: ZFLASH_USAGE');
  });

  it('refuses an unknown subcommand and prints help', () => {
    expect(roster(['frob']).code).toBe(2);
    const help = roster(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('export --format');
  });
});
