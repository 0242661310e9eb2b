/**
 * The one IPC contract between the renderer and the main process (GitHub Desktop keeps one
 * map from channel to signature; Fiddle exposes one preload method per action). Each
 * request channel names its request and its response as zod schemas; `handle()` in
 * main/ipc/handle.ts validates the request before any handler runs, and every response is
 * a Result — Electron drops every field of a thrown error but its message, so errors travel
 * as data with their engine code and details. Push channels carry snapshots main sends.
 *
 * The same contract is served by Electron's ipcMain and by the e2e web shell (a loopback
 * WebSocket with a per-run token), over the same transport-free handlers.
 *
 * The renderer may `import type` from this file (types only, erased at build); it never
 * imports the engine or Node.
 */
import { z } from 'zod';
import {
  assessedDriveSchema,
  driveEventSchema,
  errorJsonSchema,
  noticeSchema,
} from '../../app/wire.js';

/** A result across IPC: the value, or the engine's error as data (code, sentence, hint, details). */
export const resultOf = <T extends z.ZodType>(value: T) =>
  z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), value }),
    z.object({ ok: z.literal(false), error: errorJsonSchema }),
  ]);
export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: z.infer<typeof errorJsonSchema> };

const path = z.string().min(1).max(4096);
const none = z.object({}).strict();

export const keySummarySchema = z.object({
  type: z.string(),
  fingerprint: z.string(),
  comment: z.string(),
  /** The public key line as it will be written (public material only). */
  line: z.string(),
});

/** The node step's form, as the renderer holds it: only derived secrets leave the form. */
export const nodeFormSchema = z
  .object({
    hostname: z.string().max(253),
    /** Public key lines (from files main read, or from ~/.ssh). */
    keys: z.array(z.string().max(16 * 1024)).max(64),
    roles: z.array(z.string().max(40)).max(8),
    /** The Wi-Fi PSK derived in the form (PBKDF2-SHA1, 4096, 32): never the passphrase. */
    wifi: z
      .object({ ssid: z.string().max(64), psk: z.string().regex(/^[0-9a-f]{64}$/) })
      .strict()
      .nullable(),
    /** A console password for user zeta; hashed by main, only the hash reaches the stick. */
    password: z.string().max(1024).nullable(),
    /** "This machine may already hold data — erase its disk anyway" (issue 13). */
    eraseAny: z.boolean(),
  })
  .strict();
export type NodeForm = z.infer<typeof nodeFormSchema>;

export const imageInfoSchema = z.object({
  path: z.string(),
  name: z.string(),
  compression: z.string(),
  size: z.number().nullable(),
  sha256: z.string().nullable(),
  sha256Source: z.enum(['given', 'sidecar']).nullable(),
  installer: z.object({
    kind: z.enum(['zeta', 'nixos', 'other']),
    version: z.string().nullable(),
    volumeLabel: z.string().nullable(),
  }),
  esp: z
    .object({ fatType: z.string(), freeBytes: z.number(), payloadFits: z.boolean() })
    .nullable(),
  notices: z.array(noticeSchema),
});

export const flashSessionSchema = z.object({
  /** The drive this flash writes (one flash per drive at a time). */
  device: z.string(),
  hostname: z.string(),
  /** The engine's FlashSession (app/flash/session.ts): idle, running, done, failed, cancelled. */
  session: z.record(z.string(), z.unknown()),
});

export const settingsSchema = z.object({
  lastImage: z.string().nullable(),
  keyLines: z.array(z.string()),
  namePattern: z.string(),
});

export const diagnosticsSchema = z.object({
  /** The photo-friendly text block (app/diagnostics). */
  text: z.string(),
  /** The same facts as compact JSON, which the QR code carries. */
  json: z.string(),
  /** The QR code of `json`, as an SVG string made by main (the renderer draws no QR itself). */
  qrSvg: z.string(),
});

/** Request channels: `invoke(channel, request) → Result<response>`. */
export const channels = {
  'app:info': {
    request: none,
    response: z.object({ version: z.string(), platform: z.string(), nixosFolder: z.string() }),
  },
  'drives:list': { request: none, response: z.array(assessedDriveSchema) },
  'image:pick': { request: none, response: path.nullable() },
  'image:inspect': { request: z.object({ path }).strict(), response: imageInfoSchema },
  'keys:pick': { request: none, response: path.nullable() },
  'keys:read': {
    request: z.object({ path }).strict(),
    response: z.object({ keys: z.array(keySummarySchema), notices: z.array(noticeSchema) }),
  },
  'keys:local': { request: none, response: z.array(keySummarySchema) },
  'node:validate': {
    request: nodeFormSchema,
    response: z.object({ hostname: z.string(), notices: z.array(noticeSchema) }),
  },
  'node:suggest-name': {
    request: z.object({ pattern: z.string().max(64) }).strict(),
    response: z.string(),
  },
  'flash:prepare': {
    request: z.object({ image: path, device: path, node: nodeFormSchema }).strict(),
    response: z.object({
      planId: z.string(),
      drive: assessedDriveSchema,
      hostname: z.string(),
      keys: z.array(keySummarySchema),
      image: imageInfoSchema,
    }),
  },
  'flash:start': { request: z.object({ planId: z.string() }).strict(), response: none },
  'flash:cancel': { request: z.object({ device: path }).strict(), response: none },
  'flash:state': { request: none, response: z.array(flashSessionSchema) },
  'diagnostics:snapshot': {
    request: z.object({ device: path.nullable() }).strict(),
    response: diagnosticsSchema,
  },
  'diagnostics:save': {
    request: z.object({ device: path.nullable() }).strict(),
    response: path.nullable(),
  },
  'diagnostics:copy': { request: z.object({ device: path.nullable() }).strict(), response: none },
  'settings:get': { request: none, response: settingsSchema },
  'settings:set': { request: settingsSchema.partial().strict(), response: settingsSchema },
  'nixos:open': { request: none, response: none },
} as const;

export type Channel = keyof typeof channels;
export type RequestOf<C extends Channel> = z.infer<(typeof channels)[C]['request']>;
export type ResponseOf<C extends Channel> = z.infer<(typeof channels)[C]['response']>;

/** Push channels: main → every window, throttled snapshots. */
export const events = {
  'drives:event': driveEventSchema,
  'flash:session': flashSessionSchema,
} as const;
export type EventChannel = keyof typeof events;
export type EventOf<E extends EventChannel> = z.infer<(typeof events)[E]>;

/**
 * The methods `window.zflash` has: one per action, never a generic send. The preload
 * (Electron) and the web shell's page script both build this object from `METHODS`.
 */
export const METHODS = {
  appInfo: 'app:info',
  listDrives: 'drives:list',
  pickImage: 'image:pick',
  inspectImage: 'image:inspect',
  pickKey: 'keys:pick',
  readKey: 'keys:read',
  localKeys: 'keys:local',
  validateNode: 'node:validate',
  suggestName: 'node:suggest-name',
  prepareFlash: 'flash:prepare',
  startFlash: 'flash:start',
  cancelFlash: 'flash:cancel',
  flashState: 'flash:state',
  diagnostics: 'diagnostics:snapshot',
  saveDiagnostics: 'diagnostics:save',
  copyDiagnostics: 'diagnostics:copy',
  getSettings: 'settings:get',
  setSettings: 'settings:set',
  openNixosFolder: 'nixos:open',
} as const satisfies Record<string, Channel>;

type MethodFor<C extends Channel> =
  z.input<(typeof channels)[C]['request']> extends Record<string, never>
    ? () => Promise<Result<ResponseOf<C>>>
    : (request: RequestOf<C>) => Promise<Result<ResponseOf<C>>>;

export type ZflashApi = { readonly [M in keyof typeof METHODS]: MethodFor<(typeof METHODS)[M]> } & {
  /** Drive list changes; stops when `signal` aborts (Fiddle's pattern). */
  onDriveEvent(listener: (e: EventOf<'drives:event'>) => void, opts: { signal: AbortSignal }): void;
  onFlashSession(
    listener: (e: EventOf<'flash:session'>) => void,
    opts: { signal: AbortSignal },
  ): void;
  /** The path of a dropped file (Electron: webUtils.getPathForFile), read by main, never here. */
  pathForFile(file: File): string;
};
