/**
 * One scan: drivelist (or an injected lister) + loop devices when allowed, normalised to
 * DriveInfo, each judged by the policy against the system context read at the same moment.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ZflashError, ioError } from '../errors.js';
import { loadDrivelist, loadDrivelistLsblk } from '../native.js';
import { listLoopDevices } from './linux-block.js';
import { assessDrive, sameDevice } from './policy.js';
import {
  readSystemContext,
  usesFromMountpoints,
  type SystemContextOptions,
} from './system-context.js';
import type { AssessedDrive, DriveInfo, ListDrives, PolicyContext, RawDrive } from './types.js';

export interface ScanOptions extends SystemContextOptions {
  /** The enumerator; defaults to drivelist.list (loaded lazily: it is a native module). */
  readonly list?: ListDrives;
  /** Loop device lister used when `allowLoop`; defaults to sysfs. */
  readonly listLoops?: () => Promise<readonly DriveInfo[]>;
  /** System facts; defaults to readSystemContext (kernel tables on Linux). */
  readonly readContext?: (opts: SystemContextOptions) => Promise<PolicyContext>;
}

const LOOP_DEVICE = /^\/dev\/loop\d+$/;

const run = promisify(execFile);

/**
 * On Linux drivelist is lsblk plus a transform: it runs `lsblk --all --output-all` over every
 * block device, loop devices included, then drops the loop devices. A machine keeps every loop
 * node it ever made (this one has ~150, a desktop with snaps dozens of attached ones), and
 * lsblk's cost grows with them: 123 ms against 38 ms here without them. So on Linux we run
 * the same lsblk without major 7 (loop) and keep drivelist's own transform; our loop devices
 * come from sysfs (listLoopDevices). If that lsblk fails, drivelist's own way is the answer.
 * Elsewhere drivelist's native addon lists the drives.
 */
export async function drivelistList(
  platform: NodeJS.Platform = process.platform,
): Promise<readonly RawDrive[]> {
  if (platform === 'linux') {
    try {
      const { stdout } = await run(
        'lsblk',
        ['--bytes', '--all', '--json', '--paths', '--output-all', '--exclude', '7'],
        { maxBuffer: 16 * 1024 * 1024 },
      );
      return loadDrivelistLsblk().parse(stdout);
    } catch {
      // an lsblk without JSON or --exclude: drivelist knows the older forms
    }
  }
  return loadDrivelist().list();
}

export function normalizeDrive(raw: RawDrive): DriveInfo {
  const paths = raw.mountpoints.map((m) => m.path).filter((p) => p.length > 0);
  return {
    device: raw.device,
    raw: raw.raw || raw.device,
    size: typeof raw.size === 'number' && Number.isFinite(raw.size) ? raw.size : null,
    description: raw.description.trim(),
    busType: (raw.busType || 'UNKNOWN').toUpperCase(),
    isUSB: raw.isUSB,
    isRemovable: raw.isRemovable,
    isVirtual: raw.isVirtual === true,
    isSystem: raw.isSystem,
    isReadOnly: raw.isReadOnly,
    mountpoints: [...new Set(paths)],
    isLoop: LOOP_DEVICE.test(raw.device),
    blockSize: raw.blockSize ?? 512,
    logicalBlockSize: raw.logicalBlockSize ?? 512,
    partitionTableType: raw.partitionTableType ?? null,
  };
}

/** Adds the mount points the kernel knows of but drivelist misses (LVM/LUKS, our loop devices). */
function withKernelMounts(drive: DriveInfo, ctx: PolicyContext): DriveInfo {
  const extra = ctx.uses.flatMap((u) =>
    u.kind === 'mount' && sameDevice(u.disk, drive.device) && !drive.mountpoints.includes(u.target)
      ? [u.target]
      : [],
  );
  return extra.length
    ? { ...drive, mountpoints: [...new Set([...drive.mountpoints, ...extra])] }
    : drive;
}

/** Judges already-listed drives against a context; pure, shared by scanDrives and tests. */
export function assessDrives(
  drives: readonly DriveInfo[],
  ctx: PolicyContext,
): readonly AssessedDrive[] {
  const full: PolicyContext = { ...ctx, uses: [...ctx.uses, ...usesFromMountpoints(drives, ctx)] };
  return drives.map((d) => {
    const drive = withKernelMounts(d, full);
    return { drive, verdict: assessDrive(drive, full) };
  });
}

export async function scanDrives(opts: ScanOptions = {}): Promise<readonly AssessedDrive[]> {
  const platform = opts.platform ?? process.platform;
  const readContext = opts.readContext ?? readSystemContext;
  // The system's facts, the drive list and the loop devices are read side by side: all three
  // only read, and a flash waits for the slowest.
  const context = readContext(opts);
  const listing = (opts.list ?? (() => drivelistList(platform)))();
  const listLoops = opts.listLoops ?? listLoopDevices;
  const looping = opts.allowLoop === true && platform === 'linux' ? listLoops() : null;
  listing.catch(() => undefined);
  looping?.catch(() => undefined);
  const ctx = await context;
  const allowLoop = ctx.allowLoop;
  let listed: readonly RawDrive[];
  let loops: readonly DriveInfo[] = [];
  try {
    listed = await listing;
    if (allowLoop && platform === 'linux') loops = await (looping ?? listLoops());
  } catch (err) {
    if (err instanceof ZflashError) throw err;
    throw ioError(
      'ZFLASH_DRIVE_SCAN_FAILED',
      'Zeta Flash could not list the drives attached to this computer.',
      process.platform === 'linux'
        ? 'Check that `lsblk` (util-linux) is installed and works, then try again.'
        : 'Unplug and re-plug the stick, then try again; if it persists, restart the computer.',
      { cause: err instanceof Error ? err.message : String(err) },
    );
  }
  const drives = listed
    .map(normalizeDrive)
    .filter((d) => allowLoop || !d.isLoop)
    .filter((d) => !loops.some((l) => sameDevice(l.device, d.device)));
  return assessDrives([...drives, ...loops], ctx);
}
