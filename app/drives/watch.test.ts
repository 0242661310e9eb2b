// watchDrives with a real loop device needs root: test/drives-live.test.ts.
import { describe, expect, it } from 'vitest';
import { eventLog } from '../../test/event-log.js';
import { linuxLaptop } from '../../test/recorded-drives.fixtures.js';
import { assessDrives, normalizeDrive } from './scanner.js';
import type { AssessedDrive, PolicyContext } from './types.js';
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
