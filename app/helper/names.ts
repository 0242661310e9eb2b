/**
 * The helper protocol's plain names (verbs, files, limits), apart from its schemas in
 * protocol.ts so that starting a helper early (prestart.ts) loads no schema library: the
 * CLI starts the helper before it loads the rest of itself.
 */
/**
 * The helper's fixed verbs: flash an image, flash it to several sticks at once (one image
 * read, one node per stick), or inject a node's files into a flashed stick.
 */
export const HELPER_VERB = 'write';
export const WRITE_MANY_VERB = 'write-many';
export const INJECT_VERB = 'inject';
export const HELPER_VERBS = [HELPER_VERB, WRITE_MANY_VERB, INJECT_VERB] as const;
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
