/**
 * Sizes as people read them, in one unit system across every command and screen: decimal
 * units, as sticks are sold ("32 GB") and as macOS and the drive vendors print them.
 * `formatSize(32_017_047_552)` → `32.0 GB`; below 1 kB, plain bytes.
 */
const UNITS = ['kB', 'MB', 'GB', 'TB', 'PB'] as const;

export function formatSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0)
    return 'unknown size';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let v = bytes / 1000;
  let u = 0;
  // Round first, so 999 950 bytes reads 1.0 MB, not 1000.0 kB.
  while (Number(v.toFixed(1)) >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(1)} ${UNITS[u]}`;
}

/**
 * Two sizes that are compared in one sentence ("needs A but holds only B"): when they differ
 * but round to the same text, both are given in bytes, so the sentence never reads
 * "needs 8.4 MB but holds only 8.4 MB".
 */
export function distinctSizes(
  a: number,
  b: number,
  format: (n: number) => string = formatSize,
): [string, string] {
  const [fa, fb] = [format(a), format(b)];
  if (fa !== fb || a === b) return [fa, fb];
  const bytes = (n: number) => `${n.toLocaleString('en-US')} bytes`;
  return [bytes(a), bytes(b)];
}

/** A duration in seconds as `12 s`, `3 min 05 s`, `1 h 02 min`; `--` when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0)
    return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
