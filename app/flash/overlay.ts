/**
 * The ESP patch of an image, computed in memory against the source: the changed byte
 * ranges that the writer substitutes into the stream (DESIGN.md: inject by overlay,
 * never by mounting; no temp copy of a multi-GB image).
 */
import type { Extent } from '../disk/device.js';
import { openEsp, summarizeEsp, type EspSummary } from '../disk/esp.js';
import type { ImageSourceInfo } from '../image/image-types.js';
import type { PayloadFile } from '../payload/render.js';
import { withImageDevice } from '../payload/image-device.js';
import { planInjection } from '../payload/target.js';

export interface ImagePatch {
  readonly extents: readonly Extent[];
  /** The ESP as it will be on the stick (free space after the payload). */
  readonly esp: EspSummary;
}

export async function computeImagePatch(
  info: ImageSourceInfo,
  files: readonly PayloadFile[],
  options: { now?: Date; signal?: AbortSignal } = {},
): Promise<ImagePatch> {
  return withImageDevice(
    info,
    async (dev) => {
      const overlay = await planInjection(dev, files, options.now);
      const esp = await summarizeEsp(await openEsp(overlay));
      return { extents: overlay.extents(), esp };
    },
    options.signal ? { signal: options.signal } : {},
  );
}
