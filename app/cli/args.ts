/** argv parsing on node:util parseArgs, with usage errors turned into exit-2 errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { inputError } from '../errors.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: T,
  usage: string,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (err) {
    throw inputError(
      'ZFLASH_USAGE',
      (err as Error).message.replace(/\. To specify.*$/s, '.'),
      `Usage: ${usage}`,
    );
  }
}

export const wantsJson = (argv: readonly string[]): boolean => argv.includes('--json');
