// `zflash roster set NAME --mac MAC`: the built command on a real roster file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordFlash, markOnline } from '../app/roster/store.js';
import { record } from '../app/roster/roster.fixtures.js';
import { rosterSchema } from '../app/roster/schema.js';
import { tempDir, zflash } from './fixtures.js';

let tmp: ReturnType<typeof tempDir>;
let path: string;
beforeEach(async () => {
  tmp = tempDir('zflash-netboot-roster-');
  path = join(tmp.path, 'roster.json');
  await recordFlash(path, record('node-07'));
  await recordFlash(path, record('node-08'));
});
afterEach(() => tmp.cleanup());

const roster = () => rosterSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
const macOf = (h: string) => roster().nodes.find((n) => n.hostname === h)?.mac ?? null;
const set = (...args: string[]) => zflash(['roster', 'set', ...args, '--roster', path]);

describe('zflash roster set --mac', () => {
  it('stores the MAC in one form, whatever the spelling', () => {
    const r = set('node-07', '--mac', '52-54-00-AB-CD-07');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('node-07 network-boots from 52:54:00:ab:cd:07');
    expect(macOf('node-07')).toBe('52:54:00:ab:cd:07');
    const j = set('node-08', '--mac', '5254.00ab.cd08', '--json');
    expect(JSON.parse(j.stdout)).toMatchObject({
      type: 'node',
      hostname: 'node-08',
      mac: '52:54:00:ab:cd:08',
    });
  });

  it('one machine, one node: a MAC another node has is refused and nothing changes', () => {
    set('node-07', '--mac', '52:54:00:ab:cd:07');
    const before = readFileSync(path, 'utf8');
    const r = set('node-08', '--mac', '52:54:00:AB:CD:07');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('code: ZFLASH_MAC_TAKEN');
    expect(r.stderr).toContain('node-07');
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('refuses a multicast MAC, a typo and an unknown node, with their codes', () => {
    expect(set('node-07', '--mac', '01:00:5e:00:00:fb').stderr).toContain('ZFLASH_MAC_INVALID');
    expect(set('node-07', '--mac', '52:54:00:ab:cd').stderr).toContain('ZFLASH_MAC_INVALID');
    const r = set('node-99', '--mac', '52:54:00:ab:cd:99');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ZFLASH_NODE_UNKNOWN');
    expect(roster().nodes.map((n) => n.hostname)).toEqual(['node-07', 'node-08']);
  });

  it('none removes it; a re-flash and going online keep it', async () => {
    set('node-07', '--mac', '52:54:00:ab:cd:07');
    await recordFlash(path, record('node-07', { at: '2025-06-01T00:00:00.000Z' }), {
      reflash: true,
    });
    expect(macOf('node-07')).toBe('52:54:00:ab:cd:07');
    await markOnline(path, 'node-07', { addresses: ['10.0.0.7'], now: () => new Date() });
    expect(macOf('node-07')).toBe('52:54:00:ab:cd:07');
    expect(set('node-07', '--mac', 'none').stdout).toContain('no boot MAC address any more');
    expect(macOf('node-07')).toBeNull();
    expect('mac' in roster().nodes[0]!).toBe(false);
  });
});
