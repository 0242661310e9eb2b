// The HTTP side on loopback: what a roster MAC, an unknown MAC and a stray request get.
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { identity } from '../roster/roster.fixtures.js';
import { openArtifacts, type Artifacts } from './artifacts.js';
import { identityInitrd } from './identity.js';
import { startNetbootServer, type NetbootServer, type ServerEvent } from './server.js';

const dir = mkdtempSync(join(tmpdir(), 'zflash-netboot-srv-'));
const kernel = Buffer.alloc(300_000, 7);
kernel.write('HdrS', 0x202, 'latin1');
const initrd = Buffer.alloc(1_000_003, 3);
const SCRIPT =
  '#!ipxe\nkernel bzImage init=/nix/store/aaaa-nixos-system/init initrd=initrd loglevel=4 ${cmdline}\ninitrd initrd\nboot\n';
const createdAt = new Date('2025-06-01T12:00:00.000Z');
const events: ServerEvent[] = [];
let artifacts: Artifacts;
let server: NetbootServer;

function artifactDir(name: string, files: Record<string, Buffer | string>): string {
  const d = join(dir, name);
  mkdirSync(d);
  for (const [f, data] of Object.entries(files)) writeFileSync(join(d, f), data);
  return d;
}

beforeAll(async () => {
  // A `result` symlink into a store-like folder, as `nix build` leaves it.
  const store = artifactDir('store', { bzImage: kernel, initrd, 'netboot.ipxe': SCRIPT });
  symlinkSync(store, join(dir, 'result'));
  artifacts = await openArtifacts(join(dir, 'result'));
  server = await startNetbootServer({
    address: '127.0.0.1',
    port: 0,
    artifacts,
    render: { createdAt },
    lookup: async (mac) =>
      mac === '52:54:00:00:00:07' ? { hostname: 'node-07', identity: identity('node-07') } : null,
    onEvent: (e) => events.push(e),
  });
});
afterAll(async () => {
  await server.close();
  await artifacts.close();
  rmSync(dir, { recursive: true, force: true });
});

function get(path: string, method = 'GET'): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the netboot HTTP server', () => {
  it('a roster MAC gets its install script, the artifacts and its identity initrd', async () => {
    const script = await get('/node/52-54-00-00-00-07.ipxe');
    expect(script.status).toBe(200);
    const text = script.body.toString();
    expect(text).toContain(
      `kernel ${server.base}/node/52-54-00-00-00-07/kernel init=/nix/store/aaaa-nixos-system/init loglevel=4 `,
    );
    expect(text).toContain('zeta.hostname=node-07');
    expect((await get('/node/52-54-00-00-00-07/kernel')).body.equals(kernel)).toBe(true);
    expect((await get('/node/52-54-00-00-00-07/initrd')).body.equals(initrd)).toBe(true);
    const id = await get('/node/52-54-00-00-00-07/identity');
    expect(id.body.equals(identityInitrd(identity('node-07'), { createdAt }))).toBe(true);
    expect((await get('/node/52-54-00-00-00-07/installer', 'POST')).status).toBe(200);
    const mine = events.filter((e) => e.mac === '52:54:00:00:00:07');
    expect(mine.map((e) => (e.type === 'download' ? `${e.file}:${e.state}` : e.type))).toEqual([
      'script',
      'kernel:started',
      'kernel:done',
      'initrd:started',
      'initrd:done',
      'identity:done',
      'installer',
    ]);
  });

  it('an unknown MAC gets the refusal and nothing else', async () => {
    const script = await get('/node/52-54-00-00-00-99.ipxe');
    expect(script.status).toBe(200);
    expect(script.body.toString()).toContain('NOT IN THE ROSTER');
    expect(script.body.toString()).not.toMatch(/^(kernel|initrd)/m);
    for (const f of ['kernel', 'initrd', 'identity'])
      expect((await get(`/node/52-54-00-00-00-99/${f}`)).status).toBe(404);
    expect((await get('/node/52-54-00-00-00-99/installer', 'POST')).status).toBe(404);
    expect(events.filter((e) => e.mac === '52:54:00:00:00:99')).toEqual([
      { type: 'script', mac: '52:54:00:00:00:99', ip: '127.0.0.1', hostname: null },
    ]);
  });

  it('answers nothing but its routes: no paths, no other methods', async () => {
    for (const p of [
      '/',
      '/bzImage',
      '/netboot.ipxe',
      '/node/../netboot.ipxe',
      '/node/52-54-00-00-00-07/../../bzImage',
      '/node/52:54:00:00:00:07.ipxe',
      '/node/52-54-00-00-00-07/identity/x',
      '/node/ff-ff-ff-ff-ff-ff/../../../etc/passwd',
    ])
      expect((await get(p)).status, p).toBe(404);
    expect((await get('/node/52-54-00-00-00-07/identity', 'PUT')).status).toBe(405);
    expect((await get('/node/52-54-00-00-00-07/installer')).status).toBe(405);
    const head = await get('/node/52-54-00-00-00-07/kernel', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });
});

describe('the artifacts folder', () => {
  const refuses = async (files: Record<string, Buffer | string>, what: RegExp) => {
    const d = artifactDir(`bad-${Math.random().toString(36).slice(2)}`, files);
    const err = await openArtifacts(d).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZflashError);
    expect((err as ZflashError).code).toBe('ZFLASH_NETBOOT_ARTIFACTS');
    expect((err as ZflashError).message).toMatch(what);
  };
  it('names what is missing or wrong', async () => {
    await refuses({ bzImage: kernel, initrd }, /netboot\.ipxe is missing/);
    await refuses({ 'netboot.ipxe': SCRIPT, initrd }, /bzImage is missing/);
    await refuses({ 'netboot.ipxe': SCRIPT, bzImage: kernel }, /initrd is missing/);
    await refuses(
      { 'netboot.ipxe': SCRIPT, bzImage: Buffer.alloc(4096), initrd },
      /not a Linux kernel/,
    );
    await refuses({ 'netboot.ipxe': SCRIPT, bzImage: kernel, initrd: '' }, /initrd is empty/);
    await refuses(
      { 'netboot.ipxe': SCRIPT.replace(/init=\S+ /, ''), bzImage: kernel, initrd },
      /init=/,
    );
  });
});
