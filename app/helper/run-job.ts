/**
 * What the privileged helper does with a job, trusting nothing in it: the identity is
 * re-validated and the payload rendered here, the image re-probed and its checksum
 * re-verified, and the drive policy re-run right before the drive is opened.
 */
import type { ByteDevice } from '../disk/device.js';
import { driveRefusedError, recheckDrive, type RecheckedDrive } from '../drives/index.js';
import { cancelledError } from '../errors.js';
import { verifyImageChecksum } from '../image/checksum.js';
import { probeImage } from '../image/image-source.js';
import {
  alignedBuffer,
  openDriveDestination,
  openFileDestination,
  type Destination,
} from '../flash/destination.js';
import { ejectDrive } from '../flash/eject.js';
import { computeImagePatch, type ImagePatch } from '../flash/overlay.js';
import { writeImage } from '../flash/write.js';
import { renderPayload } from '../payload/render.js';
import { verifyPayloadOn } from '../payload/target.js';
import type { FlashEvent } from '../flash/events.js';
import type { HelperResult, WriteJob } from './protocol.js';

/** Reads the written range back through the destination's own (direct I/O) handle. */
export function destinationDevice(dest: Destination, size: number): ByteDevice {
  return {
    size,
    async read(offset, length) {
      const start = Math.floor(offset / 4096) * 4096;
      const end = Math.ceil((offset + length) / 4096) * 4096;
      const buf = alignedBuffer(end - start);
      await dest.read(buf, end - start, start);
      return Buffer.from(buf.subarray(offset - start, offset - start + length));
    },
    async write() {
      throw new Error('read-only view');
    },
  };
}

/**
 * Time of check vs time of use: the drive policy runs again here, on the resolved path, right
 * before the drive is opened; opening checks the node is the one judged (MAJ:MIN).
 */
export async function openJobDrive(
  drive: { readonly device: string; readonly expectedSize: number | null },
  o: { readonly imagePath: string; readonly imageSize: number | null; readonly allowLoop: boolean },
  judged?: JudgedDrive,
): Promise<{ dest: Destination; device: string; deviceNumber: string | null }> {
  const checked = judged ?? (await recheckJobDrive(drive, o));
  const dest = await openDriveDestination({
    device: checked.drive.device,
    raw: checked.drive.raw,
    size: checked.drive.size,
    description: checked.drive.description,
    blockSize: checked.drive.logicalBlockSize || 512,
    deviceNumber: checked.deviceNumber,
  });
  return { dest, device: checked.drive.raw, deviceNumber: checked.deviceNumber };
}

/** A drive the policy let through, whose size is known. */
type JudgedDrive = RecheckedDrive & { readonly drive: { readonly size: number } };

/** The policy's fresh verdict on a job's drive (read-only: nothing is unmounted or opened). */
export async function recheckJobDrive(
  drive: { readonly device: string; readonly expectedSize: number | null },
  o: { readonly imagePath: string; readonly imageSize: number | null; readonly allowLoop: boolean },
): Promise<JudgedDrive> {
  const checked = await recheckDrive(drive.device, {
    imagePath: o.imagePath,
    imageSize: o.imageSize,
    allowLoop: o.allowLoop,
    ...(drive.expectedSize ? { expected: { size: drive.expectedSize } } : {}),
  });
  if (checked.verdict.status === 'refused' || checked.drive.size === null) {
    throw driveRefusedError(checked);
  }
  return checked as JudgedDrive;
}

/** The `result` event of one written drive or file. */
export function flashResultOf(
  device: string,
  written: { bytesWritten: number; digest: string; verified: boolean },
  o: { imageSha256: string | null; esp: ImagePatch['esp']; ejected: boolean },
): HelperResult {
  return {
    type: 'result',
    device,
    bytesWritten: written.bytesWritten,
    digest: written.digest,
    verified: written.verified,
    imageSha256: o.imageSha256?.toLowerCase() ?? null,
    esp: {
      partition: o.esp.partition,
      offset: o.esp.offset,
      fatType: o.esp.fatType,
      freeBytes: o.esp.freeBytes,
    },
    ejected: o.ejected,
  };
}

export interface WriteJobContext {
  readonly signal: AbortSignal;
  readonly emit: (e: FlashEvent) => void;
  /** Injected by tests only: what the drive receives, so a test can make it differ from `files`. */
  readonly computePatch?: typeof computeImagePatch;
}

export async function runWriteJob(job: WriteJob, ctx: WriteJobContext): Promise<HelperResult> {
  const { signal, emit } = ctx;
  const computePatch = ctx.computePatch ?? computeImagePatch;
  const log = (message: string) => emit({ type: 'log', message });
  emit({ type: 'progress', phase: 'preparing', bytes: 0, total: null, speed: 0, eta: null });

  const image = await probeImage(job.image.path);
  if (job.image.sha256) {
    log('checking the image checksum');
    await verifyImageChecksum(job.image.path, job.image.sha256, {
      signal,
      onProgress: (bytes, total) =>
        emit({ type: 'progress', phase: 'preparing', bytes, total, speed: 0, eta: null }),
    });
  }
  if (signal.aborted) throw cancelledError();
  const createdAt = new Date(job.createdAt);
  const files = renderPayload(job.identity, {
    createdAt,
    imageSha256: job.image.sha256?.toLowerCase() ?? null,
  });
  // The ESP patch and the drive's fresh verdict are independent reads: done side by side.
  // Only once both are in is the drive unmounted and opened, so a refusal touches nothing.
  const drivePolicy = {
    imagePath: job.image.path,
    imageSize: image.size,
    allowLoop: job.allowLoop,
  };
  const [patch, judged] = await Promise.all([
    computePatch(image, files, { now: createdAt, signal }),
    job.drive ? recheckJobDrive(job.drive, drivePolicy) : Promise.resolve(undefined),
  ]);
  log(
    `ESP patch: ${patch.extents.length} ranges, ${patch.extents.reduce((n, e) => n + e.data.length, 0)} bytes`,
  );

  let dest: Destination;
  let device: string;
  if (job.drive) {
    ({ dest, device } = await openJobDrive(job.drive, drivePolicy, judged));
  } else if (job.file) {
    device = job.file.path;
    dest = await openFileDestination(job.file.path, {
      overwrite: job.file.overwrite,
      imagePath: job.image.path,
    });
  } else {
    throw new Error('job has no destination');
  }

  let result;
  let ok = false;
  try {
    result = await writeImage({
      image,
      patch: patch.extents,
      destination: dest,
      signal,
      verify: job.verify,
      onProgress: (p) => emit({ type: 'progress', ...p }),
    });
    if (job.verify) {
      // The payload, read back from the device through the FAT code.
      await verifyPayloadOn(destinationDevice(dest, result.bytesWritten), files);
    }
    ok = true;
  } finally {
    // A cancelled or failed image file this job created is removed, not left half-written.
    if (ok) await dest.close().catch(() => undefined);
    else await dest.discard().catch(() => false);
  }
  const ejected = job.drive && job.eject ? await ejectDrive(device) : false;
  return flashResultOf(device, result, {
    imageSha256: job.image.sha256,
    esp: patch.esp,
    ejected,
  });
}
