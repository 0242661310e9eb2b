/** The one error every caller (inject, flash, the helper) gives for a drive the policy refuses. */
import { targetError, type ZflashError } from '../errors.js';
import type { AssessedDrive } from './types.js';

export function driveRefusedError({ drive, verdict }: AssessedDrive): ZflashError {
  const why = verdict.reasons.filter((r) => r.severity === 'refused').map((r) => r.message);
  return targetError(
    'ZFLASH_DRIVE_REFUSED',
    `Zeta Flash will not write to ${drive.device}: ${why.join('; ') || 'its size is unknown'}`,
    'Choose a removable stick; run `zflash drives` to see which drives are safe.',
    { device: drive.device, reasons: verdict.reasons.map((r) => r.code) },
  );
}
