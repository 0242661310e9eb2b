import { describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { parseRoles } from './roles.js';

describe('parseRoles', () => {
  it('accepts lists and comma-separated entries, dedupes and keeps ROLES order', () => {
    expect(parseRoles(['storage, gpu', 'worker', 'GPU', ' control-plane ,'])).toEqual([
      'control-plane',
      'worker',
      'gpu',
      'storage',
    ]);
    expect(parseRoles([])).toEqual([]);
    expect(parseRoles(['', ' , '])).toEqual([]);
  });

  it('refuses unknown roles, naming them and the valid ones', () => {
    let caught: unknown;
    try {
      parseRoles(['worker,control_plane']);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ZflashError);
    const err = caught as ZflashError;
    expect(err.code).toBe('ZFLASH_ROLE_INVALID');
    expect(err.message).toBe(
      '"control_plane" is not a node role; the roles are control-plane, worker, gpu, storage.',
    );
    expect(err.hint).toBe('Did you mean control-plane?');
    expect(() => parseRoles(['master'])).toThrow(/not a node role/);
  });
});
