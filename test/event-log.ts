import type { DriveEvent } from '../app/drives/types.js';

/** Collects drive events and lets a test wait for one matching a predicate, with a timeout. */
export function eventLog() {
  const events: DriveEvent[] = [];
  const waiters: { match: (e: DriveEvent) => boolean; resolve: (e: DriveEvent) => void }[] = [];
  return {
    events,
    onEvent(e: DriveEvent) {
      events.push(e);
      for (const w of [...waiters]) {
        if (w.match(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    },
    next(match: (e: DriveEvent) => boolean, timeoutMs: number, what: string): Promise<DriveEvent> {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${what} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
  };
}
