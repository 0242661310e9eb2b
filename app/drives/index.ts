/** The drives module: scanner (drivelist + loop devices), our safety policy, watch, recheck. */
export { REASON_CODES } from './types.js';
export type {
  AssessedDrive,
  DiskUse,
  DriveEvent,
  DriveInfo,
  ListDrives,
  PolicyContext,
  RawDrive,
  Reason,
  ReasonCode,
  SystemSource,
  Verdict,
  VerdictStatus,
} from './types.js';
export { formatDriveSize } from './format.js';
export {
  LARGE_DRIVE_BYTES,
  assessDrive,
  isProtectedMount,
  isRemovableMediaMount,
  isVirtualDeviceName,
  sameDevice,
  statusOf,
  verdictOf,
} from './policy.js';
export {
  defaultAppPaths,
  readSystemContext,
  usesFromMountpoints,
  type SystemContextOptions,
} from './system-context.js';
export {
  assessDrives,
  drivelistList,
  normalizeDrive,
  scanDrives,
  type ScanOptions,
} from './scanner.js';
export { diffDrives, watchDrives, type WatchOptions } from './watch.js';
export {
  recheckDrive,
  stableDescription,
  type RecheckOptions,
  type RecheckedDrive,
} from './recheck.js';
export { devNumberOf } from './linux-block.js';
export {
  darwinUnmountCommand,
  linuxUnmountCommand,
  unmountDrive,
  windowsCleanScript,
  type Exec,
  type ExecResult,
  type UnmountOptions,
  type UnmountResult,
  type UnmountTarget,
} from './unmount.js';
export { driveRefusedError } from './refusal.js';
