import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize } from './format.js';

describe('formatSize', () => {
  it('uses decimal units with one decimal, as sticks are sold', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(999)).toBe('999 B');
    expect(formatSize(1000)).toBe('1.0 kB');
    expect(formatSize(3 * 1024 * 1024)).toBe('3.1 MB');
    expect(formatSize(999_950)).toBe('1.0 MB');
    expect(formatSize(32_017_047_552)).toBe('32.0 GB');
    expect(formatSize(2e12)).toBe('2.0 TB');
  });
  it('says so when the size is not known', () => {
    expect(formatSize(null)).toBe('unknown size');
    expect(formatSize(Number.NaN)).toBe('unknown size');
    expect(formatSize(-1)).toBe('unknown size');
  });
});

describe('formatDuration', () => {
  it('reads as seconds, minutes or hours, never NaN or Infinity', () => {
    expect(formatDuration(4.4)).toBe('4 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(null)).toBe('--');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('--');
  });
});
