/**
 * The hostname becomes `zeta-hostname.txt` on the ESP and the node's mDNS name
 * (`ssh zeta@<hostname>.local`), so it must be one RFC 1123 label and nothing the
 * resolver treats specially. Errors name the rule and the offending character so the
 * operator can fix the name without guessing.
 */
import { inputError } from '../errors.js';
import type { Notice } from './types.js';

/** One lowercase RFC 1123 label: 1–63 of a-z 0-9 -, no hyphen at either end. */
export const HOSTNAME_PATTERN = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Names that /etc/hosts maps to loopback on NixOS and Debian: a node called this
 * would resolve itself and its peers to 127.0.0.1 / ::1.
 */
export const RESERVED_HOSTNAMES: readonly string[] = [
  'localhost',
  'localdomain',
  'ip6-localhost',
  'ip6-loopback',
];

const RULE = 'letters a–z, digits 0–9 and hyphens';

/** True when `name` is already a canonical, allowed hostname (used by the schema). */
export function isValidHostname(name: string): boolean {
  return HOSTNAME_PATTERN.test(name) && !RESERVED_HOSTNAMES.includes(name);
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  // Spaces and invisible characters are shown by code point, since quoting them shows nothing.
  return /^[\p{L}\p{N}\p{S}\p{P}]$/u.test(ch) ? `"${ch}" (${hex})` : hex;
}

function invalid(message: string, hint: string, details: Record<string, unknown>): never {
  throw inputError('ZFLASH_HOSTNAME_INVALID', message, hint, details);
}

export function validateHostname(input: string): { hostname: string; notices: Notice[] } {
  const trimmed = input.trim();
  if (trimmed === '') {
    invalid('The hostname is empty.', `Type a short name for this node using ${RULE}.`, {});
  }

  if (trimmed.includes('.')) {
    const first = trimmed.split('.')[0] ?? '';
    const suggestion = first.toLowerCase();
    invalid(
      `The hostname "${trimmed}" contains a dot; give only the first label, not a full domain name.`,
      HOSTNAME_PATTERN.test(suggestion)
        ? `Use "${suggestion}"; the node is reached as ${suggestion}.local.`
        : `Give a single name made of ${RULE}, without dots.`,
      { position: trimmed.indexOf('.') + 1 },
    );
  }

  const chars = [...trimmed];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (!/^[A-Za-z0-9-]$/.test(ch)) {
      const hint = ch === '_' || ch === ' ' ? 'Use a hyphen instead.' : `Use only ${RULE}.`;
      invalid(
        `A hostname may contain only ${RULE}; ${describeChar(ch)} at position ${i + 1} is not allowed.`,
        hint,
        { position: i + 1, codePoint: ch.codePointAt(0) },
      );
    }
  }

  if (trimmed.length > 63) {
    invalid(
      `A hostname may be at most 63 characters long; this one has ${trimmed.length}.`,
      'Choose a shorter name.',
      { length: trimmed.length },
    );
  }
  if (trimmed.startsWith('-') || trimmed.endsWith('-')) {
    const position = trimmed.startsWith('-') ? 1 : trimmed.length;
    invalid(
      `A hostname may not start or end with a hyphen; the hyphen at position ${position} is not allowed.`,
      'Remove the hyphen at the start or end of the name.',
      { position },
    );
  }

  const hostname = trimmed.toLowerCase();
  if (RESERVED_HOSTNAMES.includes(hostname)) {
    invalid(
      `"${hostname}" is reserved for the machine's own loopback address and cannot name a node.`,
      'Choose a name that is unique in your cluster, such as node-1.',
      { hostname },
    );
  }

  const notices: Notice[] = [];
  if (hostname !== trimmed) {
    notices.push({
      code: 'ZFLASH_HOSTNAME_LOWERCASED',
      message: `The hostname "${trimmed}" was changed to "${hostname}": hostnames are lowercase.`,
    });
  }
  return { hostname, notices };
}
