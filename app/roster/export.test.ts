import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  csvField,
  nixPath,
  nixString,
  toColmenaHive,
  toCsv,
  toJson,
  toSshConfig,
} from './export.js';
import { node, rosterOf } from './roster.fixtures.js';
import { rosterSchema } from './schema.js';

const roster = rosterOf(
  node('node-10', { roles: ['worker', 'gpu'] }),
  { ...node('node-2', { roles: ['control-plane'] }), status: 're-flashed' as const },
  {
    ...node('node-1', { roles: [], serial: '=HYPERLINK("http://x","y")' }),
    status: 'online' as const,
    online: {
      address: '192.0.2.1',
      addresses: ['192.0.2.1'],
      firstSeen: '2025-05-01T11:00:00.000Z',
      lastSeen: '2025-05-01T11:00:00.000Z',
    },
  },
);

/**
 * Parsing and evaluating these expressions needs no Nix store. Without `--store dummy://` a
 * user who is not root opens the root-owned local store in /nix/var/nix and Nix fails before
 * it reads the text ("could not set permissions on '/nix/var/nix/profiles/per-user'"), so the
 * unit tests could not run without root.
 */
const NO_STORE = ['--store', 'dummy://'];

/** nix-instantiate --parse: the judge of whether Nix reads the text at all. */
function nixParse(text: string): { ok: boolean; err: string } {
  const r = spawnSync('nix-instantiate', [...NO_STORE, '--parse', '-E', text], {
    encoding: 'utf8',
  });
  // This machine's Nix warns about a missing build group; only errors matter here.
  const err = r.stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('warning:'))
    .join('\n');
  return { ok: r.status === 0, err };
}
function nixEval(expr: string): unknown {
  const args = [...NO_STORE, '--eval', '--strict', '--json', '-E', expr];
  const r = spawnSync('nix-instantiate', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

describe('toSshConfig', () => {
  it('gives each node a Host entry for <name>.local as zeta, in natural order', () => {
    const text = toSshConfig(roster);
    const hosts = [...text.matchAll(/^Host (\S+)\n {2}HostName (\S+)\n {2}User (\S+)$/gm)].map(
      (m) => [m[1], m[2], m[3]],
    );
    expect(hosts).toEqual([
      ['node-1', 'node-1.local', 'zeta'],
      ['node-2', 'node-2.local', 'zeta'],
      ['node-10', 'node-10.local', 'zeta'],
    ]);
    expect(text).toContain('ssh-keygen -R node-2.local');
    // Every line is a comment, blank, or one of the three keywords: nothing else got in.
    for (const line of text.split('\n'))
      expect(line).toMatch(/^(#.*|Host \S+| {2}HostName \S+| {2}User zeta|)$/);
  });

  it('reads back with ssh -G as the right host and user', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zflash-ssh-'));
    try {
      writeFileSync(join(dir, 'config'), toSshConfig(roster), { mode: 0o600 });
      const r = spawnSync('ssh', ['-G', '-F', join(dir, 'config'), 'node-10'], {
        encoding: 'utf8',
      });
      expect(r.stderr).not.toMatch(/bad configuration|error/i);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^hostname node-10\.local$/m);
      expect(r.stdout).toMatch(/^user zeta$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('toJson', () => {
  it('is the roster itself, sorted, and passes the roster schema', () => {
    const parsed = rosterSchema.parse(JSON.parse(toJson(roster)));
    expect(parsed.nodes.map((n) => n.hostname)).toEqual(['node-1', 'node-2', 'node-10']);
  });
});

describe('toCsv', () => {
  it('quotes per RFC 4180 and defuses spreadsheet formulas from drive descriptors', () => {
    const text = toCsv(roster);
    const lines = text.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(
      'hostname,status,roles,address,first_seen,flashed_at,image_name,image_sha256,medium,drive_model,drive_serial,size_bytes,key_fingerprints,app_version,flash_count',
    );
    expect(lines[1]).toContain(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(lines[1]!.startsWith('node-1,online,,192.0.2.1,')).toBe(true);
    expect(lines[3]!.startsWith('node-10,flashed,worker gpu,,')).toBe(true);
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('-1')).toBe("'-1");
    expect(csvField('plain')).toBe('plain');
  });
});

describe('Nix quoting', () => {
  it('a hostile path stays one string: no interpolation, no early end', () => {
    const evil = '/tmp/a"b${builtins.abort "boom"}\\c\nd';
    expect(nixEval(`toString (${nixPath(evil)})`)).toBe('/tmp/a"b${builtins.abort "boom"}\\c\nd');
    expect(nixEval(nixString('${x} "q" \\'))).toBe('${x} "q" \\');
  });

  it('relative paths stay relative to the hive file', () => {
    expect(nixPath('./nixos')).toBe('./. + "/nixos"');
    expect(nixPath('../zeta/nixos/')).toBe('./. + "/../zeta/nixos"');
    expect(nixPath('/')).toBe('/.');
  });

  it('the hive parses, with quoted names and roles, for an empty and a full roster', () => {
    for (const r of [rosterOf(), roster]) {
      const text = toColmenaHive(r, { nixosPath: '/opt/zeta "flash"/nixos', appVersion: '0.1.0' });
      const parsed = nixParse(text);
      expect(parsed.err).toBe('');
      expect(parsed.ok).toBe(true);
    }
    const text = toColmenaHive(roster);
    expect(text).toContain('"node-2".zetaIdentityDir = identityOf "node-2";');
    expect(text).toContain('zeta.roles."control-plane".enable = true;');
    expect(text).toContain('deployment.tags = [ "worker" "gpu" ];');
  });
});
