import { describe, expect, it } from 'vitest';
import { flashEventSchema, type FlashEvent } from './events.js';
import { idleSession, reduce, type FlashSession } from './session.js';

const progress = (
  phase: 'preparing' | 'writing' | 'finishing' | 'verifying',
  bytes: number,
  total: number | null,
  speed = 0,
): FlashEvent => ({ type: 'progress', phase, bytes, total, speed, eta: 999 });

const result: FlashEvent = {
  type: 'result',
  device: '/dev/sdz',
  bytesWritten: 100,
  digest: 'ab',
  verified: true,
  imageSha256: null,
  esp: { partition: 2, offset: 1024, fatType: 'FAT12', freeBytes: 10 },
  ejected: true,
};

const fold = (events: FlashEvent[], from: FlashSession = idleSession) =>
  events.reduce(reduce, from);

describe('flash session reducer', () => {
  it('follows the phases and derives percent and ETA from the speed it shows', () => {
    const s = fold([progress('preparing', 0, null), progress('writing', 25, 100, 5)]);
    expect(s.status).toBe('running');
    if (s.status !== 'running') throw new Error('unreachable');
    expect(s.progress).toEqual({
      phase: 'writing',
      step: 1,
      bytes: 25,
      total: 100,
      speed: 5,
      eta: 15, // (100 - 25) / 5, not the 999 the event carried
      percent: 25,
    });
  });

  it('never shows more than the total, and no ETA without a total or a speed', () => {
    const over = fold([progress('writing', 150, 100, 10)]);
    if (over.status !== 'running') throw new Error('unreachable');
    expect(over.progress.bytes).toBe(100);
    expect(over.progress.percent).toBe(100);
    expect(over.progress.eta).toBe(0);
    const unknown = fold([progress('writing', 50, null, 10)]);
    if (unknown.status !== 'running') throw new Error('unreachable');
    expect(unknown.progress.percent).toBeNull();
    expect(unknown.progress.eta).toBeNull();
    const still = fold([progress('writing', 50, 100, 0)]);
    if (still.status !== 'running') throw new Error('unreachable');
    expect(still.progress.eta).toBeNull();
  });

  it('a result finishes the session at 100 % and later events cannot reopen it', () => {
    const done = fold([progress('verifying', 40, 100, 10), result, progress('writing', 1, 100)]);
    expect(done.status).toBe('done');
    if (done.status !== 'done') throw new Error('unreachable');
    expect(done.result).toEqual(result);
    expect(done.progress.percent).toBe(100);
    expect(done.progress.phase).toBe('verifying');
  });

  it('tells a cancel from a failure and keeps where it happened', () => {
    const err = (kind: 'io' | 'cancelled'): FlashEvent => ({
      type: 'error',
      error: {
        code: kind === 'io' ? 'ZFLASH_WRITE_FAILED' : 'ZFLASH_CANCELLED',
        kind,
        message: 'm',
        hint: 'h',
        exitCode: kind === 'io' ? 4 : 130,
      },
    });
    const failed = fold([progress('writing', 30, 100, 3), err('io'), result]);
    expect(failed.status).toBe('failed');
    if (failed.status !== 'failed') throw new Error('unreachable');
    expect(failed.progress.bytes).toBe(30);
    expect(failed.error.code).toBe('ZFLASH_WRITE_FAILED');
    expect(fold([err('cancelled')]).status).toBe('cancelled');
  });

  it('a failure between two progress events is shown where the error says it stopped', () => {
    const err = (offset: unknown): FlashEvent => ({
      type: 'error',
      error: {
        code: 'ZFLASH_FAKE_CAPACITY',
        kind: 'target',
        message: 'm',
        hint: 'h',
        exitCode: 3,
        details: { offset },
      },
    });
    const at = (events: FlashEvent[]) => {
      const s = fold(events);
      if (s.status !== 'failed') throw new Error('unreachable');
      return s.progress;
    };
    expect(at([progress('writing', 0, 200, 1), err(80)])).toMatchObject({ bytes: 80, percent: 40 });
    // Never backwards (the first MiB is written last), never past the total, only numbers.
    expect(at([progress('writing', 90, 200, 1), err(10)]).bytes).toBe(90);
    expect(at([progress('verifying', 10, 200, 1), err(900)])).toMatchObject({ bytes: 200 });
    expect(at([progress('writing', 5, 200, 1), err('80')]).bytes).toBe(5);
    // Before the write began, an offset says nothing about this flash's progress.
    expect(at([progress('preparing', 0, 200, 1), err(80)]).bytes).toBe(0);
  });

  it('keeps the last 20 log lines', () => {
    const logs: FlashEvent[] = Array.from({ length: 25 }, (_, i) => ({
      type: 'log',
      message: `line ${i}`,
    }));
    const s = fold(logs);
    if (s.status !== 'running') throw new Error('unreachable');
    expect(s.log).toHaveLength(20);
    expect(s.log[0]).toBe('line 5');
    expect(s.log.at(-1)).toBe('line 24');
  });

  it('is pure: the state it was given is not changed', () => {
    const a = fold([progress('writing', 10, 100, 1)]);
    const snapshot = JSON.stringify(a);
    reduce(a, progress('writing', 90, 100, 1));
    expect(JSON.stringify(a)).toBe(snapshot);
  });

  it('the event schema refuses unknown phases and unregistered error codes', () => {
    expect(flashEventSchema.safeParse(progress('writing', 1, 2)).success).toBe(true);
    expect(
      flashEventSchema.safeParse({ ...progress('writing', 1, 2), phase: 'copying' }).success,
    ).toBe(false);
    expect(
      flashEventSchema.safeParse({
        type: 'error',
        error: { code: 'ZFLASH_NOPE', kind: 'io', message: '', hint: '', exitCode: 4 },
      }).success,
    ).toBe(false);
  });
});
