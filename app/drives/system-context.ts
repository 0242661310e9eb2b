/**
 * What the running system keeps on which disk: the facts the policy needs beyond drivelist.
 * On Linux they come from the kernel (mountinfo, swaps, sysfs); elsewhere, best effort from
 * drivelist's mountpoints (see `usesFromMountpoints`).
 */
import type { BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputError, ioError } from '../errors.js';
import {
  blockNameOfDevNumber,
  blockNameOfDevicePath,
  blockNameOfFile,
  blockNameOfMount,
  devNumberOf,
  diskChain,
  listLoopBackings,
  parseMountinfo,
  parseSwaps,
  parseUdisksTargets,
  type MountEntry,
} from './linux-block.js';
import { isProtectedMount } from './policy.js';
import type { DiskUse, DriveInfo, PolicyContext } from './types.js';

export interface SystemContextOptions {
  /** The image to be written; judged for "holds the image" and, unless imageSize is given, "too small". */
  readonly imagePath?: string | null;
  /** Bytes the image needs on the drive; pass the uncompressed size for compressed images. */
  readonly imageSize?: number | null;
  /** Files the app runs from; defaults to the Node/Electron binary and this module. */
  readonly appPaths?: readonly string[];
  readonly platform?: NodeJS.Platform;
  /**
   * List loop devices and let them be written (tests, VM workflows); Linux only, default
   * false. The front end decides (the CLI from ZFLASH_ALLOW_LOOP=1, the helper from its job).
   */
  readonly allowLoop?: boolean;
}

/** Filesystems that live in memory: a `/` on tmpfs (a live system) is on no disk at all. */
const MEMORY_FS = new Set(['tmpfs', 'ramfs', 'rootfs', 'devtmpfs']);

export function defaultAppPaths(): readonly string[] {
  return [process.execPath, fileURLToPath(import.meta.url)];
}

const scanFailed = (what: string, err: unknown): Error =>
  ioError(
    'ZFLASH_DRIVE_SCAN_FAILED',
    `Zeta Flash could not read ${what}, so it cannot tell which drives are safe to write.`,
    'Run it on the machine itself (not in a restricted container) with /proc and /sys mounted, then try again.',
    { cause: err instanceof Error ? err.message : String(err) },
  );

async function imageFacts(
  imagePath: string | null,
  imageSize: number | null | undefined,
): Promise<number | null> {
  if (!imagePath) return imageSize ?? null;
  try {
    const st = await stat(imagePath);
    if (!st.isFile() && !st.isBlockDevice()) throw new Error('not a file');
    return imageSize ?? (st.isFile() ? st.size : null);
  } catch (err) {
    throw inputError(
      'ZFLASH_IMAGE_NOT_FOUND',
      `The image ${imagePath} cannot be read.`,
      'Check the path of the image file (an .iso or .img) and that you may read it.',
      { cause: err instanceof Error ? err.message : String(err) },
    );
  }
}

export async function readSystemContext(opts: SystemContextOptions = {}): Promise<PolicyContext> {
  const platform = opts.platform ?? process.platform;
  const imagePath = opts.imagePath ? resolve(opts.imagePath) : null;
  const imageSize = await imageFacts(imagePath, opts.imageSize);
  const appPaths = opts.appPaths ?? defaultAppPaths();
  const allowLoop = platform === 'linux' && opts.allowLoop === true;
  if (platform !== 'linux') {
    return { source: 'drivelist', imagePath, imageSize, appPaths, allowLoop, uses: [] };
  }
  return readLinuxContext(imagePath, imageSize, appPaths, allowLoop);
}

async function readLinuxContext(
  imagePath: string | null,
  imageSize: number | null,
  appPaths: readonly string[],
  allowLoop: boolean,
): Promise<PolicyContext> {
  let mounts: readonly MountEntry[];
  try {
    mounts = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
  } catch (err) {
    throw scanFailed('the mount table (/proc/self/mountinfo)', err);
  }
  if (mounts.length === 0) throw scanFailed('the mount table (it is empty)', null);
  // A kernel built without swap has no /proc/swaps; a system without libmount's utab has
  // no udisks mounts either.
  const swapText = await readFile('/proc/swaps', 'utf8').catch(() => '');
  const udisks = new Set(
    parseUdisksTargets(await readFile('/run/mount/utab', 'utf8').catch(() => '')),
  );

  const chains = new Map<string, Promise<string[]>>();
  const chainOf = (name: string): Promise<string[]> => {
    let chain = chains.get(name);
    if (!chain) {
      chain = diskChain(name);
      chains.set(name, chain);
    }
    return chain;
  };
  const uses: DiskUse[] = [];
  // Stays 'procfs' only if every system mount and swap area was traced to a disk; a ZFS
  // root or an overlay we cannot see through falls back to obeying drivelist's isSystem.
  let authoritative = true;

  for (const m of mounts) {
    const name = await blockNameOfMount(m);
    if (!name) {
      if (isProtectedMount(m.target) && !MEMORY_FS.has(m.fstype)) authoritative = false;
      continue;
    }
    for (const disk of await chainOf(name)) {
      uses.push({
        kind: 'mount',
        disk: `/dev/${disk}`,
        source: m.source,
        target: m.target,
        ...(udisks.has(m.target) ? { udisks: true } : {}),
      });
    }
  }
  for (const swap of parseSwaps(swapText)) {
    const name = await (
      swap.type === 'partition'
        ? blockNameOfDevicePath(swap.source)
        : blockNameOfFile(swap.source, mounts)
    ).catch(() => null);
    if (!name) {
      authoritative = false;
      continue;
    }
    for (const disk of await chainOf(name)) {
      uses.push({ kind: 'swap', disk: `/dev/${disk}`, source: swap.source });
    }
  }
  const files: readonly (readonly ['image' | 'app', string])[] = [
    ...(imagePath ? [['image', imagePath] as const] : []),
    ...appPaths.map((p) => ['app', p] as const),
  ];
  for (const [kind, path] of files) {
    // An app path that does not exist holds nothing.
    const name = await blockNameOfFile(path, mounts).catch(() => null);
    if (name) {
      for (const disk of await chainOf(name)) uses.push({ kind, disk: `/dev/${disk}`, path });
    }
    // An image that is itself a block device (a partition, another stick) is on that disk.
    const device = await blockNameOfDevicePath(path);
    if (device) {
      for (const disk of await chainOf(device)) uses.push({ kind, disk: `/dev/${disk}`, path });
    }
  }
  uses.push(...(await loopUses(files, uses)));

  return {
    source: authoritative ? 'procfs' : 'drivelist',
    imagePath,
    imageSize,
    appPaths,
    allowLoop,
    uses,
  };
}

const fileId = (st: BigIntStats): string => `${st.dev}:${st.ino}`;

/**
 * What writing a loop device really writes: its backing file. Two cases the disk chains above
 * cannot see: the backing file IS the image or an app file (same device and inode, so a hard
 * link, a symlink or a renamed path is caught too), and the backing "file" is a block device,
 * whose own uses (a mounted `/`) become the loop device's.
 */
async function loopUses(
  files: readonly (readonly ['image' | 'app', string])[],
  uses: readonly DiskUse[],
): Promise<readonly DiskUse[]> {
  const ids = new Map<string, (readonly ['image' | 'app', string])[]>();
  for (const file of files) {
    const st = await stat(file[1], { bigint: true }).catch(() => null);
    if (!st?.isFile()) continue;
    ids.set(fileId(st), [...(ids.get(fileId(st)) ?? []), file]);
  }
  const out: DiskUse[] = [];
  for (const loop of await listLoopBackings()) {
    const disk = `/dev/${loop.name}`;
    const st = await stat(loop.backingFile, { bigint: true }).catch(() => null);
    if (!st) continue;
    if (st.isFile()) {
      for (const [kind, path] of ids.get(fileId(st)) ?? []) {
        out.push({ kind, disk, path, via: 'backing-file' });
      }
    } else if (st.isBlockDevice()) {
      const under = await blockNameOfDevNumber(devNumberOf(st.rdev));
      for (const u of uses) if (under && u.disk === `/dev/${under}`) out.push({ ...u, disk });
    }
  }
  return out;
}

/** `C:\Users\x` → `c:/users/x`; `/Volumes/STICK/` → `/Volumes/STICK`. */
function normalizeForCompare(p: string): string {
  const windows = /^[a-z]:/i.test(p) || p.includes('\\');
  const slashed = windows ? p.replace(/\\/g, '/').toLowerCase() : p;
  return slashed.length > 1 ? slashed.replace(/\/+$/, '') : slashed;
}

function isInside(path: string, mount: string): boolean {
  const p = normalizeForCompare(path);
  const m = normalizeForCompare(mount);
  if (m === '/') return p.startsWith('/');
  return p === m || p.startsWith(m + '/');
}

/**
 * Which listed drive holds the image and the app files, judged from drivelist's mountpoints
 * alone (longest mount point wins: `/Volumes/STICK` beats `/`). The only source on macOS and
 * Windows; on Linux it agrees with the kernel tables and is merged with them.
 */
export function usesFromMountpoints(
  drives: readonly DriveInfo[],
  ctx: Pick<PolicyContext, 'imagePath' | 'appPaths'>,
): readonly DiskUse[] {
  const holder = (path: string): DriveInfo | undefined => {
    let best: { drive: DriveInfo; length: number } | undefined;
    for (const drive of drives) {
      for (const mount of drive.mountpoints) {
        const length = normalizeForCompare(mount).length;
        if (isInside(path, mount) && (!best || length > best.length)) best = { drive, length };
      }
    }
    return best?.drive;
  };
  const uses: DiskUse[] = [];
  if (ctx.imagePath) {
    const drive = holder(ctx.imagePath);
    if (drive) uses.push({ kind: 'image', disk: drive.device, path: ctx.imagePath });
  }
  for (const path of ctx.appPaths) {
    const drive = holder(path);
    if (drive) uses.push({ kind: 'app', disk: drive.device, path });
  }
  return uses;
}
