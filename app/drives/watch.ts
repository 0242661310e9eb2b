/**
 * Plug/unplug watching by polling (about once a second, like Etcher): simple, works the same
 * on every OS, and needs no udev/IOKit bindings. Events fire only on real differences.
 */
import { toZflashError } from '../errors.js';
import { scanDrives, type ScanOptions } from './scanner.js';
import type { AssessedDrive, DriveEvent } from './types.js';

export interface WatchOptions extends ScanOptions {
  readonly intervalMs?: number;
  /** Stops the watch; the returned promise then resolves. */
  readonly signal: AbortSignal;
  readonly onEvent: (event: DriveEvent) => void;
  /** The scan to poll; defaults to scanDrives(this). Injected by tests. */
  readonly scan?: () => Promise<readonly AssessedDrive[]>;
}

/** What makes two scans of the same device "the same" for the UI. */
function fingerprint(a: AssessedDrive): string {
  const d = a.drive;
  return JSON.stringify([
    d.size,
    d.description,
    d.busType,
    d.isReadOnly,
    d.mountpoints,
    a.verdict.status,
    a.verdict.reasons.map((r) => [r.code, r.message]),
  ]);
}

/** The events that turn `previous` into `next`, keyed by device path. Pure. */
export function diffDrives(
  previous: readonly AssessedDrive[],
  next: readonly AssessedDrive[],
): readonly DriveEvent[] {
  const before = new Map(previous.map((a) => [a.drive.device, a]));
  const after = new Map(next.map((a) => [a.drive.device, a]));
  const events: DriveEvent[] = [];
  for (const [device, prev] of before) {
    if (!after.has(device)) events.push({ type: 'detach', drive: prev });
  }
  for (const [device, drive] of after) {
    const prev = before.get(device);
    if (!prev) events.push({ type: 'attach', drive });
    else if (fingerprint(prev) !== fingerprint(drive))
      events.push({ type: 'change', drive, previous: prev });
  }
  return events;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Polls until `signal` aborts. The first scan reports every present drive as `attach`, so a
 * subscriber builds its list from events alone. A failing scan is reported once as
 * `scan-error` (not every second) and polling goes on; the drive list is kept meanwhile.
 */
export async function watchDrives(opts: WatchOptions): Promise<void> {
  const { signal, onEvent } = opts;
  const intervalMs = opts.intervalMs ?? 1000;
  const scan = opts.scan ?? (() => scanDrives(opts));
  let current: readonly AssessedDrive[] = [];
  let lastError: string | null = null;
  while (!signal.aborted) {
    let next: readonly AssessedDrive[] | null = null;
    try {
      next = await scan();
    } catch (err) {
      const error = toZflashError(err).toJSON();
      const key = `${error.code}\n${error.message}`;
      if (key !== lastError && !signal.aborted) onEvent({ type: 'scan-error', error });
      lastError = key;
    }
    if (next && !signal.aborted) {
      lastError = null;
      for (const event of diffDrives(current, next)) onEvent(event);
      current = next;
    }
    await sleep(intervalMs, signal);
  }
}
