/**
 * The roster entry for a finished flash, built from the node identity and what was written
 * where. Only the fields the roster keeps are copied: key fingerprints (never the key
 * blob), roles, hostname. The identity's Wi-Fi PSK and password hash never reach it.
 */
import { basename } from 'node:path';
import type { NodeIdentity } from '../node/types.js';
import type { FlashRecord, RosterMedium } from './schema.js';

export interface FlashFacts {
  /** The image file as flashed (only its name is kept) and its SHA-256 when known. */
  readonly image: { readonly path: string; readonly sha256: string | null };
  readonly medium: RosterMedium;
  readonly flashedAt: Date;
  readonly appVersion: string;
}

export function flashRecordFor(identity: NodeIdentity, facts: FlashFacts): FlashRecord {
  return {
    hostname: identity.hostname,
    roles: [...identity.roles],
    keys: identity.keys.map((k) => ({
      type: k.type,
      fingerprint: k.fingerprint,
      comment: k.comment,
    })),
    image: { name: basename(facts.image.path), sha256: facts.image.sha256?.toLowerCase() ?? null },
    medium: facts.medium,
    flashedAt: facts.flashedAt.toISOString(),
    appVersion: facts.appVersion,
  };
}
