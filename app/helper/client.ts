/**
 * The unprivileged side of the helper: writes the job to a 0600 file in a private (0700)
 * temp folder, starts the helper (elevated when needed) with an argv array, reads its JSON
 * lines, and turns its end into a result or a ZflashError. It removes the folder itself (the
 * helper, often root, never deletes by path), and at each start removes the folders of
 * earlier requesters of ours that died before they could (a CLI killed while the password
 * prompt was open).
 *
 * Two channels (helper/main.ts): stdio where the elevated process keeps our pipes (no
 * elevation, pkexec) — cancelling closes its stdin; files where it does not (osascript,
 * UAC) — events are tailed from events.jsonl and cancelling creates the cancel file.
 *
 * Everything it depends on is an option: the environment is the caller's to pass (only front
 * ends read process.env), the helper command too (a packaged app runs its own node).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import {
  cancelledError,
  ExitCode,
  inputError,
  ioError,
  targetError,
  ZflashError,
} from '../errors.js';
import {
  cleanStaleJobDirs,
  defaultHelperCommand,
  helperArgv,
  helperEnv,
  type Channel,
  type PrestartedHelper,
} from './prestart.js';
export {
  cleanStaleJobDirs,
  defaultHelperCommand,
  HELPER_ENTRY,
  helperArgv,
  prestartHelper,
  type Channel,
  type PrestartedHelper,
  type PrestartOptions,
} from './prestart.js';
import {
  elevationFor,
  elevationPrompt,
  isDenied,
  isDismissed,
  type Elevation,
} from './elevation.js';
import {
  CANCEL_FILE,
  errorBodySchema,
  EVENTS_FILE,
  HELPER_VERB,
  helperEventSchema,
  INJECT_VERB,
  JOB_DIR_PREFIX,
  JOB_FILE,
  jobDrives,
  STDERR_ERROR_MARKER,
  WRITE_MANY_VERB,
  type HelperEvent,
  type HelperResult,
  type HelperVerb,
  type InjectHelperResult,
  type InjectJobRequest,
  type ManySummary,
  type WriteJobRequest,
  type WriteManyJobRequest,
} from './protocol.js';

export interface RunHelperOptions {
  /** The caller's environment (PATH finds pkexec); the helper is started with it. */
  readonly env: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: HelperEvent) => void;
  /** The helper's process argv before `VERB --job FILE`; default defaultHelperCommand(). */
  readonly helperCommand?: readonly string[];
  readonly platform?: NodeJS.Platform;
  readonly isRoot?: boolean;
  /** Force a channel (tests run the files channel as root); default: by elevation kind. */
  readonly channel?: Channel;
  /**
   * Our uid, passed as `--requester` (osascript and UAC set neither PKEXEC_UID nor SUDO_UID);
   * default process.getuid(), null where there is none (Windows).
   */
  readonly requester?: number | null;
  /** Where job folders go; default os.tmpdir(). */
  readonly tempDir?: string;
  /**
   * A helper started before the job was ready (`prestartHelper`): the job is written into its
   * folder and announced on its stdin instead of starting a new process.
   */
  readonly prestarted?: PrestartedHelper;
}

export async function runHelper(
  request: WriteJobRequest,
  options: RunHelperOptions,
): Promise<HelperResult> {
  const end = await runVerb(HELPER_VERB, request, options);
  if (end.type !== 'result') throw unexpectedEnd(end);
  return end;
}

/** Injects a node's files into an already-flashed drive through the privileged helper. */
export async function runInjectHelper(
  request: InjectJobRequest,
  options: RunHelperOptions,
): Promise<InjectHelperResult> {
  const end = await runVerb(INJECT_VERB, request, options);
  if (end.type !== 'injected') throw unexpectedEnd(end);
  return end;
}

/**
 * Flashes several drives in one helper run (verb `write-many`). Resolves with the helper's
 * summary whenever it gets that far, whatever each drive's outcome: every drive's own
 * `result` or `error` event (carrying `device`) reaches `onEvent` first. Throws only when the
 * job as a whole did not run (refused, elevation denied, the image's checksum, the helper
 * died): then the error is the job's, not a drive's.
 */
export async function runWriteManyHelper(
  request: WriteManyJobRequest,
  options: RunHelperOptions,
): Promise<ManySummary> {
  const end = await runVerb(WRITE_MANY_VERB, request, options);
  if (end.type !== 'summary') throw unexpectedEnd(end);
  return end;
}

const unexpectedEnd = (e: HelperEvent) =>
  ioError(
    'ZFLASH_HELPER_DIED',
    `The writer ended with a "${e.type}" that does not answer the job it was given.`,
    'Reinstall Zeta Flash; if it happens again, save the diagnostics and report it.',
  );

type FinalEvent = Extract<HelperEvent, { type: 'result' | 'injected' | 'summary' }>;

/** The helper must not inherit an elevation it did not get: see main.ts resolveRequester. */

async function runVerb(
  verb: HelperVerb,
  request: WriteJobRequest | WriteManyJobRequest | InjectJobRequest,
  options: RunHelperOptions,
): Promise<FinalEvent> {
  if (options.signal?.aborted) throw cancelledError();
  const platform = options.platform ?? process.platform;
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  const requester =
    options.requester !== undefined ? options.requester : (process.getuid?.() ?? null);
  const channel: Channel =
    options.channel ??
    (!isRoot && (platform === 'darwin' || platform === 'win32') ? 'files' : 'stdio');
  // Serialized as is; the helper parses it back with its schema, trusting nothing.
  const job = { ...request, parentPid: process.pid };
  const early = options.prestarted;
  if (early) {
    if (early.verb !== verb) throw new Error(`a ${early.verb} helper cannot run a ${verb} job`);
    try {
      await writeFile(join(early.dir, JOB_FILE), JSON.stringify(job), { mode: 0o600, flag: 'wx' });
      // The job is there: tell the waiting helper (it checks the file as always).
      early.child.stdin.write('job\n');
      return await attachHelper(
        early.child,
        { kind: 'none' },
        options,
        null,
        verb === WRITE_MANY_VERB,
        {
          stderr: early.stderr,
          exited: early.exited,
        },
      );
    } finally {
      await rm(early.dir, { recursive: true, force: true });
    }
  }
  const base = options.tempDir ?? tmpdir();
  await cleanStaleJobDirs(base);
  const dir = await mkdtemp(join(base, `${JOB_DIR_PREFIX}${process.pid}-`));
  const jobPath = join(dir, JOB_FILE);
  try {
    await writeFile(jobPath, JSON.stringify(job), { mode: 0o600, flag: 'wx' });
    if (channel === 'files') {
      await writeFile(join(dir, EVENTS_FILE), '', { mode: 0o600, flag: 'wx' });
    }
    const drives = jobDrives(request);
    const argv = helperArgv({
      helperCommand: options.helperCommand ?? defaultHelperCommand(),
      verb,
      jobPath,
      channel,
      requester,
      drives,
    });
    const elevation = elevationFor({
      platform,
      isRoot,
      argv,
      env: options.env,
      exists: existsSync,
      prompt: elevationPrompt(verb, drives),
    });
    if (elevation.kind === 'unavailable') {
      throw targetError(
        'ZFLASH_ELEVATION_UNAVAILABLE',
        `Zeta Flash cannot get the rights to write a drive: ${elevation.reason}.`,
        'Run the command as an administrator (for example with sudo).',
      );
    }
    return await spawnHelper(
      elevation,
      options,
      channel === 'files' ? dir : null,
      verb === WRITE_MANY_VERB,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The helper's argv before elevation. */

/**
 * Follows a file another process appends JSON lines to, with positioned reads on one handle
 * (never re-reading it whole, never blocking the event loop: Electron's main thread runs
 * this). A line split across two reads, even inside a UTF-8 sequence, is kept until its end.
 */
export class LineTail {
  private offset = 0;
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private readonly buf = Buffer.alloc(64 * 1024);
  private reading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly fh: FileHandle,
    private readonly onLine: (line: string) => void,
  ) {}

  static async open(path: string, onLine: (line: string) => void): Promise<LineTail> {
    return new LineTail(await open(path, 'r'), onLine);
  }

  /** Reads what was appended since the last call; calls are queued, never overlapping. */
  drain(): Promise<void> {
    this.reading = this.reading.then(() => this.readAll());
    return this.reading;
  }

  private async readAll(): Promise<void> {
    for (;;) {
      const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      const parts = (this.partial + this.decoder.write(this.buf.subarray(0, bytesRead))).split(
        '\n',
      );
      this.partial = parts.pop() ?? '';
      for (const l of parts) if (l) this.onLine(l);
    }
  }

  async close(): Promise<void> {
    await this.reading.catch(() => undefined);
    await this.fh.close();
  }
}

/** The error the helper said on stderr when its channel could not carry it (main.ts). */
export function errorFromStderr(stderr: string): ZflashError | null {
  const re = new RegExp(`${STDERR_ERROR_MARKER} (\\{[^\\r\\n]*\\})`, 'g');
  let last: ZflashError | null = null;
  for (const m of stderr.matchAll(re)) {
    let body;
    try {
      body = errorBodySchema.safeParse(JSON.parse(m[1] ?? ''));
    } catch {
      continue;
    }
    if (!body.success) continue;
    const { kind, code, message, hint, details } = body.data;
    last = new ZflashError(kind, code, message, hint, details);
  }
  return last;
}

function spawnHelper(
  elevation: Exclude<Elevation, { kind: 'unavailable' }>,
  options: RunHelperOptions,
  filesDir: string | null,
  many = false,
): Promise<FinalEvent> {
  const child = spawn(elevation.command, [...elevation.args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: helperEnv(options.env),
  });
  return attachHelper(child, elevation, options, filesDir, many, null);
}

/**
 * Follows a running helper to its end: its events (stdout, or events.jsonl on the files
 * channel), its stderr, cancel, and its exit. `early`: a prestarted helper, whose stderr and
 * exit were already being watched from its start.
 */
function attachHelper(
  child: ChildProcessWithoutNullStreams,
  elevation: Pick<Exclude<Elevation, { kind: 'unavailable' }>, 'kind'>,
  options: RunHelperOptions,
  filesDir: string | null,
  many: boolean,
  early: { readonly stderr: () => string; readonly exited: Promise<number | null> } | null,
): Promise<FinalEvent> {
  return new Promise((resolve, reject) => {
    let final: FinalEvent | null = null;
    let error: ZflashError | null = null;
    let stderr = '';
    let cancelled = false;

    const cancel = () => {
      cancelled = true;
      child.stdin.end();
      if (filesDir) writeFileSync(join(filesDir, CANCEL_FILE), '', { mode: 0o600 });
      // A helper that ignores both still goes: SIGTERM reaches it when not elevated.
      setTimeout(() => child.kill('SIGTERM'), 3000).unref();
    };
    options.signal?.addEventListener('abort', cancel, { once: true });

    const onLine = (line: string) => {
      let parsed;
      try {
        parsed = helperEventSchema.safeParse(JSON.parse(line));
      } catch {
        return;
      }
      if (!parsed.success) return;
      const e = parsed.data;
      // A write-many job's drives each end with their own result or error (with `device`);
      // only its summary ends the job, and only an error without a device is the job's.
      if (e.type === 'summary' || ((e.type === 'result' || e.type === 'injected') && !many))
        final = e;
      else if (e.type === 'error' && e.device === undefined) {
        const { kind, code, message, hint, details } = e.error;
        error = new ZflashError(kind, code, message, hint, details);
      }
      options.onEvent?.(e);
    };

    // files channel: tail events.jsonl; stdio: read the helper's stdout.
    let tail: Promise<LineTail | null> = Promise.resolve(null);
    let poll: NodeJS.Timeout | null = null;
    if (filesDir) {
      tail = LineTail.open(join(filesDir, EVENTS_FILE), onLine).catch(() => null);
      const tick = () => {
        void tail
          .then((t) => t?.drain())
          .catch(() => undefined)
          .finally(() => {
            if (poll) poll = setTimeout(tick, 100);
          });
      };
      poll = setTimeout(tick, 100);
    } else {
      createInterface({ input: child.stdout }).on('line', onLine);
    }

    child.stdin.on('error', () => undefined);
    if (!early)
      child.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-8192);
      });
    child.on('error', (err) => {
      options.signal?.removeEventListener('abort', cancel);
      if (poll) clearTimeout(poll);
      poll = null;
      void tail.then((t) => t?.close());
      reject(
        targetError(
          'ZFLASH_HELPER_START',
          `The writer could not be started: ${err.message}.`,
          'Reinstall Zeta Flash, or run it as an administrator.',
        ),
      );
    });
    const onClose = (code: number | null) => {
      if (early) stderr = early.stderr();
      options.signal?.removeEventListener('abort', cancel);
      if (poll) clearTimeout(poll);
      poll = null;
      void tail
        .then(async (t) => {
          if (!t) return;
          await t.drain().catch(() => undefined);
          await t.close().catch(() => undefined);
        })
        .then(() => settle(code));
    };
    if (early) {
      // It may have ended already: wait for its output to be read, then settle.
      void early.exited.then((code) => {
        if (child.stdout.readableEnded) onClose(code);
        else child.stdout.once('end', () => onClose(code));
      });
    } else child.on('close', onClose);

    const settle = (code: number | null) => {
      // A summary ends the job whatever its exit code: it says how each drive ended.
      if (final && (code === 0 || final.type === 'summary')) return resolve(final);
      if (error) return reject(error);
      // Nothing came through the channel: what the helper said on stderr, if anything.
      const said = errorFromStderr(stderr);
      if (said) return reject(said);
      if (cancelled || isDismissed(elevation.kind, code, stderr)) return reject(cancelledError());
      if (isDenied(elevation.kind, code)) {
        return reject(
          targetError(
            'ZFLASH_ELEVATION_DENIED',
            `The system did not give Zeta Flash the rights to write the drive: ${lastLine(stderr) || 'not authorized'}.`,
            'Enter the password of an administrator account when asked; without a desktop session, run the command with sudo instead.',
            { exitCode: code, stderr: stderr.slice(-2000) },
          ),
        );
      }
      // UAC gives us the helper's exit code but none of its output: an input error before
      // any event can only be the job or its events file being refused.
      if (filesDir && code === ExitCode.input) {
        return reject(
          inputError(
            'ZFLASH_HELPER_JOB',
            'The writer refused its job or its events file and could not say which.',
            'Start again; if it happens again, save the diagnostics and report it.',
            { exitCode: code },
          ),
        );
      }
      reject(
        ioError(
          'ZFLASH_HELPER_DIED',
          `The writer process ended unexpectedly (exit ${code ?? 'by signal'}) without saying why.`,
          'Flash again; if it happens again, save the diagnostics and report it.',
          { exitCode: code, stderr: stderr.slice(-2000) },
        ),
      );
    };
  });
}

function lastLine(text: string): string {
  return (
    text
      .split(/\r?\n|\r/)
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? ''
  );
}
