/**
 * A release server for tests, on 127.0.0.1 only: serves fixed files (the manifest, its
 * signature, an installer image) with HTTP range requests like GitHub's release CDN, and can
 * misbehave on purpose — drop the connection part-way, ignore ranges, stall. It records every
 * request so tests can check what the client asked for.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  readonly body: Buffer;
  /** On the first N requests for this path, close the socket after this many body bytes. */
  readonly dropAfter?: { readonly bytes: number; readonly times: number };
  /** Answer 200 with the whole body even when a range is asked for. */
  readonly ignoreRange?: boolean;
  /** Send this many body bytes, then nothing more (never end): a stalled transfer. */
  readonly stallAfter?: number;
  readonly status?: number;
  /** Answer 302 to this URL (GitHub's release downloads redirect to a CDN on another host). */
  readonly redirect?: string;
}

export interface RecordedRequest {
  readonly path: string;
  readonly range: string | null;
  /** Body bytes the server sent in answer. */
  sent: number;
}

export interface CatalogServer {
  readonly base: string;
  readonly requests: RecordedRequest[];
  set(path: string, file: ServedFile): void;
  /** The body served at `path`. */
  body(path: string): Buffer;
  close(): Promise<void>;
}

export async function startCatalogServer(): Promise<CatalogServer> {
  const files = new Map<string, ServedFile>();
  const drops = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const stalled = new Set<ServerResponse>();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const rec: RecordedRequest = { path, range: req.headers.range ?? null, sent: 0 };
    requests.push(rec);
    const file = files.get(path);
    if (!file || req.method !== 'GET') {
      res.writeHead(404).end('not found');
      return;
    }
    if (file.redirect) {
      res.writeHead(302, { location: file.redirect }).end();
      return;
    }
    if (file.status && file.status !== 200) {
      res.writeHead(file.status).end();
      return;
    }
    const size = file.body.length;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(rec.range ?? '');
    if (m && !file.ignoreRange) {
      start = Number(m[1]);
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': size - start,
        'content-range': `bytes ${start}-${size - 1}/${size}`,
        'accept-ranges': 'bytes',
      });
    } else {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': size,
        'accept-ranges': 'bytes',
      });
    }
    const body = file.body.subarray(start);
    const dropsSoFar = drops.get(path) ?? 0;
    if (file.dropAfter && dropsSoFar < file.dropAfter.times) {
      drops.set(path, dropsSoFar + 1);
      const part = body.subarray(0, file.dropAfter.bytes);
      rec.sent = part.length;
      res.write(part, () => setImmediate(() => res.socket?.destroy()));
      return;
    }
    if (file.stallAfter !== undefined) {
      const part = body.subarray(0, file.stallAfter);
      rec.sent = part.length;
      res.write(part);
      stalled.add(res);
      return;
    }
    rec.sent = body.length;
    res.end(body);
  };

  const server = createServer(handle);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    set: (path, file) => files.set(path, file),
    body: (path) => {
      const f = files.get(path);
      if (!f) throw new Error(`nothing served at ${path}`);
      return f.body;
    },
    close: () =>
      new Promise<void>((ok) => {
        for (const r of stalled) r.socket?.destroy();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
