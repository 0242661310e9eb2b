/**
 * The names of the IPC contract, without its schemas: the channels, the push events, and the
 * `window.zflash` method for each. Kept free of zod and Node so the sandboxed preload and the
 * web shell's page script (browser bundles) can import it; main/ipc/contract.ts gives every
 * channel its request and response schema and checks at compile time that both lists agree.
 */

/** One method per action, never a generic send (Fiddle's preload; GitHub Desktop's ipc map). */
export const METHODS = {
  appInfo: 'app:info',
  takeOpenedFile: 'app:opened-file',
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
  prepareFlashMany: 'flash:prepare-many',
  startFlashMany: 'flash:start-many',
  cancelFlash: 'flash:cancel',
  flashState: 'flash:state',
  dismissFlash: 'flash:dismiss',
  diagnostics: 'diagnostics:snapshot',
  saveDiagnostics: 'diagnostics:save',
  copyDiagnostics: 'diagnostics:copy',
  getSettings: 'settings:get',
  setSettings: 'settings:set',
  openNixosFolder: 'nixos:open',
  listRoster: 'roster:list',
  exportRoster: 'roster:export',
  listInstallers: 'catalog:list',
  downloadInstaller: 'catalog:download',
  cancelDownload: 'catalog:cancel',
} as const;

export type MethodName = keyof typeof METHODS;
export type ChannelName = (typeof METHODS)[MethodName];
export const CHANNELS: readonly ChannelName[] = Object.values(METHODS);

/** Push events main sends to every window; each `on…` method takes `{ signal }` to stop. */
export const EVENT_METHODS = {
  onDriveEvent: 'drives:event',
  onFlashSession: 'flash:session',
  onShowDiagnostics: 'app:show-diagnostics',
  onFileOpened: 'app:file-opened',
  onRosterChanged: 'roster:changed',
  onDownloadProgress: 'catalog:progress',
} as const;

export type EventMethodName = keyof typeof EVENT_METHODS;
export type EventName = (typeof EVENT_METHODS)[EventMethodName];
export const EVENTS: readonly EventName[] = Object.values(EVENT_METHODS);

export const isChannel = (value: unknown): value is ChannelName =>
  typeof value === 'string' && (CHANNELS as readonly string[]).includes(value);

export const isEvent = (value: unknown): value is EventName =>
  typeof value === 'string' && (EVENTS as readonly string[]).includes(value);
