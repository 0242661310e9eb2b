/** The drives module: scanner (drivelist + loop devices), our safety policy, watch, recheck. */
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
  isVirtualDeviceName,
  sameDevice,
  statusOf,
  verdictOf,
} from './policy.js';
export {
  defaultAppPaths,
  loopAllowed,
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
export { driveRefusedError } from './refusal.js';
