/**
 * Assembles a NodeIdentity from operator input, and defines the schema that every
 * later boundary (IPC, the helper's job file) re-validates it with. The schema does
 * not trust a key object's fields: it re-parses each key's line, so a payload forged
 * on the unprivileged side cannot put anything but a canonical public key on a stick.
 */
import { z } from 'zod';
import { inputError } from '../errors.js';
import { isValidHostname, validateHostname } from './hostname.js';
import { isAcceptedPasswordHash, hashPassword, validatePasswordHash } from './password.js';
import { parseRoles } from './roles.js';
import { recheckKey } from './ssh-keys.js';
import { PSK_PATTERN, ssidProblem, validateWifi } from './wifi.js';
import {
  DEFAULT_ERASE_POLICY,
  DISK_ID_PATTERN,
  ERASE_POLICIES,
  ROLES,
  SSH_KEY_TYPES,
} from './types.js';
import type { ErasePolicy, NodeIdentity, Notice, SshPublicKey } from './types.js';

const sshPublicKeySchema = z
  .strictObject({
    type: z.enum(SSH_KEY_TYPES),
    base64: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/),
    comment: z.string().max(4096),
    line: z.string().max(20_000),
    fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/),
    bits: z.number().int().positive(),
  })
  .superRefine((key, ctx) => {
    const problem = recheckKey(key);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .readonly();

export const nodeIdentitySchema = z
  .strictObject({
    hostname: z
      .string()
      .refine(isValidHostname, { message: 'not a valid, unreserved RFC 1123 hostname label' }),
    keys: z
      .array(sshPublicKeySchema)
      .min(1)
      .refine((keys) => new Set(keys.map((k) => `${k.type} ${k.base64}`)).size === keys.length, {
        message: 'keys must not repeat',
      })
      .readonly(),
    roles: z
      .array(z.enum(ROLES))
      .refine(
        (roles) =>
          roles.every((r, i) => i === 0 || ROLES.indexOf(roles[i - 1]!) < ROLES.indexOf(r)),
        {
          message: 'roles must be unique and in canonical order',
        },
      )
      .readonly(),
    wifi: z
      .strictObject({
        ssid: z.string().superRefine((ssid, ctx) => {
          const problem = ssidProblem(ssid);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
        psk: z.string().regex(PSK_PATTERN),
      })
      .readonly()
      .nullable(),
    passwordHash: z
      .string()
      .refine(isAcceptedPasswordHash, { message: 'not a $6$ or $y$ crypt hash' })
      .nullable(),
    // Absent (a job written before the policy existed) means the safe default.
    erase: z
      .strictObject({
        policy: z.enum(ERASE_POLICIES),
        disk: z.string().regex(DISK_ID_PATTERN).nullable(),
      })
      .readonly()
      .default(DEFAULT_ERASE_POLICY),
  })
  .readonly();

// Compile-time check: whatever the schema accepts is a NodeIdentity. (The reverse does not
// hold on purpose: the schema narrows `type` to the accepted key types.)
type SchemaOutput = z.infer<typeof nodeIdentitySchema>;
const _schemaMatchesModel: [SchemaOutput] extends [NodeIdentity] ? true : false = true;

export interface NodeIdentityInput {
  hostname: string;
  keys: readonly SshPublicKey[];
  roles?: readonly string[];
  /** The passphrase is turned into a PSK here and not kept. */
  wifi?: { ssid: string; passphrase: string } | null;
  passwordHash?: string | null;
  /** Plain password, hashed here; '' counts as given (and too short), use null for none. */
  password?: string | null;
  /** What the installer may erase; default blank-only, the installer picks the disk. */
  erase?: { policy?: string; disk?: string | null };
}

const BY_ID_DIR = '/dev/disk/by-id/';

/**
 * The operator's erase choice → an ErasePolicy. The disk may be given as a serial, a WWN or a
 * by-id name, with or without /dev/disk/by-id/; nothing else (the installer matches it
 * against `lsblk` and /dev/disk/by-id, and prints it on the node's screen).
 */
export function validateErasePolicy(input: { policy?: string; disk?: string | null } = {}): {
  erase: ErasePolicy;
  notices: Notice[];
} {
  const policy = input.policy ?? DEFAULT_ERASE_POLICY.policy;
  if (!(ERASE_POLICIES as readonly string[]).includes(policy)) {
    throw inputError(
      'ZFLASH_ERASE_INVALID',
      `The erase policy "${policy.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" is not known.`,
      'Use blank-only (the default: only disks without data are erased unasked) or any.',
    );
  }
  let disk: string | null = null;
  if (input.disk !== undefined && input.disk !== null) {
    const raw = input.disk.trim();
    const id = raw.startsWith(BY_ID_DIR) ? raw.slice(BY_ID_DIR.length) : raw;
    if (!DISK_ID_PATTERN.test(id)) {
      throw inputError(
        'ZFLASH_ERASE_INVALID',
        'The target disk must be named by its serial number or its /dev/disk/by-id name (letters, digits and . _ : - only, a whole disk, not a partition).',
        'On the node: lsblk -do NAME,SERIAL,MODEL, or ls /dev/disk/by-id/ (names without -partN).',
      );
    }
    disk = id;
  }
  const notices: Notice[] = [];
  if (policy === 'any') {
    notices.push({
      code: 'ZFLASH_ERASE_ANY',
      message: `The installer will erase ${disk ? `disk ${disk}` : 'the disk it picks'} after its countdown even if it holds data.`,
    });
  }
  return { erase: Object.freeze({ policy: policy as ErasePolicy['policy'], disk }), notices };
}

function deepFreeze(identity: NodeIdentity): NodeIdentity {
  return Object.freeze({
    ...identity,
    keys: Object.freeze(identity.keys.map((k) => Object.freeze({ ...k }))),
    roles: Object.freeze([...identity.roles]),
    wifi: identity.wifi ? Object.freeze({ ...identity.wifi }) : null,
    erase: Object.freeze({ ...identity.erase }),
  });
}

export function buildNodeIdentity(input: NodeIdentityInput): {
  identity: NodeIdentity;
  notices: Notice[];
} {
  const notices: Notice[] = [];
  const { hostname, notices: hostnameNotices } = validateHostname(input.hostname);
  notices.push(...hostnameNotices);

  const keys: SshPublicKey[] = [];
  const seen = new Set<string>();
  for (const key of input.keys) {
    const problem = recheckKey(key);
    if (problem) {
      throw inputError(
        'ZFLASH_KEY_INVALID',
        `An SSH key given for this node is not a valid public key: ${problem}.`,
        'Load the key again from its .pub file.',
        { fingerprint: key.fingerprint },
      );
    }
    const id = `${key.type} ${key.base64}`;
    if (seen.has(id)) {
      notices.push({
        code: 'ZFLASH_KEY_DUPLICATE',
        message: `The key ${key.fingerprint} was given more than once; it is used once.`,
      });
      continue;
    }
    seen.add(id);
    keys.push(key);
  }
  if (keys.length === 0) {
    throw inputError(
      'ZFLASH_NO_KEYS',
      'A node needs at least one SSH public key; without one nobody can log in to it.',
      'Add a .pub file such as ~/.ssh/id_ed25519.pub, or create a key with ssh-keygen -t ed25519.',
    );
  }

  const roles = parseRoles(input.roles ?? []);
  const wifi = input.wifi ? validateWifi(input.wifi.ssid, input.wifi.passphrase) : null;

  const hasHash = input.passwordHash !== undefined && input.passwordHash !== null;
  const hasPassword = input.password !== undefined && input.password !== null;
  if (hasHash && hasPassword) {
    throw inputError(
      'ZFLASH_PASSWORD_CONFLICT',
      'Give either a password or a password hash, not both.',
      'Remove one of them; the hash is used as is, the password is hashed here.',
    );
  }
  const passwordHash = hasHash
    ? validatePasswordHash(input.passwordHash as string)
    : hasPassword
      ? hashPassword(input.password as string)
      : null;

  const { erase, notices: eraseNotices } = validateErasePolicy(input.erase);
  notices.push(...eraseNotices);

  const identity: NodeIdentity = { hostname, keys, roles, wifi, passwordHash, erase };
  // Same check the privileged side runs: a bug here should fail now, not at flash time.
  nodeIdentitySchema.parse(identity);
  return { identity: deepFreeze(identity), notices };
}
