/**
 * The contract between the unprivileged side (CLI, Electron main) and the privileged
 * one-shot helper: the job file it reads, the JSON lines it prints, and its exit codes
 * (the same enum as the CLI: app/errors.ts).
 */
import { z } from 'zod';
import { ERROR_CODE_LIST, ERROR_KINDS } from '../errors.js';
import { nodeIdentitySchema } from '../node/identity.js';
import type { NodeIdentity } from '../node/types.js';

/** The helper's two fixed verbs: flash an image, or inject a node's files into a flashed stick. */
export const HELPER_VERB = 'write';
export const INJECT_VERB = 'inject';
export const HELPER_VERBS = [HELPER_VERB, INJECT_VERB] as const;
export type HelperVerb = (typeof HELPER_VERBS)[number];
/** Beside the job file, for the files channel (osascript, UAC): see helper/main.ts. */
export const EVENTS_FILE = 'events.jsonl';
export const CANCEL_FILE = 'cancel';
export const JOB_FILE = 'job.json';
/** Job folders are `zflash-job-<pid of the requesting process>-XXXXXX` (client.ts cleans stale ones). */
export const JOB_DIR_PREFIX = 'zflash-job-';
export const JOB_VERSION = 1;
/** A job is a few keys and names; anything larger is not one of ours. */
export const MAX_JOB_BYTES = 256 * 1024;
/**
 * When the helper cannot report through its channel (the events file was refused), it says
 * why on stderr after this marker, as one JSON line; the client reads it from the helper's
 * (or osascript's) stderr.
 */
export const STDERR_ERROR_MARKER = 'zflash-helper-error';

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
export type InjectJob = z.infer<typeof injectJobSchema>;
/** What callers hand to runHelper; it fills in parentPid itself. */
export type WriteJobRequest = Omit<WriteJob, 'parentPid' | 'identity'> & {
  readonly identity: NodeIdentity;
};
export type InjectJobRequest = Omit<InjectJob, 'parentPid' | 'identity'> & {
  readonly identity: NodeIdentity;
};

const progressSchema = z.object({
  type: z.literal('progress'),
  phase: z.enum(['preparing', 'writing', 'verifying', 'finishing']),
  bytes: z.number(),
  total: z.number().nullable(),
  speed: z.number(),
  eta: z.number().nullable(),
});

export const errorBodySchema = z.object({
  code: z.enum(ERROR_CODE_LIST),
  kind: z.enum(ERROR_KINDS),
  message: z.string(),
  hint: z.string(),
  exitCode: z.number(),
  details: z.record(z.string(), z.unknown()).optional(),
});

const espSchema = z.object({
  partition: z.number(),
  offset: z.number(),
  fatType: z.string(),
  freeBytes: z.number(),
});

export const helperEventSchema = z.discriminatedUnion('type', [
  progressSchema,
  z.object({ type: z.literal('log'), message: z.string() }),
  /** The end of a `write` job. */
  z.object({
    type: z.literal('result'),
    device: z.string(),
    bytesWritten: z.number(),
    digest: z.string(),
    verified: z.boolean(),
    imageSha256: z.string().nullable(),
    esp: espSchema,
    ejected: z.boolean(),
  }),
  /** The end of an `inject` job: the files were written and read back through the FAT code. */
  z.object({
    type: z.literal('injected'),
    device: z.string(),
    files: z.array(z.object({ name: z.string(), bytes: z.number() })),
    esp: espSchema,
    bytesChanged: z.number(),
  }),
  z.object({ type: z.literal('error'), error: errorBodySchema }),
]);

export type HelperEvent = z.infer<typeof helperEventSchema>;
export type HelperResult = Extract<HelperEvent, { type: 'result' }>;
export type InjectHelperResult = Extract<HelperEvent, { type: 'injected' }>;
