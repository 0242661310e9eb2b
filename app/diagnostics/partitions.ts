/**
 * The partitions of a drive as the kernel sees them, for the diagnostics screen. Read from
 * sysfs (`/sys/class/block/<disk>/<part>/{partition,start,size}`, always in 512-byte sectors)
 * because the app runs unprivileged: opening /dev/sdX to read its table would need root.
 * Linux only; elsewhere the answer is null ("not known") rather than a guess.
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface PartitionFact {
  /** Kernel name: `sdb1`, `nvme0n1p2`, `loop3p2`. */
  readonly name: string;
  readonly number: number;
  /** Byte offset from the start of the drive. */
  readonly start: number;
  readonly size: number;
}

const SECTOR = 512;

async function readNumber(path: string): Promise<number | null> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  } catch {
    return null;
  }
}

export async function listPartitions(
  device: string,
  opts: { platform?: NodeJS.Platform; sysRoot?: string } = {},
): Promise<PartitionFact[] | null> {
  if ((opts.platform ?? process.platform) !== 'linux') return null;
  const sys = join(opts.sysRoot ?? '/sys', 'class', 'block');
  let name: string;
  try {
    name = basename(await realpath(device));
  } catch {
    return null;
  }
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return null;
  let entries: string[];
  try {
    entries = await readdir(join(sys, name));
  } catch {
    return null;
  }
  const parts: PartitionFact[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(name)) continue;
    const dir = join(sys, name, entry);
    const number = await readNumber(join(dir, 'partition'));
    const start = await readNumber(join(dir, 'start'));
    const size = await readNumber(join(dir, 'size'));
    if (number === null || start === null || size === null) continue;
    parts.push({ name: entry, number, start: start * SECTOR, size: size * SECTOR });
  }
  return parts.sort((a, b) => a.number - b.number);
}
