/**
 * Unmounting the chosen drive before it is written: that drive's own filesystems and nothing
 * else, never lazily.
 *
 * Why our own: etcher-sdk's BlockDevice.open() unmounts through mountutils, which on Linux
 * takes every /proc/mounts entry whose source *starts with* the drive's path (`/dev/sda`
 * matches `/dev/sdaa1`, `/dev/loop1` matches `/dev/loop10`) and, when a filesystem is busy,
 * falls back to umount2(MNT_DETACH): another drive's busy filesystem vanished from under
 * whoever used it. Here (Linux) a filesystem belongs to the drive when its device is the
 * drive, one of its partitions or something stacked on them (sysfs `holders`), all found from
 * the MAJ:MIN the policy judged, never from a name; only filesystems mounted where removable
 * media go are unmounted; a busy one stops the flash before anything is written, naming it.
 *
 * macOS: `diskutil unmountDisk` of that exact whole disk, not forced. Windows: diskpart
 * `clean` of that disk number, as Etcher does (Windows refuses raw writes over a mounted
 * volume; removing the partitions dismounts them).
 */
import { execFile } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ioError, targetError, type ZflashError } from '../errors.js';
import {
  blockNameOfDevNumber,
  blockNameOfMount,
  diskFamily,
  isPartition,
  parseMountinfo,
  parseUdisksTargets,
  type MountEntry,
} from './linux-block.js';
import { isRemovableMediaMount } from './policy.js';

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the program could not be started at all (ENOENT…). */
  readonly error?: string;
}

/** Runs a program with an argv array (no shell). Injected by tests. */
export type Exec = (command: string, args: readonly string[]) => Promise<ExecResult>;

export const execCommand: Exec = (command, args) =>
  new Promise((resolve) => {
    execFile(
      command,
      [...args],
      // C locale: umount's and diskutil's reasons are matched ("busy") and shown as they are.
      { timeout: 60_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({
          code,
          stdout: String(stdout),
          stderr: String(stderr),
          ...(err && typeof err.code === 'string' ? { error: err.code } : {}),
        });
      },
    );
  });

export interface UnmountTarget {
  /** The drive as the OS names it (`/dev/sdb`, `/dev/rdisk4`, `\\.\PhysicalDrive1`). */
  readonly device: string;
  /**
   * `MAJ:MIN` the policy judged (Linux, required there): the filesystems unmounted are those
   * of that disk, whatever the path names by now.
   */
  readonly deviceNumber: string | null;
}

export interface UnmountOptions {
  readonly platform?: NodeJS.Platform;
  readonly exec?: Exec;
}

export interface UnmountResult {
  /** Mount points unmounted (Linux); empty when nothing was mounted. */
  readonly unmounted: readonly string[];
}

export async function unmountDrive(
  target: UnmountTarget,
  opts: UnmountOptions = {},
): Promise<UnmountResult> {
  const exec = opts.exec ?? execCommand;
  switch (opts.platform ?? process.platform) {
    case 'linux':
      return unmountLinux(target, exec);
    case 'darwin':
      return unmountDarwin(target.device, exec);
    case 'win32':
      return cleanWindows(target.device, exec);
    default:
      return { unmounted: [] };
  }
}

// ---- Linux -------------------------------------------------------------------------------

/** util-linux umount, by absolute path: the helper runs as root and trusts no PATH. */
const UMOUNT_PATHS = ['/usr/bin/umount', '/bin/umount', '/run/current-system/sw/bin/umount'];

async function findUmount(): Promise<string> {
  for (const p of UMOUNT_PATHS) {
    if (
      await access(p, fsc.X_OK).then(
        () => true,
        () => false,
      )
    )
      return p;
  }
  return 'umount';
}

/**
 * umount(8) with the mount point exactly as the kernel lists it: `--no-canonicalize` so no
 * symlink in the path is followed; neither `--lazy` nor `--force`.
 */
export function linuxUnmountCommand(umount: string, target: string): readonly [string, string[]] {
  return [umount, ['--no-canonicalize', '--', target]];
}

interface OwnMount extends MountEntry {
  readonly udisks: boolean;
}

async function ownMounts(family: ReadonlySet<string>): Promise<{
  readonly all: readonly MountEntry[];
  readonly own: readonly OwnMount[];
}> {
  let all: readonly MountEntry[];
  try {
    all = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
  } catch (err) {
    throw ioError(
      'ZFLASH_UNMOUNT_FAILED',
      'Zeta Flash could not read the mount table (/proc/self/mountinfo), so it cannot tell what is mounted from the drive.',
      'Run it on the machine itself with /proc mounted, then try again.',
      { cause: err instanceof Error ? err.message : String(err) },
    );
  }
  const udisks = new Set(
    parseUdisksTargets(await readFile('/run/mount/utab', 'utf8').catch(() => '')),
  );
  const own: OwnMount[] = [];
  for (const m of all) {
    const name = await blockNameOfMount(m);
    if (name && family.has(name)) own.push({ ...m, udisks: udisks.has(m.target) });
  }
  return { all, own };
}

function busyError(device: string, m: MountEntry, why: string, cause?: string): ZflashError {
  return targetError(
    'ZFLASH_DRIVE_BUSY',
    `Nothing was written: ${m.target} (${m.source}, on ${device}) ${why}.`,
    'Close the files, terminals and windows using it (or unmount it yourself), then flash again.',
    { device, mountpoint: m.target, source: m.source, ...(cause ? { cause } : {}) },
  );
}

async function unmountLinux(target: UnmountTarget, exec: Exec): Promise<UnmountResult> {
  const { device, deviceNumber } = target;
  const name = deviceNumber ? await blockNameOfDevNumber(deviceNumber) : null;
  if (!name) {
    throw targetError(
      'ZFLASH_DRIVE_CHANGED',
      `${device} is not the drive that was checked any more (it is gone or has another number).`,
      'Replug the stick, check the drive list again, and flash again.',
      { device, deviceNumber },
    );
  }
  if (await isPartition(name)) {
    throw targetError(
      'ZFLASH_DRIVE_REFUSED',
      `Zeta Flash will not write to ${device}: it is a partition, not a whole drive.`,
      'Choose the drive itself; run `zflash drives` to see which drives are safe.',
      { device, reasons: ['DRIVE_PARTITION'] },
    );
  }
  const family = await diskFamily(name);
  const umount = await findUmount();
  const unmounted: string[] = [];
  let rounds = 0;

  // One mount at a time, re-reading the table each round: a mount is only unmounted when
  // nothing is mounted on top of it or inside it, so umount(8) can never take away a
  // filesystem that is not ours (a path names the topmost mount there).
  for (;;) {
    const { all, own } = await ownMounts(family);
    if (own.length === 0) return { unmounted };
    const foreign = own.filter((m) => !m.udisks && !isRemovableMediaMount(m.target));
    if (foreign.length > 0) {
      const places = [...new Set(foreign.map((m) => m.target))].join(', ');
      throw targetError(
        'ZFLASH_DRIVE_MOUNTED',
        `Nothing was written: ${device} has a filesystem mounted at ${places}, outside the places removable media are mounted (/media, /run/media): Zeta Flash will not unmount it.`,
        'If you really mean to erase it, unmount it yourself first, then flash again.',
        { device, mountpoints: foreign.map((m) => m.target) },
      );
    }
    // Something not ours mounted on or inside one of ours: umount(8) would fail (inside) or
    // take that other filesystem away (over, at the same path). Checked before any unmount.
    const ownIds = new Set(own.map((m) => m.id));
    const child = all.find((c) => ownIds.has(c.parentId) && !ownIds.has(c.id));
    if (child) {
      const m = own.find((o) => o.id === child.parentId) as OwnMount;
      throw busyError(
        device,
        m,
        `has another filesystem mounted ${child.target === m.target ? 'over' : 'inside'} it (${child.target})`,
      );
    }
    // Innermost first: one with nothing mounted on it (there is one: mounts form a tree).
    const leaf = own.find((m) => !all.some((c) => c.parentId === m.id)) as OwnMount;
    if (++rounds > 64) {
      throw busyError(device, leaf, 'is mounted again each time it is unmounted (an automounter?)');
    }
    const [cmd, args] = linuxUnmountCommand(umount, leaf.target);
    const r = await exec(cmd, args);
    if (r.code !== 0) {
      const reason = (r.stderr || r.stdout || r.error || `exit ${r.code}`).trim();
      if (/busy/i.test(reason)) {
        throw busyError(device, leaf, 'is in use and could not be unmounted', reason);
      }
      throw ioError(
        'ZFLASH_UNMOUNT_FAILED',
        `Nothing was written: ${leaf.target} (${leaf.source}, on ${device}) could not be unmounted: ${reason}.`,
        'Unmount it yourself, then flash again.',
        { device, mountpoint: leaf.target, cause: reason },
      );
    }
    unmounted.push(leaf.target);
  }
}

// ---- macOS -------------------------------------------------------------------------------

/** `diskutil unmountDisk /dev/diskN` for `/dev/diskN` or `/dev/rdiskN`: whole disks only. */
export function darwinUnmountCommand(device: string): readonly [string, string[]] {
  const m = /^\/dev\/r?disk(\d+)$/.exec(device);
  if (!m) {
    throw targetError(
      'ZFLASH_DRIVE_REFUSED',
      `Zeta Flash will not write to ${device}: it is not a whole disk (/dev/diskN).`,
      'Choose the drive itself; run `zflash drives` to see which drives are safe.',
      { device, reasons: ['DRIVE_PARTITION'] },
    );
  }
  return ['/usr/sbin/diskutil', ['unmountDisk', `/dev/disk${m[1]}`]];
}

async function unmountDarwin(device: string, exec: Exec): Promise<UnmountResult> {
  const [cmd, args] = darwinUnmountCommand(device);
  const r = await exec(cmd, args);
  if (r.code !== 0) {
    const reason = (r.stderr || r.stdout || r.error || `exit ${r.code}`).trim();
    throw targetError(
      'ZFLASH_DRIVE_BUSY',
      `Nothing was written: the volumes of ${device} could not be unmounted: ${reason}.`,
      'Eject its volumes in Finder (close what uses them first), then flash again.',
      { device, cause: reason },
    );
  }
  return { unmounted: [] };
}

// ---- Windows -----------------------------------------------------------------------------

/** The diskpart script for `\\.\PhysicalDriveN`: that disk number and nothing else. */
export function windowsCleanScript(device: string): readonly string[] {
  const m = /^\\\\\.\\PhysicalDrive(\d+)$/i.exec(device);
  if (!m) {
    throw targetError(
      'ZFLASH_DRIVE_REFUSED',
      `Zeta Flash will not write to ${device}: it is not a physical drive (\\\\.\\PhysicalDriveN).`,
      'Choose the drive itself; run `zflash drives` to see which drives are safe.',
      { device },
    );
  }
  return [`select disk ${m[1]}`, 'clean', 'rescan'];
}

async function cleanWindows(device: string, exec: Exec): Promise<UnmountResult> {
  const script = windowsCleanScript(device);
  const dir = await mkdtemp(join(tmpdir(), 'zflash-diskpart-'));
  try {
    const file = join(dir, 'clean.txt');
    await writeFile(file, `${script.join('\r\n')}\r\n`, { flag: 'wx' });
    const r = await exec('diskpart', ['/s', file]);
    if (r.code !== 0) {
      const reason = (r.stdout || r.stderr || r.error || `exit ${r.code}`).trim();
      throw targetError(
        'ZFLASH_DRIVE_BUSY',
        `Nothing was written: Windows would not release ${device}: ${reason}.`,
        'Close the windows and programs using the stick, then flash again.',
        { device, cause: reason },
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { unmounted: [] };
}
