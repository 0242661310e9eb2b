/**
 * "Write another" must not re-use the last hostname (Raspberry Pi Imager #380, #514: the same
 * name twice, and sequential names were asked for). A pattern such as `node-{nn}` names the
 * next node with the first free number, zero-padded to the number of `n`s.
 *
 * Which names are taken is a parameter: today the front end passes the names it flashed in
 * this run; the roster (app/roster, being built) will pass every node it knows.
 */
import { inputError } from '../errors.js';
import { isValidHostname } from '../node/hostname.js';

export const DEFAULT_NAME_PATTERN = 'node-{nn}';

const PLACEHOLDER = /\{(n{1,4})\}/g;
/** The highest number tried before giving up (a pattern with {n} has 9 999 names at most anyway). */
const MAX_NUMBER = 9999;

/** Why a pattern cannot name nodes, or null. */
export function namePatternProblem(pattern: string): string | null {
  const holes = [...pattern.matchAll(PLACEHOLDER)];
  if (holes.length !== 1) {
    return 'A name pattern needs exactly one number placeholder, such as {n} or {nn} (node-{nn} gives node-01, node-02…).';
  }
  const sample = pattern.replace(PLACEHOLDER, '1').toLowerCase();
  if (!isValidHostname(sample)) {
    return `The pattern would give "${sample}", which is not a valid hostname (letters a–z, digits and hyphens, up to 63 characters, no hyphen at either end).`;
  }
  return null;
}

/** The name for `n` (1-based): `node-{nn}` + 3 → `node-03`. */
export function nameFor(pattern: string, n: number): string {
  return pattern
    .replace(PLACEHOLDER, (_, ns: string) => String(n).padStart(ns.length, '0'))
    .toLowerCase();
}

/** The first name the pattern gives that is not taken (compared case-insensitively). */
export function suggestHostname(pattern: string, taken: Iterable<string>): string {
  const problem = namePatternProblem(pattern);
  if (problem) {
    throw inputError('ZFLASH_HOSTNAME_INVALID', problem, 'Use a pattern such as node-{nn}.', {
      pattern,
    });
  }
  const used = new Set([...taken].map((t) => t.toLowerCase()));
  for (let n = 1; n <= MAX_NUMBER; n++) {
    const name = nameFor(pattern, n);
    if (!isValidHostname(name)) break;
    if (!used.has(name)) return name;
  }
  throw inputError(
    'ZFLASH_HOSTNAME_INVALID',
    `Every name the pattern ${pattern} can give is already taken.`,
    'Use a pattern with more digits, such as node-{nnn}, or another prefix.',
    { pattern },
  );
}
