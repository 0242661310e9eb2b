/**
 * Roles select NixOS modules on the node. They come from CLI flags (`--role a,b`) and
 * UI checkboxes alike, so both lists and comma-separated entries are accepted, and the
 * result is always in ROLES order so the same choice yields the same payload bytes.
 */
import { inputError } from '../errors.js';
import { ROLES } from './types.js';
import type { Role } from './types.js';

function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function parseRoles(input: readonly string[]): Role[] {
  const chosen = new Set<Role>();
  for (const entry of input) {
    for (const part of entry.split(',')) {
      const name = part.trim().toLowerCase();
      if (name === '') continue;
      if (!isRole(name)) {
        const shown = JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
        const near = name.replace(/[\s_]+/g, '-');
        throw inputError(
          'ZFLASH_ROLE_INVALID',
          `${shown} is not a node role; the roles are ${ROLES.join(', ')}.`,
          isRole(near) ? `Did you mean ${near}?` : `Choose from ${ROLES.join(', ')}.`,
          { role: name.slice(0, 40) },
        );
      }
      chosen.add(name);
    }
  }
  return ROLES.filter((role) => chosen.has(role));
}
