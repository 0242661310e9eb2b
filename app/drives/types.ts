/**
 * The drive model shared by the scanner, the policy, the wizard (through IPC) and the helper.
 * Everything here is plain data: JSON-serialisable, readonly, no classes.
 */
import type { ZflashErrorJson } from '../errors.js';

/** What drivelist returns on any platform, typed loosely enough to hold recorded outputs. */
export interface RawDrive {
  readonly enumerator?: string;
  readonly busType: string;
  readonly busVersion?: string | null;
  readonly device: string;
  readonly devicePath?: string | null;
  readonly raw: string;
  readonly description: string;
  readonly error?: string | null;
  readonly size: number | null;
  readonly blockSize?: number;
  readonly logicalBlockSize?: number;
  readonly mountpoints: readonly { readonly path: string; readonly label?: string | null }[];
  readonly isReadOnly: boolean;
  readonly isSystem: boolean;
  readonly isVirtual: boolean | null;
  readonly isRemovable: boolean;
  readonly isCard?: boolean | null;
  readonly isSCSI?: boolean | null;
  readonly isUSB: boolean | null;
  readonly isUAS?: boolean | null;
  readonly partitionTableType?: 'mbr' | 'gpt' | null;
}

/** The drive enumerator; drivelist.list() in production, recorded outputs in tests. */
export type ListDrives = () => Promise<readonly RawDrive[]>;

/** One whole drive as we show it and judge it. */
export interface DriveInfo {
  /** The path the operating system names the drive by (`/dev/sda`, `/dev/disk4`, `\\.\PhysicalDrive1`). */
  readonly device: string;
  /** The path the helper opens for writing (`/dev/rdisk4` on macOS, otherwise usually `device`). */
  readonly raw: string;
  /** Bytes; null when the system does not know (zram before setup, an empty card reader). */
  readonly size: number | null;
  readonly description: string;
  /** drivelist's bus name in upper case (`USB`, `NVME`, `SATA`, `UNKNOWN`); `LOOP` for our loop devices. */
  readonly busType: string;
  readonly isUSB: boolean | null;
  readonly isRemovable: boolean;
  readonly isVirtual: boolean;
  /** drivelist's opinion, kept as a hint: on Linux it only means "not removable and not virtual". */
  readonly isSystem: boolean;
  readonly isReadOnly: boolean;
  /** Mount points of the drive's partitions (and of the drive itself), as paths. */
  readonly mountpoints: readonly string[];
  /** A Linux loop device, listed only when loop devices are allowed (tests and VM workflows). */
  readonly isLoop: boolean;
  readonly blockSize: number;
  readonly logicalBlockSize: number;
  readonly partitionTableType: 'mbr' | 'gpt' | null;
}

export type VerdictStatus = 'eligible' | 'warn' | 'refused';

/** Every reason the policy gives, defined once (the wire schema and the UI switch over it). */
export const REASON_CODES = [
  'DRIVE_SYSTEM',
  'DRIVE_MOUNTED',
  'DRIVE_SWAP',
  'DRIVE_HOLDS_IMAGE',
  'DRIVE_HOLDS_APP',
  'DRIVE_VIRTUAL',
  'DRIVE_READ_ONLY',
  'DRIVE_SIZE_UNKNOWN',
  'DRIVE_TOO_SMALL',
  'DRIVE_LARGE',
  'DRIVE_NOT_REMOVABLE',
  'DRIVE_LOOP_NOT_ALLOWED',
  // Only from recheckDrive (the helper's last look before it opens the device):
  'DRIVE_NOT_FOUND',
  'DRIVE_NOT_BLOCK_DEVICE',
  'DRIVE_PARTITION',
  'DRIVE_NOT_LISTED',
  'DRIVE_CHANGED',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

/** Why a drive is refused or needs a second look. `message` is one sentence for a person. */
export interface Reason {
  readonly code: ReasonCode;
  readonly severity: 'refused' | 'warn';
  readonly message: string;
}

export interface Verdict {
  readonly status: VerdictStatus;
  /** Refusals first, then warnings; empty when eligible. */
  readonly reasons: readonly Reason[];
}

export interface AssessedDrive {
  readonly drive: DriveInfo;
  readonly verdict: Verdict;
}

/**
 * Something the running system keeps on a whole drive, already mapped from partitions,
 * device-mapper/md stacks and files down to the disk (`/dev/nvme0n1`, `/dev/sda`).
 */
export type DiskUse =
  | {
      readonly kind: 'mount';
      readonly disk: string;
      readonly source: string;
      readonly target: string;
      /** Mounted by udisks (libmount's utab records `uhelper=udisks2`): removable media. */
      readonly udisks?: boolean;
    }
  | { readonly kind: 'swap'; readonly disk: string; readonly source: string }
  | {
      readonly kind: 'image';
      readonly disk: string;
      readonly path: string;
      /**
       * `backing-file`: the disk is a loop device whose backing file is this very file (same
       * device and inode): writing the loop device writes over the image.
       */
      readonly via?: 'backing-file';
    }
  | {
      readonly kind: 'app';
      readonly disk: string;
      readonly path: string;
      readonly via?: 'backing-file';
    };

/**
 * Where the system facts came from. `procfs`: the Linux kernel's own mount and swap tables
 * mapped through sysfs, which is authoritative, so drivelist's `isSystem` (on Linux just
 * "not removable") is only a warning. `drivelist`: macOS/Windows, where we only have
 * drivelist's mountpoints and its `isSystem` comes from the OS and is obeyed.
 */
export type SystemSource = 'procfs' | 'drivelist';

export interface PolicyContext {
  readonly source: SystemSource;
  readonly imagePath: string | null;
  /** Bytes the image needs on the drive (the uncompressed size for compressed images). */
  readonly imageSize: number | null;
  /** Files Zeta Flash runs from (the Node/Electron binary, this module). */
  readonly appPaths: readonly string[];
  /** Loop devices are listed and may be written (tests, VM workflows); the front end decides. */
  readonly allowLoop: boolean;
  readonly uses: readonly DiskUse[];
}

export type DriveEvent =
  | { readonly type: 'attach'; readonly drive: AssessedDrive }
  | { readonly type: 'detach'; readonly drive: AssessedDrive }
  | { readonly type: 'change'; readonly drive: AssessedDrive; readonly previous: AssessedDrive }
  /** A poll failed; emitted once per run of identical failures, polling goes on. */
  | { readonly type: 'scan-error'; readonly error: ZflashErrorJson };
