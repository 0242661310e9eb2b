/**
 * Every shape that crosses a process boundary, as zod schemas defined once: the CLI's
 * `--json` lines, the helper's events, and the desktop app's IPC. A reader on the other
 * side validates with these instead of trusting; `satisfies` ties each schema to the
 * engine's own type, so a field added in one place and not the other fails to compile.
 */
import { z } from 'zod';
import {
  REASON_CODES,
  type AssessedDrive,
  type DriveEvent,
  type DriveInfo,
  type Reason,
  type Verdict,
} from './drives/types.js';
import { errorJsonSchema, flashEventSchema, flashResultSchema } from './flash/events.js';
import type { InstallerInfo } from './payload/installer.js';

export { errorJsonSchema, flashEventSchema, flashResultSchema };
export { FLASH_PHASES } from './flash/events.js';

export { REASON_CODES };

export const reasonSchema = z.object({
  code: z.enum(REASON_CODES),
  severity: z.enum(['refused', 'warn']),
  message: z.string(),
}) satisfies z.ZodType<Reason>;

export const verdictSchema = z.object({
  status: z.enum(['eligible', 'warn', 'refused']),
  reasons: z.array(reasonSchema).readonly(),
}) satisfies z.ZodType<Verdict>;

export const driveInfoSchema = z.object({
  device: z.string(),
  raw: z.string(),
  size: z.number().nullable(),
  description: z.string(),
  busType: z.string(),
  isUSB: z.boolean().nullable(),
  isRemovable: z.boolean(),
  isVirtual: z.boolean(),
  isSystem: z.boolean(),
  isReadOnly: z.boolean(),
  mountpoints: z.array(z.string()).readonly(),
  isLoop: z.boolean(),
  blockSize: z.number(),
  logicalBlockSize: z.number(),
  partitionTableType: z.enum(['mbr', 'gpt']).nullable(),
}) satisfies z.ZodType<DriveInfo>;

export const assessedDriveSchema = z.object({
  drive: driveInfoSchema,
  verdict: verdictSchema,
}) satisfies z.ZodType<AssessedDrive>;

export const driveEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('attach'), drive: assessedDriveSchema }),
  z.object({ type: z.literal('detach'), drive: assessedDriveSchema }),
  z.object({
    type: z.literal('change'),
    drive: assessedDriveSchema,
    previous: assessedDriveSchema,
  }),
  z.object({ type: z.literal('scan-error'), error: errorJsonSchema }),
]) satisfies z.ZodType<DriveEvent>;

export const noticeSchema = z.object({ code: z.string(), message: z.string() });

/** What kind of installer an image is (app/payload/installer.ts). */
export const installerInfoSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('zeta'),
    volumeLabel: z.string().nullable(),
    version: z.string(),
    payloadSchemas: z.array(z.number().int()).readonly(),
    nixpkgsRev: z.string().nullable(),
    system: z.string(),
    problem: z.null(),
  }),
  z.object({
    kind: z.enum(['nixos', 'other']),
    volumeLabel: z.string().nullable(),
    problem: z.string().nullable(),
  }),
]) satisfies z.ZodType<InstallerInfo>;

const espSummarySchema = z.object({
  partition: z.number(),
  offset: z.number(),
  size: z.number(),
  fatType: z.enum(['FAT12', 'FAT16', 'FAT32']),
  label: z.string(),
  serial: z.string(),
  freeBytes: z.number(),
  fatsIdentical: z.boolean(),
  payloadFits: z.boolean(),
});

const keySummarySchema = z.object({
  type: z.string(),
  fingerprint: z.string(),
  comment: z.string(),
});

/** What `inspect` finds on an image or a drive. */
export const inspectResultSchema = z.object({
  target: z.object({
    path: z.string(),
    kind: z.enum(['file', 'block-device']),
    compression: z.enum(['none', 'gzip', 'bzip2', 'xz', 'zip', 'zstd']),
    size: z.number(),
    table: z.enum(['mbr', 'gpt', 'hybrid', 'none']),
  }),
  partitions: z
    .array(
      z.object({
        source: z.enum(['mbr', 'gpt']),
        number: z.number(),
        type: z.string(),
        start: z.number(),
        size: z.number(),
      }),
    )
    .readonly(),
  installer: z.intersection(
    installerInfoSchema,
    z.object({ nixos: z.boolean(), summary: z.string() }),
  ),
  warnings: z.array(z.string()).readonly(),
  /** null when the target has no (single) ESP; `espProblem` then says why. */
  esp: espSummarySchema.nullable(),
  espProblem: errorJsonSchema.nullable(),
  payload: z
    .object({
      hostname: z.string().nullable(),
      keys: z.array(keySummarySchema).readonly(),
      roles: z.array(z.string()).readonly(),
      manifest: z.record(z.string(), z.unknown()).nullable(),
      problems: z.array(z.string()).readonly(),
    })
    .nullable(),
});

/** What `inject` wrote. */
export const injectResultSchema = z.object({
  target: z.object({ path: z.string(), kind: z.enum(['file', 'block-device']) }),
  hostname: z.string(),
  keys: z.array(keySummarySchema).readonly(),
  roles: z.array(z.string()).readonly(),
  files: z.array(z.object({ name: z.string(), bytes: z.number() })).readonly(),
  esp: z.object({
    partition: z.number(),
    offset: z.number(),
    fatType: z.string(),
    freeBytes: z.number(),
  }),
});

/**
 * One line of `zflash … --json`: every object carries a `type` (docs/cli.md lists them).
 * Drive-watch events keep their own types (attach, detach, change, scan-error).
 */
export const cliLineSchema = z.union([
  z.object({ type: z.literal('notice'), code: z.string(), message: z.string() }),
  z.object({ type: z.literal('error'), error: errorJsonSchema }),
  z.object({ type: z.literal('drive') }).extend(assessedDriveSchema.shape),
  z.object({ type: z.literal('inspect') }).extend(inspectResultSchema.shape),
  z.object({ type: z.literal('inject') }).extend(injectResultSchema.shape),
  flashResultSchema.extend({ hostname: z.string() }),
  flashEventSchema,
  // `drives --watch --json`: the assessed drive spread into the event line.
  z.object({ type: z.enum(['attach', 'detach']) }).extend(assessedDriveSchema.shape),
  z
    .object({ type: z.literal('change'), previous: assessedDriveSchema })
    .extend(assessedDriveSchema.shape),
  z.object({ type: z.literal('scan-error'), error: errorJsonSchema }),
]);
export type CliLine = z.infer<typeof cliLineSchema>;
