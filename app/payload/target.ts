/**
 * `inspect` and `inject` on a target that already exists: an image file or a drive.
 * Injection is planned in an overlay first (the same code the flash engine uses on the
 * stream), so a refusal leaves the target byte-for-byte unchanged; only then are the
 * changed sectors written, flushed, and read back through a fresh FAT reader.
 */
import { FileDevice, OverlayDevice, type ByteDevice } from '../disk/device.js';
import { openEsp, summarizeEsp, type EspSummary } from '../disk/esp.js';
import type { TableKind } from '../disk/partition-table.js';
import { ioError } from '../errors.js';
import type { NodeIdentity } from '../node/types.js';
import { payloadFit } from './fit.js';
import { classifyInstaller, type InstallerInfo } from './installer.js';
import { readPayload, type PayloadInfo } from './read.js';
import { renderPayload, type PayloadFile, type RenderOptions } from './render.js';

export interface TargetInfo {
  readonly path: string;
  readonly kind: 'file' | 'block-device';
  readonly size: number;
  readonly table: TableKind;
  /** What the image is: a Zeta installer (and which payload schemas it reads), NixOS, other. */
  readonly installer: InstallerInfo;
  readonly esp: EspSummary & { readonly payloadFits: boolean };
  readonly payload: PayloadInfo | null;
}

export async function inspectDevice(dev: ByteDevice): Promise<Omit<TargetInfo, 'path' | 'kind'>> {
  const esp = await openEsp(dev);
  return {
    size: dev.size,
    table: esp.table.superfloppy ? 'none' : esp.table.kind,
    installer: await classifyInstaller(dev),
    esp: { ...(await summarizeEsp(esp)), payloadFits: (await payloadFit(dev)).fits },
    payload: await readPayload(esp.volume),
  };
}

export async function inspectTarget(path: string): Promise<TargetInfo> {
  const dev = await FileDevice.open(path, { writable: false });
  try {
    return {
      path,
      kind: dev.isBlockDevice ? 'block-device' : 'file',
      ...(await inspectDevice(dev)),
    };
  } finally {
    await dev.close();
  }
}

/** Plans the payload into an overlay over `dev` (nothing is written to `dev`). */
export async function planInjection(
  dev: ByteDevice,
  files: readonly PayloadFile[],
  now?: Date,
): Promise<OverlayDevice> {
  const overlay = new OverlayDevice(dev);
  const esp = await openEsp(overlay);
  await esp.volume.writeRootFiles(files, now ? { now } : {});
  return overlay;
}

/** Reads the files back through a fresh FAT reader and compares them byte for byte. */
export async function verifyPayloadOn(
  dev: ByteDevice,
  files: readonly PayloadFile[],
): Promise<void> {
  const esp = await openEsp(dev);
  for (const f of files) {
    const back = await esp.volume.readFile(f.name);
    if (!back || !back.equals(f.data)) {
      throw ioError(
        'ZFLASH_VERIFY_PAYLOAD',
        `${f.name} did not read back as written from the EFI partition.`,
        'The stick may be failing or fake-capacity; try another stick.',
        { file: f.name },
      );
    }
  }
}

export interface InjectResult {
  readonly path: string;
  readonly kind: 'file' | 'block-device';
  readonly esp: EspSummary;
  readonly files: readonly { name: string; bytes: number }[];
  readonly bytesChanged: number;
}

export interface InjectOptions extends RenderOptions {
  /** Called after the target is opened and before anything is written (drive policy re-check). */
  readonly beforeWrite?: (dev: FileDevice) => Promise<void>;
}

export async function injectTarget(
  path: string,
  identity: NodeIdentity,
  options: InjectOptions = {},
): Promise<InjectResult> {
  const files = renderPayload(identity, options);
  const dev = await FileDevice.open(path, { writable: true });
  try {
    const overlay = await planInjection(dev, files, options.createdAt);
    await options.beforeWrite?.(dev);
    await overlay.commit(dev);
    await dev.sync();
    await verifyPayloadOn(dev, files);
    const esp = await summarizeEsp(await openEsp(dev));
    return {
      path,
      kind: dev.isBlockDevice ? 'block-device' : 'file',
      esp,
      files: files.map((f) => ({ name: f.name, bytes: f.data.length })),
      bytesChanged: overlay.extents().reduce((n, e) => n + e.data.length, 0),
    };
  } finally {
    await dev.close();
  }
}
