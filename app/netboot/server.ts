/**
 * The HTTP side of network boot, on the chosen interface's address and an unprivileged port:
 *
 *   GET  /node/<mac>.ipxe        the machine's script: a roster node's install script, or
 *                                for any other MAC the refusal ("not in the roster")
 *   GET  /node/<mac>/kernel      the NixOS kernel          } roster MACs only; the same bytes
 *   GET  /node/<mac>/initrd      the NixOS netboot initrd  } for every node, per-MAC paths so
 *   GET  /node/<mac>/identity    the node's identity initrd } progress names the machine
 *   POST /node/<mac>/installer   the live installer says it started (netboot.nix)
 *
 * Nothing else: no path from a request ever reaches the file system, and only public
 * material is served (identity.ts). The roster is asked on every script request, so a MAC
 * added with `zflash roster set` while the server runs is served on the machine's next boot.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeIdentity } from '../node/types.js';
import type { RenderOptions } from '../payload/render.js';
import type { Artifacts, OpenedArtifact } from './artifacts.js';
import { identityInitrd } from './identity.js';
import { nodeScript, refusalScript } from './ipxe.js';
import { macFromUrl, macToUrl } from '../node/mac.js';

/** A roster node the server may install. */
export interface NodeTarget {
  readonly hostname: string;
  readonly identity: NodeIdentity;
}

export type DownloadFile = 'kernel' | 'initrd' | 'identity';

export type ServerEvent =
  | {
      readonly type: 'script';
      readonly mac: string;
      readonly ip: string;
      /** Null: not in the roster, the refusal was served. */
      readonly hostname: string | null;
    }
  | {
      readonly type: 'download';
      readonly mac: string;
      readonly ip: string;
      readonly hostname: string;
      readonly file: DownloadFile;
      readonly state: 'started' | 'done' | 'failed';
      readonly bytes: number;
      readonly total: number;
    }
  | {
      readonly type: 'installer';
      readonly mac: string;
      readonly ip: string;
      readonly hostname: string;
    };

export interface NetbootServerOptions {
  /** The interface's IPv4 address: the server listens there only. */
  readonly address: string;
  /** 0: any free port. */
  readonly port: number;
  readonly artifacts: Artifacts;
  readonly lookup: (mac: string) => Promise<NodeTarget | null>;
  /** Fixed for the whole run, so a node gets the same identity bytes on every boot. */
  readonly render: RenderOptions;
  readonly onEvent: (e: ServerEvent) => void;
}

export interface NetbootServer {
  readonly port: number;
  /** `http://ADDRESS:PORT` */
  readonly base: string;
  close(): Promise<void>;
}

const ROUTE = /^\/node\/([0-9a-f-]{17})(\.ipxe|\/kernel|\/initrd|\/identity|\/installer)$/;

export async function startNetbootServer(opts: NetbootServerOptions): Promise<NetbootServer> {
  let base = '';
  const send = (res: ServerResponse, status: number, body: string | Buffer, type: string) => {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
  const notFound = (res: ServerResponse) => send(res, 404, 'not found\n', 'text/plain');

  const stream = (
    req: IncomingMessage,
    res: ServerResponse,
    file: OpenedArtifact,
    report: (state: 'started' | 'done' | 'failed', bytes: number) => void,
  ) => {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': file.size,
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD') return void res.end();
    report('started', 0);
    // Positional reads from the handle opened at start (start: 0), shared by every download.
    const body = file.handle.createReadStream({ start: 0, end: file.size - 1, autoClose: false });
    let bytes = 0;
    body.on('data', (chunk: string | Buffer) => {
      bytes += chunk.length;
    });
    body.pipe(res);
    let ended = false;
    const end = (ok: boolean) => {
      if (ended) return;
      ended = true;
      report(ok ? 'done' : 'failed', bytes);
    };
    res.on('finish', () => end(bytes === file.size));
    res.on('close', () => {
      body.destroy();
      end(res.writableFinished && bytes === file.size);
    });
    body.on('error', () => res.destroy());
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const ip = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    const url = (req.url ?? '').split('?')[0]!;
    const m = ROUTE.exec(url);
    const mac = m ? macFromUrl(m[1]!) : null;
    if (!m || !mac) return notFound(res);
    const what = m[2]!;
    const wantMethod = what === '/installer' ? 'POST' : null;
    if (wantMethod ? req.method !== wantMethod : req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', wantMethod ?? 'GET, HEAD');
      return send(res, 405, 'method not allowed\n', 'text/plain');
    }
    const node = await opts.lookup(mac);
    if (what === '.ipxe') {
      opts.onEvent({ type: 'script', mac, ip, hostname: node?.hostname ?? null });
      const script = node
        ? nodeScript({
            hostname: node.hostname,
            mac,
            base: `${base}/node/${macToUrl(mac)}`,
            kernel: opts.artifacts.boot,
          })
        : refusalScript(mac);
      return send(res, 200, script, 'text/plain; charset=utf-8');
    }
    if (!node) return notFound(res);
    const hostname = node.hostname;
    if (what === '/installer') {
      req.resume();
      opts.onEvent({ type: 'installer', mac, ip, hostname });
      return send(res, 200, 'ok\n', 'text/plain');
    }
    const file: DownloadFile =
      what === '/kernel' ? 'kernel' : what === '/initrd' ? 'initrd' : 'identity';
    if (file === 'identity') {
      const body = identityInitrd(node.identity, opts.render);
      if (req.method === 'GET')
        opts.onEvent({
          type: 'download',
          mac,
          ip,
          hostname,
          file,
          state: 'done',
          bytes: body.length,
          total: body.length,
        });
      return send(res, 200, body, 'application/octet-stream');
    }
    const artifact = file === 'kernel' ? opts.artifacts.kernel : opts.artifacts.initrd;
    stream(req, res, artifact, (state, bytes) =>
      opts.onEvent({
        type: 'download',
        mac,
        ip,
        hostname,
        file,
        state,
        bytes,
        total: artifact.size,
      }),
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n', 'text/plain');
      else res.destroy();
    });
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.address, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://${opts.address}:${port}`;
  return {
    port,
    base,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
