/**
 * Before `inject` writes to a block device it runs the same drive policy the flash engine
 * uses: a system disk's ESP is the one place an injected file could hurt this machine.
 */
import { driveRefusedError, recheckDrive } from '../drives/index.js';

export async function guardBlockDevice(path: string, env: NodeJS.ProcessEnv): Promise<void> {
  const checked = await recheckDrive(path, { allowLoop: env['ZFLASH_ALLOW_LOOP'] === '1' });
  if (checked.verdict.status === 'refused') throw driveRefusedError(checked);
}
