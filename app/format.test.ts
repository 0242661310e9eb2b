import { describe, expect, it } from 'vitest';
import { distinctSizes, formatDuration, formatSize } from './format.js';

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

describe('distinctSizes', () => {
  it('keeps the rounded forms when they differ, or when the sizes are equal', () => {
    expect(distinctSizes(8_000_000, 16_000_000)).toEqual(['8.0 MB', '16.0 MB']);
    expect(distinctSizes(8_388_608, 8_388_608)).toEqual(['8.4 MB', '8.4 MB']);
  });
  it('gives bytes when two different sizes round to the same text', () => {
    expect(distinctSizes(8_388_608, 8_388_096)).toEqual(['8,388,608 bytes', '8,388,096 bytes']);
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    expect(distinctSizes(512_000_000, 511_999_488, mb)).toEqual([
      '512,000,000 bytes',
      '511,999,488 bytes',
    ]);
  });
});
