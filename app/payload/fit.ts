/**
 * "Can this ESP take a node payload?" — answered by planning a payload of the largest size we
 * write in practice into an overlay (nothing is written), so the answer includes the root
 * directory slots and cluster rounding, not just free bytes.
 */
import { OverlayDevice, type ByteDevice } from '../disk/device.js';
import { openEsp } from '../disk/esp.js';
import { readIsoVolumeId } from '../disk/iso9660.js';
import { ZflashError } from '../errors.js';
import { PAYLOAD_FILES } from './manifest.js';

/** Generous upper bounds: 8 keys, Wi-Fi, a password hash, a long hostname. */
const TYPICAL_MAX = { keys: 8 * 760, hostname: 64, manifest: 12 * 1024 } as const;

export interface PayloadFit {
  readonly fits: boolean;
  /** The refusal that injection would give, when it does not fit. */
  readonly code: string | null;
}

export async function payloadFit(dev: ByteDevice): Promise<PayloadFit> {
  const overlay = new OverlayDevice(dev);
  const esp = await openEsp(overlay);
  try {
    await esp.volume.writeRootFiles([
      { name: PAYLOAD_FILES.keys, data: Buffer.alloc(TYPICAL_MAX.keys) },
      { name: PAYLOAD_FILES.hostname, data: Buffer.alloc(TYPICAL_MAX.hostname) },
      { name: PAYLOAD_FILES.manifest, data: Buffer.alloc(TYPICAL_MAX.manifest) },
    ]);
    return { fits: true, code: null };
  } catch (err) {
    if (err instanceof ZflashError && err.kind === 'target') return { fits: false, code: err.code };
    throw err;
  }
}

/** The ISO 9660 volume label (primary volume descriptor at 32 KiB), if the image is an ISO. */
export async function isoVolumeLabel(dev: ByteDevice): Promise<string | null> {
  return readIsoVolumeId(dev);
}
