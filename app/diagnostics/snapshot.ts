/**
 * The diagnostics snapshot: the few facts that explain a failure, gathered from whatever the
 * front end knows at that moment (the error, the image, the drive and its partitions, the
 * flash's phase and byte offset, the node, the app and OS). One shape for every front end —
 * the desktop app's diagnostics screen and `zflash diagnostics` render the same snapshot —
 * and the QR code carries it as compact JSON (./render.ts).
 *
 * Secrets never enter it: the node is reduced to safe facts and every free string is scrubbed
 * (./redact.ts). Users debug by photographing the screen (the Zeta seed's "photo-friendly"
 * block), so a snapshot is also what gets posted publicly.
 */
import { z } from 'zod';
import type { AssessedDrive } from '../drives/types.js';
import { toZflashError, ZflashError, type ZflashErrorJson } from '../errors.js';
import type { FlashSessionSnapshot } from '../api/sessions.js';
import type { NodeIdentity } from '../node/types.js';
import type { ImageInfo } from '../flash/image-info.js';
import { errorJsonSchema } from '../flash/events.js';
import type { PartitionFact } from './partitions.js';
import { nodeFacts, scrubText, scrubValue, secretsOf } from './redact.js';

export const DIAGNOSTICS_VERSION = 1;

export const diagnosticsSnapshotSchema = z.object({
  v: z.literal(DIAGNOSTICS_VERSION),
  /** When the snapshot was taken (ISO 8601, UTC). */
  at: z.string(),
  /** `zeta-flash 0.1.0` */
  app: z.string(),
  /** `electron 41.7.1, node 22.x` or `node 20.20.2` */
  runtime: z.string(),
  /** `linux 6.1.0-18-amd64 x64` */
  os: z.string(),
  error: z
    .object({
      code: z.string(),
      kind: z.string(),
      message: z.string(),
      hint: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    })
    .nullable(),
  image: z
    .object({
      name: z.string(),
      path: z.string(),
      format: z.string().nullable(),
      size: z.number().nullable(),
      sha256: z.string().nullable(),
      sha256From: z.string().nullable(),
      installer: z.string().nullable(),
      label: z.string().nullable(),
      esp: z
        .object({
          part: z.number(),
          offset: z.number(),
          fat: z.string(),
          free: z.number(),
          fits: z.boolean(),
        })
        .nullable(),
    })
    .nullable(),
  drive: z
    .object({
      device: z.string(),
      model: z.string(),
      size: z.number().nullable(),
      bus: z.string(),
      removable: z.boolean(),
      readOnly: z.boolean(),
      verdict: z.string(),
      reasons: z.array(z.object({ code: z.string(), message: z.string() })),
      mounts: z.array(z.string()),
      partitions: z
        .array(z.object({ name: z.string(), start: z.number(), size: z.number() }))
        .nullable(),
    })
    .nullable(),
  flash: z
    .object({
      status: z.string(),
      phase: z.string().nullable(),
      step: z.number().nullable(),
      bytes: z.number().nullable(),
      total: z.number().nullable(),
      percent: z.number().nullable(),
      log: z.array(z.string()),
    })
    .nullable(),
  node: z
    .object({
      hostname: z.string(),
      keys: z.array(z.string()),
      roles: z.array(z.string()),
      wifi: z.string().nullable(),
      password: z.boolean(),
    })
    .nullable(),
});
export type DiagnosticsSnapshot = z.infer<typeof diagnosticsSnapshotSchema>;

export interface DiagnosticsContext {
  readonly now: Date;
  readonly app: { readonly name: string; readonly version: string };
  /** e.g. `electron 41.7.1, node 22.20.0`; the front end knows what it runs on. */
  readonly runtime: string;
  readonly os: {
    readonly platform: string;
    readonly release: string;
    readonly arch: string;
  };
  /** The failure to explain: a ZflashError, its JSON, or anything thrown (a bug). */
  readonly error?: unknown;
  /** What is known of the image: the inspection, or just its path when that failed. */
  readonly image?: ImageInfo | { readonly path: string } | null;
  readonly drive?: AssessedDrive | null;
  readonly partitions?: readonly PartitionFact[] | null;
  readonly session?: FlashSessionSnapshot | null;
  readonly identity?: NodeIdentity | null;
}

function errorJsonOf(error: unknown): ZflashErrorJson | null {
  if (error === null || error === undefined) return null;
  if (error instanceof ZflashError) return error.toJSON();
  const parsed = errorJsonSchema.safeParse(error);
  return parsed.success ? parsed.data : toZflashError(error).toJSON();
}

function imageFacts(image: DiagnosticsContext['image']): DiagnosticsSnapshot['image'] {
  if (!image) return null;
  if (!('esp' in image)) {
    const name = image.path.split(/[\\/]/).pop() ?? image.path;
    return {
      name,
      path: image.path,
      format: null,
      size: null,
      sha256: null,
      sha256From: null,
      installer: null,
      label: null,
      esp: null,
    };
  }
  const i = image;
  return {
    name: i.name,
    path: i.path,
    format: i.compression,
    size: i.size,
    sha256: i.sha256,
    sha256From: i.sha256Source,
    installer:
      i.installer.kind === 'zeta'
        ? `zeta ${i.installer.version} (schemas ${i.installer.payloadSchemas.join(',')})`
        : `${i.installer.kind}${i.nixosRelease ? ` ${i.nixosRelease}` : ''}`,
    label: i.installer.volumeLabel,
    esp: {
      part: i.esp.partition,
      offset: i.esp.offset,
      fat: i.esp.fatType,
      free: i.esp.freeBytes,
      fits: i.esp.payloadFits,
    },
  };
}

function driveFacts(
  assessed: AssessedDrive | null | undefined,
  partitions: readonly PartitionFact[] | null | undefined,
): DiagnosticsSnapshot['drive'] {
  if (!assessed) return null;
  const d = assessed.drive;
  return {
    device: d.device,
    model: d.description,
    size: d.size,
    bus: d.busType,
    removable: d.isRemovable,
    readOnly: d.isReadOnly,
    verdict: assessed.verdict.status,
    reasons: assessed.verdict.reasons.map((r) => ({ code: r.code, message: r.message })),
    mounts: [...d.mountpoints],
    partitions: partitions
      ? partitions.map((p) => ({ name: p.name, start: p.start, size: p.size }))
      : null,
  };
}

function flashFacts(
  snapshot: FlashSessionSnapshot | null | undefined,
  secrets: readonly string[],
): DiagnosticsSnapshot['flash'] {
  if (!snapshot) return null;
  const s = snapshot.session;
  if (s.status === 'idle') {
    return {
      status: 'idle',
      phase: null,
      step: null,
      bytes: null,
      total: null,
      percent: null,
      log: [],
    };
  }
  return {
    status: s.status,
    phase: s.progress.phase,
    step: s.progress.step,
    bytes: s.progress.bytes,
    total: s.progress.total,
    percent: s.progress.percent,
    log: s.log.map((l) => scrubText(l, secrets)),
  };
}

export function buildDiagnostics(ctx: DiagnosticsContext): DiagnosticsSnapshot {
  const secrets = secretsOf(ctx.identity);
  const session = ctx.session ?? null;
  // The flash's own error explains a failed flash when the caller has none to give.
  const error =
    errorJsonOf(ctx.error) ??
    (session && (session.session.status === 'failed' || session.session.status === 'cancelled')
      ? session.session.error
      : null);
  const snapshot: DiagnosticsSnapshot = {
    v: DIAGNOSTICS_VERSION,
    at: ctx.now.toISOString(),
    app: `${ctx.app.name} ${ctx.app.version}`,
    runtime: ctx.runtime,
    os: `${ctx.os.platform} ${ctx.os.release} ${ctx.os.arch}`,
    error: error
      ? {
          code: error.code,
          kind: error.kind,
          message: scrubText(error.message, secrets),
          hint: scrubText(error.hint, secrets),
          ...(error.details
            ? { details: scrubValue(error.details, secrets) as Record<string, unknown> }
            : {}),
        }
      : null,
    image: imageFacts(ctx.image),
    drive: driveFacts(ctx.drive, ctx.partitions),
    flash: flashFacts(session, secrets),
    node: ctx.identity
      ? (({ keys, roles, ...rest }) => ({ ...rest, keys: [...keys], roles: [...roles] }))(
          nodeFacts(ctx.identity),
        )
      : null,
  };
  // The schema is the contract with the QR reader: a bug here should fail loudly in tests.
  return diagnosticsSnapshotSchema.parse(snapshot);
}
