/**
 * The privileged one-shot helper:
 * `node helper/entry.js write|write-many|inject --job FILE [--channel files] [--requester UID]`.
 *
 * Fixed verbs, the job in a file only its owner can read (never on the command line),
 * JSON lines out, the exit-code enum on exit — as VS Code's elevated `--file-write` does,
 * and unlike Etcher's unauthenticated localhost WebSocket. It stops by itself when its
 * parent goes away, through one of two channels:
 *
 * - stdio (no elevation, pkexec): events on stdout; the parent holds our stdin open and
 *   closing it (to cancel, or by dying) aborts the write. A signal would not reach a root
 *   process started by pkexec, EOF does.
 * - files (osascript, UAC): those do not connect the elevated process to the parent's pipes
 *   (`do shell script` returns output only at the end), so events are appended to
 *   `events.jsonl` beside the job, a `cancel` file there cancels, and the job's parentPid is
 *   polled. The events file must already exist and pass the job file's checks: root never
 *   creates or follows a path the user chose.
 *
 * Whatever it cannot say through its channel (a refused events file) it also says on stderr
 * after STDERR_ERROR_MARKER, which the client (and osascript's error text) carries back.
 *
 * entry.ts hands it the process environment (PKEXEC_UID, SUDO_UID say who asked).
 */
import { existsSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ExitCode,
  cancelledError,
  inputError,
  toZflashError,
  type ZflashError,
} from '../errors.js';
import { checkJobFolder, openEventsFile, readJobFile, resolveRequester } from './job-file.js';
import {
  CANCEL_FILE,
  EVENTS_FILE,
  HELPER_VERB,
  HELPER_VERBS,
  INJECT_VERB,
  jobDrives,
  injectJobSchema,
  manyExitCode,
  STDERR_ERROR_MARKER,
  WRITE_MANY_VERB,
  writeJobSchema,
  writeManyJobSchema,
  type HelperEvent,
  type HelperVerb,
} from './protocol.js';
import { runInjectJob } from './run-inject.js';
import { runWriteJob } from './run-job.js';
import { runWriteManyJob } from './run-many.js';

type Emit = (e: HelperEvent) => void;

const stdoutEmit: Emit = (e) => {
  process.stdout.write(`${JSON.stringify(e)}\n`);
};

export interface HelperArgs {
  readonly verb: HelperVerb;
  readonly job: string;
  readonly channel: 'stdio' | 'files';
  readonly requester: string | undefined;
  /** The drives the password prompt showed (display only; must be the job's drives). */
  readonly drives?: readonly string[];
  /**
   * Started early (the client is still preparing the job): wait for one line on stdin before
   * reading the job file. Only on the stdio channel; the job file gets every check as always.
   */
  readonly awaitJob?: boolean;
}

const usage = (why: string) =>
  inputError(
    'ZFLASH_HELPER_USAGE',
    `The helper was started with unexpected arguments: ${why}.`,
    'Start the flash again from Zeta Flash.',
  );

export function parseHelperArgs(argv: readonly string[]): HelperArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        job: { type: 'string' },
        channel: { type: 'string' },
        requester: { type: 'string' },
        drive: { type: 'string', multiple: true },
        'await-job': { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usage(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  const [verb, ...extra] = positionals;
  if (!HELPER_VERBS.includes(verb as HelperVerb) || extra.length > 0)
    throw usage(`the verb must be one of ${HELPER_VERBS.join(', ')}`);
  if (!values.job) throw usage('--job FILE is missing');
  const channel = values.channel ?? 'stdio';
  if (channel !== 'stdio' && channel !== 'files') throw usage('--channel must be files or stdio');
  if (values['await-job'] && channel !== 'stdio')
    throw usage('--await-job needs the stdio channel (the job is announced on stdin)');
  return {
    verb: verb as HelperVerb,
    job: values.job,
    channel,
    requester: values.requester,
    ...(values.drive !== undefined ? { drives: values.drive } : {}),
    ...(values['await-job'] ? { awaitJob: true } : {}),
  };
}

function parseJob(verb: HelperVerb, text: string) {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw inputError(
      'ZFLASH_HELPER_JOB',
      'The helper refused its job file: it is not valid JSON.',
      'Start the flash again from Zeta Flash.',
    );
  }
  const schemas = {
    [HELPER_VERB]: writeJobSchema,
    [WRITE_MANY_VERB]: writeManyJobSchema,
    [INJECT_VERB]: injectJobSchema,
  } as const;
  const parsed = schemas[verb].safeParse(raw);
  if (!parsed.success) {
    throw inputError(
      'ZFLASH_HELPER_JOB',
      `The helper refused its job: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`,
      'Start the flash again from Zeta Flash.',
    );
  }
  // Root writes drives, nothing else: an image file (`--target`) is written by the requester
  // itself (app/api/plan.ts), so a job naming a file is never one of ours. Accepting it
  // would let anyone who can get the helper elevated overwrite any file as root.
  if (parsed.data.verb === HELPER_VERB && parsed.data.file !== null) {
    throw inputError(
      'ZFLASH_HELPER_JOB',
      'The helper refused its job: it writes drives only, and this job names a file.',
      'Start the flash again from Zeta Flash.',
    );
  }
  return parsed.data;
}

export async function helperMain(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.once('SIGHUP', abort);
  let emit: Emit = stdoutEmit;
  let events: FileHandle | null = null;
  let parentPid: number | null = null;
  let args: HelperArgs | null = null;
  let watchdog: NodeJS.Timeout | null = null;

  try {
    args = parseHelperArgs(argv);
    const { verb, job: jobPath } = args;
    const files = args.channel === 'files';
    const dir = dirname(jobPath);
    // Started early: the job is announced by a line on stdin once the client has written it.
    let announced: Promise<void> = Promise.resolve();
    if (!files) {
      // Parent gone or asked us to stop: stdin reaches its end.
      process.stdin.on('end', abort);
      process.stdin.on('close', abort);
      process.stdin.on('error', abort);
      if (args.awaitJob) {
        announced = new Promise<void>((resolve, reject) => {
          const onData = (d: Buffer) => {
            if (!d.includes(0x0a)) return;
            process.stdin.off('data', onData);
            resolve();
          };
          process.stdin.on('data', onData);
          controller.signal.addEventListener('abort', () => reject(cancelledError()), {
            once: true,
          });
        });
      }
      process.stdin.resume();
      process.stdout.on('error', abort);
    }
    const parent = process.ppid;
    watchdog = setInterval(() => {
      if (!files && process.ppid !== parent) abort();
      if (files) {
        if (existsSync(join(dir, CANCEL_FILE))) abort();
        if (parentPid !== null && !isAlive(parentPid)) abort();
      }
    }, 250);
    watchdog.unref();

    // Windows has no POSIX owners: a UAC-elevated process is bound by ACLs instead.
    const requester =
      process.platform === 'win32'
        ? null
        : resolveRequester({
            pkexecUid: env['PKEXEC_UID'],
            sudoUid: env['SUDO_UID'],
            argRequester: args.requester,
            uid: process.getuid?.() ?? null,
          });
    await announced;
    await checkJobFolder(dir, requester);
    if (files) {
      const fh = await openEventsFile(join(dir, EVENTS_FILE), requester);
      events = fh;
      emit = (e) => {
        writeSync(fh.fd, `${JSON.stringify(e)}\n`);
      };
    }
    const job = parseJob(verb, await readJobFile(jobPath, requester));
    // The prompt the operator approved named this drive (polkit, UAC details): a job for any
    // other drive is not what they approved.
    if (args.drives !== undefined) {
      const named = jobDrives(job);
      const same =
        args.drives.length === named.length &&
        [...args.drives].sort().every((d, i) => d === [...named].sort()[i]);
      if (!same)
        throw usage(
          `--drive ${args.drives.join(' ')} is not what the job names (${named.join(' ') || 'no drive'})`,
        );
    }
    parentPid = job.parentPid;
    const ctx = { signal: controller.signal, emit };
    if (job.verb === WRITE_MANY_VERB) {
      // Each drive's own result or error came already; the summary ends the job.
      const summary = await runWriteManyJob(job, ctx);
      emit(summary);
      return manyExitCode(summary.drives);
    }
    const result =
      job.verb === INJECT_VERB ? await runInjectJob(job, ctx) : await runWriteJob(job, ctx);
    emit(result);
    return ExitCode.ok;
  } catch (err) {
    const e: ZflashError = toZflashError(err);
    const { details, ...restJson } = e.toJSON();
    const body =
      e.kind === 'bug'
        ? { ...restJson, details: details ?? {} }
        : { ...restJson, ...(details ? { details } : {}) };
    try {
      emit({ type: 'error', error: body });
    } catch {
      // The channel itself failed; stderr below still carries it.
    }
    process.stderr.write(`${STDERR_ERROR_MARKER} ${JSON.stringify(body)}\n`);
    return e.exitCode;
  } finally {
    if (watchdog) clearInterval(watchdog);
    if (args?.channel !== 'files') process.stdin.pause();
    await events?.close().catch(() => undefined);
  }
}

/**
 * Whether a process exists (EPERM: it does, but belongs to someone else). prestart.ts has the
 * same check for the front ends; this copy stays in the helper's own module, which the
 * helper's mutation run covers (test/mutation/modules.mjs).
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
