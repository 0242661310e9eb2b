/** What every benchmark shares: where the repository is, and how a sample is summarised. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** The repository root: the nearest folder above this file holding bin/zflash.js. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bin', 'zflash.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find bin/zflash.js above this file');
    dir = up;
  }
  return dir;
}

export interface Stats {
  readonly median: number;
  readonly p90: number;
  readonly runs: number;
}

/** Median and nearest-rank p90 of a sample, in ms. */
export function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
  return { median, p90: at(0.9), runs: s.length };
}

export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
