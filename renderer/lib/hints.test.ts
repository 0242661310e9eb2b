import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode } from '../../app/errors.js';
import type { ErrorJson } from './api.js';
import { adviceFor, isFailure } from './hints.js';

const error = (code: ErrorCode, details?: Record<string, unknown>): ErrorJson => ({
  code,
  kind: ERROR_CODES[code].kind,
  message: 'm',
  hint: 'the engine’s hint',
  exitCode: 1,
  ...(details ? { details } : {}),
});

describe('what the window says to do next', () => {
  it.each(Object.keys(ERROR_CODES) as ErrorCode[])('%s has a sentence and a known step', (code) => {
    const advice = adviceFor(error(code));
    expect(advice.hint.length).toBeGreaterThan(10);
    expect([null, 'image', 'node', 'keys', 'drive']).toContain(advice.fixAt);
  });

  it('a refused drive that is gone is told to be plugged in again', () => {
    expect(adviceFor(error('ZFLASH_DRIVE_REFUSED', { reasons: ['DRIVE_NOT_FOUND'] })).hint).toMatch(
      /Plug it in again/,
    );
    expect(adviceFor(error('ZFLASH_DRIVE_REFUSED', { reasons: ['DRIVE_SYSTEM'] })).hint).toMatch(
      /Pick another stick/,
    );
  });

  it('form mistakes stay in the form; other failures open diagnostics', () => {
    expect(isFailure(error('ZFLASH_HOSTNAME_INVALID'))).toBe(false);
    expect(isFailure(error('ZFLASH_CANCELLED'))).toBe(false);
    expect(isFailure(error('ZFLASH_FAKE_CAPACITY'))).toBe(true);
    expect(isFailure(error('ZFLASH_DRIVE_REFUSED'))).toBe(true);
    expect(isFailure(error('ZFLASH_INTERNAL'))).toBe(true);
  });
});
