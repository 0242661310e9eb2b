/**
 * The ESP patch of an image, computed in memory against the source: the changed byte
 * ranges that the writer substitutes into the stream (DESIGN.md: inject by overlay,
 * never by mounting; no temp copy of a multi-GB image).
 */
import { FileDevice, MemoryDevice, type ByteDevice, type Extent } from '../disk/device.js';
import { openEsp, summarizeEsp, type EspSummary } from '../disk/esp.js';
import { findEsp, readPartitionTable } from '../disk/partition-table.js';
import { targetError } from '../errors.js';
import { readImagePrefix } from '../image/image-source.js';
import type { ImageSourceInfo } from '../image/image-types.js';
import type { PayloadFile } from '../payload/render.js';
import { planInjection } from '../payload/target.js';

export interface ImagePatch {
  readonly extents: readonly Extent[];
  /** The ESP as it will be on the stick (free space after the payload). */
  readonly esp: EspSummary;
}

const MiB = 1024 * 1024;
/** How far into a compressed image we decode to find the ESP. nixpkgs puts it in the first MiBs. */
const MAX_PREFIX = 256 * MiB;

async function withDevice<T>(
  info: ImageSourceInfo,
  fn: (dev: ByteDevice) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (info.compression === 'none') {
    const dev = await FileDevice.open(info.path, { writable: false });
    try {
      return await fn(dev);
    } finally {
      await dev.close();
    }
  }
  // Compressed: decode just enough of the start to hold the tables, then the whole ESP.
  const limit =
    info.size !== null && info.sizeIsExact ? Math.min(info.size, MAX_PREFIX) : MAX_PREFIX;
  let head = await readImagePrefix(info, Math.min(MiB, limit), signal ? { signal } : {});
  const table = await readPartitionTable(new MemoryDevice(head));
  const esp = findEsp(table, Number.MAX_SAFE_INTEGER);
  const end = esp.source === 'whole-device' ? limit : esp.offset + esp.size;
  if (end > MAX_PREFIX) {
    throw targetError(
      'ZFLASH_ESP_TOO_DEEP',
      `The EFI partition of this compressed image ends ${Math.round(end / MiB)} MiB in, too deep to patch in memory.`,
      'Decompress the image first (for example `unzstd image.img.zst`) and flash the raw file.',
    );
  }
  if (end > head.length) head = await readImagePrefix(info, end, signal ? { signal } : {});
  return fn(new MemoryDevice(head));
}

export async function computeImagePatch(
  info: ImageSourceInfo,
  files: readonly PayloadFile[],
  options: { now?: Date; signal?: AbortSignal } = {},
): Promise<ImagePatch> {
  return withDevice(
    info,
    async (dev) => {
      const overlay = await planInjection(dev, files, options.now);
      const esp = await summarizeEsp(await openEsp(overlay));
      return { extents: overlay.extents(), esp };
    },
    options.signal,
  );
}
