/**
 * The files Zeta Flash puts at the ESP root, and the versioned manifest's schema.
 * `zeta-authorized-keys.pub` and `zeta-hostname.txt` are what the existing Zeta installer
 * already reads; `zeta-node.json` carries everything else. Documented in docs/payload.md —
 * installer-scripts/zeta-install.sh is the other side of this contract.
 */
import { z } from 'zod';
import { DISK_ID_PATTERN, ERASE_POLICIES, ROLES } from '../node/types.js';

export const PAYLOAD_FILES = {
  keys: 'zeta-authorized-keys.pub',
  hostname: 'zeta-hostname.txt',
  manifest: 'zeta-node.json',
} as const;

/**
 * The schema the engine writes. 2 added `erase` (what the installer may erase). Readers keep
 * accepting 1, which predates the policy and means `blank-only` with no named disk.
 */
export const MANIFEST_SCHEMA_VERSION = 2;
/** Every schema the engine (and the installer, see its marker's payloadSchemas) reads. */
export const READABLE_MANIFEST_SCHEMAS = [1, 2] as const;

const hostname = z.string().regex(/^(?!-)[a-z0-9-]{1,63}(?<!-)$/);
// The same line shape the installer (ZETA_KEY_RE in installer-scripts/zeta-install.sh) and the
// NixOS module (nixos/lib/validate.nix) keep; anything else would be dropped on the node.
const publicKeyLine = z
  .string()
  .regex(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) AAAA[A-Za-z0-9+/]+={0,2}( [A-Za-z0-9@._+:,/=-][A-Za-z0-9 @._+:,/=-]*)?$/,
  );

const commonFields = {
  hostname,
  keys: z.array(publicKeyLine).min(1),
  roles: z.array(z.enum(ROLES)),
  wifi: z
    .object({
      ssid: z.string().min(1).max(32),
      /** The WPA PSK derived from the passphrase (PBKDF2-SHA1, 4096 rounds): never the passphrase. */
      psk: z.string().regex(/^[0-9a-f]{64}$/),
    })
    .strict()
    .nullable(),
  passwordHash: z
    .string()
    .regex(/^\$(6|y)\$[^\s:]+$/)
    .nullable(),
  createdAt: z.string().datetime(),
  app: z.object({ name: z.string(), version: z.string() }).strict(),
  image: z
    .object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) })
    .strict()
    .nullable(),
};

const erase = z
  .object({
    policy: z.enum(ERASE_POLICIES),
    disk: z.string().regex(DISK_ID_PATTERN).nullable(),
  })
  .strict();

/** What the engine writes (schema 2). */
export const manifestSchema = z
  .object({ schema: z.literal(MANIFEST_SCHEMA_VERSION), ...commonFields, erase })
  .strict();

export type Manifest = z.infer<typeof manifestSchema>;

const manifestV1Schema = z.object({ schema: z.literal(1), ...commonFields }).strict();

/** A manifest read from a stick: schema 1 or 2, with schema 1's implied erase policy filled in. */
export type StoredManifest = Omit<Manifest, 'schema'> & {
  readonly schema: (typeof READABLE_MANIFEST_SCHEMAS)[number];
};

export type ManifestParse =
  | { readonly ok: true; readonly manifest: StoredManifest }
  | { readonly ok: false; readonly problem: string };

/** Validates a parsed `zeta-node.json` of any readable schema. */
export function parseManifest(value: unknown): ManifestParse {
  const schema = (value as { schema?: unknown } | null)?.schema;
  if (schema === 1) {
    const r = manifestV1Schema.safeParse(value);
    if (!r.success) return { ok: false, problem: describeIssue(1, r.error) };
    return { ok: true, manifest: { ...r.data, erase: { policy: 'blank-only', disk: null } } };
  }
  if (schema === MANIFEST_SCHEMA_VERSION) {
    const r = manifestSchema.safeParse(value);
    if (!r.success) return { ok: false, problem: describeIssue(2, r.error) };
    return { ok: true, manifest: r.data };
  }
  return {
    ok: false,
    problem: `schema ${JSON.stringify(schema ?? null)?.slice(0, 20)} is not one this version reads (${READABLE_MANIFEST_SCHEMAS.join(', ')})`,
  };
}

function describeIssue(schema: number, error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
  return `does not match schema ${schema}${where} (${issue?.message ?? 'invalid'})`;
}
