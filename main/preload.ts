/**
 * The preload (sandboxed, context-isolated): puts `window.zflash` in the page, built from
 * METHODS — one method per action, push events that stop through an AbortSignal, and
 * `pathForFile` for dropped files. Nothing else of Electron or Node reaches the page.
 *
 * Bundled into one CommonJS file (dist/preload/preload.cjs) because a sandboxed preload can
 * only `require('electron')`. `contextBridge.executeInMainWorld` (Electron ≥ 35) runs the
 * API builder in the page's world so AbortSignals work (see ./ipc/install-api.ts).
 */
import { contextBridge } from 'electron';
import { installZflashApi } from './ipc/install-api.js';
import { EVENT_METHODS, METHODS } from './ipc/methods.js';
import { createRendererTransport } from './ipc/renderer-transport.js';

contextBridge.executeInMainWorld({
  func: installZflashApi,
  args: [createRendererTransport(), METHODS, EVENT_METHODS],
});
