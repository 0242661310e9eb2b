/** Roster entries for tests: real identities (a real public key), made with the engine's own builders. */
import { buildNodeIdentity } from '../node/identity.js';
import { parseAuthorizedKeys } from '../node/ssh-keys.js';
import type { NodeIdentity } from '../node/types.js';
import { flashRecordFor } from './record.js';
import type { FlashRecord, Roster, RosterNode } from './schema.js';

export const KEY_LINE =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG84kCdHH1tZ6tg+OMOhaXR5b6t5kSPQjb+DPPP2K75S ops@laptop';
export const KEY_FINGERPRINT = 'SHA256:0u5u3pX9TGWE0t+6ZIgGtgyzimOe2voDOmFYiXhPE4Y';
export const WIFI = { ssid: 'lab-net', passphrase: 'correct horse battery' };

export function identity(
  hostname: string,
  roles: string[] = ['worker'],
  secrets = false,
): NodeIdentity {
  return buildNodeIdentity({
    hostname,
    keys: parseAuthorizedKeys(KEY_LINE).keys,
    roles,
    ...(secrets ? { wifi: WIFI, password: 'a long enough password' } : {}),
  }).identity;
}

export function record(
  hostname: string,
  opts: { roles?: string[]; at?: string; serial?: string | null } = {},
): FlashRecord {
  return flashRecordFor(identity(hostname, opts.roles ?? ['worker']), {
    image: { path: '/images/zeta-installer-25.05.iso', sha256: 'AB'.repeat(32) },
    medium: {
      kind: 'drive',
      device: '/dev/sdb',
      model: 'SanDisk Ultra',
      serial: opts.serial === undefined ? '4C530001' : opts.serial,
      size: 32_017_047_552,
    },
    flashedAt: new Date(opts.at ?? '2025-05-01T10:00:00.000Z'),
    appVersion: '0.1.0',
  });
}

export function node(hostname: string, opts: Parameters<typeof record>[1] = {}): RosterNode {
  const { hostname: h, ...rest } = record(hostname, opts);
  return { hostname: h, status: 'flashed', ...rest, online: null, history: [] };
}

export const rosterOf = (...nodes: RosterNode[]): Roster => ({ version: 1, nodes });
