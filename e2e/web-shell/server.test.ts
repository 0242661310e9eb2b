// The web shell as a client sees it: real HTTP and WebSocket connections to 127.0.0.1, the
// real handlers and engine behind them, and one real flash to a loop device through it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  attachSparseLoop,
  buildNixosIso,
  espOffsetBySfdisk,
  fsckClean,
  extractRange,
  mtype,
  requireLoop,
  tempDir,
  type Loop,
} from '../../test/fixtures.js';
import { IPC_PATH, SHELL_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from './protocol.js';
import { startWebShell, type WebShell } from './server.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const HELPER = join(repo, 'dist', 'app', 'helper', 'entry.js');
const tmp = tempDir('zflash-webshell-');
let shell: WebShell;
let iso: string;
let loop: Loop;
let pub: string;

beforeAll(async () => {
  requireLoop();
  if (!existsSync(HELPER))
    throw new Error('run `npm run build` first: the flash test starts dist/app/helper/entry.js');
  const renderer = join(tmp.path, 'renderer');
  mkdirSync(renderer);
  writeFileSync(
    join(renderer, 'index.html'),
    '<!doctype html><html><head><title>t</title></head><body></body></html>',
  );
  writeFileSync(join(renderer, 'app.js'), 'console.log(1)');
  writeFileSync(join(tmp.path, 'secret.txt'), 'outside the renderer');
  writeFileSync(join(tmp.path, 'shell.js'), '/* shell */');
  mkdirSync(join(tmp.path, 'user'));
  iso = buildNixosIso(join(tmp.path, 'nixos.iso'));
  loop = attachSparseLoop(tmp.path, 64 * 1024 * 1024);
  const key = join(tmp.path, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  pub = `${key}.pub`;
  shell = await startWebShell({
    rendererDir: renderer,
    shellScript: join(tmp.path, 'shell.js'),
    userData: join(tmp.path, 'user'),
    nixosFolder: join(repo, 'nixos'),
    home: tmp.path,
    allowLoop: true,
    watchDrives: false,
    deps: {
      helper: { helperCommand: [process.execPath, HELPER], env: process.env },
      throttleMs: 100,
    },
  });
});
afterAll(async () => {
  await shell?.close();
  loop?.detach();
  tmp.cleanup();
});

function get(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: shell.port,
          path,
          headers: { host: `127.0.0.1:${shell.port}`, ...headers },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

/** A WebSocket client; `opts` lets a test leave out the token or lie about its origin. */
function connect(opts: { token?: string | null; origin?: string } = {}) {
  const protocols = [SHELL_PROTOCOL];
  const token = opts.token === undefined ? shell.token : opts.token;
  if (token !== null) protocols.push(`${TOKEN_PROTOCOL_PREFIX}${token}`);
  return new WebSocket(`ws://127.0.0.1:${shell.port}${IPC_PATH}`, protocols, {
    origin: opts.origin ?? shell.origin,
  });
}

/** Resolves with the HTTP status of a refused handshake, or 101 when it was accepted. */
function handshake(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(-1));
  });
}

class Client {
  private next = 1;
  private readonly results = new Map<number, (r: unknown) => void>();
  readonly events: { event: string; payload: unknown }[] = [];
  private readonly waiters: (() => void)[] = [];
  readonly dialogs: { id: number; kind: string }[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'result') this.results.get(m.id)?.(m.result);
      if (m.type === 'event') this.events.push(m);
      if (m.type === 'dialog') this.dialogs.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(): Promise<Client> {
    const ws = connect();
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    return new Client(ws);
  }
  invoke(
    channel: string,
    req: unknown = {},
  ): Promise<{ ok: boolean; value?: unknown; error?: { code: string } }> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.results.set(id, resolve as (r: unknown) => void);
      this.ws.send(JSON.stringify({ type: 'invoke', id, channel, request: req }));
    });
  }
  /** Waits for a message that makes `cond` true (events, never a sleep). */
  async until(cond: () => boolean): Promise<void> {
    while (!cond()) await new Promise<void>((r) => this.waiters.push(r));
  }
  close() {
    this.ws.close();
  }
}

describe('web shell HTTP', () => {
  it('serves the page with the CSP and its bridge script first in <head>', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src ws://127.0.0.1:${shell.port}`);
    expect(r.body).toMatch(/<head>\s*<script src="\/__zflash\/shell\.js"><\/script>/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves nothing outside the renderer folder', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%00index.html'])
      expect((await get(p)).status).toBe(404);
  });

  it('answers only requests addressed to 127.0.0.1:<port> (no DNS rebinding)', async () => {
    expect((await get('/', { host: `evil.example:${shell.port}` })).status).toBe(421);
    expect((await get('/', { host: `localhost:${shell.port}` })).status).toBe(421);
  });
});

describe('web shell WebSocket', () => {
  it('refuses a connection without the token', async () => {
    expect(await handshake(connect({ token: null }))).toBe(403);
  });

  it('refuses a wrong token', async () => {
    expect(await handshake(connect({ token: 'a'.repeat(64) }))).toBe(403);
  });

  it('refuses another origin, even with the token', async () => {
    expect(await handshake(connect({ origin: 'http://evil.example' }))).toBe(403);
    expect(await handshake(connect({ origin: `http://localhost:${shell.port}` }))).toBe(403);
  });

  it('accepts the page, with the token and its own origin', async () => {
    expect(await handshake(connect())).toBe(101);
  });

  it('closes a connection that sends something other than the protocol', async () => {
    const c = await Client.open();
    const closed = new Promise<number>((r) => c.ws.on('close', (code) => r(code)));
    c.ws.send('{"type":"eval","code":"1"}');
    expect(await closed).toBe(1008);
  });

  it('round-trips requests through the real handlers', async () => {
    const c = await Client.open();
    const info = await c.invoke('app:info');
    expect(info).toMatchObject({ ok: true, value: { transport: 'web', allowLoop: true } });
    const set = await c.invoke('settings:set', { namePattern: 'gpu-{nn}' });
    expect(set).toMatchObject({ ok: true, value: { settings: { namePattern: 'gpu-{nn}' } } });
    expect(await c.invoke('node:suggest-name', { pattern: null })).toEqual({
      ok: true,
      value: 'gpu-01',
    });
    const image = await c.invoke('image:inspect', { path: iso });
    expect(image).toMatchObject({ ok: true, value: { installer: { kind: 'nixos' } } });
    c.close();
  });

  it('delivers a handler error as {ok:false, error:{code…}}', async () => {
    const c = await Client.open();
    const missing = await c.invoke('image:inspect', { path: join(tmp.path, 'nope.iso') });
    expect(missing).toMatchObject({
      ok: false,
      error: { code: 'ZFLASH_IMAGE_NOT_FOUND', kind: 'input' },
    });
    const invalid = await c.invoke('keys:read', { path: 'relative.pub' });
    expect(invalid).toMatchObject({ ok: false, error: { code: 'ZFLASH_INTERNAL', kind: 'bug' } });
    c.close();
  });

  it('answers a dialog with the path the test supplied', async () => {
    const c = await Client.open();
    shell.answerDialog('image', iso);
    expect(await c.invoke('image:pick')).toEqual({ ok: true, value: iso });
    shell.answerDialog('key', null);
    expect(await c.invoke('keys:pick')).toEqual({ ok: true, value: null });
    c.close();
  });

  it('asks the page for a path when no answer was supplied', async () => {
    const c = await Client.open();
    const picked = c.invoke('keys:pick');
    await c.until(() => c.dialogs.length > 0);
    expect(c.dialogs[0]).toMatchObject({ kind: 'key' });
    c.ws.send(JSON.stringify({ type: 'dialog-answer', id: c.dialogs[0]?.id, path: pub }));
    expect(await picked).toEqual({ ok: true, value: pub });
    c.close();
  });
});

describe('a real flash through the web shell', () => {
  it('prepares, starts, pushes throttled snapshots to every window, and writes the stick', async () => {
    const a = await Client.open();
    const b = await Client.open(); // a second window watches the same flash
    const node = {
      hostname: 'shell-node',
      keys: [readFileSync(pub, 'utf8')],
      roles: ['worker'],
      wifi: null,
      password: null,
      eraseAny: false,
    };
    const plan = await a.invoke('flash:prepare', {
      image: iso,
      device: loop.device,
      node,
      sha256: null,
    });
    expect(plan.ok).toBe(true);
    const planId = (plan.value as { planId: string }).planId;
    const started = await a.invoke('flash:start', { planId, device: loop.device });
    expect(started).toMatchObject({
      ok: true,
      value: { device: loop.device, hostname: 'shell-node' },
    });

    const status = (c: Client) =>
      (
        c.events.filter((e) => e.event === 'flash:session').at(-1)?.payload as
          { session: { status: string } } | undefined
      )?.session.status;
    await a.until(() => ['done', 'failed', 'cancelled'].includes(status(a) ?? ''));
    await b.until(() => ['done', 'failed', 'cancelled'].includes(status(b) ?? ''));
    const last = a.events.filter((e) => e.event === 'flash:session').at(-1)?.payload as {
      session: { status: string; result?: { verified: boolean }; error?: unknown };
    };
    expect(last.session.error).toBeUndefined();
    expect(last.session).toMatchObject({ status: 'done', result: { verified: true } });
    expect(status(b)).toBe('done');

    // A window that reloads asks for the state and gets the same answer.
    const c = await Client.open();
    expect(await c.invoke('flash:state')).toEqual({ ok: true, value: [last] });

    // The stick, judged by mtools and fsck.fat.
    const esp = espOffsetBySfdisk(iso);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('shell-node\n');
    fsckClean(extractRange(loop.device, esp.offset, esp.size, join(tmp.path, 'esp.img')));
    for (const x of [a, b, c]) x.close();
  });
});
