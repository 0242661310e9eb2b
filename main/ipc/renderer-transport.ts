/**
 * The preload's side of the IPC contract: the only place `ipcRenderer` is touched (lint bans
 * it everywhere else, as GitHub Desktop does). It offers invoke for the contract's channels
 * only and subscriptions for its push events only, and never hands the page an IpcRenderer
 * or an IpcRendererEvent (whose `sender` would be a generic send).
 */
import { ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import type { ZflashTransport } from './install-api.js';
import { isChannel, isEvent } from './methods.js';

export function createRendererTransport(): ZflashTransport {
  return {
    invoke(channel, request) {
      if (!isChannel(channel))
        return Promise.reject(new Error(`unknown channel ${String(channel)}`));
      return ipcRenderer.invoke(channel, request);
    },
    subscribe(event, listener) {
      if (!isEvent(event)) throw new Error(`unknown event ${String(event)}`);
      const forward = (_e: IpcRendererEvent, payload: unknown) => listener(payload);
      ipcRenderer.on(event, forward);
      return () => {
        ipcRenderer.removeListener(event, forward);
      };
    },
    pathForFile(file) {
      return webUtils.getPathForFile(file as File);
    },
  };
}
