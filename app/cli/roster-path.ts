/** Which roster file the CLI uses: --roster, then $ZFLASH_ROSTER, then the platform's data folder. */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { inputError } from '../errors.js';
import { defaultRosterPath } from '../roster/paths.js';

/** `ZFLASH_ROSTER=off`: flashes neither check nor record names (scripts with their own inventory). */
export const rosterOff = (env: NodeJS.ProcessEnv): boolean => env['ZFLASH_ROSTER'] === 'off';

export function resolveRosterPath(env: NodeJS.ProcessEnv, override?: string): string {
  if (override) return resolve(override);
  if (rosterOff(env))
    throw inputError(
      'ZFLASH_USAGE',
      'The roster is turned off (ZFLASH_ROSTER=off).',
      'Unset ZFLASH_ROSTER, or name the roster file with --roster FILE.',
    );
  if (env['ZFLASH_ROSTER']) return resolve(env['ZFLASH_ROSTER']);
  return defaultRosterPath({ platform: process.platform, env, homedir: env['HOME'] || homedir() });
}
