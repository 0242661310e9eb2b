// Settings live in a real folder: files are written, damaged, replaced by symlinks and read back.
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { nameFor, namePatternProblem, suggestHostname } from './name-pattern.js';
import {
  DEFAULT_SETTINGS,
  SETTINGS_FILE,
  loadSettings,
  saveSettings,
  updateSettings,
} from './settings.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-settings-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string): { pub: string; priv: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', file]);
  return { pub: readFileSync(`${file}.pub`, 'utf8').trim(), priv: readFileSync(file, 'utf8') };
}

describe('settings', () => {
  it('uses the defaults, silently, when there is no file yet', async () => {
    expect(await loadSettings(dir)).toEqual({ settings: DEFAULT_SETTINGS, notices: [] });
  });

  it('reads back what it wrote, as a 0600 file with no temporary files left', async () => {
    const { pub } = keygen('op');
    const saved = await saveSettings(dir, {
      lastImage: '/images/nixos.iso',
      keyLines: [pub],
      namePattern: 'rack1-{nnn}',
    });
    expect(saved.keyLines).toEqual([pub]);
    expect(await loadSettings(dir)).toEqual({ settings: saved, notices: [] });
    expect(readdirSync(dir).filter((f) => f !== 'op' && f !== 'op.pub')).toEqual([SETTINGS_FILE]);
    expect(lstatSync(join(dir, SETTINGS_FILE)).mode & 0o777).toBe(0o600);
  });

  it('reports a damaged file, keeps it aside and uses the defaults instead of crashing', async () => {
    writeFileSync(join(dir, SETTINGS_FILE), '{"version":1,"settings":{"lastIm');
    const loaded = await loadSettings(dir);
    expect(loaded.settings).toEqual(DEFAULT_SETTINGS);
    expect(loaded.notices.map((n) => n.code)).toEqual(['ZFLASH_SETTINGS_CORRUPT']);
    const aside = readdirSync(dir).filter((f) => f.startsWith(`${SETTINGS_FILE}.corrupt-`));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0] ?? ''), 'utf8')).toContain('"lastIm');
    // The next save works and the next load is clean.
    await saveSettings(dir, { ...DEFAULT_SETTINGS, namePattern: 'gpu-{n}' });
    expect((await loadSettings(dir)).notices).toEqual([]);
  });

  it('resets only the field that is invalid', async () => {
    writeFileSync(
      join(dir, SETTINGS_FILE),
      JSON.stringify({
        version: 1,
        settings: { lastImage: 'relative/path.iso', keyLines: [], namePattern: 'worker-{nn}' },
      }),
    );
    const loaded = await loadSettings(dir);
    expect(loaded.settings).toEqual({ ...DEFAULT_SETTINGS, namePattern: 'worker-{nn}' });
    expect(loaded.notices[0]?.message).toContain('lastImage');
  });

  it('reports a settings path it cannot read (a folder) and uses the defaults', async () => {
    mkdirSync(join(dir, SETTINGS_FILE));
    const loaded = await loadSettings(dir);
    expect(loaded.settings).toEqual(DEFAULT_SETTINGS);
    expect(loaded.notices.map((n) => n.code)).toEqual(['ZFLASH_SETTINGS_UNREADABLE']);
  });

  it('never remembers a private key, even one slipped in as a key line', async () => {
    const { pub, priv } = keygen('secret');
    const saved = await saveSettings(dir, { ...DEFAULT_SETTINGS, keyLines: [priv, pub] });
    expect(saved.keyLines).toEqual([pub]);
    const text = readFileSync(join(dir, SETTINGS_FILE), 'utf8');
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(priv.split('\n')[1] ?? 'x');
    // A hand-edited file holding one is cleaned on load and says so.
    writeFileSync(
      join(dir, SETTINGS_FILE),
      JSON.stringify({ version: 1, settings: { ...DEFAULT_SETTINGS, keyLines: [priv, pub] } }),
    );
    const loaded = await loadSettings(dir);
    expect(loaded.settings.keyLines).toEqual([pub]);
    expect(loaded.notices[0]?.message).toMatch(/1 remembered key line was not a valid public key/);
  });

  it('replaces a symlink at the settings path instead of writing through it', async () => {
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, SETTINGS_FILE));
    await saveSettings(dir, DEFAULT_SETTINGS);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(dir, SETTINGS_FILE)).isFile()).toBe(true);
  });

  it('merges a partial update with what is stored', async () => {
    await saveSettings(dir, { ...DEFAULT_SETTINGS, lastImage: '/a.iso' });
    const updated = await updateSettings(dir, { namePattern: 'n-{nn}' });
    expect(updated.settings).toEqual({
      ...DEFAULT_SETTINGS,
      lastImage: '/a.iso',
      namePattern: 'n-{nn}',
    });
  });

  it('refuses to store a pattern that cannot make a hostname', async () => {
    await expect(saveSettings(dir, { ...DEFAULT_SETTINGS, namePattern: 'node' })).rejects.toThrow(
      /placeholder/,
    );
  });
});

describe('name pattern', () => {
  it('pads the number to the number of n', () => {
    expect(nameFor('node-{nn}', 3)).toBe('node-03');
    expect(nameFor('Rack-{nnn}-a', 12)).toBe('rack-012-a');
  });

  it('suggests the first free name, case-insensitively', () => {
    expect(suggestHostname('node-{nn}', [])).toBe('node-01');
    expect(suggestHostname('node-{nn}', ['node-01', 'NODE-02', 'node-04'])).toBe('node-03');
  });

  it('refuses patterns without exactly one placeholder or that give no hostname', () => {
    expect(namePatternProblem('node')).toMatch(/exactly one/);
    expect(namePatternProblem('{n}-{n}')).toMatch(/exactly one/);
    expect(namePatternProblem('node_{n}')).toMatch(/not a valid hostname/);
    expect(namePatternProblem('-{n}')).toMatch(/not a valid hostname/);
    expect(() => suggestHostname('node', [])).toThrow(ZflashError);
  });

  it('says so when every name is taken', () => {
    expect(suggestHostname('n{n}', ['n1', 'n2'])).toBe('n3');
    // 61 letters + up to 2 digits fits the 63-character limit; 100 would not.
    const pattern = `${'a'.repeat(61)}{n}`;
    const taken = Array.from({ length: 99 }, (_, i) => nameFor(pattern, i + 1));
    expect(() => suggestHostname(pattern, taken)).toThrow(/already taken/);
    expect(suggestHostname(pattern, taken.slice(1))).toBe(`${'a'.repeat(61)}1`);
  });
});
