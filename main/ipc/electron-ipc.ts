/**
 * The contract on Electron's ipcMain: one `ipcMain.handle` per channel, each checking the
 * sender frame before `dispatch` validates and runs anything (Electron security checklist
 * item 17). Only this folder touches ipcMain (lint bans it elsewhere, as GitHub Desktop does).
 */
import { BrowserWindow, ipcMain, type IpcMainInvokeEvent, type WebFrameMain } from 'electron';
import type { EventChannel, EventOf } from './contract.js';
import {
  dispatch,
  forbiddenResult,
  isTrustedAppUrl,
  type DispatchOptions,
  type Handlers,
} from './handle.js';
import { CHANNELS } from './methods.js';

/** The app's own top-level page, and nothing else (no iframes, no other origin). */
export function isTrustedFrame(
  frame: Pick<WebFrameMain, 'url' | 'parent'> | null | undefined,
): boolean {
  return !!frame && frame.parent === null && isTrustedAppUrl(frame.url);
}

export function registerIpc(handlers: Handlers, opts: DispatchOptions): () => void {
  for (const channel of CHANNELS) {
    ipcMain.handle(channel, (event: IpcMainInvokeEvent, request: unknown) => {
      if (!isTrustedFrame(event.senderFrame))
        return forbiddenResult(event.senderFrame?.url ?? 'no frame');
      return dispatch(
        handlers,
        channel,
        request,
        { window: BrowserWindow.fromWebContents(event.sender) },
        opts,
      );
    });
  }
  return () => {
    for (const channel of CHANNELS) ipcMain.removeHandler(channel);
  };
}

/** Sends a push event to every window showing the app's own page. */
export function broadcastToWindows<E extends EventChannel>(event: E, payload: EventOf<E>): void {
  for (const w of BrowserWindow.getAllWindows()) {
    if (w.isDestroyed() || !isTrustedAppUrl(w.webContents.getURL())) continue;
    w.webContents.send(event, payload);
  }
}
