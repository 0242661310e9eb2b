/**
 * The bytes of an image as a device, whatever its format: the file itself for a raw image, or
 * for a compressed one the decoded prefix that holds the partition tables and the whole ESP
 * (nixpkgs puts it in the first MiBs). Inspection, the image step and the flash's ESP patch
 * all read images through this one function, so they agree on what an image holds; nothing is
 * decompressed to disk.
 */
import { FileDevice, MemoryDevice, type ByteDevice } from '../disk/device.js';
import { findEsp, readPartitionTable } from '../disk/partition-table.js';
import { targetError, ZflashError } from '../errors.js';
import { readImagePrefix } from '../image/image-source.js';
import type { ImageSourceInfo } from '../image/image-types.js';

const MiB = 1024 * 1024;
/** How far into a compressed image we decode to find the ESP. */
export const MAX_PREFIX = 256 * MiB;

export async function withImageDevice<T>(
  info: ImageSourceInfo,
  fn: (dev: ByteDevice) => Promise<T>,
  opts: {
    readonly signal?: AbortSignal;
    /**
     * A compressed image without a usable ESP: give `fn` its first MiB (the partition tables,
     * for inspection to show) instead of refusing here. `fn` meets the refusal itself.
     */
    readonly tablesWithoutEsp?: boolean;
  } = {},
): Promise<T> {
  if (info.compression === 'none') {
    const dev = await FileDevice.open(info.path, { writable: false });
    try {
      return await fn(dev);
    } finally {
      await dev.close();
    }
  }
  const read = (n: number) => readImagePrefix(info, n, opts.signal ? { signal: opts.signal } : {});
  // Compressed: decode just enough of the start to hold the tables, then the whole ESP.
  const limit =
    info.size !== null && info.sizeIsExact ? Math.min(info.size, MAX_PREFIX) : MAX_PREFIX;
  let head = await read(Math.min(MiB, limit));
  let end: number;
  try {
    const esp = findEsp(await readPartitionTable(new MemoryDevice(head)), Number.MAX_SAFE_INTEGER);
    end = esp.source === 'whole-device' ? limit : esp.offset + esp.size;
  } catch (err) {
    if (opts.tablesWithoutEsp && err instanceof ZflashError && err.kind === 'target')
      return fn(new MemoryDevice(head));
    throw err;
  }
  if (end > MAX_PREFIX) {
    throw targetError(
      'ZFLASH_ESP_TOO_DEEP',
      `The EFI partition of this compressed image ends ${Math.round(end / MiB)} MiB in, too deep to patch in memory.`,
      'Decompress the image first (for example `unzstd image.img.zst`) and use the raw file.',
    );
  }
  if (end > head.length) head = await read(end);
  return fn(new MemoryDevice(head));
}
