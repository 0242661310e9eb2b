/**
 * Linux block-device facts straight from the kernel: /proc/self/mountinfo, /proc/swaps and
 * sysfs. Used to map a mount, a swap area or a file down to the whole disk(s) under it,
 * through partitions (`/sys/class/block/sda1/partition`), device-mapper and md stacks
 * (`/sys/class/block/dm-0/slaves/*`), so LUKS and LVM roots are caught too.
 */
import { readFile, readdir, realpath, stat, access } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DriveInfo } from './types.js';

const SYS_CLASS_BLOCK = '/sys/class/block';
const SYS_DEV_BLOCK = '/sys/dev/block';
const SYS_BLOCK = '/sys/block';

export interface MountEntry {
  /** The mount's ID and its parent's, unique in this mount namespace (proc(5)). */
  readonly id: number;
  readonly parentId: number;
  /** `MAJ:MIN` of the mounted filesystem's device (0:NN for btrfs subvolumes, tmpfs, overlay…). */
  readonly devNumber: string;
  readonly target: string;
  readonly fstype: string;
  readonly source: string;
}

export interface SwapEntry {
  readonly source: string;
  readonly type: string;
}

/** Undoes the kernel's octal escapes in mount tables (`\040` is a space). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mountinfo (proc(5)): `id parent MAJ:MIN root target opts [tags…] - fstype source superopts`. */
export function parseMountinfo(text: string): readonly MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (fields.length < 5 || dash < 6) continue;
    const id = Number(fields[0]);
    const parentId = Number(fields[1]);
    const devNumber = fields[2];
    const target = fields[4];
    const fstype = fields[dash + 1];
    const source = fields[dash + 2];
    if (!Number.isInteger(id) || !Number.isInteger(parentId)) continue;
    if (!devNumber || !target || !fstype || source === undefined) continue;
    entries.push({
      id,
      parentId,
      devNumber,
      target: unescapeMountField(target),
      fstype,
      source: unescapeMountField(source),
    });
  }
  return entries;
}

/**
 * Mount points udisks made, from libmount's userspace table (`/run/mount/utab`, written by
 * mount(8) as root): udisks mounts with `uhelper=udisks2`, which libmount keeps there since
 * the kernel's table has no room for it. Lines are `KEY=value` fields (`SRC= TARGET= ROOT=
 * OPTS=`), values escaped like mountinfo's.
 */
export function parseUdisksTargets(utab: string): readonly string[] {
  const targets: string[] = [];
  for (const line of utab.split('\n')) {
    const fields = new Map<string, string>();
    for (const field of line.trim().split(' ')) {
      const eq = field.indexOf('=');
      if (eq > 0) fields.set(field.slice(0, eq), unescapeMountField(field.slice(eq + 1)));
    }
    const target = fields.get('TARGET');
    const opts = (fields.get('OPTS') ?? '').split(',');
    if (target && opts.includes('uhelper=udisks2')) targets.push(target);
  }
  return targets;
}

/** Parses /proc/swaps: a header, then `Filename Type Size Used Priority`. */
export function parseSwaps(text: string): readonly SwapEntry[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f): f is [string, string, ...string[]] => f.length >= 2 && f[0] !== '')
    .map(([source, type]) => ({ source: unescapeMountField(source), type }));
}

/** Splits a glibc dev_t (as returned by stat with `bigint: true`) into `MAJ:MIN`. */
export function devNumberOf(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** The kernel name (`sda1`, `dm-0`, `loop3`) of the block device `MAJ:MIN`, or null. */
export async function blockNameOfDevNumber(devNumber: string): Promise<string | null> {
  if (devNumber.startsWith('0:')) return null;
  try {
    return basename(await realpath(join(SYS_DEV_BLOCK, devNumber)));
  } catch {
    return null;
  }
}

/** The kernel name of a block device node (`/dev/disk/by-id/…`, `/dev/mapper/root`), or null. */
export async function blockNameOfDevicePath(path: string): Promise<string | null> {
  try {
    const st = await stat(path, { bigint: true });
    if (!st.isBlockDevice()) return null;
    return await blockNameOfDevNumber(devNumberOf(st.rdev));
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function isPartition(name: string): Promise<boolean> {
  return exists(join(SYS_CLASS_BLOCK, name, 'partition'));
}

/**
 * The device itself plus everything it is built on, down to whole disks: `nvme0n1p2` →
 * [nvme0n1p2, nvme0n1]; `dm-0` (LUKS on sda2) → [dm-0, sda2, sda]. Loop devices stop at
 * themselves: the disk holding their backing file is not written through them.
 */
export async function diskChain(name: string, seen = new Set<string>()): Promise<string[]> {
  if (seen.has(name)) return [];
  seen.add(name);
  const chain = [name];
  let sysPath: string;
  try {
    sysPath = await realpath(join(SYS_CLASS_BLOCK, name));
  } catch {
    return chain;
  }
  if (await exists(join(sysPath, 'partition'))) {
    chain.push(...(await diskChain(basename(dirname(sysPath)), seen)));
  }
  const slaves = await readdir(join(sysPath, 'slaves')).catch((): string[] => []);
  for (const slave of slaves) chain.push(...(await diskChain(slave, seen)));
  return chain;
}

/** The block device a mount entry lives on, or null for memory and pooled filesystems. */
export async function blockNameOfMount(entry: MountEntry): Promise<string | null> {
  const byNumber = await blockNameOfDevNumber(entry.devNumber);
  if (byNumber) return byNumber;
  // btrfs reports an anonymous 0:NN device in mountinfo; its source is still the partition.
  if (entry.source.startsWith('/dev/')) return blockNameOfDevicePath(entry.source);
  return null;
}

/** The mount that contains `path` (longest matching target). */
export function mountContaining(
  path: string,
  mounts: readonly MountEntry[],
): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside =
      m.target === '/' || path === m.target || path.startsWith(m.target.replace(/\/$/, '') + '/');
    if (inside && (!best || m.target.length >= best.target.length)) best = m;
  }
  return best;
}

/** The block device holding a file, via stat().dev, falling back to its mount's source. */
export async function blockNameOfFile(
  path: string,
  mounts: readonly MountEntry[],
): Promise<string | null> {
  const real = await realpath(path);
  const st = await stat(real, { bigint: true });
  const byNumber = await blockNameOfDevNumber(devNumberOf(st.dev));
  if (byNumber) return byNumber;
  const mount = mountContaining(real, mounts);
  return mount ? blockNameOfMount(mount) : null;
}

async function readNumber(path: string): Promise<number | null> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

export interface LoopBacking {
  /** `loop3` */
  readonly name: string;
  /** The backing file as the kernel names it now (renames followed; ` (deleted)` once unlinked). */
  readonly backingFile: string;
}

const LOOP_NAME = /^loop\d+$/;

/**
 * The loop devices that hold something: /proc/partitions lists every block device with a
 * non-zero size, so one read names them, where sysfs keeps a node for every loop device the
 * machine ever made (often a hundred or more, each one more read). A loop device of size 0
 * holds no data, no mount and no image, so nothing the policy or a flash could meet.
 * Without /proc/partitions, every node in sysfs.
 */
async function loopNames(): Promise<string[]> {
  try {
    return (await readFile('/proc/partitions', 'utf8'))
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => LOOP_NAME.test(f[3] ?? '') && Number(f[2]) > 0)
      .map((f) => f[3] as string);
  } catch {
    return (await readdir(SYS_BLOCK).catch(() => [] as string[])).filter((n) => LOOP_NAME.test(n));
  }
}

/** Every attached loop device and its backing file (sysfs `loop/backing_file`). */
export async function listLoopBackings(): Promise<readonly LoopBacking[]> {
  const names = await loopNames();
  // Side by side: one read after another costs a thread-pool round trip each.
  const found = await Promise.all(
    names.map(async (name): Promise<LoopBacking | null> => {
      try {
        const backingFile = (
          await readFile(join(SYS_BLOCK, name, 'loop', 'backing_file'), 'utf8')
        ).replace(/\n$/, '');
        return { name, backingFile };
      } catch {
        return null; // not attached, or detached meanwhile
      }
    }),
  );
  return found.filter((b): b is LoopBacking => b !== null);
}

/**
 * The kernel names of a whole disk, its partitions and everything stacked on them
 * (device-mapper, md: sysfs `holders`), recursively: every block device whose filesystem
 * lives on this disk. `sda` → {sda, sda1, sda2, dm-0 (LUKS on sda2)}.
 */
export async function diskFamily(name: string): Promise<ReadonlySet<string>> {
  const family = new Set<string>();
  const visit = async (n: string): Promise<void> => {
    if (family.has(n)) return;
    family.add(n);
    const dir = join(SYS_CLASS_BLOCK, n);
    for (const h of await readdir(join(dir, 'holders')).catch((): string[] => [])) await visit(h);
    if (n !== name) return;
    // Partitions are subdirectories of the disk's sysfs directory holding a `partition` file.
    for (const entry of await readdir(dir).catch((): string[] => [])) {
      if (entry.startsWith(n) && (await exists(join(dir, entry, 'partition')))) await visit(entry);
    }
  };
  await visit(name);
  return family;
}

/**
 * Attached loop devices (drivelist hides them). Only devices with a backing file and a
 * non-zero size: a free /dev/loopN is not a drive.
 */
export async function listLoopDevices(): Promise<readonly DriveInfo[]> {
  const names = await loopNames();
  const sorted = names.sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  const drives = await Promise.all(sorted.map(loopDrive));
  return drives.filter((d): d is DriveInfo => d !== null);
}

/** One loop device as a drive, null when it is not attached (no size, no backing file). */
async function loopDrive(name: string): Promise<DriveInfo | null> {
  const dir = join(SYS_BLOCK, name);
  const sectors = await readNumber(join(dir, 'size'));
  if (!sectors) return null;
  let backing: string;
  try {
    backing = (await readFile(join(dir, 'loop', 'backing_file'), 'utf8')).trim();
  } catch {
    return null; // detached between readdir and here
  }
  const [ro, physical, logical] = await Promise.all([
    readNumber(join(dir, 'ro')),
    readNumber(join(dir, 'queue', 'physical_block_size')),
    readNumber(join(dir, 'queue', 'logical_block_size')),
  ]);
  return {
    device: `/dev/${name}`,
    raw: `/dev/${name}`,
    // sysfs `size` is always in 512-byte sectors, whatever the logical block size.
    size: sectors * 512,
    description: `Loop device (${backing})`,
    busType: 'LOOP',
    isUSB: null,
    isRemovable: false,
    isVirtual: false,
    isSystem: false,
    isReadOnly: ro === 1,
    mountpoints: [],
    isLoop: true,
    blockSize: physical ?? 512,
    logicalBlockSize: logical ?? 512,
    partitionTableType: null,
  };
}
