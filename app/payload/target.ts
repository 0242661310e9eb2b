/**
 * `inspect` and `inject` on a target that already exists: an image file or a drive.
 * Injection is planned in an overlay first (the same code the flash engine uses on the
 * stream), so a refusal leaves the target byte-for-byte unchanged; only then are the
 * changed sectors written, flushed, and read back through a fresh FAT reader.
 */
import { stat } from 'node:fs/promises';
import { FileDevice, OverlayDevice, type ByteDevice } from '../disk/device.js';
import { openEsp, summarizeEsp, type EspSummary } from '../disk/esp.js';
import type { TableKind } from '../disk/partition-table.js';
import { devNumberOf, driveRefusedError, recheckDrive } from '../drives/index.js';
import { ioError, targetError } from '../errors.js';
import type { NodeIdentity } from '../node/types.js';
import { APP } from '../version.js';
import { payloadFit } from './fit.js';
import {
  checkInstallerReadsPayload,
  classifyInstaller,
  requireZetaInstaller,
  type InstallerInfo,
} from './installer.js';
import { MANIFEST_SCHEMA_VERSION } from './manifest.js';
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
  /** What the target's installer is (a NixOS installer without Zeta is the caller's to warn about). */
  readonly installer: InstallerInfo;
}

export interface InjectOptions extends RenderOptions {
  /** Whether loop devices count as drives (tests, VM workflows); the drive policy refuses them otherwise. */
  readonly allowLoop?: boolean;
  /** Refuse anything but a drive: the privileged helper never writes a file a job names. */
  readonly drivesOnly?: boolean;
  /** What the operator confirmed: a drive of another size is another drive. */
  readonly expectedSize?: number | null;
  /** Refuse a target that is not a Zeta installer (`--require-zeta`). */
  readonly requireZeta?: boolean;
}

/**
 * Writes the node's files into the target's ESP. A block device (or a link to one) always
 * gets the drive policy first, right before it is opened, whoever calls: a system disk's ESP
 * is the one place an injected file could hurt this machine. The opened handle must then be
 * the very node the policy judged (MAJ:MIN), or nothing is written.
 */
export async function injectTarget(
  path: string,
  identity: NodeIdentity,
  options: InjectOptions = {},
): Promise<InjectResult> {
  const files = renderPayload(identity, options);
  // A missing path is left to FileDevice.open, which names it (ZFLASH_TARGET_NOT_FOUND).
  const first = await stat(path).catch(() => null);
  const asDrive = options.drivesOnly === true || first?.isBlockDevice() === true;
  let openPath = path;
  let deviceNumber: string | null = null;
  if (asDrive) {
    const checked = await recheckDrive(path, {
      allowLoop: options.allowLoop ?? false,
      ...(options.expectedSize ? { expected: { size: options.expectedSize } } : {}),
    });
    if (checked.verdict.status === 'refused') throw driveRefusedError(checked);
    openPath = checked.drive.device;
    deviceNumber = checked.deviceNumber;
  }
  const dev = await FileDevice.open(openPath, { writable: true });
  try {
    const opened = await dev.stat();
    if (
      opened.isBlockDevice() !== asDrive ||
      (deviceNumber !== null && devNumberOf(opened.rdev) !== deviceNumber)
    ) {
      throw targetError(
        'ZFLASH_DRIVE_CHANGED',
        `${path} changed between the safety check and opening it.`,
        'Replug the stick, check the drive list again, and inject again.',
        { path },
      );
    }
    // The installer on the target must read what is about to be written (issue 14).
    const installer = await classifyInstaller(dev);
    if (options.requireZeta) requireZetaInstaller(installer);
    checkInstallerReadsPayload(installer, MANIFEST_SCHEMA_VERSION, APP);
    const overlay = await planInjection(dev, files, options.createdAt);
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
      installer,
    };
  } finally {
    await dev.close();
  }
}
