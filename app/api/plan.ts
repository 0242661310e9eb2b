/**
 * The flash engine's API for every front end (the `zflash` CLI and the desktop app's main
 * process): `prepareFlash` checks everything that can be checked without writing — the
 * image, its checksum, whether the node files fit its ESP, the drive policy or the target
 * file — and returns the job plus what the operator must confirm; `runFlash` executes it.
 * The front ends only ask, confirm and print (coreos-installer's thin `main.rs` over its
 * library is the model). Nothing here reads the environment, prints or exits.
 *
 * A drive is written by the privileged one-shot helper (app/helper/), which trusts none of
 * this and checks it all again. An image file (`target.kind === 'file'`) needs no rights the
 * operator lacks, so it is written in this process, as the operator, never as root.
 */
import { resolve } from 'node:path';
import {
  driveRefusedError,
  recheckDrive,
  type DriveInfo,
  type ScanOptions,
  type Verdict,
} from '../drives/index.js';
import { parseSha256Hex } from '../image/checksum.js';
import { probeImage } from '../image/image-source.js';
import type { NodeIdentity, Notice } from '../node/types.js';
import { checkInstallerReadsPayload, requireZetaInstaller } from '../payload/installer.js';
import { MANIFEST_SCHEMA_VERSION } from '../payload/manifest.js';
import { renderPayload } from '../payload/render.js';
import { APP } from '../version.js';
import { runHelper, runWriteManyHelper, type RunHelperOptions } from '../helper/client.js';
import {
  JOB_VERSION,
  HELPER_VERB,
  manyExitCode,
  MAX_JOB_DRIVES,
  WRITE_MANY_VERB,
  writeJobSchema,
  type HelperEvent,
  type ManySummary,
  type WriteJobRequest,
  type WriteManyJobRequest,
} from '../helper/protocol.js';
import { runWriteJob } from '../helper/run-job.js';
import {
  cancelledError,
  inputError,
  ioError,
  toZflashError,
  type ZflashError,
  type ZflashErrorJson,
} from '../errors.js';
import type { FlashEvent, FlashResultEvent } from '../flash/events.js';
import { checkFileTarget } from '../flash/destination.js';
import { inspectImageFile, type ImageInfo } from '../flash/image-info.js';
import { computeImagePatch } from '../flash/overlay.js';

export type FlashTarget =
  | { readonly kind: 'drive'; readonly device: string }
  | { readonly kind: 'file'; readonly path: string; readonly overwrite: boolean };

/** What every flash is prepared with, one drive or several. */
interface FlashOptionsBase {
  /** The image file (raw or compressed): read once, whatever the number of drives. */
  readonly image: string;
  /** The expected SHA-256 of the image file; when absent, a `<image>.sha256` beside it is used. */
  readonly sha256?: string | null;
  readonly verify?: boolean;
  readonly eject?: boolean;
  /** Loop devices may be written (tests and VM workflows): the front end decides, from its settings. */
  readonly allowLoop?: boolean;
  /** Refuse every image that is not a Zeta installer (`--require-zeta`; the app always does). */
  readonly requireZeta?: boolean;
  /** Stamped on the manifest and FAT entries; the same job writes the same bytes. */
  readonly now?: Date;
  readonly signal?: AbortSignal;
  /** Drive scanning seams for tests (recorded drivelist outputs). */
  readonly scan?: Pick<ScanOptions, 'list' | 'listLoops' | 'readContext' | 'platform' | 'appPaths'>;
}

export interface PrepareFlashOptions extends FlashOptionsBase {
  readonly target: FlashTarget;
  readonly identity: NodeIdentity;
}

/** The image as the confirmation shows it: what the image step showed, with the checksum used. */
export type ImageSummary = Omit<ImageInfo, 'sha256' | 'sha256Source'> & {
  readonly sha256: string | null;
  /** Where the expected checksum came from. */
  readonly sha256Source: 'given' | 'sidecar' | null;
};

/** What the operator is asked to confirm: the drive that will be erased, for which node, from what. */
export interface FlashConfirmation {
  readonly image: ImageSummary;
  readonly hostname: string;
  readonly drive: DriveInfo | null;
  readonly verdict: Verdict | null;
  /** The image file to be written, for `target.kind === 'file'`. */
  readonly file: string | null;
  /** Free bytes left on the ESP once the node files are in. */
  readonly espFreeBytes: number;
}

export interface FlashPlan {
  readonly job: WriteJobRequest;
  readonly confirm: FlashConfirmation;
  /** Things worth telling the operator that do not stop the flash (image and identity notices). */
  readonly notices: readonly Notice[];
}

/**
 * The image as the image step sees it (format, size, sidecar checksum, installer kind, ESP),
 * judged the same way for one drive and for many: the checksum given wins over a sidecar, and
 * a Zeta installer that does not read the payload schema we write would ignore the node's
 * identity (issue 14), so it is refused naming both versions. Other images are the front
 * end's call (`requireZeta`).
 */
async function inspectForFlash(
  imagePath: string,
  given: string | null,
  opts: Pick<FlashOptionsBase, 'requireZeta' | 'signal'>,
) {
  const { info, source: image } = await inspectImageFile(imagePath, {
    sidecar: given === null,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const sha256 = given ?? info.sha256;
  const sha256Source: ImageSummary['sha256Source'] = given ? 'given' : info.sha256Source;
  if (opts.requireZeta) requireZetaInstaller(info.installer);
  checkInstallerReadsPayload(info.installer, MANIFEST_SCHEMA_VERSION, APP);
  const summary: ImageSummary = { ...info, sha256, sha256Source };
  return { image, summary };
}

export async function prepareFlash(opts: PrepareFlashOptions): Promise<FlashPlan> {
  const imagePath = resolve(opts.image);
  const now = opts.now ?? new Date();
  // A target file is checked before any work: a missing folder, an existing file without
  // overwrite, a link, or the image itself are said at once, not after a checksum pass.
  const file =
    opts.target.kind === 'file'
      ? (
          await checkFileTarget(opts.target.path, {
            overwrite: opts.target.overwrite,
            imagePath,
          })
        ).path
      : null;
  const given = opts.sha256 ? parseSha256Hex(opts.sha256) : null;
  // The drive's verdict (a scan: lsblk, sysfs) runs beside the image's inspection: both only
  // read. The image's problems are still reported first, as they are awaited first.
  const target = opts.target;
  const judging =
    target.kind === 'drive'
      ? probeImage(imagePath).then((probe) =>
          recheckDrive(target.device, {
            ...opts.scan,
            imagePath,
            imageSize: probe.size,
            allowLoop: opts.allowLoop ?? false,
          }),
        )
      : null;
  judging?.catch(() => undefined);
  const { image, summary } = await inspectForFlash(imagePath, given, opts);
  if (opts.signal?.aborted) throw cancelledError();

  // The node files must fit the image's ESP: find out now, not after a password prompt.
  const files = renderPayload(opts.identity, { createdAt: now, imageSha256: summary.sha256 });
  const patch = await computeImagePatch(image, files, {
    now,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

  let drive: DriveInfo | null = null;
  let verdict: Verdict | null = null;
  if (judging) {
    const checked = await judging;
    if (checked.verdict.status === 'refused') throw driveRefusedError(checked);
    drive = checked.drive;
    verdict = checked.verdict;
  }

  const job: WriteJobRequest = {
    version: JOB_VERSION,
    verb: HELPER_VERB,
    image: { path: imagePath, sha256: summary.sha256 },
    drive: drive ? { device: drive.device, expectedSize: drive.size } : null,
    file: file
      ? { path: file, overwrite: opts.target.kind === 'file' && opts.target.overwrite }
      : null,
    identity: opts.identity,
    createdAt: now.toISOString(),
    verify: opts.verify ?? true,
    eject: opts.eject ?? true,
    allowLoop: opts.allowLoop ?? false,
  };
  return {
    job,
    confirm: {
      image: summary,
      hostname: opts.identity.hostname,
      drive,
      verdict,
      file,
      espFreeBytes: patch.esp.freeBytes,
    },
    notices: summary.notices,
  };
}

export interface RunFlashOptions {
  readonly signal?: AbortSignal;
  /** Every event of the flash, in order (feed them to `reduce` from ./session.js). */
  readonly onEvent?: (e: FlashEvent) => void;
  /**
   * How the privileged helper is started and elevated: the front end's environment (PATH to
   * find pkexec), and a packaged app's own helper command.
   */
  readonly helper: Omit<RunHelperOptions, 'signal' | 'onEvent'>;
}

export type FlashResult = FlashResultEvent;

/** Executes a prepared job: a drive through the privileged helper, an image file right here. */
export async function runFlash(job: WriteJobRequest, opts: RunFlashOptions): Promise<FlashResult> {
  if (job.drive) {
    const onEvent = opts.onEvent;
    return runHelper(job, {
      ...opts.helper,
      ...(opts.signal ? { signal: opts.signal } : {}),
      // A write job's helper only ever speaks flash events; `injected` ends inject jobs.
      ...(onEvent
        ? {
            onEvent: (e) =>
              e.type === 'injected' || e.type === 'summary' ? undefined : onEvent(e),
          }
        : {}),
    });
  }
  const emit = (e: FlashEvent) => opts.onEvent?.(e);
  try {
    // The same schema the helper parses its job file with: the same checks in either path.
    const result = await runWriteJob(writeJobSchema.parse({ ...job, parentPid: null }), {
      signal: opts.signal ?? new AbortController().signal,
      emit,
    });
    emit(result);
    return result;
  } catch (err) {
    const e = toZflashError(err);
    emit({ type: 'error', error: e.toJSON() });
    throw e;
  }
}

// --- several sticks at once -----------------------------------------------------------------

export interface PrepareFlashManyOptions extends FlashOptionsBase {
  /** The drives, each with the node it becomes (its own hostname); at most MAX_JOB_DRIVES. */
  readonly drives: readonly { readonly device: string; readonly identity: NodeIdentity }[];
}

/** One drive of a many-drive flash as the operator confirms it. */
export interface ManyDriveConfirmation {
  /** The drive as the job names it (what every event of it carries as `device`). */
  readonly device: string;
  readonly hostname: string;
  readonly drive: DriveInfo;
  readonly verdict: Verdict;
  readonly espFreeBytes: number;
}

export interface FlashManyConfirmation {
  readonly image: ImageSummary;
  readonly drives: readonly ManyDriveConfirmation[];
}

export interface FlashManyPlan {
  readonly job: WriteManyJobRequest;
  readonly confirm: FlashManyConfirmation;
  readonly notices: readonly Notice[];
}

const duplicateDrive = (a: string, b: string) =>
  inputError(
    'ZFLASH_DUPLICATE_DRIVE',
    a === b
      ? `${a} is named twice; one flash writes each drive once.`
      : `${a} and ${b} are the same drive; one flash writes each drive once.`,
    'Name each stick once.',
    { devices: [a, b] },
  );

/**
 * `prepareFlash` for several drives at once: the image is checked once; every drive is judged
 * by the policy and every node's files must fit the ESP; the same drive twice (also by
 * another path), two drives for one hostname, or more than MAX_JOB_DRIVES refuse the plan.
 * Nothing is written, and a refusal names the drive.
 */
export async function prepareFlashMany(opts: PrepareFlashManyOptions): Promise<FlashManyPlan> {
  if (opts.drives.length === 0)
    throw inputError('ZFLASH_USAGE', 'No drive was given.', 'Choose at least one stick.');
  if (opts.drives.length > MAX_JOB_DRIVES)
    throw inputError(
      'ZFLASH_TOO_MANY_DRIVES',
      `${opts.drives.length} drives were given; one flash writes at most ${MAX_JOB_DRIVES}.`,
      `Flash them in batches of up to ${MAX_JOB_DRIVES}.`,
      { count: opts.drives.length, max: MAX_JOB_DRIVES },
    );
  const byDevice = new Map<string, string>();
  const byHost = new Map<string, string>();
  for (const d of opts.drives) {
    const first = byDevice.get(d.device);
    if (first !== undefined) throw duplicateDrive(first, d.device);
    byDevice.set(d.device, d.device);
    const host = d.identity.hostname.toLowerCase();
    const twin = byHost.get(host);
    if (twin !== undefined)
      throw inputError(
        'ZFLASH_DUPLICATE_HOSTNAME',
        `${twin} and ${d.device} would both become ${host}; each stick needs a node name of its own.`,
        'Give each stick its own hostname (or let the roster pick the next free names).',
        { hostname: host, devices: [twin, d.device] },
      );
    byHost.set(host, d.device);
  }

  const imagePath = resolve(opts.image);
  const now = opts.now ?? new Date();
  const given = opts.sha256 ? parseSha256Hex(opts.sha256) : null;
  const { image, summary } = await inspectForFlash(imagePath, given, opts);

  const drives: ManyDriveConfirmation[] = [];
  const nodes = new Map<string, string>();
  for (const d of opts.drives) {
    if (opts.signal?.aborted) throw cancelledError();
    // Each node's files must fit the image's ESP.
    const files = renderPayload(d.identity, { createdAt: now, imageSha256: summary.sha256 });
    const patch = await computeImagePatch(image, files, {
      now,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const checked = await recheckDrive(d.device, {
      ...opts.scan,
      imagePath,
      imageSize: image.size,
      allowLoop: opts.allowLoop ?? false,
    });
    if (checked.verdict.status === 'refused') throw driveRefusedError(checked);
    // Two paths to one drive: the same node, or the same drive in the scan.
    for (const key of [checked.deviceNumber, checked.drive.device]) {
      if (key === null) continue;
      const first = nodes.get(key);
      if (first !== undefined) throw duplicateDrive(first, d.device);
      nodes.set(key, d.device);
    }
    drives.push({
      device: checked.drive.device,
      hostname: d.identity.hostname,
      drive: checked.drive,
      verdict: checked.verdict,
      espFreeBytes: patch.esp.freeBytes,
    });
  }

  const job: WriteManyJobRequest = {
    version: JOB_VERSION,
    verb: WRITE_MANY_VERB,
    image: { path: imagePath, sha256: summary.sha256 },
    drives: drives.map((c, i) => ({
      device: c.device,
      expectedSize: c.drive.size,
      identity: (opts.drives[i] as PrepareFlashManyOptions['drives'][number]).identity,
    })),
    createdAt: now.toISOString(),
    verify: opts.verify ?? true,
    eject: opts.eject ?? true,
    allowLoop: opts.allowLoop ?? false,
  };
  return {
    job,
    confirm: { image: summary, drives },
    notices: summary.notices,
  };
}

/** How one drive of a many-drive flash ended. */
export type FlashManyOutcome =
  | {
      readonly device: string;
      readonly hostname: string;
      readonly ok: true;
      readonly result: FlashResult;
    }
  | {
      readonly device: string;
      readonly hostname: string;
      readonly ok: false;
      readonly error: ZflashErrorJson;
    };

export interface FlashManyResult {
  /** One per drive, in the job's order. */
  readonly drives: readonly FlashManyOutcome[];
  /** Bytes read from the image for all drives together; null when the helper did not say. */
  readonly imageBytesRead: number | null;
  /** 0 when every drive is done; else as the helper's (`manyExitCode` in helper/protocol.ts). */
  readonly exitCode: number;
}

/**
 * Each event with the drive it is about, `null` for the job as a whole (the image's
 * checksum pass). A per-drive view (one session per drive, app/api/sessions.ts) wraps its
 * handler in `eachDrive` so that every drive's session sees a whole flash's events.
 */
export type ManyEventHandler = (device: string | null, e: FlashEvent) => void;

export interface RunFlashManyOptions {
  readonly signal?: AbortSignal;
  readonly onEvent?: ManyEventHandler;
  readonly helper: RunFlashOptions['helper'];
}

/** A ManyEventHandler that hands job-wide events to every drive of `devices`. */
export function eachDrive(
  devices: readonly string[],
  onEvent: (device: string, e: FlashEvent) => void,
): ManyEventHandler {
  return (device, e) => {
    if (device !== null) onEvent(device, e);
    else for (const d of devices) onEvent(d, e);
  };
}

/**
 * Executes a prepared many-drive job in one privileged helper run: one image read, every
 * drive written at once. Resolves with every drive's outcome (a failed drive does not stop
 * the others); throws only when the job as a whole did not run (the helper refused it, the
 * image's checksum, elevation) before any drive ended.
 */
export async function runFlashMany(
  job: WriteManyJobRequest,
  opts: RunFlashManyOptions,
): Promise<FlashManyResult> {
  const ends = new Map<string, FlashResult | ZflashErrorJson>();
  const known = new Set(job.drives.map((d) => d.device));
  const onHelperEvent = (e: HelperEvent) => {
    if (e.type === 'summary' || e.type === 'injected') return;
    const device = e.device !== undefined && known.has(e.device) ? e.device : null;
    if (device !== null && e.type === 'result') ends.set(device, e);
    if (device !== null && e.type === 'error') ends.set(device, e.error);
    opts.onEvent?.(device, e);
  };
  let summary: ManySummary | null = null;
  let jobError: ZflashError | null = null;
  try {
    summary = await runWriteManyHelper(job, {
      ...opts.helper,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onEvent: onHelperEvent,
    });
  } catch (err) {
    jobError = toZflashError(err);
    // Nothing was said about any drive: the job did not run, and that is its one error.
    if (ends.size === 0) throw jobError;
  }
  const drives = job.drives.map((d): FlashManyOutcome => {
    const hostname = d.identity.hostname;
    const end = ends.get(d.device);
    if (end && 'type' in end) return { device: d.device, hostname, ok: true, result: end };
    if (end) return { device: d.device, hostname, ok: false, error: end };
    // The helper ended (or died) without a word about this drive.
    const error = (
      jobError ??
      ioError(
        'ZFLASH_HELPER_DIED',
        `The writer ended without saying how ${d.device} ended.`,
        'Do not use this stick as it is: flash it again.',
        { device: d.device },
      )
    ).toJSON();
    opts.onEvent?.(d.device, { type: 'error', device: d.device, error });
    return { device: d.device, hostname, ok: false, error };
  });
  return {
    drives,
    imageBytesRead: summary?.imageBytesRead ?? null,
    exitCode: manyExitCode(
      drives.map((o) =>
        o.ok
          ? { status: 'done' as const, exitCode: 0 }
          : {
              status: o.error.kind === 'cancelled' ? ('cancelled' as const) : ('failed' as const),
              exitCode: o.error.exitCode,
            },
      ),
    ),
  };
}
