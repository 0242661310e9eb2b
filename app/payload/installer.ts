/**
 * What kind of installer an image is, read without mounting: a Zeta installer (it reads the
 * node payload we write), a NixOS installer without Zeta (it boots a plain live system and
 * ignores the payload), or some other image.
 *
 * The Zeta installer ISO built from `nixos/` carries two marks: a volume ID starting with
 * `zeta-` and a `zeta-installer.json` at the root of its ISO 9660 tree (docs/payload.md). The
 * file is what counts — it says which payload schemas the installer reads; the volume ID is
 * only how a person recognises the stick. A stock NixOS ISO is recognised by nixpkgs' layout:
 * a volume ID `nixos-…` or a `nix-store.squashfs` at the root (nixos/modules/installer/cd-dvd/
 * iso-image.nix puts the squashed store there).
 */
import { z } from 'zod';
import type { ByteDevice } from '../disk/device.js';
import { findRootEntry, readIsoFile, readIsoVolume, type IsoVolume } from '../disk/iso9660.js';
import { ZflashError, targetError } from '../errors.js';

export const INSTALLER_MARKER_FILE = 'zeta-installer.json';
export const INSTALLER_VOLUME_PREFIX = 'zeta-';
/** The marker format this engine understands; bumped only on an incompatible change. */
export const INSTALLER_MARKER_FORMAT = 1;
/** The real marker is ~200 bytes; anything this large is not ours. */
const MARKER_MAX_BYTES = 64 * 1024;

// Unknown fields are allowed so that a newer installer can add some without breaking older
// apps; `zetaInstaller` changes when the meaning of a known field does.
const markerSchema = z.looseObject({
  zetaInstaller: z.literal(INSTALLER_MARKER_FORMAT),
  version: z
    .string()
    .max(64)
    .regex(/^[0-9A-Za-z][0-9A-Za-z.+-]*$/),
  payloadSchemas: z.array(z.number().int().positive()).min(1).max(64),
  nixpkgs: z.looseObject({
    rev: z
      .string()
      .regex(/^[0-9a-f]{40}$/)
      .nullable(),
  }),
  system: z
    .string()
    .max(64)
    .regex(/^[a-z0-9_]+-[a-z0-9_]+$/),
});

export type InstallerMarker = z.infer<typeof markerSchema>;

export type InstallerInfo =
  | {
      readonly kind: 'zeta';
      readonly volumeLabel: string | null;
      readonly version: string;
      readonly payloadSchemas: readonly number[];
      readonly nixpkgsRev: string | null;
      readonly system: string;
      readonly problem: null;
    }
  | {
      readonly kind: 'nixos' | 'other';
      readonly volumeLabel: string | null;
      /** Why a Zeta mark was seen but not trusted (damaged marker, newer format...), or null. */
      readonly problem: string | null;
    };

/** Parses the marker file's bytes; throws a plain Error whose message says what is wrong. */
export function parseInstallerMarker(bytes: Buffer): InstallerMarker {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error(`${INSTALLER_MARKER_FILE} is not valid JSON`);
  }
  const format = (json as { zetaInstaller?: unknown } | null)?.zetaInstaller;
  if (typeof format === 'number' && format > INSTALLER_MARKER_FORMAT) {
    throw new Error(
      `${INSTALLER_MARKER_FILE} uses marker format ${format}, newer than this Zeta Flash understands (${INSTALLER_MARKER_FORMAT}); update Zeta Flash`,
    );
  }
  const parsed = markerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${INSTALLER_MARKER_FILE} does not match marker format ${INSTALLER_MARKER_FORMAT} (${issue?.path.join('.') || 'root'}: ${issue?.message ?? 'invalid'})`,
    );
  }
  return parsed.data;
}

const looksLikeNixos = (vol: IsoVolume) =>
  /^nixos/i.test(vol.volumeId) || findRootEntry(vol, 'nix-store.squashfs') !== null;

/**
 * Classifies the image on `dev`. Never throws for a damaged or foreign image: what could not
 * be read becomes `problem` and the image counts as not-Zeta (the safe answer).
 */
export async function classifyInstaller(dev: ByteDevice): Promise<InstallerInfo> {
  let vol: IsoVolume | null;
  try {
    vol = await readIsoVolume(dev);
  } catch (err) {
    if (err instanceof ZflashError && err.kind === 'target')
      return { kind: 'other', volumeLabel: null, problem: err.message };
    throw err;
  }
  if (!vol) return { kind: 'other', volumeLabel: null, problem: null };
  const volumeLabel = vol.volumeId || null;
  const layout = looksLikeNixos(vol) ? 'nixos' : 'other';
  const entry = findRootEntry(vol, INSTALLER_MARKER_FILE);
  if (!entry) {
    const problem = vol.volumeId.startsWith(INSTALLER_VOLUME_PREFIX)
      ? `the volume is labelled ${vol.volumeId} but carries no ${INSTALLER_MARKER_FILE}`
      : null;
    return { kind: layout, volumeLabel, problem };
  }
  try {
    const marker = parseInstallerMarker(await readIsoFile(dev, entry, MARKER_MAX_BYTES));
    return {
      kind: 'zeta',
      volumeLabel,
      version: marker.version,
      payloadSchemas: [...new Set(marker.payloadSchemas)].sort((a, b) => a - b),
      nixpkgsRev: marker.nixpkgs.rev,
      system: marker.system,
      problem: null,
    };
  } catch (err) {
    if (err instanceof ZflashError && err.kind !== 'target') throw err;
    return { kind: layout, volumeLabel, problem: (err as Error).message };
  }
}

/** One line for a person: what the image is. */
export function describeInstaller(info: InstallerInfo): string {
  switch (info.kind) {
    case 'zeta':
      return `Zeta installer v${info.version} (reads payload schema${info.payloadSchemas.length > 1 ? 's' : ''} ${info.payloadSchemas.join(', ')}; ${info.system}${info.nixpkgsRev ? `; nixpkgs ${info.nixpkgsRev.slice(0, 12)}` : ''})`;
    case 'nixos':
      return `NixOS installer without Zeta${info.volumeLabel ? ` (${info.volumeLabel})` : ''}`;
    case 'other':
      return `other image${info.volumeLabel ? ` (ISO "${info.volumeLabel}")` : ''}: not a NixOS or Zeta installer${info.problem ? ` (${info.problem})` : ''}`;
  }
}

const GET_ZETA_HINT =
  "Use the Zeta installer image instead: download it (the app's image step, or `zflash image get`) or build it with `nix build ./nixos#installer-iso`.";

/**
 * The warning for an image that looks right but would silently ignore the node identity (a
 * NixOS installer without Zeta), or null. Other images are allowed and only described: the
 * operator chose something that is plainly not an installer of ours.
 */
export function installerWarning(info: InstallerInfo): string | null {
  if (info.kind !== 'nixos') return null;
  return `This is a NixOS installer without Zeta${info.problem ? ` (${info.problem})` : ''}: the node would boot a plain live system and ignore the identity written next to it.`;
}

/** `--require-zeta` and the app's image step: refuses every image that is not a Zeta installer. */
export function requireZetaInstaller(info: InstallerInfo): void {
  if (info.kind === 'zeta') return;
  const message =
    installerWarning(info) ??
    `This image is not a Zeta installer${info.problem ? ` (${info.problem})` : ''}: nothing on it reads the node identity.`;
  throw targetError('ZFLASH_NOT_ZETA_INSTALLER', message, GET_ZETA_HINT, {
    installer: info.kind,
    volumeLabel: info.volumeLabel,
    ...(info.problem ? { problem: info.problem } : {}),
  });
}

/**
 * Refuses to write payload schema `schema` for a Zeta installer that does not read it, naming
 * both versions. Images that are not Zeta installers pass: `requireZetaInstaller` judges them.
 */
export function checkInstallerReadsPayload(
  info: InstallerInfo,
  schema: number,
  app: { readonly version: string } = { version: 'this version' },
): void {
  if (info.kind !== 'zeta' || info.payloadSchemas.includes(schema)) return;
  const reads = `reads node payload schema${info.payloadSchemas.length > 1 ? 's' : ''} ${info.payloadSchemas.join(', ')}`;
  const details = {
    installerVersion: info.version,
    installerSchemas: info.payloadSchemas,
    payloadSchema: schema,
    appVersion: app.version,
  };
  const appName = app.version === 'this version' ? 'this Zeta Flash' : `Zeta Flash ${app.version}`;
  if (Math.max(...info.payloadSchemas) < schema) {
    throw targetError(
      'ZFLASH_INSTALLER_TOO_OLD',
      `The Zeta installer v${info.version} on this image ${reads}, but ${appName} writes schema ${schema}: the node would not understand its identity.`,
      "Use the current Zeta installer: download it (the app's image step, or `zflash image get`) or rebuild it from this release's `nixos/` folder.",
      details,
    );
  }
  throw targetError(
    'ZFLASH_INSTALLER_TOO_NEW',
    `The Zeta installer v${info.version} on this image ${reads}, but ${appName} writes schema ${schema}.`,
    'Update Zeta Flash to the release that matches this installer, or use the installer of this release.',
    details,
  );
}
