/** Drive sizes as vendors print them on the stick (decimal units), one decimal: `15.6 GB`, `512.0 MB`. */
export function formatDriveSize(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes) || bytes <= 0) return 'unknown size';
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
