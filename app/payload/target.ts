/**
 * `inspect` and `inject` on a target that already exists: an image file or a drive.
 * Injection is planned in an overlay first (the same code the flash engine uses on the
 * stream), so a refusal leaves the target byte-for-byte unchanged; only then are the
 * changed sectors written, flushed, and read back through a fresh FAT reader.
 */
import { stat } from 'node:fs/promises';
import { FileDevice, OverlayDevice, type ByteDevice } from '../disk/device.js';
import { openEsp, summarizeEsp, type EspSummary } from '../disk/esp.js';
import {
  readPartitionTable,
  type PartitionTable,
  type TableKind,
} from '../disk/partition-table.js';
import { devNumberOf, driveRefusedError, recheckDrive } from '../drives/index.js';
import { ioError, targetError, ZflashError, type ZflashErrorJson } from '../errors.js';
import { probeImage } from '../image/image-source.js';
import type { Compression } from '../image/image-types.js';
import type { NodeIdentity } from '../node/types.js';
import { APP } from '../version.js';
import { payloadFit } from './fit.js';
import { withImageDevice } from './image-device.js';
import {
  checkInstallerReadsPayload,
  classifyInstaller,
  requireZetaInstaller,
  type InstallerInfo,
} from './installer.js';
import { MANIFEST_SCHEMA_VERSION } from './manifest.js';
import { readPayload, type PayloadInfo } from './read.js';
import { renderPayload, type PayloadFile, type RenderOptions } from './render.js';

/** One entry of the partition tables, as inspect lists them. */
export interface PartitionEntry {
  readonly source: 'mbr' | 'gpt';
  readonly number: number;
  /** `0xef` for MBR types, the type GUID (and its name, if any) for GPT. */
  readonly type: string;
  readonly start: number;
  readonly size: number;
}

export interface TargetInfo {
  readonly path: string;
  readonly kind: 'file' | 'block-device';
  /** How an image file is stored; inspect reads compressed images through their decoder. */
  readonly compression: Compression;
  /** Bytes of the image (uncompressed) or the drive. */
  readonly size: number;
  readonly table: TableKind;
  readonly partitions: readonly PartitionEntry[];
  /** What the image is: a Zeta installer (and which payload schemas it reads), NixOS, other. */
  readonly installer: InstallerInfo;
  /** null when there is no (single) ESP: `espProblem` says why no identity can go there. */
  readonly esp: (EspSummary & { readonly payloadFits: boolean }) | null;
  readonly espProblem: ZflashErrorJson | null;
  readonly payload: PayloadInfo | null;
}

function partitionsOf(table: PartitionTable): PartitionEntry[] {
  return [
    ...table.mbr.map((e) => ({
      source: 'mbr' as const,
      number: e.number,
      type: `0x${e.type.toString(16).padStart(2, '0')}`,
      start: e.start,
      size: e.size,
    })),
    ...table.gpt.map((e) => ({
      source: 'gpt' as const,
      number: e.number,
      type: e.name ? `${e.typeGuid} (${e.name})` : e.typeGuid,
      start: e.start,
      size: e.size,
    })),
  ];
}

export async function inspectDevice(
  dev: ByteDevice,
): Promise<Omit<TargetInfo, 'path' | 'kind' | 'compression'>> {
  const table = await readPartitionTable(dev);
  const common = {
    size: dev.size,
    table: table.superfloppy ? ('none' as const) : table.kind,
    partitions: partitionsOf(table),
    installer: await classifyInstaller(dev),
  };
  let esp;
  try {
    esp = await openEsp(dev);
  } catch (err) {
    // No ESP, or several: the tables are still worth showing, with the reason.
    if (
      err instanceof ZflashError &&
      (err.code === 'ZFLASH_NO_ESP' || err.code === 'ZFLASH_MANY_ESPS')
    )
      return { ...common, esp: null, espProblem: err.toJSON(), payload: null };
    throw err;
  }
  return {
    ...common,
    esp: { ...(await summarizeEsp(esp)), payloadFits: (await payloadFit(dev)).fits },
    espProblem: null,
    payload: await readPayload(esp.volume),
  };
}

/**
 * What is on an image file or a drive. A compressed image is read through its decoder (the
 * prefix holding the tables and the ESP), never decompressed to disk.
 */
export async function inspectTarget(path: string): Promise<TargetInfo> {
  const st = await stat(path).catch(() => null);
  if (st?.isFile()) {
    const image = await probeImage(path);
    if (image.compression !== 'none') {
      const found = await withImageDevice(image, (dev) => inspectDevice(dev), {
        tablesWithoutEsp: true,
      });
      return {
        path,
        kind: 'file',
        compression: image.compression,
        ...found,
        size: image.size ?? found.size,
      };
    }
  }
  const dev = await FileDevice.open(path, { writable: false });
  try {
    return {
      path,
      kind: dev.isBlockDevice ? 'block-device' : 'file',
      compression: 'none',
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
  if (!asDrive && first?.isFile()) {
    const image = await probeImage(path);
    if (image.compression !== 'none')
      throw targetError(
        'ZFLASH_IMAGE_COMPRESSED',
        `The image ${path} is ${image.compression}-compressed, and inject changes an image in place.`,
        'Decompress it first, or flash it: flashing puts the node files in while it writes.',
        { path, compression: image.compression },
      );
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
