// The manifest is the contract with the installer on the node: the engine always writes the
// newest schema, and reads every schema an installer in the field may still meet.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNodeIdentity, parseAuthorizedKeys, type NodeIdentity } from '../node/index.js';
import { MANIFEST_SCHEMA_VERSION, READABLE_MANIFEST_SCHEMAS, parseManifest } from './manifest.js';
import { buildManifest, renderPayload } from './render.js';

let dir: string;
let identity: NodeIdentity;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-manifest-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@desk', '-f', `${dir}/k`]);
  const keys = parseAuthorizedKeys(readFileSync(`${dir}/k.pub`)).keys;
  identity = buildNodeIdentity({
    hostname: 'node-4',
    keys,
    roles: ['storage'],
    erase: { policy: 'any', disk: 'wwn-0x5002538e40a1b2c3' },
  }).identity;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const createdAt = new Date('2026-01-02T03:04:05.000Z');

describe('manifest schema 2', () => {
  it('is what the engine writes, erase policy included', () => {
    expect(MANIFEST_SCHEMA_VERSION).toBe(2);
    expect(READABLE_MANIFEST_SCHEMAS).toEqual([1, 2]);
    const m = buildManifest(identity, { createdAt });
    expect(m.schema).toBe(2);
    expect(m.erase).toEqual({ policy: 'any', disk: 'wwn-0x5002538e40a1b2c3' });
    const file = renderPayload(identity, { createdAt }).find((f) => f.name === 'zeta-node.json')!;
    const json = JSON.parse(file.data.toString('utf8'));
    expect(json).toMatchObject({
      schema: 2,
      hostname: 'node-4',
      erase: { policy: 'any', disk: 'wwn-0x5002538e40a1b2c3' },
    });
  });

  it('writes blank-only with no disk by default', () => {
    const plain = buildNodeIdentity({ hostname: 'node-5', keys: identity.keys }).identity;
    expect(buildManifest(plain, { createdAt }).erase).toEqual({ policy: 'blank-only', disk: null });
  });

  it('reads back what it writes', () => {
    const m = buildManifest(identity, { createdAt });
    expect(parseManifest(JSON.parse(JSON.stringify(m)))).toEqual({ ok: true, manifest: m });
  });
});

describe('reading older and foreign manifests', () => {
  const v2 = () => JSON.parse(JSON.stringify(buildManifest(identity, { createdAt })));

  it('reads schema 1 as blank-only with no disk', () => {
    const { erase: _erase, ...v1 } = { ...v2(), schema: 1 };
    const r = parseManifest(v1);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.manifest.schema).toBe(1);
      expect(r.manifest.erase).toEqual({ policy: 'blank-only', disk: null });
      expect(r.manifest.hostname).toBe('node-4');
    }
  });

  it.each<[string, (m: Record<string, unknown>) => unknown]>([
    ['schema 3', (m) => ({ ...m, schema: 3 })],
    ['schema "2" as a string', (m) => ({ ...m, schema: '2' })],
    ['schema 2 without erase', ({ erase: _e, ...m }) => m],
    ['schema 1 carrying an erase field', (m) => ({ ...m, schema: 1 })],
    ['an unknown policy', (m) => ({ ...m, erase: { policy: 'all', disk: null } })],
    ['a disk path', (m) => ({ ...m, erase: { policy: 'any', disk: '/dev/sda' } })],
    ['a numeric hostname', (m) => ({ ...m, hostname: 1234 })],
    ['a role with a newline', (m) => ({ ...m, roles: ['worker\ngpu'] })],
    ['not an object', () => ['schema', 2]],
    ['null', () => null],
  ])('refuses %s', (_name, mutate) => {
    const r = parseManifest(mutate(v2()));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(/schema/);
  });
});
