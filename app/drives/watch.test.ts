import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachSparseLoop, systemDisks, type Loop } from '../../test/fixtures.js';
import { linuxLaptop } from '../../test/recorded-drives.fixtures.js';
import { assessDrives, normalizeDrive } from './scanner.js';
import type { AssessedDrive, DriveEvent, PolicyContext } from './types.js';
import { diffDrives, watchDrives } from './watch.js';

const ctx: PolicyContext = {
  source: 'procfs',
  imagePath: null,
  imageSize: null,
  appPaths: [],
  allowLoop: false,
  uses: [],
};
const laptop = assessDrives(linuxLaptop.map(normalizeDrive), ctx);
const [nvme, stick] = laptop as [AssessedDrive, AssessedDrive];

/** Collects events and lets a test wait for one matching a predicate, with a timeout. */
function eventLog() {
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

describe('diffDrives', () => {
  it('reports attach, detach and change, and nothing when nothing changed', () => {
    expect(diffDrives([], [nvme, stick]).map((e) => e.type)).toEqual(['attach', 'attach']);
    expect(diffDrives([nvme, stick], [nvme, stick])).toEqual([]);
    expect(diffDrives([nvme, stick], [nvme])).toEqual([{ type: 'detach', drive: stick }]);
    const remounted: AssessedDrive = {
      ...stick,
      drive: { ...stick.drive, mountpoints: [] },
    };
    expect(diffDrives([nvme, stick], [nvme, remounted])).toEqual([
      { type: 'change', drive: remounted, previous: stick },
    ]);
    const locked: AssessedDrive = {
      drive: { ...stick.drive, isReadOnly: true },
      verdict: { status: 'refused', reasons: [] },
    };
    expect(diffDrives([stick], [locked]).map((e) => e.type)).toEqual(['change']);
  });
});

describe('watchDrives with an injected scan', () => {
  it('reports a failing scan once, keeps polling, and recovers', async () => {
    const controller = new AbortController();
    const log = eventLog();
    const script: (() => Promise<readonly AssessedDrive[]>)[] = [
      async () => [nvme],
      () => Promise.reject(new Error('lsblk crashed')),
      () => Promise.reject(new Error('lsblk crashed')),
      async () => [nvme, stick],
    ];
    let calls = 0;
    const done = watchDrives({
      intervalMs: 1,
      signal: controller.signal,
      onEvent: log.onEvent,
      scan: () => (script[Math.min(calls++, script.length - 1)] ?? script[0]!)(),
    });
    await log.next(
      (e) => e.type === 'attach' && e.drive.drive.device === '/dev/sda',
      5000,
      'attach',
    );
    controller.abort();
    await done;
    expect(log.events.map((e) => e.type)).toEqual(['attach', 'scan-error', 'attach']);
    const err = log.events[1];
    expect(err?.type === 'scan-error' && err.error.code).toBe('ZFLASH_INTERNAL');
  });
});

describe('watchDrives with a real loop device', () => {
  let dir: string;
  let loop: Loop | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zflash-watch-'));
  });
  afterAll(async () => {
    await loop?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  it('emits attach when a loop device is attached and detach when it is detached', async () => {
    const controller = new AbortController();
    const log = eventLog();
    const done = watchDrives({
      allowLoop: true,
      intervalMs: 100,
      signal: controller.signal,
      onEvent: log.onEvent,
    });
    try {
      // The first scan reports what is already there (the system disk at least).
      const [system] = systemDisks();
      await log.next(
        (e) => e.type === 'attach' && e.drive.drive.device === system,
        10_000,
        'initial scan',
      );
      loop = attachSparseLoop(dir, 16 * 1024 * 1024);
      const device = loop.device;
      const attached = await log.next(
        (e) => e.type === 'attach' && e.drive.drive.device === device,
        10_000,
        `attach of ${device}`,
      );
      expect(attached.type === 'attach' && attached.drive.verdict.status).toBe('eligible');
      await loop.detach();
      await log.next(
        (e) => e.type === 'detach' && e.drive.drive.device === device,
        10_000,
        `detach of ${device}`,
      );
    } finally {
      controller.abort();
      await done;
    }
    expect(log.events.filter((e) => e.type === 'scan-error')).toEqual([]);
  });
});
