/**
 * The flash's wire shapes, defined once: the phases, a progress event, the result, and the
 * event stream the privileged helper prints (JSON lines), the CLI's `--json` repeats and the
 * desktop app's main process forwards to its windows. zod schemas, so every side that reads
 * them across a process boundary validates instead of trusting.
 */
import { z } from 'zod';
import { ERROR_CODE_LIST, ERROR_KINDS, ExitCode, type ZflashErrorJson } from '../errors.js';

/** In the order a flash goes through them. */
export const FLASH_PHASES = ['preparing', 'writing', 'finishing', 'verifying'] as const;
export type FlashPhaseName = (typeof FLASH_PHASES)[number];

export const errorJsonSchema = z.object({
  code: z.enum(ERROR_CODE_LIST),
  kind: z.enum(ERROR_KINDS),
  message: z.string(),
  hint: z.string(),
  exitCode: z.union(Object.values(ExitCode).map((c) => z.literal(c))),
  details: z.record(z.string(), z.unknown()).optional(),
}) satisfies z.ZodType<ZflashErrorJson>;

export const progressEventSchema = z.object({
  type: z.literal('progress'),
  phase: z.enum(FLASH_PHASES),
  bytes: z.number().nonnegative(),
  /** null while the size is unknown (bzip2, zstd without a content size). */
  total: z.number().nonnegative().nullable(),
  /** Bytes per second over the phase so far. */
  speed: z.number().nonnegative(),
  /** Seconds left in the phase, from the same speed; null when it cannot be told. */
  eta: z.number().nonnegative().nullable(),
  device: z.string().optional(),
});

export const flashResultSchema = z.object({
  type: z.literal('result'),
  device: z.string(),
  bytesWritten: z.number(),
  digest: z.string(),
  verified: z.boolean(),
  imageSha256: z.string().nullable(),
  esp: z.object({
    partition: z.number(),
    offset: z.number(),
    fatType: z.string(),
    freeBytes: z.number(),
  }),
  ejected: z.boolean(),
});

/**
 * `device`: which stick an event is about, in a job that writes several (the helper's
 * `write-many`: the drive exactly as the job names it). A single flash leaves it out; so does
 * an event about the whole job (the image checksum pass). A result always names its device.
 */
export const flashEventSchema = z.discriminatedUnion('type', [
  progressEventSchema,
  z.object({ type: z.literal('log'), message: z.string(), device: z.string().optional() }),
  flashResultSchema,
  z.object({ type: z.literal('error'), error: errorJsonSchema, device: z.string().optional() }),
]);

export type ProgressEvent = z.infer<typeof progressEventSchema>;
export type FlashResultEvent = z.infer<typeof flashResultSchema>;
export type FlashEvent = z.infer<typeof flashEventSchema>;
