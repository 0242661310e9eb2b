/**
 * The web shell's page script: defines `window.zflash` — the very object the Electron preload
 * defines, built by the same function from the same METHODS — over the shell's WebSocket.
 * It is injected first into the page's <head> by the server, so it runs before the renderer.
 *
 * The token comes from the URL fragment (`#token=…`, never sent to a server) and is kept in
 * sessionStorage so a reload of the same tab still connects. Dialogs the server cannot answer
 * by itself are shown here as a path field.
 */
import { installZflashApi, type ZflashTransport } from '../../../main/ipc/install-api.js';
import { EVENT_METHODS, METHODS } from '../../../main/ipc/methods.js';
import { IPC_PATH, SHELL_PROTOCOL, TOKEN_PROTOCOL_PREFIX, type DialogKind } from '../names.js';

const TOKEN_KEY = 'zflash-web-shell-token';

function readToken(): string | null {
  const match = /(?:^#|&)token=([0-9a-f]{16,256})(?:&|$)/.exec(location.hash);
  if (match?.[1]) {
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    return match[1];
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

const shellError = (message: string, hint: string) => ({
  ok: false as const,
  error: { code: 'ZFLASH_INTERNAL', kind: 'bug', message, hint, exitCode: 1 },
});

/** The in-page stand-in for a native dialog: a modal path field. */
function askForPath(kind: DialogKind, title: string): Promise<string | null> {
  return new Promise((resolve) => {
    const dialog = document.createElement('dialog');
    dialog.dataset['zflashDialog'] = kind;
    const form = document.createElement('form');
    form.method = 'dialog';
    const label = document.createElement('label');
    label.textContent = title;
    const input = document.createElement('input');
    input.type = 'text';
    input.name = 'path';
    input.size = 60;
    input.autocomplete = 'off';
    input.spellcheck = false;
    label.append(document.createElement('br'), input);
    const ok = document.createElement('button');
    ok.type = 'submit';
    ok.value = 'ok';
    ok.textContent = 'OK';
    const cancel = document.createElement('button');
    cancel.type = 'submit';
    cancel.value = 'cancel';
    cancel.textContent = 'Cancel';
    form.append(label, document.createElement('br'), ok, cancel);
    dialog.append(form);
    dialog.style.fontFamily = 'system-ui, sans-serif';
    dialog.addEventListener('close', () => {
      const path = dialog.returnValue === 'ok' ? input.value.trim() : '';
      dialog.remove();
      resolve(path === '' ? null : path);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

function createShellTransport(token: string | null): ZflashTransport {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const pending = new Map<number, (result: unknown) => void>();
  let nextId = 1;
  let opened: Promise<WebSocket> | null = null;

  const failAll = (message: string) => {
    for (const resolve of pending.values())
      resolve(shellError(message, 'Restart `npm run web` and open the URL it prints.'));
    pending.clear();
  };

  const connect = (): Promise<WebSocket> => {
    if (opened) return opened;
    opened = new Promise((resolve, reject) => {
      if (!token) {
        reject(
          new Error('This page was opened without its token: open the URL `npm run web` prints.'),
        );
        return;
      }
      const ws = new WebSocket(`ws://${location.host}${IPC_PATH}`, [
        SHELL_PROTOCOL,
        `${TOKEN_PROTOCOL_PREFIX}${token}`,
      ]);
      ws.addEventListener('open', () => resolve(ws), { once: true });
      ws.addEventListener(
        'error',
        () => reject(new Error('The web shell refused the connection.')),
        {
          once: true,
        },
      );
      ws.addEventListener('close', () => {
        opened = null;
        failAll('The connection to the web shell was closed.');
      });
      ws.addEventListener('message', (m: MessageEvent<string>) => {
        const message = JSON.parse(m.data) as
          | { type: 'result'; id: number; result: unknown }
          | { type: 'event'; event: string; payload: unknown }
          | { type: 'dialog'; id: number; kind: DialogKind; title: string };
        if (message.type === 'result') {
          pending.get(message.id)?.(message.result);
          pending.delete(message.id);
        } else if (message.type === 'event') {
          for (const l of listeners.get(message.event) ?? []) l(message.payload);
        } else if (message.type === 'dialog') {
          void askForPath(message.kind, message.title).then((path) =>
            ws.send(JSON.stringify({ type: 'dialog-answer', id: message.id, path })),
          );
        }
      });
    });
    return opened;
  };

  return {
    async invoke(channel, request) {
      let ws: WebSocket;
      try {
        ws = await connect();
      } catch (err) {
        return shellError(
          (err as Error).message,
          'Open the URL `npm run web` prints, with its #token.',
        );
      }
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        ws.send(JSON.stringify({ type: 'invoke', id, channel, request }));
      });
    },
    subscribe(event, listener) {
      const set = listeners.get(event) ?? new Set();
      set.add(listener);
      listeners.set(event, set);
      // Events flow once the socket is open; open it now so they are not missed.
      void connect().catch(() => undefined);
      return () => {
        set.delete(listener);
      };
    },
    // A browser never tells a page where a dropped file lives: '' means "unknown here";
    // the renderer then offers the path field (dialogs) instead.
    pathForFile() {
      return '';
    },
  };
}

installZflashApi(createShellTransport(readToken()), METHODS, EVENT_METHODS);
