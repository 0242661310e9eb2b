/**
 * Several sticks from one image at once: one reader, N writers. The image (a raw file, or a
 * compressed one through its decoder) is read once through a BlockTee (block-source.ts);
 * each stick gets its own view with its own ESP patch on top, and runs an ordinary
 * `writeImage` pipeline — its own wipe, pump, head, verify, cancel state and errors — so
 * every single-stick guarantee holds per stick. A stick that fails closes its view and stops
 * holding the others back; the others finish.
 *
 * Memory: each pipeline keeps its own (2 × depth + 1) blocks (10 MiB at the defaults), the
 * tee `window` shared blocks (16 MiB by default) whatever the number of sticks.
 */
import type { Extent } from '../disk/device.js';
import { toZflashError, type ZflashError } from '../errors.js';
import type { ImageSourceInfo } from '../image/image-types.js';
import { BlockTee, openImageBlocks, patchedSource } from './block-source.js';
import type { Destination } from './destination.js';
import type { FlashProgress } from './progress.js';
import { DEFAULT_IO, writeImage, type IoTuning, type WriteJob, type WriteResult } from './write.js';

/**
 * Shared blocks the fastest stick may run ahead of the slowest: 8 × 2 MiB. Sticks of one
 * batch differ in speed (a USB 2 stick beside a USB 3 one): a deep window only delays the
 * moment the fast one waits, it cannot make the slow one faster, so it is kept small.
 */
export const DEFAULT_WINDOW = 8;

export interface SharedImage {
  /** `WriteJob.source` for stick `i`: its view of the one read, with its own patch on top. */
  source(i: number, patch: readonly Extent[]): NonNullable<WriteJob['source']>;
  /** Stick `i` no longer reads (done, failed, or never started): it stops holding the others. */
  release(i: number): Promise<void>;
  /** Bytes read from the image (decoded bytes for a compressed one) for all sticks together. */
  readonly bytesRead: number;
  /** Releases every stick and closes the image. */
  close(): Promise<void>;
}

/** Opens the image once for `count` sticks. The read starts at once, ahead of the sticks. */
export async function shareImage(
  image: ImageSourceInfo,
  count: number,
  opts: { blockBytes?: number; window?: number; signal?: AbortSignal } = {},
): Promise<SharedImage> {
  const blockBytes = opts.blockBytes ?? DEFAULT_IO.blockBytes;
  // The image without any patch: each view puts its own stick's patch on top.
  const inner = await openImageBlocks(image, [], {
    chunkBytes: blockBytes,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const tee = new BlockTee(inner, {
    views: count,
    blockBytes,
    window: opts.window ?? DEFAULT_WINDOW,
  });
  const view = (i: number) => {
    const v = tee.views[i];
    if (!v) throw new RangeError(`no stick ${i} in this shared image of ${count}`);
    return v;
  };
  return {
    source: (i, patch) => {
      const v = view(i);
      return () => Promise.resolve(patchedSource(v, patch));
    },
    release: (i) => view(i).close(),
    get bytesRead() {
      return tee.bytesRead;
    },
    close: () => tee.close(),
  };
}

export interface ManyTarget {
  readonly destination: Destination;
  readonly patch: readonly Extent[];
  readonly onProgress?: (p: FlashProgress) => void;
  /**
   * Runs in this stick's pipeline once its image is written (and verified): the payload
   * read back, closing, ejecting. A throw fails this stick only.
   */
  readonly afterWrite?: (r: WriteResult) => Promise<void>;
  /** Told as soon as this stick has ended, while the others go on. */
  readonly onEnd?: (o: ManyOutcome) => void;
}

export type ManyOutcome =
  | { readonly ok: true; readonly result: WriteResult }
  | { readonly ok: false; readonly error: ZflashError };

export interface WriteManyJob {
  readonly image: ImageSourceInfo;
  readonly targets: readonly ManyTarget[];
  readonly signal?: AbortSignal;
  readonly verify?: boolean;
  readonly io?: Partial<IoTuning>;
  /** Shared blocks the fastest stick may run ahead of the slowest (default DEFAULT_WINDOW). */
  readonly window?: number;
}

export interface WriteManyResult {
  /** One per target, in the order given. */
  readonly outcomes: readonly ManyOutcome[];
  /** Bytes read from the image for all of them: the image's size once, not N times. */
  readonly imageBytesRead: number;
}

/** Writes the image to every target at once; never throws for one target's failure. */
export async function writeImageMany(job: WriteManyJob): Promise<WriteManyResult> {
  const n = job.targets.length;
  if (n === 0) return { outcomes: [], imageBytesRead: 0 };
  const io = { ...DEFAULT_IO, ...job.io };
  let shared: SharedImage;
  try {
    shared = await shareImage(job.image, n, {
      blockBytes: io.blockBytes,
      ...(job.window !== undefined ? { window: job.window } : {}),
      ...(job.signal ? { signal: job.signal } : {}),
    });
  } catch (err) {
    // The image could not even be opened: no stick was touched, each says why.
    const error = toZflashError(err);
    const outcomes = job.targets.map((t) => {
      const o: ManyOutcome = { ok: false, error };
      t.onEnd?.(o);
      return o;
    });
    return { outcomes, imageBytesRead: 0 };
  }
  try {
    const outcomes = await Promise.all(
      job.targets.map(async (t, i): Promise<ManyOutcome> => {
        let outcome: ManyOutcome;
        try {
          const result = await writeImage({
            image: job.image,
            patch: t.patch,
            destination: t.destination,
            io,
            source: shared.source(i, t.patch),
            ...(job.signal ? { signal: job.signal } : {}),
            ...(job.verify !== undefined ? { verify: job.verify } : {}),
            ...(t.onProgress ? { onProgress: t.onProgress } : {}),
          });
          // Its part of the read is done whatever comes next (the payload check reads the stick).
          await shared.release(i);
          await t.afterWrite?.(result);
          outcome = { ok: true, result };
        } catch (err) {
          outcome = { ok: false, error: toZflashError(err) };
        } finally {
          // writeImage closes the view it opened; one that failed before (its wipe) never did.
          await shared.release(i);
        }
        t.onEnd?.(outcome);
        return outcome;
      }),
    );
    return { outcomes, imageBytesRead: shared.bytesRead };
  } finally {
    await shared.close();
  }
}
