import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withErrorCodeTable } from './cli/error-table.js';
import {
  ERROR_CODES,
  ERROR_CODE_LIST,
  ExitCode,
  ZflashError,
  inputError,
  isErrorCode,
  toZflashError,
  type ErrorCode,
} from './errors.js';

describe('error registry', () => {
  it('docs/cli.md carries the table generated from the registry (run `npm run docs:codes`)', () => {
    const doc = readFileSync(new URL('../docs/cli.md', import.meta.url), 'utf8');
    expect(withErrorCodeTable(doc)).toBe(doc);
    for (const code of ERROR_CODE_LIST) expect(doc).toContain(`\`${code}\``);
  });

  it('every code is ZFLASH_ upper snake case and documented', () => {
    for (const code of ERROR_CODE_LIST) {
      expect(code).toMatch(/^ZFLASH_[A-Z0-9_]+$/);
      expect(ERROR_CODES[code].doc.length).toBeGreaterThan(5);
    }
  });

  it('an error carries its registered kind and the exit code of that kind', () => {
    const e = inputError('ZFLASH_USAGE', 'No.', 'Try again.');
    expect(e.kind).toBe(ERROR_CODES.ZFLASH_USAGE.kind);
    expect(e.exitCode).toBe(ExitCode.input);
    expect(e.toJSON()).toEqual({
      code: 'ZFLASH_USAGE',
      kind: 'input',
      message: 'No.',
      hint: 'Try again.',
      exitCode: 2,
    });
  });

  it('unknown throwables become ZFLASH_INTERNAL bugs with their stack', () => {
    const e = toZflashError(new TypeError('boom'));
    expect(e).toBeInstanceOf(ZflashError);
    expect(e.code).toBe('ZFLASH_INTERNAL');
    expect(e.exitCode).toBe(1);
    expect(String(e.details?.['stack'])).toContain('TypeError: boom');
  });

  it('isErrorCode tells registered codes from strangers', () => {
    expect(isErrorCode('ZFLASH_NO_ESP')).toBe(true);
    expect(isErrorCode('ZFLASH_NOPE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    const all: Record<ErrorCode, true> = Object.fromEntries(
      ERROR_CODE_LIST.map((c) => [c, true]),
    ) as Record<ErrorCode, true>;
    expect(Object.keys(all)).toHaveLength(Object.keys(ERROR_CODES).length);
  });
});
