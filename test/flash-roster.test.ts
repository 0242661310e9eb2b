/**
 * `zflash flash` and the roster: every flash is recorded, a name already there is refused
 * for a new node (nothing written), --reflash re-flashes on purpose, and without --host the
 * node gets the next free name. Image-file targets keep it quick and need no drive.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNixosIso, espOffsetBySfdisk, mtype, run, tempDir, zflash } from './fixtures.js';
import { cliLines, onlyLine } from './json-lines.js';

const MiB = 1024 * 1024;
const tmp = tempDir();
let iso: string;
let key: string;
let roster: string;

beforeAll(() => {
  iso = buildNixosIso(`${tmp.path}/nixos.iso`, { fillerBytes: 2 * MiB });
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  roster = `${tmp.path}/roster.json`;
});
afterAll(() => tmp.cleanup());

const flash = (target: string, extra: string[]) =>
  zflash(['flash', iso, '--target', target, '--ssh-key', `${key}.pub`, '--json', ...extra], {
    ZFLASH_ROSTER: roster,
  });

const hostOn = (image: string) => mtype(image, espOffsetBySfdisk(iso).offset, 'zeta-hostname.txt');

describe('zflash flash records into the roster', () => {
  it('names nodes node-01, node-02… when no --host is given, and records each', () => {
    const a = flash(`${tmp.path}/a.img`, []);
    expect(a.code).toBe(0);
    expect(
      cliLines(a.stdout).some((l) => l.type === 'notice' && l.code === 'ZFLASH_NAME_SUGGESTED'),
    ).toBe(true);
    expect(onlyLine(a.stdout, 'result')).toMatchObject({ hostname: 'node-01' });
    expect(hostOn(`${tmp.path}/a.img`)).toBe('node-01\n');
    const b = flash(`${tmp.path}/b.img`, []);
    expect(onlyLine(b.stdout, 'result')).toMatchObject({ hostname: 'node-02' });
    const saved = JSON.parse(readFileSync(roster, 'utf8')) as {
      nodes: { hostname: string; status: string; medium: { kind: string; path: string } }[];
    };
    expect(saved.nodes.map((n) => [n.hostname, n.status, n.medium.kind])).toEqual([
      ['node-01', 'flashed', 'file'],
      ['node-02', 'flashed', 'file'],
    ]);
  });

  it('refuses a name the roster has for a new node, before anything is written', () => {
    const target = `${tmp.path}/dup.img`;
    const r = flash(target, ['--host', 'node-01']);
    expect(r.code).toBe(2);
    expect(onlyLine(r.stdout, 'error').error).toMatchObject({
      code: 'ZFLASH_NAME_TAKEN',
      details: { suggestion: 'node-03' },
    });
    expect(existsSync(target)).toBe(false);
  });

  it('--reflash re-flashes a node on purpose and keeps its earlier flash in its history', () => {
    const r = flash(`${tmp.path}/again.img`, ['--host', 'node-01', '--reflash']);
    expect(r.code).toBe(0);
    const node = (
      JSON.parse(readFileSync(roster, 'utf8')) as {
        nodes: { hostname: string; status: string; history: unknown[] }[];
      }
    ).nodes.find((n) => n.hostname === 'node-01');
    expect(node?.status).toBe('re-flashed');
    expect(node?.history).toHaveLength(1);
  });

  it('--no-roster neither checks nor records', () => {
    const before = readFileSync(roster, 'utf8');
    const r = flash(`${tmp.path}/free.img`, ['--host', 'node-01', '--no-roster']);
    expect(r.code).toBe(0);
    expect(readFileSync(roster, 'utf8')).toBe(before);
  });
});
