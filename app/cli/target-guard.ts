/**
 * Before `inject` writes to a block device it runs the same drive policy the flash engine
 * uses: a system disk's ESP is the one place an injected file could hurt this machine.
 */
import { targetError } from '../errors.js';
import { recheckDrive } from '../drives/index.js';

export async function guardBlockDevice(path: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { drive, verdict } = await recheckDrive(path, { env });
  if (verdict.status === 'refused') {
    throw targetError(
      'ZFLASH_DRIVE_REFUSED',
      `Zeta Flash will not write to ${drive.device}: ${verdict.reasons
        .filter((r) => r.severity === 'refused')
        .map((r) => r.message)
        .join('; ')}`,
      'Choose a removable stick; run `zflash drives` to see which drives are safe.',
      { device: drive.device, reasons: verdict.reasons.map((r) => r.code) },
    );
  }
}
