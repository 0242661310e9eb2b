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
import type { NodeIdentity, Notice } from '../node/types.js';
import { checkInstallerReadsPayload, requireZetaInstaller } from '../payload/installer.js';
import { MANIFEST_SCHEMA_VERSION } from '../payload/manifest.js';
import { renderPayload } from '../payload/render.js';
import { APP } from '../version.js';
import { runHelper, type RunHelperOptions } from '../helper/client.js';
import {
  JOB_VERSION,
  HELPER_VERB,
  writeJobSchema,
  type WriteJobRequest,
} from '../helper/protocol.js';
import { runWriteJob } from '../helper/run-job.js';
import { cancelledError, toZflashError } from '../errors.js';
import type { FlashEvent, FlashResultEvent } from './events.js';
import { checkFileTarget } from './destination.js';
import { inspectImageFile, type ImageInfo } from './image-info.js';
import { computeImagePatch } from './overlay.js';

export type FlashTarget =
  | { readonly kind: 'drive'; readonly device: string }
  | { readonly kind: 'file'; readonly path: string; readonly overwrite: boolean };

export interface PrepareFlashOptions {
  /** The image file (raw or compressed). */
  readonly image: string;
  readonly target: FlashTarget;
  readonly identity: NodeIdentity;
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
  // The image as the image step sees it: format, size, sidecar checksum, installer kind, ESP.
  const { info, source: image } = await inspectImageFile(imagePath, {
    sidecar: given === null,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const sha256 = given ?? info.sha256;
  const sha256Source: ImageSummary['sha256Source'] = given ? 'given' : info.sha256Source;
  // A Zeta installer that does not read the payload schema we write would ignore the node's
  // identity (issue 14): refuse, naming both versions. Other images are the front end's call.
  if (opts.requireZeta) requireZetaInstaller(info.installer);
  checkInstallerReadsPayload(info.installer, MANIFEST_SCHEMA_VERSION, APP);
  if (opts.signal?.aborted) throw cancelledError();

  // The node files must fit the image's ESP: find out now, not after a password prompt.
  const files = renderPayload(opts.identity, { createdAt: now, imageSha256: sha256 });
  const patch = await computeImagePatch(image, files, {
    now,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

  let drive: DriveInfo | null = null;
  let verdict: Verdict | null = null;
  if (opts.target.kind === 'drive') {
    const checked = await recheckDrive(opts.target.device, {
      ...opts.scan,
      imagePath,
      imageSize: image.size,
      allowLoop: opts.allowLoop ?? false,
    });
    if (checked.verdict.status === 'refused') throw driveRefusedError(checked);
    drive = checked.drive;
    verdict = checked.verdict;
  }

  const job: WriteJobRequest = {
    version: JOB_VERSION,
    verb: HELPER_VERB,
    image: { path: imagePath, sha256 },
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
      image: { ...info, sha256, sha256Source },
      hostname: opts.identity.hostname,
      drive,
      verdict,
      file,
      espFreeBytes: patch.esp.freeBytes,
    },
    notices: info.notices,
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
      ...(onEvent ? { onEvent: (e) => (e.type === 'injected' ? undefined : onEvent(e)) } : {}),
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
