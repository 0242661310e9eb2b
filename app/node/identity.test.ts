// The identity is what crosses IPC and lands in the helper's job file, so these tests
// round-trip it through JSON and let the schema judge forged variants.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import * as node from './index.js';
import { buildNodeIdentity, nodeIdentitySchema, validateErasePolicy } from './identity.js';
import { parseAuthorizedKeys } from './ssh-keys.js';
import { DISK_ID_PATTERN, ERASE_POLICIES, type SshPublicKey } from './types.js';
import { deriveWpaPsk, ssidProblem } from './wifi.js';

let dir: string;
let edKey: SshPublicKey;
let ecKey: SshPublicKey;

function pub(name: string, type: string): SshPublicKey {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@desk`, '-f', file]);
  return parseAuthorizedKeys(readFileSync(`${file}.pub`)).keys[0]!;
}

function errorOf(fn: () => unknown): ZflashError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error('expected a ZflashError');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-identity-'));
  edKey = pub('ed', 'ed25519');
  ecKey = pub('ec', 'ecdsa');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('buildNodeIdentity', () => {
  it('builds a frozen identity, collecting notices and keeping no passphrase', () => {
    const { identity, notices } = buildNodeIdentity({
      hostname: ' GPU-01 ',
      keys: [edKey, ecKey, edKey],
      roles: ['gpu,worker'],
      wifi: { ssid: 'IEEE', passphrase: 'wifi-secret-77' },
      password: 'correct horse',
    });
    expect(identity.hostname).toBe('gpu-01');
    expect(identity.keys).toEqual([edKey, ecKey]);
    expect(identity.roles).toEqual(['worker', 'gpu']);
    expect(identity.wifi).toEqual({
      ssid: 'IEEE',
      psk: deriveWpaPsk('IEEE', 'wifi-secret-77'),
    });
    expect(identity.passwordHash).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$/);
    expect(notices.map((n) => n.code)).toEqual([
      'ZFLASH_HOSTNAME_LOWERCASED',
      'ZFLASH_KEY_DUPLICATE',
    ]);
    const json = JSON.stringify(identity);
    expect(json).not.toContain('wifi-secret-77');
    expect(json).not.toContain('passphrase');
    expect(json).not.toContain('correct horse');
    expect(Object.isFrozen(identity)).toBe(true);
    expect(Object.isFrozen(identity.keys)).toBe(true);
    expect(Object.isFrozen(identity.keys[0])).toBe(true);
    expect(Object.isFrozen(identity.wifi)).toBe(true);
    // What crosses IPC is JSON: the schema must accept the round trip unchanged.
    expect(nodeIdentitySchema.parse(JSON.parse(json))).toEqual(identity);
  });

  it('defaults to no roles, no Wi-Fi and no password (never a default password)', () => {
    const { identity } = buildNodeIdentity({ hostname: 'n1', keys: [edKey] });
    expect(identity).toEqual({
      hostname: 'n1',
      keys: [edKey],
      roles: [],
      wifi: null,
      passwordHash: null,
      erase: { policy: 'blank-only', disk: null },
    });
  });

  it('takes a given hash as is, and refuses a hash together with a password', () => {
    const hash = execFileSync('openssl', ['passwd', '-6', '-salt', 'saltsaltsalt', 'hunter22'], {
      encoding: 'utf8',
    });
    const { identity } = buildNodeIdentity({ hostname: 'n1', keys: [edKey], passwordHash: hash });
    expect(identity.passwordHash).toBe(hash.trim());
    expect(
      errorOf(() =>
        buildNodeIdentity({
          hostname: 'n1',
          keys: [edKey],
          passwordHash: hash,
          password: 'hunter22',
        }),
      ).code,
    ).toBe('ZFLASH_PASSWORD_CONFLICT');
    expect(
      errorOf(() => buildNodeIdentity({ hostname: 'n1', keys: [edKey], password: '' })).code,
    ).toBe('ZFLASH_PASSWORD_TOO_SHORT');
  });

  it('requires at least one key and refuses a forged key object', () => {
    const none = errorOf(() => buildNodeIdentity({ hostname: 'n1', keys: [] }));
    expect(none.code).toBe('ZFLASH_NO_KEYS');
    expect(none.kind).toBe('input');
    const forged = { ...edKey, line: `${edKey.line}\nssh-rsa AAAA attacker` };
    expect(errorOf(() => buildNodeIdentity({ hostname: 'n1', keys: [forged] })).code).toBe(
      'ZFLASH_KEY_INVALID',
    );
  });

  it('propagates the component errors', () => {
    expect(errorOf(() => buildNodeIdentity({ hostname: 'a.b', keys: [edKey] })).code).toBe(
      'ZFLASH_HOSTNAME_INVALID',
    );
    expect(
      errorOf(() => buildNodeIdentity({ hostname: 'a', keys: [edKey], roles: ['boss'] })).code,
    ).toBe('ZFLASH_ROLE_INVALID');
    expect(
      errorOf(() =>
        buildNodeIdentity({
          hostname: 'a',
          keys: [edKey],
          wifi: { ssid: 'x', passphrase: 'short' },
        }),
      ).code,
    ).toBe('ZFLASH_WIFI_PASSPHRASE_INVALID');
  });
});

describe('nodeIdentitySchema (what the privileged side re-checks)', () => {
  const valid = () =>
    buildNodeIdentity({ hostname: 'n1', keys: [edKey, ecKey], roles: ['storage'] }).identity;

  it.each<[string, (id: ReturnType<typeof valid>) => unknown]>([
    ['an uppercase hostname', (id) => ({ ...id, hostname: 'N1' })],
    ['a reserved hostname', (id) => ({ ...id, hostname: 'localhost' })],
    ['no keys', (id) => ({ ...id, keys: [] })],
    ['a repeated key', (id) => ({ ...id, keys: [id.keys[0], id.keys[0]] })],
    [
      'a key line with a second line',
      (id) => ({ ...id, keys: [{ ...id.keys[0]!, line: `${id.keys[0]!.line}\nx` }] }),
    ],
    [
      'a key whose comment differs from its line',
      (id) => ({ ...id, keys: [{ ...id.keys[0]!, comment: 'other' }] }),
    ],
    [
      'a wrong fingerprint',
      (id) => ({ ...id, keys: [{ ...id.keys[0]!, fingerprint: `SHA256:${'A'.repeat(43)}` }] }),
    ],
    ['a DSA type', (id) => ({ ...id, keys: [{ ...id.keys[0]!, type: 'ssh-dss' }] })],
    ['an extra key field', (id) => ({ ...id, keys: [{ ...id.keys[0]!, options: 'command="x"' }] })],
    ['an unknown role', (id) => ({ ...id, roles: ['boss'] })],
    ['roles out of order', (id) => ({ ...id, roles: ['storage', 'worker'] })],
    ['a repeated role', (id) => ({ ...id, roles: ['gpu', 'gpu'] })],
    ['an uppercase PSK', (id) => ({ ...id, wifi: { ssid: 'x', psk: 'A'.repeat(64) } })],
    [
      'a passphrase field',
      (id) => ({ ...id, wifi: { ssid: 'x', psk: 'a'.repeat(64), passphrase: 'password' } }),
    ],
    ['a 33-byte SSID', (id) => ({ ...id, wifi: { ssid: 'x'.repeat(33), psk: 'a'.repeat(64) } })],
    [
      'an MD5 password hash',
      (id) => ({ ...id, passwordHash: '$1$saltsalt$abcdefghijklmnopqrstuv' }),
    ],
    ['a plain password', (id) => ({ ...id, passwordHash: 'hunter22' })],
    ['an extra top-level field', (id) => ({ ...id, nixConfig: '${builtins.abort "x"}' })],
    ['an unknown erase policy', (id) => ({ ...id, erase: { policy: 'all', disk: null } })],
    ['an erase disk that is a path', (id) => ({ ...id, erase: { policy: 'any', disk: '../sda' } })],
    [
      'an erase disk that is a partition',
      (id) => ({ ...id, erase: { policy: 'any', disk: 'ata-X_1-part2' } }),
    ],
    ['an extra erase field', (id) => ({ ...id, erase: { policy: 'any', disk: null, force: 1 } })],
  ])('refuses %s', (_name, mutate) => {
    const identity = valid();
    expect(nodeIdentitySchema.safeParse(identity).success).toBe(true);
    expect(nodeIdentitySchema.safeParse(JSON.parse(JSON.stringify(mutate(identity)))).success).toBe(
      false,
    );
  });
});

describe('erase policy', () => {
  it('defaults to blank-only with no disk, also for a job written before the policy existed', () => {
    expect(validateErasePolicy()).toEqual({
      erase: { policy: 'blank-only', disk: null },
      notices: [],
    });
    const identity = buildNodeIdentity({ hostname: 'n1', keys: [edKey] }).identity;
    const { erase: _erase, ...older } = identity;
    expect(nodeIdentitySchema.parse(JSON.parse(JSON.stringify(older))).erase).toEqual({
      policy: 'blank-only',
      disk: null,
    });
  });

  it('takes any with a disk given by its by-id path, keeps the bare name, and says what it means', () => {
    const { identity, notices } = buildNodeIdentity({
      hostname: 'n1',
      keys: [edKey],
      erase: { policy: 'any', disk: '/dev/disk/by-id/nvme-Samsung_SSD_970_S4EWNX0R123456A' },
    });
    expect(identity.erase).toEqual({ policy: 'any', disk: 'nvme-Samsung_SSD_970_S4EWNX0R123456A' });
    expect(Object.isFrozen(identity.erase)).toBe(true);
    expect(notices.map((n) => n.code)).toEqual(['ZFLASH_ERASE_ANY']);
    expect(nodeIdentitySchema.parse(JSON.parse(JSON.stringify(identity)))).toEqual(identity);
  });

  it.each([
    [{ policy: 'everything' }],
    [{ policy: 'ANY' }],
    [{ disk: '/dev/sda' }],
    [{ disk: '/dev/disk/by-id/../../sda' }],
    [{ disk: 'ata-ST1000_Z1D5-part1' }],
    [{ disk: 'S4EW\u001b[2J' }],
    [{ disk: '' }],
  ])('refuses %j with ZFLASH_ERASE_INVALID', (erase) => {
    const err = errorOf(() => buildNodeIdentity({ hostname: 'n1', keys: [edKey], erase }));
    expect(err.code).toBe('ZFLASH_ERASE_INVALID');
    expect(err.kind).toBe('input');
  });
});

describe('the shared validation table (test/installer/fixtures/validation.json)', () => {
  type Input = string | { prefix: string; repeat: string; times: number; suffix: string };
  const table = JSON.parse(
    readFileSync(new URL('../../test/installer/fixtures/validation.json', import.meta.url), 'utf8'),
  ) as Record<string, [Input, unknown][]>;
  const text = (i: Input) =>
    typeof i === 'string' ? i : i.prefix + i.repeat.repeat(i.times) + (i.suffix ?? '');

  it('agrees with the installer and the Nix side on SSIDs, disk ids and erase policies', () => {
    const judged = (section: string, judge: (s: string) => boolean) =>
      table[section]!.map(([input]) => [text(input), judge(text(input))]);
    const expected = (section: string) => table[section]!.map(([input, ok]) => [text(input), ok]);
    expect(judged('ssid', (s) => ssidProblem(s) === null)).toEqual(expected('ssid'));
    expect(judged('diskId', (s) => DISK_ID_PATTERN.test(s))).toEqual(expected('diskId'));
    expect(judged('erasePolicy', (s) => (ERASE_POLICIES as readonly string[]).includes(s))).toEqual(
      expected('erasePolicy'),
    );
  });
});

describe('index', () => {
  it('re-exports the whole public API', () => {
    for (const name of [
      'ROLES',
      'validateHostname',
      'parseAuthorizedKeys',
      'readSshKeyFile',
      'mergeKeys',
      'deriveWpaPsk',
      'validateWifi',
      'hashPassword',
      'validatePasswordHash',
      'parseRoles',
      'nodeIdentitySchema',
      'buildNodeIdentity',
    ]) {
      expect(node).toHaveProperty(name);
    }
    expect(node.ROLES).toEqual(['control-plane', 'worker', 'gpu', 'storage']);
  });
});
