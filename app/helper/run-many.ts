/**
 * The helper's `write-many` verb: one image to several drives, each its own node, in one
 * privileged run — one image read feeding every drive (app/flash/write-many.ts).
 *
 * Trusts nothing in the job, drive by drive as `write` does: each identity was re-validated
 * by the schema and is rendered here; the image is re-probed and its checksum re-verified
 * once; each drive's policy is re-run right before that drive is opened, and the opened node
 * must be the one judged (MAJ:MIN). The same drive reached by two paths is refused before
 * anything is opened.
 *
 * A drive that fails (refused by the re-check, its node files do not fit, a write, verify or
 * payload failure) gets its own `error` event and the others go on. Every event about one
 * drive carries `device`, the drive exactly as the job names it; the job ends with one
 * `summary` event, and the exit code follows `manyExitCode`.
 */
import { realpath, stat } from 'node:fs/promises';
import { devNumberOf } from '../drives/linux-block.js';
import { cancelledError, inputError, toZflashError, type ZflashError } from '../errors.js';
import type { Destination } from '../flash/destination.js';
import { ejectDrive } from '../flash/eject.js';
import { computeImagePatch, type ImagePatch } from '../flash/overlay.js';
import { writeImageMany, type ManyTarget } from '../flash/write-many.js';
import { verifyImageChecksum } from '../image/checksum.js';
import { probeImage } from '../image/image-source.js';
import { renderPayload, type PayloadFile } from '../payload/render.js';
import { verifyPayloadOn } from '../payload/target.js';
import type { HelperEvent, ManySummary, WriteManyJob } from './protocol.js';
import { destinationDevice, flashResultOf, openJobDrive } from './run-job.js';

export interface WriteManyJobContext {
  readonly signal: AbortSignal;
  readonly emit: (e: HelperEvent) => void;
  /** Injected by tests only, as for runWriteJob. */
  readonly computePatch?: typeof computeImagePatch;
}

interface Stick {
  readonly device: string;
  readonly files: readonly PayloadFile[];
  patch: ImagePatch | null;
  dest: Destination | null;
  /** The resolved device node opened (what is ejected). */
  raw: string | null;
  ejected: boolean;
  error: ZflashError | null;
}

/** The node a path names now (MAJ:MIN), so two paths to one drive are seen as one. */
async function nodeOf(path: string): Promise<string | null> {
  if (process.platform === 'win32') return path.toLowerCase();
  try {
    const st = await stat(await realpath(path), { bigint: true });
    return st.isBlockDevice() || st.isCharacterDevice() ? devNumberOf(st.rdev) : null;
  } catch {
    return null; // gone or unreadable: its own re-check says so, for that drive only
  }
}

const duplicateDrive = (a: string, b: string, node: string) =>
  inputError(
    'ZFLASH_DUPLICATE_DRIVE',
    `${a} and ${b} are the same drive (${node}); one flash writes each drive once.`,
    'Name each stick once.',
    { devices: [a, b], node },
  );

export async function runWriteManyJob(
  job: WriteManyJob,
  ctx: WriteManyJobContext,
): Promise<ManySummary> {
  const { signal, emit } = ctx;
  const computePatch = ctx.computePatch ?? computeImagePatch;
  emit({ type: 'progress', phase: 'preparing', bytes: 0, total: null, speed: 0, eta: null });

  // The image, once for every drive.
  const image = await probeImage(job.image.path);
  if (job.image.sha256) {
    emit({ type: 'log', message: 'checking the image checksum' });
    await verifyImageChecksum(job.image.path, job.image.sha256, {
      signal,
      onProgress: (bytes, total) =>
        emit({ type: 'progress', phase: 'preparing', bytes, total, speed: 0, eta: null }),
    });
  }
  if (signal.aborted) throw cancelledError();

  // Two paths to one drive (a link, /dev/disk/by-id/…) refuse the job before anything opens.
  const nodes = new Map<string, string>();
  for (const d of job.drives) {
    const node = await nodeOf(d.device);
    if (node === null) continue;
    const first = nodes.get(node);
    if (first !== undefined) throw duplicateDrive(first, d.device, node);
    nodes.set(node, d.device);
  }

  const createdAt = new Date(job.createdAt);
  const imageSha256 = job.image.sha256?.toLowerCase() ?? null;
  const sticks: Stick[] = job.drives.map((d) => ({
    device: d.device,
    files: renderPayload(d.identity, { createdAt, imageSha256 }),
    patch: null,
    dest: null,
    raw: null,
    ejected: false,
    error: null,
  }));
  const fail = (s: Stick, err: unknown) => {
    s.error = toZflashError(err);
    emit({ type: 'error', device: s.device, error: s.error.toJSON() });
  };

  // Each drive's patch, then its policy re-run right before it is opened; one that fails is
  // dropped with its own error. Opened one after the other: the scans must not race.
  const opened = new Map<string, string>();
  for (const [i, s] of sticks.entries()) {
    const d = job.drives[i] as WriteManyJob['drives'][number];
    try {
      if (signal.aborted)
        throw cancelledError('The flash was cancelled before this stick was written.');
      emit({
        type: 'progress',
        phase: 'preparing',
        bytes: 0,
        total: null,
        speed: 0,
        eta: null,
        device: s.device,
      });
      s.patch = await computePatch(image, s.files, { now: createdAt, signal });
      emit({
        type: 'log',
        device: s.device,
        message: `ESP patch: ${s.patch.extents.length} ranges, ${s.patch.extents.reduce((n, e) => n + e.data.length, 0)} bytes`,
      });
      const { dest, device, deviceNumber } = await openJobDrive(d, {
        imagePath: job.image.path,
        imageSize: image.size,
        allowLoop: job.allowLoop,
      });
      s.dest = dest;
      s.raw = device;
      // The node opened is the node judged (openDriveDestination checked); it must not be one
      // another drive of this job opened already (a path changed since the check above).
      if (deviceNumber !== null) {
        const first = opened.get(deviceNumber);
        if (first !== undefined) throw duplicateDrive(first, s.device, deviceNumber);
        opened.set(deviceNumber, s.device);
      }
    } catch (err) {
      await s.dest?.close().catch(() => undefined);
      s.dest = null;
      fail(s, err);
    }
  }

  const writing = sticks.filter((s) => s.dest !== null && s.patch !== null);
  const targets = writing.map((s): ManyTarget => ({
    destination: s.dest as Destination,
    patch: (s.patch as ImagePatch).extents,
    onProgress: (p) => emit({ type: 'progress', ...p, device: s.device }),
    afterWrite: async (r) => {
      const dest = s.dest as Destination;
      // The payload, read back from the device through the FAT code.
      if (job.verify) await verifyPayloadOn(destinationDevice(dest, r.bytesWritten), s.files);
      await dest.close();
      if (job.eject) s.ejected = await ejectDrive(s.raw ?? dest.path);
    },
    onEnd: (o) => {
      if (!o.ok) return fail(s, o.error);
      emit({
        ...flashResultOf(s.device, o.result, {
          imageSha256,
          esp: (s.patch as ImagePatch).esp,
          ejected: s.ejected,
        }),
      });
    },
  }));
  const { imageBytesRead } = await writeImageMany({
    image,
    targets,
    signal,
    verify: job.verify,
  });
  // Failed drives are closed (a drive is never deleted; discard only closes it).
  await Promise.all(writing.map((s) => (s.error ? s.dest?.discard().catch(() => false) : null)));

  return {
    type: 'summary',
    drives: sticks.map((s) => ({
      device: s.device,
      status: s.error === null ? 'done' : s.error.kind === 'cancelled' ? 'cancelled' : 'failed',
      code: s.error?.code ?? null,
      exitCode: s.error?.exitCode ?? 0,
    })),
    imageBytesRead,
  };
}
