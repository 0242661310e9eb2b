/**
 * The helper's last look at a drive right before it opens it (time of check vs time of use):
 * the wizard's verdict may be seconds or minutes old, the stick may have been swapped for
 * another that got the same /dev name, or the path may be a symlink pointing elsewhere now.
 *
 * The helper must open `drive.raw` from the result (the resolved path, never the path it was
 * given) and, on Linux/macOS, compare `fstat(fd).rdev` with `deviceNumber` after opening.
 */
import { realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { devNumberOf, isPartition } from './linux-block.js';
import { sameDevice, verdictOf } from './policy.js';
import { scanDrives, type ScanOptions } from './scanner.js';
import type { AssessedDrive, DriveInfo, PolicyContext, Reason } from './types.js';

export interface RecheckOptions extends ScanOptions {
  /** What the operator was shown; a different size or description means another drive. */
  readonly expected?: { readonly size?: number | null; readonly description?: string };
}

export interface RecheckedDrive extends AssessedDrive {
  /** The path the caller asked about, before symlinks were resolved. */
  readonly requestedPath: string;
  /** `MAJ:MIN` of the device node (Linux/macOS); null when there is none to compare. */
  readonly deviceNumber: string | null;
}

function unknownDrive(device: string): DriveInfo {
  return {
    device,
    raw: device,
    size: null,
    description: '',
    busType: 'UNKNOWN',
    isUSB: null,
    isRemovable: false,
    isVirtual: false,
    isSystem: false,
    isReadOnly: false,
    mountpoints: [],
    isLoop: false,
    blockSize: 512,
    logicalBlockSize: 512,
    partitionTableType: null,
  };
}

const refusal = (code: Reason['code'], message: string): Reason => ({
  code,
  severity: 'refused',
  message,
});

function refused(
  requestedPath: string,
  device: string,
  deviceNumber: string | null,
  reason: Reason,
): RecheckedDrive {
  return {
    requestedPath,
    deviceNumber,
    drive: unknownDrive(device),
    verdict: verdictOf([reason]),
  };
}

/**
 * drivelist on Linux appends the partitions' labels and mount points in parentheses
 * (`SanDisk Ultra (/run/media/alice/STICK)`); unmounting before the write changes that part,
 * not the drive.
 */
export function stableDescription(description: string): string {
  return description.replace(/\s*\([^()]*\)\s*$/, '').trim();
}

function isPolicyContext(x: RecheckOptions | PolicyContext): x is PolicyContext {
  return 'uses' in x && 'source' in x;
}

/**
 * A PolicyContext read earlier is only used for what it was asked about (image, app paths,
 * loop permission): the system facts themselves are read again now, which is the point.
 */
function optionsFrom(x: RecheckOptions | PolicyContext): RecheckOptions {
  if (!isPolicyContext(x)) return x;
  return {
    imagePath: x.imagePath,
    imageSize: x.imageSize,
    appPaths: x.appPaths,
    allowLoop: x.allowLoop,
  };
}

export async function recheckDrive(
  devicePath: string,
  optsOrContext: RecheckOptions | PolicyContext = {},
): Promise<RecheckedDrive> {
  const opts = optionsFrom(optsOrContext);
  const platform = opts.platform ?? process.platform;
  let device = devicePath;
  let deviceNumber: string | null = null;

  // Windows names drives \\.\PhysicalDriveN: no filesystem node to resolve or stat.
  if (platform !== 'win32') {
    try {
      device = await realpath(devicePath);
    } catch {
      return refused(
        devicePath,
        devicePath,
        null,
        refusal('DRIVE_NOT_FOUND', `${devicePath} does not exist (was the drive unplugged?).`),
      );
    }
    let st: Awaited<ReturnType<typeof stat>> & { rdev: bigint };
    try {
      st = await stat(device, { bigint: true });
    } catch {
      return refused(
        devicePath,
        device,
        null,
        refusal('DRIVE_NOT_FOUND', `${device} disappeared while it was being checked.`),
      );
    }
    // macOS writes through the raw character device /dev/rdiskN.
    const isDevice = st.isBlockDevice() || (platform === 'darwin' && st.isCharacterDevice());
    if (!isDevice) {
      const what = st.isDirectory() ? 'a folder' : st.isFile() ? 'a regular file' : 'not a disk';
      return refused(
        devicePath,
        device,
        null,
        refusal('DRIVE_NOT_BLOCK_DEVICE', `${device} is ${what}, not a drive.`),
      );
    }
    deviceNumber = devNumberOf(st.rdev);
    if (platform === 'linux' && (await isPartition(basename(device)))) {
      return refused(
        devicePath,
        device,
        deviceNumber,
        refusal(
          'DRIVE_PARTITION',
          `${device} is a partition; Zeta Flash writes whole drives (choose the drive itself).`,
        ),
      );
    }
    if (/^\/dev\/loop\d+$/.test(device) && opts.allowLoop !== true) {
      return refused(
        devicePath,
        device,
        deviceNumber,
        refusal(
          'DRIVE_LOOP_NOT_ALLOWED',
          `${device} is a loop device; these are offered only when ZFLASH_ALLOW_LOOP=1 is set.`,
        ),
      );
    }
  }

  const drives = await scanDrives(opts);
  const found = drives.find(
    (a) => sameDevice(a.drive.device, device) || sameDevice(a.drive.raw, device),
  );
  if (!found) {
    return refused(
      devicePath,
      device,
      deviceNumber,
      refusal(
        'DRIVE_NOT_LISTED',
        `${device} is not among the drives attached to this computer (was it unplugged?).`,
      ),
    );
  }

  const changes: string[] = [];
  const expected = opts.expected;
  if (expected?.size !== undefined && expected.size !== found.drive.size) changes.push('size');
  if (
    expected?.description !== undefined &&
    stableDescription(expected.description) !== stableDescription(found.drive.description)
  )
    changes.push('description');
  if (changes.length === 0) return { ...found, requestedPath: devicePath, deviceNumber };
  const changed = refusal(
    'DRIVE_CHANGED',
    `${device} is not the drive you chose any more (its ${changes.join(' and ')} changed): choose the drive again.`,
  );
  return {
    ...found,
    requestedPath: devicePath,
    deviceNumber,
    verdict: verdictOf([changed, ...found.verdict.reasons]),
  };
}
