/**
 * Node names: the next free name in the operator's pattern, and the check that a new node
 * does not take a name the roster already gave to another stick.
 */
import { inputError } from '../errors.js';
import { isValidHostname } from '../node/hostname.js';
import type { Roster } from './schema.js';

export const DEFAULT_NAME_PATTERN = 'node-{nn}';

export interface NamePattern {
  readonly prefix: string;
  readonly suffix: string;
  /** Minimum digits: `{nn}` → 2 (node-01 … node-99, then node-100). */
  readonly width: number;
}

function patternError(pattern: string, why: string): never {
  throw inputError(
    'ZFLASH_NAME_PATTERN_INVALID',
    `The name pattern "${pattern.slice(0, 80)}" ${why}.`,
    'Write the number as {nn} (two digits: node-{nn} gives node-01, node-02, …), or give a sample name such as node-01.',
    { pattern: pattern.slice(0, 80) },
  );
}

/**
 * Accepts `prefix-{nn}` (the number of n's is the width, a suffix may follow), a trailing
 * run of capital N (`rack-NN`), or a sample name ending in digits (`node-01`).
 */
export function parseNamePattern(pattern: string): NamePattern {
  const p = pattern.trim();
  let parsed: NamePattern;
  const braces = [...p.matchAll(/\{(n+)\}/gi)];
  if (braces.length > 1) patternError(p, 'has more than one {n} placeholder');
  const brace = braces[0];
  const trailingN = /^(.*?)(N+)$/.exec(p);
  const trailingDigits = /^(.*?)(\d+)$/.exec(p);
  if (brace) {
    parsed = {
      prefix: p.slice(0, brace.index),
      suffix: p.slice(brace.index + brace[0].length),
      width: brace[1]!.length,
    };
  } else if (trailingN && trailingN[1] !== '') {
    parsed = { prefix: trailingN[1]!, suffix: '', width: trailingN[2]!.length };
  } else if (trailingDigits && trailingDigits[1] !== '') {
    parsed = { prefix: trailingDigits[1]!, suffix: '', width: trailingDigits[2]!.length };
  } else {
    patternError(p, 'has no place for the number');
  }
  parsed = { ...parsed, prefix: parsed.prefix.toLowerCase(), suffix: parsed.suffix.toLowerCase() };
  if (parsed.width > 6) patternError(p, 'asks for more than 6 digits');
  if (!isValidHostname(formatName(parsed, 1)) || !isValidHostname(formatName(parsed, 999_999)))
    patternError(
      p,
      'does not make valid hostnames (letters a–z, digits, inner hyphens; 63 at most)',
    );
  return parsed;
}

export const formatName = (p: NamePattern, n: number): string =>
  `${p.prefix}${String(n).padStart(p.width, '0')}${p.suffix}`;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The number a hostname carries in this pattern, whatever its padding (node-1 and node-01 are both 1). */
export function numberIn(p: NamePattern, hostname: string): number | null {
  const m = new RegExp(`^${escapeRe(p.prefix)}(\\d+)${escapeRe(p.suffix)}$`).exec(hostname);
  return m ? Number(m[1]) : null;
}

/** The lowest free name in the pattern. A number is taken whatever its padding in the roster. */
export function suggestName(roster: Roster, pattern: string = DEFAULT_NAME_PATTERN): string {
  const p = parseNamePattern(pattern);
  const taken = new Set(
    roster.nodes.map((n) => numberIn(p, n.hostname)).filter((n): n is number => n !== null),
  );
  let n = 1;
  while (taken.has(n)) n++;
  return formatName(p, n);
}

/** A pattern made from a hostname ending in digits (`node-07` → `node-{nn}`), for suggestions. */
function patternOf(hostname: string): string | null {
  const m = /^(.*?[^0-9])(\d+)$/.exec(hostname);
  return m ? `${m[1]}{${'n'.repeat(Math.min(m[2]!.length, 6))}}` : null;
}

export interface NameCheckOptions {
  /** The operator re-flashes this node on purpose. */
  readonly reflash?: boolean;
}

/**
 * Throws ZFLASH_NAME_TAKEN when `hostname` is in the roster and this is not a deliberate
 * re-flash, and ZFLASH_NODE_UNKNOWN when a re-flash names a node the roster does not have
 * (a typo would otherwise make a second node under a near-identical name).
 */
export function checkNewName(roster: Roster, hostname: string, opts: NameCheckOptions = {}): void {
  const existing = roster.nodes.find((n) => n.hostname === hostname);
  const pattern = patternOf(hostname);
  if (existing && !opts.reflash) {
    let suggestion: string | null;
    try {
      suggestion = pattern ? suggestName(roster, pattern) : null;
    } catch {
      suggestion = null; // a name whose prefix makes no valid pattern: no suggestion
    }
    throw inputError(
      'ZFLASH_NAME_TAKEN',
      `${hostname} is already in the roster (${existing.status}, flashed ${existing.flashedAt}); a new node needs a name of its own.`,
      suggestion
        ? `Name this node ${suggestion}, or confirm that you are re-flashing ${hostname} on purpose.`
        : `Choose another name, or confirm that you are re-flashing ${hostname} on purpose.`,
      { hostname, status: existing.status, flashedAt: existing.flashedAt, suggestion },
    );
  }
  if (!existing && opts.reflash) {
    let near: string | undefined;
    if (pattern) {
      const p = parseNamePattern(pattern);
      const num = numberIn(p, hostname);
      near = roster.nodes.find((n) => numberIn(p, n.hostname) === num)?.hostname;
    }
    throw inputError(
      'ZFLASH_NODE_UNKNOWN',
      `${hostname} is not in the roster, so there is nothing to re-flash.`,
      near
        ? `Did you mean ${near}? For a new node, flash it without re-flashing.`
        : 'For a new node, flash it without re-flashing.',
      { hostname, near: near ?? null },
    );
  }
}
