// The transport-free handlers over the real engine: real key files from ssh-keygen, a real
// NixOS-style ISO, a real loop device as the drive (ZFLASH_ALLOW_LOOP through the allowLoop
// dependency). Flashes here run a scripted job so the bookkeeping (plans, one flash per
// drive, confirmation) is tested without root writes; the web shell test flashes for real.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCatalogServer } from '../../test/catalog-server.js';
import {
  attachSparseLoop,
  buildNixosIso,
  buildZetaIso,
  requireLoop,
  tempDir,
  type Loop,
} from '../../test/fixtures.js';
import { cancelledError, ioError } from '../../app/errors.js';
import type { FlashEvent } from '../../app/flash/events.js';
import type { FlashManyOutcome, FlashResult } from '../../app/api/plan.js';
import type { RunJob } from '../../app/api/sessions.js';
import { deriveWpaPsk } from '../../app/node/wifi.js';
import { OpenedFile } from '../opened-file.js';
import type { EventChannel } from './contract.js';
import { dispatch, type CallContext } from './handle.js';
import {
  createMainService,
  identityFromForm,
  type HandlerDeps,
  type MainService,
  type RunManyJob,
} from './handlers.js';

const tmp = tempDir('zflash-handlers-');
const MiB = 1024 * 1024;
let iso: string;
let loop: Loop;
let loop2: Loop;
let loop3: Loop;
let pub: string;
let priv: string;

beforeAll(() => {
  requireLoop();
  iso = buildNixosIso(join(tmp.path, 'nixos.iso'));
  loop = attachSparseLoop(tmp.path, 64 * MiB);
  loop2 = attachSparseLoop(tmp.path, 64 * MiB);
  loop3 = attachSparseLoop(tmp.path, 64 * MiB);
  mkdirSync(join(tmp.path, 'home', '.ssh'), { recursive: true });
  const key = join(tmp.path, 'home', '.ssh', 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  pub = `${key}.pub`;
  priv = key;
});
afterAll(() => {
  loop?.detach();
  loop2?.detach();
  loop3?.detach();
  tmp.cleanup();
});

const ctx: CallContext = { window: 'window-1' };

function service(over: Partial<HandlerDeps> = {}) {
  const events: { event: EventChannel; payload: unknown }[] = [];
  const asked: unknown[] = [];
  const userData = join(tmp.path, `user-${Math.random().toString(16).slice(2)}`);
  mkdirSync(userData);
  const s: MainService = createMainService({
    app: { name: 'zeta-flash', version: '0.0.0-test' },
    runtime: 'node test',
    transport: 'web',
    os: { platform: 'linux', release: 'test', arch: 'x64' },
    paths: {
      userData,
      home: join(tmp.path, 'home'),
      nixosFolder: join(tmp.path, 'nixos'),
      roster: join(userData, 'roster.json'),
      cache: join(userData, 'cache'),
    },
    allowLoop: true,
    dialogs: {
      pickImage: async (w) => (asked.push(w), iso),
      pickKey: async () => pub,
      saveDiagnostics: async (_w, name) => join(tmp.path, name),
    },
    clipboard: { writeText: () => undefined },
    openFolder: async () => true,
    broadcast: (event, payload) => events.push({ event, payload }),
    helper: { env: process.env },
    ...over,
  });
  const call = async <T = unknown>(channel: string, request: unknown = {}): Promise<T> => {
    const r = await dispatch(s.handlers, channel, request, ctx, { validateResponses: true });
    if (!r.ok) throw Object.assign(new Error(r.error.message), r.error);
    return r.value as T;
  };
  const fail = async (channel: string, request: unknown = {}) => {
    const r = await dispatch(s.handlers, channel, request, ctx, { validateResponses: true });
    if (r.ok) throw new Error(`${channel} should have failed`);
    return r.error;
  };
  return { s, call, fail, events, asked, userData };
}

const form = (over: Record<string, unknown> = {}) => ({
  hostname: 'Node-01',
  keys: [readFileSync(pub, 'utf8')],
  roles: ['worker'],
  wifi: null,
  password: null,
  eraseAny: false,
  ...over,
});

/** A flash run the test finishes by hand. */
function scriptedRun() {
  const finishers: (() => void)[] = [];
  const run: RunJob = (job, opts) =>
    new Promise((resolve) => {
      opts.onEvent?.({
        type: 'progress',
        phase: 'writing',
        bytes: 1,
        total: 10,
        speed: 1,
        eta: 9,
      } as FlashEvent);
      finishers.push(() =>
        resolve({
          type: 'result',
          device: job.drive?.device ?? '',
          bytesWritten: 10,
          digest: 'd',
          verified: true,
          imageSha256: null,
          esp: { partition: 2, offset: 0, fatType: 'FAT12', freeBytes: 1 },
          ejected: true,
        }),
      );
    });
  return { run, finishAll: () => finishers.splice(0).forEach((f) => f()) };
}

const resultFor = (device: string): FlashResult => ({
  type: 'result',
  device,
  bytesWritten: 10,
  digest: 'd',
  verified: true,
  imageSha256: null,
  esp: { partition: 2, offset: 0, fatType: 'FAT12', freeBytes: 1 },
  ejected: true,
});

/**
 * A many-drive run the test ends by hand, speaking as runFlashMany does: job-wide events with
 * device null, each drive's own with its device, one end per drive. `finish(failing)` ends
 * it with those drives failed; a cancel ends every drive cancelled.
 */
function scriptedMany() {
  const runs: { devices: string[]; signal: AbortSignal | undefined }[] = [];
  let finish: (failing: readonly string[]) => void = () => undefined;
  const runMany: RunManyJob = (job, opts) =>
    new Promise((resolve) => {
      const devices = job.drives.map((d) => d.device);
      runs.push({ devices, signal: opts.signal });
      const progress = (phase: 'preparing' | 'writing') =>
        ({ type: 'progress', phase, bytes: 1, total: 10, speed: 1, eta: 9 }) as FlashEvent;
      opts.onEvent?.(null, progress('preparing'));
      for (const d of devices) opts.onEvent?.(d, progress('writing'));
      const end = (failed: (d: string) => ReturnType<typeof cancelledError> | null) => {
        const drives = job.drives.map((d): FlashManyOutcome => {
          const e = failed(d.device);
          const hostname = d.identity.hostname;
          if (!e) {
            const result = resultFor(d.device);
            opts.onEvent?.(d.device, result);
            return { device: d.device, hostname, ok: true, result };
          }
          opts.onEvent?.(d.device, { type: 'error', device: d.device, error: e.toJSON() });
          return { device: d.device, hostname, ok: false, error: e.toJSON() };
        });
        resolve({ drives, imageBytesRead: 10, exitCode: 0 });
      };
      finish = (failing) =>
        end((d) =>
          failing.includes(d)
            ? ioError('ZFLASH_WRITE_FAILED', `${d} stopped taking writes.`, 'Try another stick.')
            : null,
        );
      opts.signal?.addEventListener('abort', () => end(() => cancelledError()), { once: true });
    });
  return { runMany, runs, finish: (failing: readonly string[] = []) => finish(failing) };
}

describe('image and keys', () => {
  it('passes the calling window to the dialog and inspects the picked image', async () => {
    const { call, asked, userData } = service();
    const path = await call<string>('image:pick');
    expect(asked).toEqual(['window-1']);
    const info = await call<{ installer: { kind: string }; esp: { payloadFits: boolean } }>(
      'image:inspect',
      { path },
    );
    expect(info.installer.kind).toBe('nixos');
    expect(info.esp.payloadFits).toBe(true);
    // Remembered for next time.
    expect(
      JSON.parse(readFileSync(join(userData, 'settings.json'), 'utf8')).settings.lastImage,
    ).toBe(iso);
  });

  it('answers the file the OS opened the app with once, then null; null without one', async () => {
    const { call } = service({ openedFile: new OpenedFile(iso) });
    expect(await call('app:opened-file')).toBe(iso);
    expect(await call('app:opened-file')).toBeNull();
    expect(await service().call('app:opened-file')).toBeNull();
  });

  it('reads a public key file and refuses a private key without quoting it', async () => {
    const { call, fail } = service();
    const read = await call<{ keys: { fingerprint: string; line: string }[] }>('keys:read', {
      path: pub,
    });
    expect(read.keys[0]?.line).toBe(readFileSync(pub, 'utf8').trim());
    const err = await fail('keys:read', { path: priv });
    expect(err.code).toBe('ZFLASH_PRIVATE_KEY');
    const body = readFileSync(priv, 'utf8').split('\n')[1] ?? '';
    expect(JSON.stringify(err)).not.toContain(body.slice(0, 16));
  });

  it('lists ~/.ssh/*.pub from the home folder it was given', async () => {
    const { call } = service();
    const local = await call<{ keys: { file: string }[] }>('keys:local');
    expect(local.keys.map((k) => k.file)).toEqual([pub]);
  });
});

describe('node validation', () => {
  it('builds the identity with the engine, lowercasing the hostname with a notice', async () => {
    const { call } = service();
    const node = await call<{ hostname: string; notices: { code: string }[]; password: boolean }>(
      'node:validate',
      form({ password: 'long enough password' }),
    );
    expect(node.hostname).toBe('node-01');
    expect(node.notices.map((n) => n.code)).toContain('ZFLASH_HOSTNAME_LOWERCASED');
    expect(node.password).toBe(true);
    expect(JSON.stringify(node)).not.toMatch(/\$6\$/);
  });

  it('takes the PSK the renderer derived, as the engine would derive it from the passphrase', () => {
    const psk = deriveWpaPsk('Lab', 'correct horse battery');
    const { identity } = identityFromForm(form({ wifi: { ssid: 'Lab', psk } }) as never);
    expect(identity.wifi).toEqual({ ssid: 'Lab', psk });
  });

  it('refuses a private key pasted among the keys, with the engine code', async () => {
    const { fail } = service();
    const err = await fail('node:validate', form({ keys: [readFileSync(priv, 'utf8')] }));
    expect(err.code).toBe('ZFLASH_PRIVATE_KEY');
  });

  it('suggests the next free name, skipping names flashed in this run', async () => {
    const { run, finishAll } = scriptedRun();
    const { call, s } = service({ run });
    expect(await call('node:suggest-name', { pattern: null })).toBe('node-01');
    const plan = await call<{ planId: string; drive: { drive: { device: string } } }>(
      'flash:prepare',
      {
        image: iso,
        device: loop.device,
        node: form(),
        sha256: null,
      },
    );
    await call('flash:start', { planId: plan.planId, device: loop.device });
    finishAll();
    await s.sessions.settled(loop.device);
    expect(await call('node:suggest-name', { pattern: 'node-{nn}' })).toBe('node-02');
  });
});

describe('flash', () => {
  it('prepares a plan for a real loop device, with its verdict and the ESP room', async () => {
    const { call } = service();
    const plan = await call<{
      planId: string;
      drive: { drive: { device: string }; verdict: { status: string } };
      node: { hostname: string };
      espFreeBytes: number;
    }>('flash:prepare', { image: iso, device: loop.device, node: form(), sha256: null });
    expect(plan.drive.drive.device).toBe(loop.device);
    expect(plan.drive.verdict.status).not.toBe('refused');
    expect(plan.node.hostname).toBe('node-01');
    expect(plan.espFreeBytes).toBeGreaterThan(0);
  });

  it('refuses loop devices unless the front end allows them', async () => {
    const { fail } = service({ allowLoop: false });
    const err = await fail('flash:prepare', {
      image: iso,
      device: loop.device,
      node: form(),
      sha256: null,
    });
    expect(err.code).toBe('ZFLASH_DRIVE_REFUSED');
  });

  it('starts only a plan it made, for the drive the operator confirmed, once', async () => {
    const { run, finishAll } = scriptedRun();
    const { call, fail, s, events } = service({ run });
    const plan = await call<{ planId: string }>('flash:prepare', {
      image: iso,
      device: loop.device,
      node: form(),
      sha256: null,
    });
    expect((await fail('flash:start', { planId: 'made-up', device: loop.device })).code).toBe(
      'ZFLASH_CONFIRMATION_REQUIRED',
    );
    expect((await fail('flash:start', { planId: plan.planId, device: '/dev/sdz' })).code).toBe(
      'ZFLASH_CONFIRMATION_REQUIRED',
    );
    const started = await call<{ device: string; hostname: string }>('flash:start', {
      planId: plan.planId,
      device: loop.device,
    });
    expect(started).toMatchObject({ device: loop.device, hostname: 'node-01' });
    // The plan is spent.
    expect((await fail('flash:start', { planId: plan.planId, device: loop.device })).code).toBe(
      'ZFLASH_CONFIRMATION_REQUIRED',
    );
    // A second plan for the same drive cannot start while the first flash runs.
    const second = await call<{ planId: string }>('flash:prepare', {
      image: iso,
      device: loop.device,
      node: form({ hostname: 'node-02' }),
      sha256: null,
    });
    expect((await fail('flash:start', { planId: second.planId, device: loop.device })).code).toBe(
      'ZFLASH_TARGET_BUSY',
    );
    // A reloaded window asks for the state and sees the running flash.
    const state = await call<{ device: string; session: { status: string } }[]>('flash:state');
    expect(state).toMatchObject([{ device: loop.device, session: { status: 'running' } }]);
    finishAll();
    await s.sessions.settled(loop.device);
    expect(events.filter((e) => e.event === 'flash:session').at(-1)?.payload).toMatchObject({
      session: { status: 'done' },
    });
    expect(await call('flash:cancel', { device: loop.device })).toEqual({ cancelled: false });
    expect(await call('flash:dismiss', { device: loop.device })).toEqual({ dismissed: true });
    expect(await call('flash:state')).toEqual([]);
  });
});

describe('diagnostics', () => {
  it('shows the prepared node without its PSK or password hash, and saves and copies the same', async () => {
    let copied = '';
    const { call } = service({
      clipboard: { writeText: (t) => void (copied = t) },
      now: () => new Date('2025-02-03T04:05:06Z'),
    });
    const psk = deriveWpaPsk('Lab', 'correct horse battery');
    await call('image:inspect', { path: iso });
    await call('flash:prepare', {
      image: iso,
      device: loop.device,
      node: form({ wifi: { ssid: 'Lab', psk }, password: 'a console password' }),
      sha256: null,
    });
    const view = await call<{ text: string; json: string; qrSvg: string }>('diagnostics:snapshot', {
      error: null,
      device: loop.device,
      image: null,
    });
    expect(view.text).toContain('NODE   node-01');
    expect(view.text).toContain(`DRIVE  ${loop.device}`);
    expect(view.text).toMatch(/IMAGE {2}nixos\.iso/);
    const saved = await call<string>('diagnostics:save', {
      error: null,
      device: loop.device,
      image: null,
    });
    await call('diagnostics:copy', { error: null, device: loop.device, image: null });
    const everything = [view.text, view.json, view.qrSvg, readFileSync(saved, 'utf8'), copied].join(
      '\n',
    );
    expect(everything).not.toContain(psk);
    expect(everything).not.toContain('a console password');
    expect(everything).not.toMatch(/\$6\$/);
    expect(copied).toContain(view.json);
  });

  it('explains an error the renderer hands in', async () => {
    const { call } = service();
    const view = await call<{ text: string }>('diagnostics:snapshot', {
      error: {
        code: 'ZFLASH_NO_ESP',
        kind: 'target',
        message: 'No EFI partition.',
        hint: 'Use a NixOS image.',
        exitCode: 3,
      },
      device: null,
      image: join(tmp.path, 'missing.iso'),
    });
    expect(view.text.split('\n').slice(1, 3)).toEqual([
      'ZFLASH_NO_ESP (target)',
      'No EFI partition.',
    ]);
    expect(view.text).toContain('missing.iso');
  });
});

describe('settings', () => {
  it('stores and returns settings, and refuses a private key line with its code', async () => {
    const { call, fail } = service();
    const line = readFileSync(pub, 'utf8').trim();
    const set = await call<{ settings: { keyLines: string[]; namePattern: string } }>(
      'settings:set',
      {
        keyLines: [line],
        namePattern: 'rack-{nnn}',
      },
    );
    expect(set.settings).toMatchObject({ keyLines: [line], namePattern: 'rack-{nnn}' });
    expect((await call<{ settings: unknown }>('settings:get')).settings).toEqual(set.settings);
    expect((await fail('settings:set', { keyLines: [readFileSync(priv, 'utf8')] })).code).toBe(
      'ZFLASH_PRIVATE_KEY',
    );
    expect(await call('node:suggest-name', { pattern: null })).toBe('rack-001');
  });

  it('reports a damaged settings file and goes on with the defaults', async () => {
    const { call, userData } = service();
    writeFileSync(join(userData, 'settings.json'), '{ not json');
    const got = await call<{ notices: { code: string }[]; settings: { namePattern: string } }>(
      'settings:get',
    );
    expect(got.notices.map((n) => n.code)).toEqual(['ZFLASH_SETTINGS_CORRUPT']);
    expect(got.settings.namePattern).toBe('node-{nn}');
  });

  it('opens the bundled NixOS folder through the front end, and says where it is', async () => {
    const opened: string[] = [];
    const { call } = service({ openFolder: async (p) => (opened.push(p), true) });
    expect(await call('nixos:open')).toEqual({ path: join(tmp.path, 'nixos'), opened: true });
    expect(opened).toEqual([join(tmp.path, 'nixos')]);
  });
});

describe('the roster in the app', () => {
  it('suggests names past the roster, refuses a taken one for a new node, records the flash', async () => {
    const { run, finishAll } = scriptedRun();
    const { call, fail, s, events } = service({ run });
    expect(await call('node:suggest-name', { pattern: 'node-{nn}' })).toBe('node-01');
    const plan = await call<{ planId: string }>('flash:prepare', {
      image: iso,
      device: loop.device,
      node: form(),
      sha256: null,
    });
    await call('flash:start', { planId: plan.planId, device: loop.device });
    finishAll();
    await s.sessions.settled(loop.device);
    // Recording happens just after the done snapshot: wait for its announcement.
    await vi.waitFor(() => expect(events.some((e) => e.event === 'roster:changed')).toBe(true));
    const view = await call<{ nodes: { hostname: string; status: string; keys: unknown[] }[] }>(
      'roster:list',
    );
    expect(view.nodes.map((n) => [n.hostname, n.status])).toEqual([['node-01', 'flashed']]);
    expect(await call('node:suggest-name', { pattern: 'node-{nn}' })).toBe('node-02');
    await call('flash:dismiss', { device: loop.device });
    // The same name for a new node is refused, before any plan exists; a re-flash is allowed.
    const taken = await fail('flash:prepare', {
      image: iso,
      device: loop.device,
      node: form(),
      sha256: null,
    });
    expect(taken).toMatchObject({ code: 'ZFLASH_NAME_TAKEN', details: { suggestion: 'node-02' } });
    const again = await call<{ planId: string }>('flash:prepare', {
      image: iso,
      device: loop.device,
      node: form(),
      sha256: null,
      reflash: true,
    });
    expect(again.planId).toBeTruthy();
  });

  it('exports the roster through main’s own save dialog, in each format', async () => {
    const saved: string[] = [];
    const { call, userData } = service({
      dialogs: {
        pickImage: async () => iso,
        pickKey: async () => pub,
        saveDiagnostics: async () => null,
        saveExport: async (_w, name) => {
          saved.push(name);
          return join(userData, name);
        },
      },
    });
    writeFileSync(
      join(userData, 'roster.json'),
      JSON.stringify({
        version: 1,
        nodes: [
          {
            hostname: 'node-07',
            status: 'flashed',
            roles: ['worker'],
            keys: [{ type: 'ssh-ed25519', fingerprint: `SHA256:${'A'.repeat(43)}`, comment: 'op' }],
            image: { name: 'zeta.iso', sha256: null },
            medium: { kind: 'file', path: '/tmp/x.img', size: 1 },
            flashedAt: '2026-01-01T00:00:00.000Z',
            appVersion: '0.1.0',
            online: null,
            history: [],
          },
        ],
      }),
    );
    const r = await call<{ path: string }>('roster:export', { format: 'ssh-config' });
    expect(readFileSync(r.path, 'utf8')).toContain('Host node-07\n');
    await call('roster:export', { format: 'colmena' });
    expect(saved).toEqual(['zeta-cluster.ssh-config', 'hive.nix']);
  });
});

describe('the erase choice travels on the stick', () => {
  it('eraseAny makes the identity’s erase policy "any"; the default stays blank-only', () => {
    const asForm = (over = {}) => form(over) as Parameters<typeof identityFromForm>[0];
    expect(identityFromForm(asForm()).identity.erase).toEqual({ policy: 'blank-only', disk: null });
    expect(identityFromForm(asForm({ eraseAny: true })).identity.erase).toEqual({
      policy: 'any',
      disk: null,
    });
  });
});

describe('the installer catalogue', () => {
  it('lists the signed manifest, downloads the image with progress, and says it is cached', async () => {
    const server = await startCatalogServer();
    try {
      const zeta = readFileSync(buildZetaIso(join(tmp.path, 'cat-zeta.iso')));
      const release = generateKeyPairSync('ed25519');
      const manifest = Buffer.from(
        JSON.stringify({
          zetaReleaseManifest: 1,
          version: '0.2.0',
          date: '2026-05-01T12:00:00Z',
          images: {
            'x86_64-linux': {
              url: 'zeta.iso',
              size: zeta.length,
              sha256: createHash('sha256').update(zeta).digest('hex'),
            },
          },
        }),
      );
      server.set('/r/manifest.json', { body: manifest });
      server.set('/r/manifest.json.sig', {
        body: Buffer.from(sign(null, manifest, release.privateKey).toString('base64')),
      });
      server.set('/r/zeta.iso', { body: zeta });
      const { call, events } = service({
        catalog: { manifestUrl: `${server.base}/r/manifest.json`, keys: [release.publicKey] },
      });
      const before = await call<{ images: { arch: string; cachedPath: string | null }[] }>(
        'catalog:list',
      );
      expect(before.images).toMatchObject([{ arch: 'x86_64-linux', cachedPath: null }]);
      const got = await call<{ path: string; cached: boolean }>('catalog:download', {
        arch: 'x86_64-linux',
      });
      expect(got.cached).toBe(false);
      expect(readFileSync(got.path).equals(zeta)).toBe(true);
      expect(events.some((e) => e.event === 'catalog:progress')).toBe(true);
      const after = await call<{ images: { cachedPath: string | null }[] }>('catalog:list');
      expect(after.images[0]?.cachedPath).toBe(got.path);
      // The downloaded image is a Zeta installer the image step accepts.
      const info = await call<{ installer: { kind: string } }>('image:inspect', { path: got.path });
      expect(info.installer.kind).toBe('zeta');
    } finally {
      await server.close();
    }
  });

  it('without a catalogue configured it says so with a code', async () => {
    const { fail } = service();
    expect((await fail('catalog:list')).code).toBe('ZFLASH_CATALOG_UNREACHABLE');
  });
});

describe('several sticks in one flash', () => {
  type ManyPlan = {
    planId: string;
    node: { hostname: string; keys: unknown[] };
    drives: {
      device: string;
      hostname: string;
      espFreeBytes: number;
      drive: { verdict: { status: string } };
    }[];
  };
  const many = (devices: string[], over: Record<string, unknown> = {}) => ({
    image: iso,
    devices,
    node: form(),
    sha256: null,
    hostPattern: null,
    ...over,
  });

  it('gives each stick the next free name, past the roster and pending plans, and replaces a plan for the same sticks', async () => {
    const { call } = service();
    const plan = await call<ManyPlan>('flash:prepare-many', many([loop.device, loop2.device]));
    expect(plan.drives.map((d) => [d.device, d.hostname])).toEqual([
      [loop.device, 'node-01'],
      [loop2.device, 'node-02'],
    ]);
    expect(
      plan.drives.every((d) => d.espFreeBytes > 0 && d.drive.verdict.status !== 'refused'),
    ).toBe(true);
    expect(plan.node.keys).toHaveLength(1);
    // Back and forward with the same sticks: the same names (the old plan is replaced).
    const again = await call<ManyPlan>('flash:prepare-many', many([loop2.device, loop.device]));
    expect(again.drives.map((d) => d.hostname)).toEqual(['node-01', 'node-02']);
    // A pending plan for another stick keeps its name; the pattern is the request's.
    await call('flash:prepare', {
      image: iso,
      device: loop3.device,
      node: form({ hostname: 'rack-01' }),
      sha256: null,
    });
    const third = await call<ManyPlan>(
      'flash:prepare-many',
      many([loop.device, loop2.device], { hostPattern: 'rack-{nn}' }),
    );
    expect(third.drives.map((d) => d.hostname)).toEqual(['rack-02', 'rack-03']);
  });

  it('refuses with the engine’s codes: the same drive twice, too many, a refused drive', async () => {
    const { fail } = service();
    expect((await fail('flash:prepare-many', many([loop.device, loop.device]))).code).toBe(
      'ZFLASH_DUPLICATE_DRIVE',
    );
    const seventeen = Array.from({ length: 17 }, (_, i) => `/dev/loop-none-${i}`);
    expect((await fail('flash:prepare-many', many(seventeen))).code).toBe('ZFLASH_TOO_MANY_DRIVES');
    const { fail: failNoLoop } = service({ allowLoop: false });
    expect((await failNoLoop('flash:prepare-many', many([loop.device, loop2.device]))).code).toBe(
      'ZFLASH_DRIVE_REFUSED',
    );
  });

  it('starts one session per stick from one run; a failed stick ends alone; each success is in the roster', async () => {
    const { runMany, runs, finish } = scriptedMany();
    const { call, fail, s, events } = service({ runMany });
    const plan = await call<ManyPlan>('flash:prepare-many', many([loop.device, loop2.device]));
    expect(
      (await fail('flash:start-many', { planId: plan.planId, devices: [loop.device] })).code,
    ).toBe('ZFLASH_CONFIRMATION_REQUIRED');
    expect(
      (await fail('flash:start-many', { planId: 'made-up', devices: [loop.device, loop2.device] }))
        .code,
    ).toBe('ZFLASH_CONFIRMATION_REQUIRED');
    const started = await call<{ device: string; hostname: string }[]>('flash:start-many', {
      planId: plan.planId,
      devices: [loop.device, loop2.device],
    });
    expect(started.map((x) => [x.device, x.hostname])).toEqual([
      [loop.device, 'node-01'],
      [loop2.device, 'node-02'],
    ]);
    // The plan is spent; the sticks are busy for a single flash too.
    expect(
      (
        await fail('flash:start-many', {
          planId: plan.planId,
          devices: [loop.device, loop2.device],
        })
      ).code,
    ).toBe('ZFLASH_CONFIRMATION_REQUIRED');
    const single = await call<{ planId: string }>('flash:prepare', {
      image: iso,
      device: loop2.device,
      node: form({ hostname: 'node-09' }),
      sha256: null,
    });
    expect((await fail('flash:start', { planId: single.planId, device: loop2.device })).code).toBe(
      'ZFLASH_TARGET_BUSY',
    );
    await vi.waitFor(() => expect(runs).toHaveLength(1));
    expect(runs[0]?.devices).toEqual([loop.device, loop2.device]);
    const state = await call<{ device: string; session: { status: string } }[]>('flash:state');
    expect(state.map((x) => [x.device, x.session.status])).toEqual([
      [loop.device, 'running'],
      [loop2.device, 'running'],
    ]);
    finish([loop2.device]);
    const [a, b] = await Promise.all([
      s.sessions.settled(loop.device),
      s.sessions.settled(loop2.device),
    ]);
    expect(a?.session.status).toBe('done');
    expect(b?.session).toMatchObject({ status: 'failed', error: { code: 'ZFLASH_WRITE_FAILED' } });
    const pushed = events
      .filter((e) => e.event === 'flash:session')
      .map((e) => e.payload as { device: string; session: { status: string } });
    expect(pushed.findLast((p) => p.device === loop.device)?.session.status).toBe('done');
    expect(pushed.findLast((p) => p.device === loop2.device)?.session.status).toBe('failed');
    await vi.waitFor(() => expect(events.some((e) => e.event === 'roster:changed')).toBe(true));
    const view = await call<{ nodes: { hostname: string }[] }>('roster:list');
    expect(view.nodes.map((n) => n.hostname)).toEqual(['node-01']);
    // Diagnostics per stick: the failed one's session and node.
    const diag = await call<{ text: string }>('diagnostics:snapshot', {
      error: null,
      device: loop2.device,
      image: null,
    });
    expect(diag.text).toContain('node-02');
    expect(diag.text).toContain('ZFLASH_WRITE_FAILED');
    // The next plan skips node-01 (in the roster) but gives node-02 again (it failed).
    const next = await call<ManyPlan>('flash:prepare-many', many([loop.device, loop2.device]));
    expect(next.drives.map((d) => d.hostname)).toEqual(['node-02', 'node-03']);
  });

  it('cancelling one stick stops the run, and every stick of it ends cancelled', async () => {
    const { runMany, runs } = scriptedMany();
    const { call, s } = service({ runMany });
    const plan = await call<ManyPlan>('flash:prepare-many', many([loop.device, loop2.device]));
    await call('flash:start-many', { planId: plan.planId, devices: [loop2.device, loop.device] });
    await vi.waitFor(() => expect(runs).toHaveLength(1));
    expect(await call('flash:cancel', { device: loop2.device })).toEqual({ cancelled: true });
    expect(runs[0]?.signal?.aborted).toBe(true);
    const ends = await Promise.all([
      s.sessions.settled(loop.device),
      s.sessions.settled(loop2.device),
    ]);
    expect(ends.map((e) => e?.session.status)).toEqual(['cancelled', 'cancelled']);
  });
});
