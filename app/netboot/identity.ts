/**
 * What a node receives over the network: the same files the stick carries on its ESP
 * (renderPayload), in a newc cpio under /zeta/, rendered from a public identity. A network
 * boot is unauthenticated (anyone on the segment can ask for any MAC's files, or answer in
 * our place), so nothing secret goes out: the Wi-Fi PSK and the password hash are dropped
 * before rendering and the manifest says `wifi: null, passwordHash: null`, which the
 * installer reads as "none" (installer-scripts/zeta-install.sh, zeta_load_payload).
 */
import type { NodeIdentity } from '../node/types.js';
import { renderPayload, type PayloadFile, type RenderOptions } from '../payload/render.js';
import { newcArchive, type CpioEntry } from './cpio.js';

/** The folder the files land in, inside the initramfs (stage 1 copies it out: docs/netboot.md). */
export const IDENTITY_DIR = 'zeta';

/** The identity without its secrets: what may cross an unauthenticated network. */
export function publicIdentity(identity: NodeIdentity): NodeIdentity {
  return Object.freeze({ ...identity, wifi: null, passwordHash: null });
}

/** Which secrets publicIdentity left out, for the operator's screen. */
export function withheldSecrets(identity: NodeIdentity): ('wifi' | 'password')[] {
  return [
    ...(identity.wifi ? (['wifi'] as const) : []),
    ...(identity.passwordHash ? (['password'] as const) : []),
  ];
}

/** The payload files for the network: renderPayload of the public identity. */
export function renderNetworkPayload(
  identity: NodeIdentity,
  options: RenderOptions = {},
): PayloadFile[] {
  return renderPayload(publicIdentity(identity), options);
}

/** The identity initrd: `zeta/` and the payload files in it, a newc cpio. */
export function identityInitrd(identity: NodeIdentity, options: RenderOptions = {}): Buffer {
  const entries: CpioEntry[] = [
    { path: IDENTITY_DIR, kind: 'dir', mode: 0o755 },
    ...renderNetworkPayload(identity, options).map((f): CpioEntry => ({
      path: `${IDENTITY_DIR}/${f.name}`,
      kind: 'file',
      mode: 0o644,
      data: f.data,
    })),
  ];
  return newcArchive(entries);
}
