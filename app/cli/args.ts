/**
 * argv parsing on node:util parseArgs, with its messages rewritten for people: one sentence
 * naming the option, "did you mean" for a near miss, and the usage line as the hint.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { inputError } from '../errors.js';
import { closest } from './suggest.js';

type Options = NonNullable<ParseArgsConfig['options']>;

function optionNames(options: Options): string[] {
  return Object.entries(options).flatMap(([name, o]) => [
    `--${name}`,
    ...(o.short ? [`-${o.short}`] : []),
  ]);
}

/** Rewrites a parseArgs error (ERR_PARSE_ARGS_*) into one sentence. */
export function describeParseError(err: unknown, options: Options): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const quoted = /'(-[^' ]+)/.exec(message)?.[1] ?? null;
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const opt = quoted ?? 'that option';
      const guess = quoted ? closest(quoted, optionNames(options)) : null;
      return `${opt} is not an option of this command.${guess ? ` Did you mean ${guess}?` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      if (/argument missing/.test(message)) return `${quoted ?? 'An option'} needs a value.`;
      if (/does not take an argument/.test(message))
        return `${quoted ?? 'That option'} is a switch and takes no value.`;
      return `${quoted ?? 'An option'} has a value it cannot take.`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const word = /'([^']*)'/.exec(message)?.[1];
      return `This command takes no ${word ? `"${word}" or other ` : ''}words besides its options.`;
    }
    default:
      return message.replace(/\. To specify.*$/s, '.');
  }
}

export function parse<T extends Options>(
  argv: readonly string[],
  options: T,
  usage: string,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (err) {
    throw inputError('ZFLASH_USAGE', describeParseError(err, options), `Usage: ${usage}`);
  }
}

export const wantsJson = (argv: readonly string[]): boolean => argv.includes('--json');
