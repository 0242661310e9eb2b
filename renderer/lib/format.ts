/**
 * Amounts as people read them, in the CLI's one unit system (app/format.ts: decimal units, as
 * sticks are sold). The renderer cannot import the engine, so the few lines are repeated here
 * and a unit test pins them to the same outputs.
 */
const UNITS = ['kB', 'MB', 'GB', 'TB', 'PB'] as const;

export function formatSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0)
    return 'unknown size';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let v = bytes / 1000;
  let u = 0;
  while (Number(v.toFixed(1)) >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(1)} ${UNITS[u]}`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0)
    return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export const formatSpeed = (bytesPerSecond: number) => `${formatSize(bytesPerSecond)}/s`;

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
