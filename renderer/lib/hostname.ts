/**
 * The hostname rule as the node step spells it out while the operator types. The engine
 * (app/node/hostname.ts) is the authority and checks again; this mirrors it so the answer
 * comes at once, in the same words.
 */

export const HOSTNAME_RULE =
  'Letters a–z, digits 0–9 and hyphens; 1 to 63 characters; no hyphen at the start or end.';

const RESERVED = ['localhost', 'localdomain', 'ip6-localhost', 'ip6-loopback'];

function describeChar(ch: string): string {
  if (ch === ' ') return 'a space';
  const cp = ch.codePointAt(0) ?? 0;
  return /^[\p{L}\p{N}\p{S}\p{P}]$/u.test(ch)
    ? `"${ch}"`
    : `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Why `input` cannot name a node, or null. Upper case is fine: it becomes lower case. */
export function hostnameProblem(input: string): string | null {
  const name = input.trim();
  if (name === '') return 'Type a name for this node.';
  if (name.includes('.'))
    return `Give only the name, without dots: the node is reached as ${name.split('.')[0] || 'name'}.local.`;
  const chars = [...name];
  const bad = chars.findIndex((c) => !/^[A-Za-z0-9-]$/.test(c));
  if (bad >= 0) {
    const ch = chars[bad] ?? '';
    return `${describeChar(ch)} at position ${bad + 1} is not allowed${ch === ' ' || ch === '_' ? ' (use a hyphen)' : ''}.`;
  }
  if (name.length > 63) return `The name has ${name.length} characters; at most 63 are allowed.`;
  if (name.startsWith('-') || name.endsWith('-'))
    return 'The name may not start or end with a hyphen.';
  if (RESERVED.includes(name.toLowerCase()))
    return `"${name.toLowerCase()}" is the computer's own loopback name; choose another.`;
  return null;
}

/** The name as the node will carry it. */
export const canonicalHostname = (input: string) => input.trim().toLowerCase();
