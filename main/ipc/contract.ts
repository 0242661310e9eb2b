/**
 * The one IPC contract between the renderer and the main process (GitHub Desktop keeps one
 * map from channel to signature; Fiddle exposes one preload method per action). Each request
 * channel names its request and its response as zod schemas built from the engine's own wire
 * shapes; `dispatch()` in ./handle.ts validates the request before any handler runs, and
 * every response is a Result — Electron drops every field of a thrown error but its message,
 * so errors travel as data with their engine code, sentence, hint and details.
 *
 * The same contract is served by Electron's ipcMain and by the e2e web shell (a loopback
 * WebSocket with a per-run token), over the same transport-free handlers (./handlers.ts).
 *
 * The renderer may `import type` from this file (types only, erased at build); it never
 * imports the engine or Node. The names alone (no zod) are in ./methods.ts.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { DiagnosticsView } from '../../app/diagnostics/index.js';
import type { ImageInfo } from '../../app/flash/image-info.js';
import { flashSessionSnapshotSchema } from '../../app/api/sessions.js';
import { ROLES } from '../../app/node/types.js';
import { settingsSchema } from '../../app/settings/settings.js';
import { ARCHITECTURES } from '../../app/catalog/release-manifest.js';
import { rosterNodeSchema } from '../../app/roster/schema.js';
import {
  assessedDriveSchema,
  driveEventSchema,
  errorJsonSchema,
  installerInfoSchema,
  noticeSchema,
} from '../../app/wire.js';
import {
  EVENT_METHODS,
  METHODS,
  type ChannelName,
  type EventMethodName,
  type EventName,
  type MethodName,
} from './methods.js';

export { EVENT_METHODS, METHODS };
export { flashSessionSnapshotSchema, settingsSchema };

/**
 * How many drives a request may name at all: more than the engine writes in one run
 * (MAX_JOB_DRIVES), so that too many is refused by the engine with its own code
 * (ZFLASH_TOO_MANY_DRIVES), not by the schema.
 */
const MAX_REQUEST_DRIVES = 64;

/** A result across IPC: the value, or the engine's error as data (code, sentence, hint, details). */
export const resultOf = <T extends z.ZodType>(value: T) =>
  z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), value }),
    z.object({ ok: z.literal(false), error: errorJsonSchema }),
  ]);
export type ErrorJson = z.infer<typeof errorJsonSchema>;
export type Result<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorJson };

/**
 * A path from the renderer: absolute, no NUL, bounded. Relative paths would resolve against
 * main's working folder, which the renderer neither knows nor should choose.
 */
export const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0') && isAbsolute(p), { message: 'must be an absolute path' });
const none = z.object({}).strict();

/** A public key as the UI shows it (public material only; `line` is what the stick gets). */
export const keySummarySchema = z.object({
  type: z.string(),
  fingerprint: z.string(),
  comment: z.string(),
  bits: z.number(),
  line: z.string(),
});
export type KeySummary = z.infer<typeof keySummarySchema>;

/**
 * The node step's form, as the renderer holds it. Only derived Wi-Fi secrets leave the form:
 * the renderer derives the PSK with WebCrypto (PBKDF2-HMAC-SHA1, the SSID as UTF-8 salt, 4096
 * iterations, 32 bytes; IEEE 802.11i H.4 — the vector "password"/"IEEE" gives f42c6fc5…a12e).
 * The console password is sent as typed and hashed by main (sha512crypt); only the hash
 * reaches the stick, and neither appears in diagnostics.
 */
export const nodeFormSchema = z
  .object({
    hostname: z.string().max(253),
    /** Public key lines (from files main read, from ~/.ssh, or pasted). */
    keys: z.array(z.string().max(16 * 1024)).max(64),
    roles: z.array(z.enum(ROLES)).max(ROLES.length),
    wifi: z
      .object({ ssid: z.string().max(64), psk: z.string().regex(/^[0-9a-f]{64}$/) })
      .strict()
      .nullable(),
    password: z.string().max(1024).nullable(),
    /**
     * "This machine may already hold data — erase its disk anyway" (issue 13): the stick's
     * erase policy becomes `any`; otherwise the installer erases only a blank disk.
     */
    eraseAny: z.boolean(),
  })
  .strict();
export type NodeForm = z.infer<typeof nodeFormSchema>;

const espSummarySchema = z.object({
  partition: z.number(),
  source: z.enum(['mbr', 'gpt', 'whole-device']),
  offset: z.number(),
  size: z.number(),
  fatType: z.enum(['FAT12', 'FAT16', 'FAT32']),
  label: z.string(),
  serial: z.string(),
  freeBytes: z.number(),
  clusterSize: z.number(),
  fatsIdentical: z.boolean(),
  payloadFits: z.boolean(),
  payloadProblem: z.string().nullable(),
});

/** What the image step shows (app/flash/image-info.ts). */
export const imageInfoSchema = z.object({
  path: z.string(),
  name: z.string(),
  compression: z.enum(['none', 'gzip', 'bzip2', 'xz', 'zip', 'zstd']),
  fileSize: z.number(),
  size: z.number().nullable(),
  sizeIsExact: z.boolean(),
  sha256: z.string().nullable(),
  sha256Source: z.enum(['sidecar']).nullable(),
  installer: installerInfoSchema,
  installerSummary: z.string(),
  nixosRelease: z.string().nullable(),
  esp: espSummarySchema,
  existingHostname: z.string().nullable(),
  notices: z.array(noticeSchema),
}) satisfies z.ZodType<ImageInfo>;

/** The image as the confirmation shows it (app/api/plan.ts ImageSummary). */
export const imageSummarySchema = z.object({
  path: z.string(),
  name: z.string(),
  compression: z.string(),
  size: z.number().nullable(),
  sizeIsExact: z.boolean(),
  sha256: z.string().nullable(),
  sha256Source: z.enum(['given', 'sidecar']).nullable(),
});

export const nodeSummarySchema = z.object({
  hostname: z.string(),
  keys: z.array(keySummarySchema),
  roles: z.array(z.string()),
  /** The network name; the PSK is never sent back. */
  wifi: z.object({ ssid: z.string() }).nullable(),
  /** Whether a console password will be set; the hash is never sent back. */
  password: z.boolean(),
  notices: z.array(noticeSchema),
});

export const diagnosticsRequestSchema = z
  .object({
    /** The failure to explain, as the renderer received it; null for "the state now". */
    error: errorJsonSchema.nullable(),
    /** The drive of the flash in question (its session, verdict and partitions). */
    device: absolutePath.nullable(),
    /** The image in question (defaults to the one inspected last). */
    image: absolutePath.nullable(),
  })
  .strict();

export const diagnosticsViewSchema = z.object({
  /** The photo-friendly text block (app/diagnostics), shown large and monospace. */
  text: z.string(),
  /** The same facts as compact ASCII JSON: what the QR code carries. */
  json: z.string(),
  /** The QR code of `json` as an SVG string drawn by main (the renderer draws no QR itself). */
  qrSvg: z.string(),
}) satisfies z.ZodType<Omit<DiagnosticsView, 'snapshot'>>;

export const ROSTER_EXPORT_FORMATS = ['ssh-config', 'json', 'csv', 'colmena'] as const;

/** The cluster as the Cluster screen shows it (app/roster). */
export const rosterViewSchema = z.object({
  /** The roster file (shared with the zflash command); null when the roster is turned off. */
  path: z.string().nullable(),
  nodes: z.array(rosterNodeSchema),
  notices: z.array(noticeSchema),
});

export const catalogSchema = z.object({
  manifestUrl: z.string(),
  version: z.string(),
  date: z.string(),
  images: z.array(
    z.object({
      arch: z.enum(ARCHITECTURES),
      version: z.string(),
      date: z.string(),
      size: z.number(),
      sha256: z.string(),
      fileName: z.string(),
      /** The verified file, when it is already in the cache. */
      cachedPath: z.string().nullable(),
    }),
  ),
});

export const downloadProgressSchema = z.object({
  phase: z.enum(['download', 'verify']),
  bytes: z.number(),
  total: z.number(),
  resumedFrom: z.number(),
});

export const settingsResultSchema = z.object({
  settings: settingsSchema,
  /** A damaged settings file, keys that were dropped: told once, never fatal. */
  notices: z.array(noticeSchema),
});

/** Request channels: `invoke(channel, request) → Result<response>`. */
export const channels = {
  'app:info': {
    request: none,
    response: z.object({
      name: z.string(),
      version: z.string(),
      platform: z.string(),
      /** Where the window runs: the Electron app, or the e2e web shell in a browser. */
      transport: z.enum(['electron', 'web']),
      /** Loop devices are offered as drives (ZFLASH_ALLOW_LOOP=1: tests and VM workflows). */
      allowLoop: z.boolean(),
      nixosFolder: z.string(),
    }),
  },
  /**
   * The file the OS opened the app with (a double-clicked .iso, .img, .img.zst), once: main
   * forgets it as it answers, so a window that asks again (a reload) gets null.
   */
  'app:opened-file': { request: none, response: absolutePath.nullable() },
  'drives:list': { request: none, response: z.array(assessedDriveSchema) },
  'image:pick': { request: none, response: absolutePath.nullable() },
  'image:inspect': {
    request: z.object({ path: absolutePath }).strict(),
    response: imageInfoSchema,
  },
  'keys:pick': { request: none, response: absolutePath.nullable() },
  'keys:read': {
    request: z.object({ path: absolutePath }).strict(),
    response: z.object({ keys: z.array(keySummarySchema), notices: z.array(noticeSchema) }),
  },
  'keys:local': {
    request: none,
    response: z.object({
      keys: z.array(keySummarySchema.extend({ file: z.string() })),
      notices: z.array(noticeSchema),
    }),
  },
  'node:validate': { request: nodeFormSchema, response: nodeSummarySchema },
  'node:suggest-name': {
    /** null: the pattern in the settings. */
    request: z.object({ pattern: z.string().max(64).nullable() }).strict(),
    response: z.string(),
  },
  'flash:prepare': {
    request: z
      .object({
        image: absolutePath,
        device: absolutePath,
        node: nodeFormSchema,
        /** The SHA-256 the operator pasted; null: the .sha256 beside the image, if any. */
        sha256: z.string().max(128).nullable(),
        /** Re-flash a node the roster has, on purpose (its name is otherwise refused). */
        reflash: z.boolean().optional(),
      })
      .strict(),
    response: z.object({
      planId: z.string(),
      drive: assessedDriveSchema,
      image: imageSummarySchema,
      node: nodeSummarySchema,
      /** Free bytes left on the ESP once the node files are in. */
      espFreeBytes: z.number(),
    }),
  },
  'flash:start': {
    /** `device` is the drive the operator confirmed; it must be the plan's drive. */
    request: z.object({ planId: z.string().max(64), device: absolutePath }).strict(),
    response: flashSessionSnapshotSchema,
  },
  'flash:prepare-many': {
    /**
     * Several sticks from one image read, each its own node: `node` is the template (keys,
     * roles, Wi-Fi, password, erase choice; its hostname is not used), and every drive gets
     * the next free name of `hostPattern` (null: the pattern in the settings).
     */
    request: z
      .object({
        image: absolutePath,
        devices: z.array(absolutePath).min(2).max(MAX_REQUEST_DRIVES),
        node: nodeFormSchema,
        sha256: z.string().max(128).nullable(),
        hostPattern: z.string().max(64).nullable(),
      })
      .strict(),
    response: z.object({
      planId: z.string(),
      image: imageSummarySchema,
      /** The template node (keys, roles, Wi-Fi…); its hostname is the first drive's. */
      node: nodeSummarySchema,
      /** In the order asked; `device` is the drive as the flash names it (every event's). */
      drives: z.array(
        z.object({
          device: z.string(),
          drive: assessedDriveSchema,
          hostname: z.string(),
          /** Free bytes left on the ESP once this node's files are in. */
          espFreeBytes: z.number(),
        }),
      ),
    }),
  },
  'flash:start-many': {
    /** `devices` are the drives the operator confirmed; they must be the plan's drives. */
    request: z
      .object({
        planId: z.string().max(64),
        devices: z.array(absolutePath).min(1).max(MAX_REQUEST_DRIVES),
      })
      .strict(),
    /** One session per drive, in the plan's order (flash:state, flash:cancel per device). */
    response: z.array(flashSessionSnapshotSchema),
  },
  'flash:cancel': {
    request: z.object({ device: absolutePath }).strict(),
    response: z.object({ cancelled: z.boolean() }),
  },
  'flash:state': { request: none, response: z.array(flashSessionSnapshotSchema) },
  'flash:dismiss': {
    request: z.object({ device: absolutePath }).strict(),
    response: z.object({ dismissed: z.boolean() }),
  },
  'diagnostics:snapshot': { request: diagnosticsRequestSchema, response: diagnosticsViewSchema },
  /** Asks where to save (a native dialog); null when the operator cancelled. */
  'diagnostics:save': { request: diagnosticsRequestSchema, response: z.string().nullable() },
  'diagnostics:copy': { request: diagnosticsRequestSchema, response: none },
  'settings:get': { request: none, response: settingsResultSchema },
  'settings:set': { request: settingsSchema.partial().strict(), response: settingsResultSchema },
  'nixos:open': {
    request: none,
    response: z.object({ path: z.string(), opened: z.boolean() }),
  },
  'roster:list': { request: none, response: rosterViewSchema },
  /** Asks where to save the export (a native dialog); null when the operator cancelled. */
  'roster:export': {
    request: z.object({ format: z.enum(ROSTER_EXPORT_FORMATS) }).strict(),
    response: z.object({ path: z.string().nullable() }),
  },
  /** The signed release manifest: which Zeta installers can be downloaded, and which are cached. */
  'catalog:list': { request: none, response: catalogSchema },
  /** Downloads (or finds in the cache) the installer for `arch`; progress on catalog:progress. */
  'catalog:download': {
    request: z.object({ arch: z.enum(ARCHITECTURES) }).strict(),
    response: z.object({ path: z.string(), cached: z.boolean(), resumedFrom: z.number() }),
  },
  'catalog:cancel': { request: none, response: z.object({ cancelled: z.boolean() }) },
} as const satisfies Record<ChannelName, { request: z.ZodType; response: z.ZodType }>;

export type Channel = keyof typeof channels;
export type RequestOf<C extends Channel> = z.infer<(typeof channels)[C]['request']>;
export type ResponseOf<C extends Channel> = z.infer<(typeof channels)[C]['response']>;

// Both directions: every method names a channel with a schema, every schema has a method.
const _everyChannelHasAMethod: [Channel] extends [ChannelName] ? true : false = true;
const _everyMethodHasAChannel: [ChannelName] extends [Channel] ? true : false = true;

/** Push channels: main → every window, throttled snapshots. */
export const events = {
  'drives:event': driveEventSchema,
  'flash:session': flashSessionSnapshotSchema,
  /** The menu's "Diagnostics" item: the window opens its diagnostics screen. */
  'app:show-diagnostics': z.object({}).strict(),
  /**
   * The OS opened a file while the app runs (a second double-click): the window takes it with
   * `app:opened-file`, so a file is used once however many windows or asks there are.
   */
  'app:file-opened': z.object({ path: absolutePath }).strict(),
  /** The roster changed: a flash was recorded, or a node was seen coming online. */
  'roster:changed': rosterViewSchema,
  'catalog:progress': downloadProgressSchema,
} as const satisfies Record<EventName, z.ZodType>;
export type EventChannel = keyof typeof events;
export type EventOf<E extends EventChannel> = z.infer<(typeof events)[E]>;

type MethodFor<C extends Channel> =
  z.input<(typeof channels)[C]['request']> extends Record<string, never>
    ? () => Promise<Result<ResponseOf<C>>>
    : (request: z.input<(typeof channels)[C]['request']>) => Promise<Result<ResponseOf<C>>>;

type EventMethodFor<E extends EventChannel> = (
  listener: (payload: EventOf<E>) => void,
  options: { readonly signal: AbortSignal },
) => void;

/** What the renderer finds on `window.zflash`: built from METHODS and EVENT_METHODS. */
export type ZflashApi = {
  readonly [M in MethodName]: MethodFor<(typeof METHODS)[M]>;
} & {
  readonly [M in EventMethodName]: EventMethodFor<(typeof EVENT_METHODS)[M]>;
} & {
  /** The path of a dropped file (Electron: webUtils.getPathForFile); main reads it, never the page. */
  pathForFile(file: File): string;
};
