/**
 * Our own drive-safety policy on top of drivelist. drivelist's `isSystem` is a hint
 * (DESIGN.md: it lists /dev/zram0 as removable, misreads NVMe enclosures and USB sticks
 * that call themselves "fixed"), so the verdict is built from facts we check ourselves:
 * what the running system mounts and swaps on, where the image and the app live, size,
 * read-only, virtual devices. Pure: no I/O, unit-tested on recorded drivelist outputs.
 */
import { assertNever } from '../errors.js';
import { distinctSizes } from '../format.js';
import { formatDriveSize } from './format.js';
import type { DiskUse, DriveInfo, PolicyContext, Reason, Verdict, VerdictStatus } from './types.js';

/**
 * Above this a "drive" is more likely a backup disk than an installer stick. 128 GiB rather
 * than 128e9 so that sticks sold as "128 GB" (up to about 128.3e9 bytes) do not warn.
 */
export const LARGE_DRIVE_BYTES = 128 * 1024 ** 3;

/** Mount points that mean "the running system lives here" (Linux, macOS, Windows). */
const PROTECTED_MOUNTS = new Set([
  '/',
  '/boot',
  '/boot/efi',
  '/efi',
  '/nix',
  '/nix/store',
  '/usr',
  '/var',
  '/home',
  '/System/Volumes/Data',
  '/System/Volumes/VM',
  '/System/Volumes/Preboot',
  '/private/var/vm',
  // Where live systems keep the medium they booted from (NixOS, Ubuntu, dracut, Arch, Debian).
  '/iso',
  '/cdrom',
  '/run/initramfs/live',
  '/run/archiso/bootmnt',
  '/run/live/medium',
  '/lib/live/mount/medium',
]);
/** Whole trees nobody mounts a USB stick inside: `/boot/firmware` (Raspberry Pi), NixOS binds. */
const PROTECTED_PREFIXES = ['/boot/', '/nix/', '/usr/', '/System/Volumes/'];

export function isProtectedMount(target: string): boolean {
  const t = target.length > 1 ? target.replace(/[\\/]+$/, '') : target;
  if (PROTECTED_MOUNTS.has(t)) return true;
  if (PROTECTED_PREFIXES.some((p) => t.startsWith(p))) return true;
  // The Windows system volume; drivelist's own isSystem also covers another letter there.
  return /^c:\\?$/i.test(t);
}

/**
 * Where desktops put removable media: udisks2 (`/run/media/$USER/…`, `/media/$USER/…`),
 * Debian's usbmount and pmount (`/media/…`), macOS (`/Volumes/…`), and a Windows drive letter.
 * A stick mounted there is the normal case and is unmounted before writing; a filesystem
 * mounted anywhere else (`/srv`, `/var/lib/…`, `/mnt/backup`) is in use by this computer.
 */
export function isRemovableMediaMount(target: string): boolean {
  if (/^[a-z]:\\?$/i.test(target)) return !/^c:/i.test(target);
  const t = target.replace(/\/+$/, '');
  if (t.split('/').some((part) => part === '..' || part === '.')) return false;
  return ['/media/', '/run/media/', '/Volumes/'].some(
    (p) => t.startsWith(p) && t.length > p.length,
  );
}

/** Block devices that are memory or a stack over other disks, never a stick. */
export function isVirtualDeviceName(device: string): boolean {
  return (
    /^\/dev\/(zram|ram|dm-|md|nbd|rbd)\d/.test(device) ||
    device.startsWith('/dev/mapper/') ||
    device.startsWith('/dev/md/')
  );
}

/** Compares device paths the way the OS names them: `/dev/rdisk4` is `/dev/disk4`, `\\.\PHYSICALDRIVE1` is `\\.\PhysicalDrive1`. */
export function sameDevice(a: string, b: string): boolean {
  const norm = (p: string): string =>
    p.startsWith('\\\\.\\') ? p.toLowerCase() : p.replace(/^\/dev\/rdisk/, '/dev/disk');
  return norm(a) === norm(b);
}

function usesOf(drive: DriveInfo, uses: readonly DiskUse[]): readonly DiskUse[] {
  return uses.filter((u) => sameDevice(u.disk, drive.device) || sameDevice(u.disk, drive.raw));
}

function listText(items: readonly string[]): string {
  const unique = [...new Set(items)];
  if (unique.length <= 1) return unique.join('');
  return `${unique.slice(0, -1).join(', ')} and ${unique[unique.length - 1] ?? ''}`;
}

const refuse = (code: Reason['code'], message: string): Reason => ({
  code,
  severity: 'refused',
  message,
});
const warn = (code: Reason['code'], message: string): Reason => ({
  code,
  severity: 'warn',
  message,
});

/** The status implied by a set of reasons: any refusal wins, then any warning. */
export function statusOf(reasons: readonly Reason[]): VerdictStatus {
  if (reasons.some((r) => r.severity === 'refused')) return 'refused';
  if (reasons.length > 0) return 'warn';
  return 'eligible';
}

/** Builds a verdict, refusals before warnings, warnings dropped once the drive is refused. */
export function verdictOf(reasons: readonly Reason[]): Verdict {
  const status = statusOf(reasons);
  const kept = status === 'refused' ? reasons.filter((r) => r.severity === 'refused') : reasons;
  return { status, reasons: kept };
}

export function assessDrive(drive: DriveInfo, ctx: PolicyContext): Verdict {
  const reasons: Reason[] = [];
  const mounts = new Set(drive.mountpoints);
  const udisks = new Set<string>();
  const swaps: string[] = [];
  const images: string[] = [];
  const backedImages: string[] = [];
  const apps: string[] = [];
  for (const use of usesOf(drive, ctx.uses)) {
    switch (use.kind) {
      case 'mount':
        mounts.add(use.target);
        if (use.udisks) udisks.add(use.target);
        break;
      case 'swap':
        swaps.push(use.source);
        break;
      case 'image':
        (use.via === 'backing-file' ? backedImages : images).push(use.path);
        break;
      case 'app':
        apps.push(use.path);
        break;
      default:
        assertNever(use, 'disk use');
    }
  }
  const systemMounts = [...mounts].filter(isProtectedMount);
  const dataMounts = [...mounts].filter(
    (m) => !isProtectedMount(m) && !isRemovableMediaMount(m) && !udisks.has(m),
  );

  if (systemMounts.length > 0) {
    reasons.push(
      refuse(
        'DRIVE_SYSTEM',
        `This computer runs from this drive: it holds ${listText(systemMounts)}.`,
      ),
    );
  } else if (drive.isSystem && !drive.isLoop && ctx.source === 'drivelist') {
    reasons.push(
      refuse('DRIVE_SYSTEM', 'The operating system reports this as a system (internal) drive.'),
    );
  }
  if (dataMounts.length > 0) {
    reasons.push(
      refuse(
        'DRIVE_MOUNTED',
        `This drive has a filesystem in use at ${listText(dataMounts)}, outside the places removable media are mounted (/media, /run/media, /Volumes): Zeta Flash will not unmount it.`,
      ),
    );
  }
  if (swaps.length > 0) {
    reasons.push(
      refuse('DRIVE_SWAP', `This computer uses this drive as swap space (${listText(swaps)}).`),
    );
  }
  if (images.length > 0) {
    reasons.push(
      refuse(
        'DRIVE_HOLDS_IMAGE',
        `The image you are writing is stored on this drive (${listText(images)}).`,
      ),
    );
  } else if (backedImages.length > 0) {
    reasons.push(
      refuse(
        'DRIVE_HOLDS_IMAGE',
        `This loop device is backed by the image you are writing (${listText(backedImages)}): writing it would overwrite the image.`,
      ),
    );
  }
  if (apps.length > 0) {
    reasons.push(
      refuse('DRIVE_HOLDS_APP', `Zeta Flash itself runs from this drive (${listText(apps)}).`),
    );
  }
  if (drive.isLoop && !ctx.allowLoop) {
    reasons.push(
      refuse(
        'DRIVE_LOOP_NOT_ALLOWED',
        'Loop devices are offered only when ZFLASH_ALLOW_LOOP=1 is set (tests and VM workflows).',
      ),
    );
  }
  if (!drive.isLoop && (drive.isVirtual || isVirtualDeviceName(drive.device))) {
    reasons.push(
      refuse(
        'DRIVE_VIRTUAL',
        'This is a virtual device (memory, RAM disk or a volume built on other drives), not a stick.',
      ),
    );
  }
  if (drive.isReadOnly) {
    reasons.push(
      refuse(
        'DRIVE_READ_ONLY',
        'This drive is read-only (for an SD card, check the lock switch on its side).',
      ),
    );
  }
  if (drive.size === null || !(drive.size > 0)) {
    reasons.push(
      refuse(
        'DRIVE_SIZE_UNKNOWN',
        'The size of this drive is unknown or zero (no medium inserted?).',
      ),
    );
  } else if (ctx.imageSize !== null && ctx.imageSize > 0 && drive.size < ctx.imageSize) {
    const [holds, needs] = distinctSizes(drive.size, ctx.imageSize, formatDriveSize);
    reasons.push(
      refuse('DRIVE_TOO_SMALL', `This drive (${holds}) is smaller than the image (${needs}).`),
    );
  }

  if (drive.size !== null && drive.size > LARGE_DRIVE_BYTES) {
    reasons.push(
      warn(
        'DRIVE_LARGE',
        `This drive is large (${formatDriveSize(drive.size)}) for an installer stick: make sure it is not a backup disk.`,
      ),
    );
  }
  if (!drive.isLoop && drive.isUSB !== true && !drive.isRemovable) {
    reasons.push(
      warn(
        'DRIVE_NOT_REMOVABLE',
        drive.isSystem
          ? 'This drive reports itself as fixed (internal), though nothing this computer runs from is on it: check it is the stick you mean.'
          : 'This drive is neither USB nor removable (internal disk, or an adapter hiding its bus): check it is the one you mean.',
      ),
    );
  }

  return verdictOf(reasons);
}
