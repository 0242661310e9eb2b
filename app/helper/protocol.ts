/**
 * The contract between the unprivileged side (CLI, Electron main) and the privileged
 * one-shot helper: the job file it reads, the JSON lines it prints, and its exit codes
 * (the same enum as the CLI: app/errors.ts).
 */
import { z } from 'zod';
import { flashEventSchema, type FlashEvent, type FlashResultEvent } from '../flash/events.js';
import { nodeIdentitySchema } from '../node/identity.js';
import type { NodeIdentity } from '../node/types.js';

export const HELPER_VERB = 'write';
/** Beside the job file, for the files channel (osascript, UAC): see helper/main.ts. */
export const EVENTS_FILE = 'events.jsonl';
export const CANCEL_FILE = 'cancel';
export const JOB_VERSION = 1;

const hex64 = z.string().regex(/^[0-9a-fA-F]{64}$/);

export const writeJobSchema = z
  .object({
    version: z.literal(JOB_VERSION),
    verb: z.literal(HELPER_VERB),
    image: z.object({ path: z.string().min(1), sha256: hex64.nullable() }).strict(),
    /** Exactly one of drive / file. */
    drive: z
      .object({
        device: z.string().min(1),
        /** What the operator confirmed: a drive of another size is another drive. */
        expectedSize: z.number().int().positive().nullable(),
      })
      .strict()
      .nullable(),
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

export type WriteJob = z.infer<typeof writeJobSchema>;
/** What callers hand to runHelper; it fills in parentPid itself. */
export type WriteJobRequest = Omit<WriteJob, 'parentPid' | 'identity'> & {
  readonly identity: NodeIdentity;
};

/** The helper's JSON lines are the flash's events (app/flash/events.ts), defined once. */
export const helperEventSchema = flashEventSchema;

export type HelperEvent = FlashEvent;
export type HelperResult = FlashResultEvent;
