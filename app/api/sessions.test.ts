// One flash per drive, throttled snapshots, and the end of every flash — with a scripted run
// for the bookkeeping, and the real engine writing a real image file (no root needed).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { buildNixosIso, espOffsetBySfdisk, mtype, tempDir } from '../../test/fixtures.js';
import { targetError } from '../errors.js';
import type { WriteJobRequest } from '../helper/protocol.js';
import { buildNodeIdentity } from '../node/identity.js';
import { readSshKeyFile } from '../node/ssh-keys.js';
import type { FlashEvent } from '../flash/events.js';
import { prepareFlash, runFlash, type FlashResult } from './plan.js';
import {
  FlashSessions,
  flashSessionSnapshotSchema,
  type FlashSessionSnapshot,
  type RunJob,
} from './sessions.js';

const tmp = tempDir('zflash-sessions-');
afterAll(() => tmp.cleanup());
afterEach(() => vi.useRealTimers());

const job = (device: string): WriteJobRequest =>
  ({ drive: { device, expectedSize: 1 }, file: null }) as unknown as WriteJobRequest;

const result = (device: string): FlashResult => ({
  type: 'result',
  device,
  bytesWritten: 100,
  digest: 'x',
  verified: true,
  imageSha256: null,
  esp: { partition: 2, offset: 0, fatType: 'FAT12', freeBytes: 1 },
  ejected: true,
});

/** A run the test drives by hand: `emit` events, then `finish` or `fail`. */
function scripted() {
  const runs: {
    device: string;
    emit: (e: FlashEvent) => void;
    finish: () => void;
    fail: (err: unknown) => void;
    signal: AbortSignal;
  }[] = [];
  const run: RunJob = (j, opts) =>
    new Promise((resolve, reject) => {
      const device = j.drive?.device ?? '';
      runs.push({
        device,
        emit: (e) => opts.onEvent?.(e),
        finish: () => resolve(result(device)),
        fail: reject,
        signal: opts.signal as AbortSignal,
      });
      opts.signal?.addEventListener('abort', () =>
        reject(Object.assign(new Error('x'), { name: 'Abort' })),
      );
    });
  return { run, runs };
}

const progress = (phase: 'writing' | 'verifying', bytes: number): FlashEvent => ({
  type: 'progress',
  phase,
  bytes,
  total: 1000,
  speed: 10,
  eta: null,
});

const tick = () => new Promise((r) => setImmediate(r));

describe('FlashSessions bookkeeping', () => {
  it('refuses a second flash of a drive that is being written, and allows another drive', async () => {
    const { run, runs } = scripted();
    const sessions = new FlashSessions({ run, onSnapshot: () => undefined });
    sessions.start(job('/dev/sdx'), { hostname: 'a', helper: { env: {} } });
    expect(() => sessions.start(job('/dev/sdx'), { hostname: 'b', helper: { env: {} } })).toThrow(
      expect.objectContaining({ code: 'ZFLASH_TARGET_BUSY' }),
    );
    sessions.start(job('/dev/sdy'), { hostname: 'c', helper: { env: {} } });
    await tick();
    expect(runs.map((r) => r.device)).toEqual(['/dev/sdx', '/dev/sdy']);
    runs[0]?.finish();
    await sessions.settled('/dev/sdx');
    // Finished: the same drive may be flashed again, and the old state is replaced.
    expect(sessions.isRunning('/dev/sdx')).toBe(false);
    sessions.start(job('/dev/sdx'), { hostname: 'd', helper: { env: {} } });
    expect(sessions.get('/dev/sdx')?.hostname).toBe('d');
    await sessions.dispose();
  });

  it('sends progress at most once per interval, never loses the last one, and sends phase changes and the end at once', async () => {
    vi.useFakeTimers();
    const { run, runs } = scripted();
    const sent: FlashSessionSnapshot[] = [];
    const sessions = new FlashSessions({ run, onSnapshot: (s) => sent.push(s), throttleMs: 250 });
    sessions.start(job('/dev/sdx'), { hostname: 'n1', helper: { env: {} } });
    await vi.advanceTimersByTimeAsync(0);
    const r = runs[0];
    if (!r) throw new Error('run did not start');
    expect(sent.map((s) => s.session.status)).toEqual(['idle']);

    for (let b = 1; b <= 100; b++) r.emit(progress('writing', b));
    // The first progress changes the status (idle → running): sent at once; the rest wait.
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(250);
    expect(sent).toHaveLength(3);
    const trailing = sent[2]?.session;
    expect(trailing?.status === 'running' && trailing.progress.bytes).toBe(100);

    r.emit(progress('writing', 200));
    r.emit(progress('verifying', 10)); // a new phase: at once
    expect(sent.at(-1)?.session.status === 'running' && sent.at(-1)?.session).toMatchObject({
      progress: { phase: 'verifying', bytes: 10 },
    });
    r.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent.at(-1)?.session.status).toBe('done');
    await vi.advanceTimersByTimeAsync(10_000);
    // No stray trailing snapshot after the end.
    expect(sent.at(-1)?.session.status).toBe('done');
    for (const s of sent) expect(flashSessionSnapshotSchema.safeParse(s).success).toBe(true);
  });

  it('ends a flash whose helper failed without an error event, and frees the drive', async () => {
    const { run, runs } = scripted();
    const sessions = new FlashSessions({ run, onSnapshot: () => undefined });
    sessions.start(job('/dev/sdx'), { hostname: 'n1', helper: { env: {} } });
    await tick();
    runs[0]?.fail(
      targetError('ZFLASH_ELEVATION_UNAVAILABLE', 'No way to get rights.', 'Run as admin.'),
    );
    const end = await sessions.settled('/dev/sdx');
    expect(end?.session).toMatchObject({
      status: 'failed',
      error: { code: 'ZFLASH_ELEVATION_UNAVAILABLE' },
    });
    expect(sessions.isRunning('/dev/sdx')).toBe(false);
  });

  it('reports a thrown non-engine error as a bug, not as a hang', async () => {
    const { run, runs } = scripted();
    const sessions = new FlashSessions({ run, onSnapshot: () => undefined });
    sessions.start(job('/dev/sdx'), { hostname: 'n1', helper: { env: {} } });
    await tick();
    runs[0]?.fail(new TypeError('boom'));
    const end = await sessions.settled('/dev/sdx');
    expect(end?.session).toMatchObject({ status: 'failed', error: { code: 'ZFLASH_INTERNAL' } });
  });

  it('dismisses only finished flashes', async () => {
    const { run, runs } = scripted();
    const sessions = new FlashSessions({ run, onSnapshot: () => undefined });
    sessions.start(job('/dev/sdx'), { hostname: 'n1', helper: { env: {} } });
    await tick();
    expect(sessions.dismiss('/dev/sdx')).toBe(false);
    runs[0]?.finish();
    await sessions.settled('/dev/sdx');
    expect(sessions.dismiss('/dev/sdx')).toBe(true);
    expect(sessions.list()).toEqual([]);
  });
});

describe('FlashSessions over the real engine (an image file target)', () => {
  const iso = buildNixosIso(join(tmp.path, 'nixos.iso'), { zeroFillerBytes: 48 * 1024 * 1024 });
  const key = join(tmp.path, 'id');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op', '-f', key]);

  async function plan(host: string, out: string) {
    const { keys } = await readSshKeyFile(`${key}.pub`);
    const { identity } = buildNodeIdentity({ hostname: host, keys });
    return prepareFlash({
      image: iso,
      target: { kind: 'file', path: out, overwrite: false },
      identity,
      now: new Date('2025-01-01T00:00:00Z'),
    });
  }

  it('runs a flash to the end and keeps the final state for a window that asks later', async () => {
    const out = join(tmp.path, 'node-1.img');
    const p = await plan('node-1', out);
    const sent: FlashSessionSnapshot[] = [];
    const sessions = new FlashSessions({ run: runFlash, onSnapshot: (s) => sent.push(s) });
    sessions.start(p.job, { hostname: 'node-1', helper: { env: {} } });
    const end = await sessions.settled(out);
    expect(end?.session.status).toBe('done');
    expect(sessions.list()).toEqual([end]);
    expect(sent.at(-1)).toEqual(end);
    expect(mtype(out, espOffsetBySfdisk(out).offset, 'zeta-hostname.txt')).toBe('node-1\n');
  });

  it('cancels a running flash when asked, mid-write', async () => {
    const out = join(tmp.path, 'node-2.img');
    const p = await plan('node-2', out);
    let sessions: FlashSessions | null = null;
    sessions = new FlashSessions({
      run: runFlash,
      throttleMs: 0,
      onSnapshot: (s) => {
        if (s.session.status === 'running' && s.session.progress.phase === 'writing')
          sessions?.cancel(out);
      },
    });
    sessions.start(p.job, { hostname: 'node-2', helper: { env: {} } });
    const end = await sessions.settled(out);
    expect(end?.session).toMatchObject({
      status: 'cancelled',
      error: { code: 'ZFLASH_CANCELLED' },
    });
    expect(sessions.cancel(out)).toBe(false);
    // A cancelled image file is not left looking finished (the engine removes or blanks it).
    if (existsSync(out))
      expect(readFileSync(out).subarray(510, 512)).not.toEqual(Buffer.from([0x55, 0xaa]));
  });
});
