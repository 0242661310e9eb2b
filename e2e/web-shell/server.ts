/**
 * The web shell: the built renderer in any browser, backed by the real handlers and engine,
 * for where the Electron binary cannot run (this build environment, CI) and for Playwright in
 * Debian Chromium. It serves the same page with the same CSP (plus its own WebSocket in
 * connect-src) and implements the same IPC contract over one loopback WebSocket.
 *
 * What keeps other local programs and web pages out (Etcher's unauthenticated localhost
 * WebSocket is the counter-example, ANCHORS.md):
 *  - it listens on 127.0.0.1 only;
 *  - the Host header must be 127.0.0.1:<port> (a DNS-rebinding page names another host);
 *  - the WebSocket needs the per-run random token (a subprotocol, so it never appears in a
 *    URL or a log) and the page's own Origin; anything else is answered 403 and closed;
 *  - the token reaches the page in the URL fragment, which browsers never send to a server.
 *
 * Dialogs cannot be native here: an answer the test supplied (`answerDialog`, or a fixed
 * `--pick-image PATH`) is used first, else the page is asked to show its path field.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { arch, homedir, release } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { APP } from '../../app/version.js';
import { OpenedFile } from '../../main/opened-file.js';
import type { EventChannel, EventOf } from '../../main/ipc/contract.js';
import { dispatch } from '../../main/ipc/handle.js';
import { createMainService, type HandlerDeps, type MainService } from '../../main/ipc/handlers.js';
import {
  contentSecurityPolicy,
  contentTypeOf,
  resolveRendererFile,
  securityHeaders,
} from '../../main/security.js';
import {
  clientMessageSchema,
  IPC_PATH,
  SHELL_PROTOCOL,
  SHELL_SCRIPT_PATH,
  TOKEN_PROTOCOL_PREFIX,
  type DialogKind,
  type ServerMessage,
} from './protocol.js';

export interface WebShellOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** The built renderer (dist/renderer). */
  readonly rendererDir: string;
  /** The built page script (dist/web-shell/zflash-shell.js). */
  readonly shellScript: string;
  /** Where settings live. */
  readonly userData: string;
  readonly nixosFolder: string;
  readonly home?: string;
  readonly allowLoop?: boolean;
  /** Answers every dialog of a kind gets, when no queued answer is waiting (`--pick-image`). */
  readonly answers?: Partial<Record<DialogKind, string>>;
  /**
   * As if the OS had opened the app with this file (`--open-file`): the page's first
   * `app:opened-file` answers it.
   */
  readonly openedFile?: string;
  /** A fixed token (tests); default 32 random bytes. */
  readonly token?: string;
  /** Overrides of the handlers' side effects and seams (tests: helper command, scan, run). */
  readonly deps?: Partial<HandlerDeps>;
  /** Poll drives and push drives:event (default true). */
  readonly watchDrives?: boolean;
  /** The roster file (default `<userData>/roster.json`); null turns the roster off. */
  readonly roster?: string | null;
  /** Where downloaded installers go (default `<userData>/cache`). */
  readonly cache?: string;
  /** The installer catalogue (a test's local server and key); absent: no download offered. */
  readonly catalog?: HandlerDeps['catalog'];
}

export interface WebShell {
  /** Open this in a browser: it carries the token in its fragment. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  readonly token: string;
  readonly service: MainService;
  /** Queues the answer the next dialog of `kind` gets (null: as if cancelled). */
  answerDialog(kind: DialogKind, path: string | null): void;
  /** As if the OS opened the running app with `path` (a second double-click): kept and pushed. */
  openFile(path: string): void;
  /** What the last `diagnostics:copy` put on the "clipboard". */
  clipboardText(): string | null;
  close(): Promise<void>;
}

const TITLES: Record<DialogKind, string> = {
  image: 'Path of the installer image',
  key: 'Path of an SSH public key (.pub)',
  save: 'Where to save the diagnostics (a file path)',
};

interface Connection {
  readonly socket: WebSocket;
  readonly pending: Map<number, (path: string | null) => void>;
  nextDialog: number;
}

function send(socket: WebSocket, message: ServerMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

function sameToken(offered: string, token: string): boolean {
  const a = Buffer.from(offered);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export async function startWebShell(opts: WebShellOptions): Promise<WebShell> {
  const token = opts.token ?? randomBytes(32).toString('hex');
  const connections = new Set<Connection>();
  const queued: Record<DialogKind, (string | null)[]> = { image: [], key: [], save: [] };
  let clipboard: string | null = null;
  let port = 0;
  const origin = () => `http://127.0.0.1:${port}`;

  const broadcast = <E extends EventChannel>(event: E, payload: EventOf<E>) => {
    for (const c of connections) send(c.socket, { type: 'event', event, payload });
  };

  const ask =
    (kind: DialogKind) =>
    async (window: unknown): Promise<string | null> => {
      const next = queued[kind].shift();
      if (next !== undefined) return next;
      const fixed = opts.answers?.[kind];
      if (fixed) return fixed;
      const conn = window as Connection | undefined;
      if (!conn || !connections.has(conn)) return null;
      const id = conn.nextDialog++;
      return new Promise((resolve) => {
        conn.pending.set(id, resolve);
        send(conn.socket, { type: 'dialog', id, kind, title: TITLES[kind] });
      });
    };

  const openedFile = new OpenedFile(opts.openedFile ?? null);

  const service = createMainService({
    app: APP,
    runtime: `node ${process.versions.node} (web shell)`,
    transport: 'web',
    os: { platform: process.platform, release: release(), arch: arch() },
    paths: {
      userData: opts.userData,
      home: opts.home ?? homedir(),
      nixosFolder: opts.nixosFolder,
      roster: opts.roster === undefined ? join(opts.userData, 'roster.json') : opts.roster,
      cache: opts.cache ?? join(opts.userData, 'cache'),
    },
    ...(opts.catalog ? { catalog: opts.catalog } : {}),
    allowLoop: opts.allowLoop ?? false,
    dialogs: {
      pickImage: ask('image'),
      pickKey: ask('key'),
      saveDiagnostics: (window) => ask('save')(window),
    },
    clipboard: {
      writeText: (text) => {
        clipboard = text;
      },
    },
    // A browser page cannot open a folder on this machine; the answer carries the path.
    openFolder: async () => false,
    openedFile,
    broadcast,
    // The shell is a front end: it passes its own environment (PATH, to find pkexec).
    helper: { env: process.env },
    ...opts.deps,
  });

  const pageHeaders = () =>
    securityHeaders(contentSecurityPolicy({ connect: [`ws://127.0.0.1:${port}`] }));

  async function serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = pageHeaders();
    if (req.headers.host !== `127.0.0.1:${port}`) {
      res.writeHead(421, headers).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    const pathname = new URL(req.url ?? '/', origin()).pathname;
    const file =
      pathname === SHELL_SCRIPT_PATH
        ? opts.shellScript
        : await resolveRendererFile(opts.rendererDir, pathname);
    if (!file) {
      res.writeHead(404, headers).end();
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      res.writeHead(404, headers).end();
      return;
    }
    if (contentTypeOf(file).startsWith('text/html')) {
      // The bridge must define window.zflash before the renderer's scripts run: first in <head>.
      const html = body.toString('utf8');
      const tag = `<script src="${SHELL_SCRIPT_PATH}"></script>`;
      body = Buffer.from(
        /<head[^>]*>/i.test(html)
          ? html.replace(/<head[^>]*>/i, (m) => `${m}\n    ${tag}`)
          : `${tag}\n${html}`,
      );
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': contentTypeOf(file),
      'Content-Length': body.length,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has(SHELL_PROTOCOL) ? SHELL_PROTOCOL : false),
  });

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const tokenOffered = offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
    const path = new URL(req.url ?? '/', origin()).pathname;
    if (req.headers.host !== `127.0.0.1:${port}` || path !== IPC_PATH)
      return refuse(socket, 404, 'Not Found');
    if (req.headers.origin !== origin()) return refuse(socket, 403, 'Forbidden');
    if (!tokenOffered || !sameToken(tokenOffered.slice(TOKEN_PROTOCOL_PREFIX.length), token))
      return refuse(socket, 403, 'Forbidden');
    if (!offered.includes(SHELL_PROTOCOL)) return refuse(socket, 400, 'Bad Request');
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws));
  }

  function accept(socket: WebSocket): void {
    const conn: Connection = { socket, pending: new Map(), nextDialog: 1 };
    connections.add(conn);
    socket.on('close', () => {
      connections.delete(conn);
      for (const resolve of conn.pending.values()) resolve(null);
      conn.pending.clear();
    });
    socket.on('message', (data, isBinary) => {
      let message;
      try {
        if (isBinary) throw new Error('binary');
        message = clientMessageSchema.parse(JSON.parse(data.toString()));
      } catch {
        // Not our page speaking: no answer, the connection ends (1008: policy violation).
        socket.close(1008, 'invalid message');
        return;
      }
      if (message.type === 'dialog-answer') {
        const resolve = conn.pending.get(message.id);
        conn.pending.delete(message.id);
        resolve?.(message.path);
        return;
      }
      const { id, channel, request } = message;
      void dispatch(
        service.handlers,
        channel,
        request,
        { window: conn },
        { validateResponses: true },
      ).then((result) => send(socket, { type: 'result', id, result }));
    });
  }

  const server = createServer((req, res) => {
    serveHttp(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, pageHeaders());
      res.end();
    });
  });
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;

  const watching = new AbortController();
  const watch =
    opts.watchDrives === false
      ? Promise.resolve()
      : service.watchDrives(watching.signal).catch(() => undefined);

  return {
    url: `${origin()}/#token=${token}`,
    origin: origin(),
    port,
    token,
    service,
    answerDialog: (kind, path) => {
      queued[kind].push(path);
    },
    openFile: (path) => {
      openedFile.remember(path);
      broadcast('app:file-opened', { path });
    },
    clipboardText: () => clipboard,
    async close() {
      watching.abort();
      for (const c of connections) c.socket.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await service.dispose();
      await watch;
    },
  };
}
