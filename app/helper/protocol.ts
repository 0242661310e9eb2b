/**
 * The contract between the unprivileged side (CLI, Electron main) and the privileged
 * one-shot helper: the job file it reads, the JSON lines it prints, and its exit codes
 * (the same enum as the CLI: app/errors.ts).
 */
import { z } from 'zod';
import { ERROR_CODE_LIST, ExitCode } from '../errors.js';
import {
  errorJsonSchema,
  flashEventSchema,
  type FlashEvent,
  type FlashResultEvent,
} from '../flash/events.js';
import { nodeIdentitySchema } from '../node/identity.js';
import type { NodeIdentity } from '../node/types.js';
import { HELPER_VERB, WRITE_MANY_VERB, INJECT_VERB, JOB_VERSION } from './names.js';

export {
  HELPER_VERB,
  WRITE_MANY_VERB,
  INJECT_VERB,
  HELPER_VERBS,
  EVENTS_FILE,
  CANCEL_FILE,
  JOB_FILE,
  JOB_DIR_PREFIX,
  JOB_VERSION,
  MAX_JOB_BYTES,
  STDERR_ERROR_MARKER,
} from './names.js';
export type { HelperVerb } from './names.js';

const hex64 = z.string().regex(/^[0-9a-fA-F]{64}$/);

const driveSchema = z
  .object({
    device: z.string().min(1),
    /** What the operator confirmed: a drive of another size is another drive. */
    expectedSize: z.number().int().positive().nullable(),
  })
  .strict();

export const writeJobSchema = z
  .object({
    version: z.literal(JOB_VERSION),
    verb: z.literal(HELPER_VERB),
    image: z.object({ path: z.string().min(1), sha256: hex64.nullable() }).strict(),
    /** Exactly one of drive / file. */
    drive: driveSchema.nullable(),
    file: z
      .object({ path: z.string().min(1), overwrite: z.boolean() })
      .strict()
      .nullable(),
    identity: nodeIdentitySchema,
    /** Stamped on the manifest and the FAT entries, so the same job writes the same bytes. */
    createdAt: z.string().datetime(),
    verify: z.boolean(),
    eject: z.boolean(),
    allowLoop: z.boolean(),
    /** The requesting process, polled on the files channel to notice it died. */
    parentPid: z.number().int().positive().nullable(),
  })
  .strict()
  .refine((j) => (j.drive === null) !== (j.file === null), {
    message: 'exactly one of drive and file',
  });

/** The most drives one `write-many` job writes (each keeps ~11 MiB of blocks in the helper). */
export const MAX_JOB_DRIVES = 16;

/**
 * `write-many`: one image to several drives, each its own node. Each drive is re-validated
 * like a `write` job's (its identity by the schema, its policy right before it is opened);
 * the same drive named twice, or two drives given one hostname, refuse the whole job.
 */
export const writeManyJobSchema = z
  .object({
    version: z.literal(JOB_VERSION),
    verb: z.literal(WRITE_MANY_VERB),
    image: z.object({ path: z.string().min(1), sha256: hex64.nullable() }).strict(),
    drives: z
      .array(driveSchema.extend({ identity: nodeIdentitySchema }).strict())
      .min(1)
      .max(MAX_JOB_DRIVES),
    createdAt: z.string().datetime(),
    verify: z.boolean(),
    eject: z.boolean(),
    allowLoop: z.boolean(),
    parentPid: z.number().int().positive().nullable(),
  })
  .strict()
  .superRefine((j, ctx) => {
    const seen = new Map<string, number>();
    const names = new Map<string, number>();
    j.drives.forEach((d, i) => {
      const again = seen.get(d.device);
      if (again !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['drives', i, 'device'],
          message: `the same drive as drives.${again} (${d.device})`,
        });
      seen.set(d.device, i);
      const host = d.identity.hostname.toLowerCase();
      const twin = names.get(host);
      if (twin !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['drives', i, 'identity', 'hostname'],
          message: `the same hostname as drives.${twin} (${host})`,
        });
      names.set(host, i);
    });
  });

/** `inject`: the node's files into the ESP of an already-flashed drive (never a file: see run-inject.ts). */
export const injectJobSchema = z
  .object({
    version: z.literal(JOB_VERSION),
    verb: z.literal(INJECT_VERB),
    drive: driveSchema,
    identity: nodeIdentitySchema,
    createdAt: z.string().datetime(),
    allowLoop: z.boolean(),
    parentPid: z.number().int().positive().nullable(),
  })
  .strict();

export type WriteJob = z.infer<typeof writeJobSchema>;

/** The drives a job writes, as it names them: what the password prompt shows (`--drive`). */
export function jobDrives(job: {
  readonly drive?: { readonly device: string } | null;
  readonly drives?: readonly { readonly device: string }[];
}): string[] {
  if (job.drives) return job.drives.map((d) => d.device);
  return job.drive ? [job.drive.device] : [];
}
export type WriteManyJob = z.infer<typeof writeManyJobSchema>;
export type InjectJob = z.infer<typeof injectJobSchema>;
/** What callers hand to runHelper; it fills in parentPid itself. */
export type WriteJobRequest = Omit<WriteJob, 'parentPid' | 'identity'> & {
  readonly identity: NodeIdentity;
};
export type InjectJobRequest = Omit<InjectJob, 'parentPid' | 'identity'> & {
  readonly identity: NodeIdentity;
};
export type WriteManyJobRequest = Omit<WriteManyJob, 'parentPid' | 'drives'> & {
  readonly drives: readonly (Omit<WriteManyJob['drives'][number], 'identity'> & {
    readonly identity: NodeIdentity;
  })[];
};

/** A `write` job's events are the flash's (app/flash/events.ts), defined once. */
export const errorBodySchema = errorJsonSchema;

/** The end of an `inject` job: the files were written and read back through the FAT code. */
export const injectedResultSchema = z.object({
  type: z.literal('injected'),
  device: z.string(),
  files: z.array(z.object({ name: z.string(), bytes: z.number() })),
  esp: z.object({
    partition: z.number(),
    offset: z.number(),
    fatType: z.string(),
    freeBytes: z.number(),
  }),
  bytesChanged: z.number(),
});

/**
 * The end of a `write-many` job, after every drive's own `result` or `error` event: how each
 * ended (in the job's order) and how many image bytes the one shared read delivered.
 */
export const manySummarySchema = z.object({
  type: z.literal('summary'),
  drives: z.array(
    z.object({
      device: z.string(),
      status: z.enum(['done', 'failed', 'cancelled']),
      code: z.enum(ERROR_CODE_LIST).nullable(),
      exitCode: z.number().int(),
    }),
  ),
  /** Bytes read from the image for all drives together (decoded bytes when compressed). */
  imageBytesRead: z.number().nonnegative(),
});

export const helperEventSchema = z.discriminatedUnion('type', [
  ...flashEventSchema.options,
  injectedResultSchema,
  manySummarySchema,
]);

export type HelperEvent = FlashEvent | InjectHelperResult | ManySummary;
export type ManySummary = z.infer<typeof manySummarySchema>;

/**
 * The exit code of a job that wrote several drives: 0 when every drive is done; 130 when it
 * was cancelled and some drive did not finish; otherwise the exit code of the first drive, in
 * the job's order, that failed (4 for a write or verify failure, 3 for a refused drive…).
 * The summary says which drives failed; the CLI ends with the same code.
 */
export function manyExitCode(
  drives: readonly {
    readonly status: ManySummary['drives'][number]['status'];
    readonly exitCode: number;
  }[],
): number {
  if (drives.every((d) => d.status === 'done')) return ExitCode.ok;
  if (drives.some((d) => d.status === 'cancelled')) return ExitCode.cancelled;
  return drives.find((d) => d.status !== 'done')?.exitCode ?? ExitCode.bug;
}
export type HelperResult = FlashResultEvent;
export type InjectHelperResult = z.infer<typeof injectedResultSchema>;
