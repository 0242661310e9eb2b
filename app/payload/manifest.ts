/**
 * The files Zeta Flash puts at the ESP root, and the versioned manifest's schema.
 * `zeta-authorized-keys.pub` and `zeta-hostname.txt` are what the existing Zeta installer
 * already reads; `zeta-node.json` carries everything else. Documented in docs/payload.md —
 * installer-scripts/zeta-install.sh is the other side of this contract.
 */
import { z } from 'zod';
import { ROLES } from '../node/types.js';

export const PAYLOAD_FILES = {
  keys: 'zeta-authorized-keys.pub',
  hostname: 'zeta-hostname.txt',
  manifest: 'zeta-node.json',
} as const;

export const MANIFEST_SCHEMA_VERSION = 1;

const hostname = z.string().regex(/^(?!-)[a-z0-9-]{1,63}(?<!-)$/);
// The same line shape the installer (ZETA_KEY_RE in installer-scripts/zeta-install.sh) and the
// NixOS module (nixos/lib/validate.nix) keep; anything else would be dropped on the node.
const publicKeyLine = z
  .string()
  .regex(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) AAAA[A-Za-z0-9+/]+={0,2}( [A-Za-z0-9@._+:,/=-][A-Za-z0-9 @._+:,/=-]*)?$/,
  );

export const manifestSchema = z
  .object({
    schema: z.literal(MANIFEST_SCHEMA_VERSION),
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
  })
  .strict();

export type Manifest = z.infer<typeof manifestSchema>;
