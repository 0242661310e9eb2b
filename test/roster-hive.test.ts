// The colmena export: `zflash roster export --format colmena` writes a hive that Nix parses,
// and that evaluates (stub lib, stub nixpkgs) into nodes importing the bundled flake's node
// modules with their own identity and roles.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_MODULES } from '../app/roster/export.js';
import { tempDir, zflash } from './fixtures.js';

const RECORD = new URL('./roster/record.mjs', import.meta.url).pathname;
const EVAL = new URL('./roster/nix/eval-hive.nix', import.meta.url).pathname;
const REPO_NIXOS = new URL('../nixos', import.meta.url).pathname.replace(/\/$/, '');
/** A copy of nixos/ without flake.lock: the hive then takes <nixpkgs> (the stub), as nothing can be fetched here. */
let NIXOS: string;
const KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG84kCdHH1tZ6tg+OMOhaXR5b6t5kSPQjb+DPPP2K75S ops@laptop';

/** Only errors count: this machine's Nix warns about a missing build group. */
const errorsIn = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('warning:'))
    .join('\n');

let tmp: ReturnType<typeof tempDir>;
let hive: string;
beforeAll(() => {
  tmp = tempDir('zflash-hive-');
  NIXOS = join(tmp.path, 'nixos');
  cpSync(REPO_NIXOS, NIXOS, { recursive: true });
  rmSync(join(NIXOS, 'flake.lock'), { force: true });
  const roster = join(tmp.path, 'roster.json');
  for (const [prefix, count, roles] of [
    ['cp', '1', 'control-plane'],
    ['wk', '2', 'worker,gpu'],
  ] as const) {
    const r = spawnSync(process.execPath, [RECORD, roster, prefix, count, roles], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr);
  }
  const cluster = join(tmp.path, 'cluster');
  mkdirSync(cluster);
  hive = join(cluster, 'hive.nix');
  const out = zflash(
    [
      'roster',
      'export',
      '--format',
      'colmena',
      '--output',
      hive,
      '--nixos',
      NIXOS,
      '--identity',
      './identity',
    ],
    { ZFLASH_ROSTER: roster },
  );
  if (out.code !== 0) throw new Error(out.stderr);
  // What the installer leaves in /etc/zeta/flake/identity on cp-01 and wk-01, copied back
  // by the operator; wk-02's is not copied yet.
  for (const [name, roles] of [
    ['cp-01', 'control-plane'],
    ['wk-01', 'worker\ngpu'],
  ]) {
    const dir = join(cluster, 'identity', name!);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'hostname'), `${name}\n`);
    writeFileSync(join(dir, 'authorized_keys'), `${KEY}\n`);
    writeFileSync(join(dir, 'roles'), `${roles}\n`);
    writeFileSync(join(dir, 'boot-disk'), `/dev/disk/by-id/ata-${name}\n`);
  }
  mkdirSync(join(tmp.path, 'stub-nixpkgs'));
  writeFileSync(
    join(tmp.path, 'stub-nixpkgs', 'default.nix'),
    '{ system ? null, ... }: { stubNixpkgs = true; inherit system; }\n',
  );
});
afterAll(() => tmp.cleanup());

describe('colmena hive', () => {
  it('parses with nix-instantiate --parse', () => {
    const r = spawnSync('nix-instantiate', ['--parse', hive], { encoding: 'utf8' });
    expect(errorsIn(r.stderr)).toBe('');
    expect(r.status).toBe(0);
  });

  it('evaluates: one entry per node, the flake’s node modules, the node’s identity and roles', () => {
    const r = spawnSync(
      'nix-instantiate',
      [
        '--eval',
        '--strict',
        '--json',
        EVAL,
        '--arg',
        'hive',
        hive,
        '--arg',
        'nixos',
        NIXOS,
        '--arg',
        'evalNames',
        '[ "cp-01" "wk-01" ]',
        '--arg',
        'missingNames',
        '[ "wk-02" ]',
        '-I',
        `nixpkgs=${join(tmp.path, 'stub-nixpkgs')}`,
      ],
      { encoding: 'utf8' },
    );
    expect(errorsIn(r.stderr)).toBe('');
    expect(r.status).toBe(0);
    const got = JSON.parse(r.stdout);
    expect(got.names).toEqual(['cp-01', 'wk-01', 'wk-02']);
    expect(got.description).toBe('Zeta cluster (3 nodes)');
    expect(got.nixpkgs).toEqual({ stubNixpkgs: true, system: 'x86_64-linux' });
    // The hive imports exactly the modules the flake's `node` configuration does.
    expect(got.flakeNodeModules).toEqual([...NODE_MODULES]);
    expect(got.nodes['cp-01']).toEqual({
      targetHost: 'cp-01.local',
      targetUser: 'zeta',
      tags: ['control-plane'],
      imports: [...NODE_MODULES],
      importsExist: true,
      hostName: 'cp-01',
      keys: [KEY],
      bootDisk: '/dev/disk/by-id/ata-cp-01',
      k3s: true,
      rolesFile: 'control-plane\n',
      zetaUser: true,
    });
    expect(got.nodes['wk-01']).toMatchObject({
      targetHost: 'wk-01.local',
      tags: ['worker', 'gpu'],
      hostName: 'wk-01',
      k3s: false,
      rolesFile: 'worker\ngpu\n',
    });
    // A node whose identity folder was not copied stops evaluation (with the scp hint).
    expect(got.missing).toEqual([false]);
  });

  it('says how to fetch a missing identity', () => {
    const r = spawnSync(
      'nix-instantiate',
      ['--eval', '--strict', '-E', `(import ${hive}).meta.nodeSpecialArgs.wk-02.zetaIdentityDir`],
      { encoding: 'utf8' },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('scp -r zeta@wk-02.local:/etc/zeta/flake/identity');
  });
});
