/**
 * The flashes a long-lived front end (the desktop app's main process, the e2e web shell) has
 * in flight: one per drive at a time, keyed by the device the job writes. Each keeps its state
 * through the pure reducer in ./session.ts, so a window that reloads asks `list()` and gets
 * the same answer as one that watched every event.
 *
 * Snapshots go to `onSnapshot` throttled (at most one per `throttleMs` while the phase stays the
 * same): the helper reports progress often, and pushing every event to every window would
 * flood IPC for nothing. A change of status or phase, and the end, are sent at once.
 *
 * Fiddle's download manager is the model: a map of in-flight work keyed by resource, progress
 * pushed to windows, cleanup in `finally`. Nothing here reads the environment or prints.
 */
import { z } from 'zod';
import { cancelledError, targetError, toZflashError } from '../errors.js';
import type { WriteJobRequest } from '../helper/protocol.js';
import {
  errorJsonSchema,
  FLASH_PHASES,
  flashResultSchema,
  type FlashEvent,
} from '../flash/events.js';
import type { FlashResult, RunFlashOptions } from './plan.js';
import { idleSession, isTerminal, reduce, type FlashSession } from '../flash/session.js';

const progressSchema = z.object({
  phase: z.enum(FLASH_PHASES),
  step: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  total: z.number().nonnegative().nullable(),
  speed: z.number().nonnegative(),
  eta: z.number().nonnegative().nullable(),
  percent: z.number().min(0).max(100).nullable(),
});

/** The reducer's state as a wire shape (IPC, the web shell): validated, never trusted. */
export const flashSessionStateSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('idle') }),
  z.object({
    status: z.literal('running'),
    progress: progressSchema,
    log: z.array(z.string()).readonly(),
  }),
  z.object({
    status: z.literal('done'),
    progress: progressSchema,
    log: z.array(z.string()).readonly(),
    result: flashResultSchema,
  }),
  z.object({
    status: z.enum(['failed', 'cancelled']),
    progress: progressSchema,
    log: z.array(z.string()).readonly(),
    error: errorJsonSchema,
  }),
]) satisfies z.ZodType<FlashSession>;

export const flashSessionSnapshotSchema = z.object({
  /** The drive (or image file) this flash writes; one flash per device at a time. */
  device: z.string(),
  hostname: z.string(),
  startedAt: z.string(),
  session: flashSessionStateSchema,
});
export type FlashSessionSnapshot = z.infer<typeof flashSessionSnapshotSchema>;

export type RunJob = (job: WriteJobRequest, opts: RunFlashOptions) => Promise<FlashResult>;

export interface FlashSessionsOptions {
  /** Executes one job: `runFlash` from ./plan.js; a test passes a scripted one. */
  readonly run: RunJob;
  /** Receives throttled snapshots (the front end pushes them to every window). */
  readonly onSnapshot: (snapshot: FlashSessionSnapshot) => void;
  /** Minimum gap between two progress snapshots of one flash; default 250 ms (4 a second). */
  readonly throttleMs?: number;
  readonly now?: () => Date;
}

export interface StartOptions {
  readonly hostname: string;
  /** How the privileged helper is started (RunFlashOptions.helper). */
  readonly helper: RunFlashOptions['helper'];
}

interface Entry {
  snapshot: FlashSessionSnapshot;
  controller: AbortController | null;
  lastSent: number;
  lastSentKey: string;
  timer: ReturnType<typeof setTimeout> | null;
  done: Promise<FlashSessionSnapshot> | null;
}

/** The device a job writes: the drive, or the image file for a VM. */
export function jobDevice(job: WriteJobRequest): string {
  if (job.drive) return job.drive.device;
  if (job.file) return job.file.path;
  throw new Error('a write job names neither a drive nor a file');
}

export class FlashSessions {
  private readonly entries = new Map<string, Entry>();
  private readonly throttleMs: number;
  private readonly now: () => Date;

  constructor(private readonly opts: FlashSessionsOptions) {
    this.throttleMs = opts.throttleMs ?? 250;
    this.now = opts.now ?? (() => new Date());
  }

  /** True while a flash of `device` has not reached done, failed or cancelled. */
  isRunning(device: string): boolean {
    const e = this.entries.get(device);
    return !!e && e.controller !== null;
  }

  /**
   * Starts the job; returns its first snapshot at once (the flash goes on in the background).
   * A second flash of a drive that is being written is refused: the first one keeps going.
   */
  start(job: WriteJobRequest, options: StartOptions): FlashSessionSnapshot {
    const device = jobDevice(job);
    if (this.isRunning(device)) {
      throw targetError(
        'ZFLASH_TARGET_BUSY',
        `${device} is already being written by Zeta Flash; one flash per drive at a time.`,
        'Wait for the running flash to finish, or cancel it first.',
        { device },
      );
    }
    const previous = this.entries.get(device);
    if (previous?.timer) clearTimeout(previous.timer);
    const controller = new AbortController();
    const entry: Entry = {
      snapshot: {
        device,
        hostname: options.hostname,
        startedAt: this.now().toISOString(),
        session: idleSession,
      },
      controller,
      lastSent: Number.NEGATIVE_INFINITY,
      lastSentKey: '',
      timer: null,
      done: null,
    };
    this.entries.set(device, entry);
    entry.done = this.drive(entry, job, options);
    this.publish(entry, true);
    return entry.snapshot;
  }

  private async drive(
    entry: Entry,
    job: WriteJobRequest,
    options: StartOptions,
  ): Promise<FlashSessionSnapshot> {
    const signal = entry.controller?.signal ?? new AbortController().signal;
    const apply = (event: FlashEvent) => {
      entry.snapshot = { ...entry.snapshot, session: reduce(entry.snapshot.session, event) };
      this.publish(entry, false);
    };
    try {
      // Let start() return (and its caller answer) before the first event arrives.
      await Promise.resolve();
      if (signal.aborted) throw cancelledError();
      const result = await this.opts.run(job, {
        signal,
        onEvent: apply,
        helper: options.helper,
      });
      if (!isTerminal(entry.snapshot.session)) apply(result);
    } catch (err) {
      // The helper may end without an error line (it could not start, elevation was refused):
      // the session still ends, with the error the engine raised.
      if (!isTerminal(entry.snapshot.session))
        apply({ type: 'error', error: toZflashError(err).toJSON() });
    } finally {
      entry.controller = null;
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = null;
      this.publish(entry, true);
    }
    return entry.snapshot;
  }

  /** Sends now, or schedules one trailing send so the last progress is never lost. */
  private publish(entry: Entry, force: boolean): void {
    const s = entry.snapshot.session;
    const key = s.status === 'idle' ? 'idle' : `${s.status}:${s.progress.phase}`;
    const now = Date.now();
    const due = entry.lastSent + this.throttleMs;
    if (force || key !== entry.lastSentKey || isTerminal(s) || now >= due) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = null;
      entry.lastSent = now;
      entry.lastSentKey = key;
      this.opts.onSnapshot(entry.snapshot);
      return;
    }
    if (!entry.timer) {
      entry.timer = setTimeout(() => {
        entry.timer = null;
        entry.lastSent = Date.now();
        this.opts.onSnapshot(entry.snapshot);
      }, due - now);
    }
  }

  /** Asks the running flash of `device` to stop; false when none runs. */
  cancel(device: string): boolean {
    const e = this.entries.get(device);
    if (!e?.controller) return false;
    e.controller.abort();
    return true;
  }

  get(device: string): FlashSessionSnapshot | null {
    return this.entries.get(device)?.snapshot ?? null;
  }

  /** Every flash this front end knows of, running or finished ("where are we now"). */
  list(): FlashSessionSnapshot[] {
    return [...this.entries.values()].map((e) => e.snapshot);
  }

  /** Resolves with the final snapshot of `device`'s flash (null when there is none). */
  async settled(device: string): Promise<FlashSessionSnapshot | null> {
    const e = this.entries.get(device);
    return e?.done ?? e?.snapshot ?? null;
  }

  /** Forgets a finished flash; a running one is kept. */
  dismiss(device: string): boolean {
    const e = this.entries.get(device);
    if (!e || e.controller) return false;
    if (e.timer) clearTimeout(e.timer);
    this.entries.delete(device);
    return true;
  }

  /** Cancels every running flash and waits for each to end (the app is quitting). */
  async dispose(): Promise<void> {
    const all = [...this.entries.values()];
    for (const e of all) e.controller?.abort();
    await Promise.all(all.map((e) => e.done));
  }
}
