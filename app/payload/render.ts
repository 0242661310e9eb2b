/** NodeIdentity → the bytes of the files at the ESP root (LF line endings everywhere). */
import type { NodeIdentity } from '../node/types.js';
import { APP } from '../version.js';
import {
  PAYLOAD_FILES,
  MANIFEST_SCHEMA_VERSION,
  manifestSchema,
  type Manifest,
} from './manifest.js';

export interface PayloadFile {
  readonly name: string;
  readonly data: Buffer;
}

export interface RenderOptions {
  readonly createdAt?: Date;
  /** sha256 of the image file the stick is written from, when known. */
  readonly imageSha256?: string | null;
}

export function buildManifest(identity: NodeIdentity, options: RenderOptions = {}): Manifest {
  return manifestSchema.parse({
    schema: MANIFEST_SCHEMA_VERSION,
    hostname: identity.hostname,
    keys: identity.keys.map((k) => k.line),
    roles: [...identity.roles],
    wifi: identity.wifi ? { ssid: identity.wifi.ssid, psk: identity.wifi.psk } : null,
    passwordHash: identity.passwordHash,
    createdAt: (options.createdAt ?? new Date()).toISOString(),
    app: { name: APP.name, version: APP.version },
    image: options.imageSha256 ? { sha256: options.imageSha256.toLowerCase() } : null,
    erase: { policy: identity.erase.policy, disk: identity.erase.disk },
  });
}

export function renderPayload(identity: NodeIdentity, options: RenderOptions = {}): PayloadFile[] {
  const manifest = buildManifest(identity, options);
  return [
    {
      name: PAYLOAD_FILES.keys,
      data: Buffer.from(identity.keys.map((k) => `${k.line}\n`).join(''), 'utf8'),
    },
    { name: PAYLOAD_FILES.hostname, data: Buffer.from(`${identity.hostname}\n`, 'utf8') },
    {
      name: PAYLOAD_FILES.manifest,
      data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'),
    },
  ];
}

/** Bytes the payload occupies on a FAT with the given cluster size (for "will it fit" up front). */
export function payloadClusterBytes(files: readonly PayloadFile[], clusterSize: number): number {
  return files.reduce((n, f) => n + Math.ceil(f.data.length / clusterSize) * clusterSize, 0);
}
