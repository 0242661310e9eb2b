// Electron's security checklist, item by item, without the Electron binary (it cannot be
// downloaded here). The window options, CSP, protocol, navigation and permission handlers are
// plain data and functions (./security.ts) checked directly; the built main process
// (dist/main/main.js) is then loaded against a recording stand-in for the `electron` module —
// the one mock this project allows, because the real binary cannot run — to check that it
// wires every one of them in. The built preload runs in a VM with the same stand-in.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { helperCommandFor } from './helper-command.js';
import { CHANNELS, EVENT_METHODS, METHODS } from './ipc/methods.js';
import {
  contentSecurityPolicy,
  denyAllPermissions,
  hardenContents,
  RENDERER_URL,
  serveAppRequest,
  windowOptions,
  type HardenableContents,
} from './security.js';

const repo = fileURLToPath(new URL('../', import.meta.url));
const dist = join(repo, 'dist');

/** `default-src 'none'; script-src 'self'` → Map of directive → sources. */
function parseCsp(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name as string, sources]),
  );
}

function checkCsp(csp: string, connect: string[]): void {
  const d = parseCsp(csp);
  expect(d.get('default-src')).toEqual(["'none'"]);
  expect(d.get('script-src')).toEqual(["'self'"]);
  expect(d.get('style-src')).toEqual(["'self'"]);
  expect(d.get('img-src')).toEqual(["'self'", 'data:']);
  expect(d.get('connect-src')).toEqual(connect);
  for (const name of [
    'object-src',
    'base-uri',
    'form-action',
    'frame-ancestors',
    'frame-src',
    'worker-src',
  ])
    expect(d.get(name)).toEqual(["'none'"]);
  // Nothing remote, nothing inline, no eval, no wildcard anywhere.
  expect(csp).not.toMatch(
    /unsafe-|'strict-dynamic'|\*|https?:(?!\/\/127\.0\.0\.1:\d+)|blob:|filesystem:/,
  );
}

describe('checklist items 2–4, 6, 8–12: the window options', () => {
  const opts = windowOptions('/app/preload.cjs', { devTools: false });
  const web = opts.webPreferences ?? {};

  it('isolates the page: context isolation, sandbox, no Node anywhere', () => {
    expect(web.contextIsolation).toBe(true);
    expect(web.sandbox).toBe(true);
    expect(web.nodeIntegration).toBe(false);
    expect(web.nodeIntegrationInWorker).toBe(false);
    expect(web.nodeIntegrationInSubFrames).toBe(false);
    expect(web.preload).toBe('/app/preload.cjs');
  });

  it('keeps web security, no insecure content, no experimental or Blink features, no <webview>', () => {
    expect(web.webSecurity).toBe(true);
    expect(web.allowRunningInsecureContent).toBe(false);
    expect(web.experimentalFeatures).toBe(false);
    expect('enableBlinkFeatures' in web).toBe(false);
    expect(web.webviewTag).toBe(false);
    expect(web.navigateOnDragDrop).toBe(false);
  });
});

describe('checklist items 1, 7, 18: the app:// protocol and its CSP', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'zflash-proto-'));
    mkdirSync(join(root, 'renderer'));
    writeFileSync(join(root, 'renderer', 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(root, 'outside.txt'), 'secret');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('has a strict CSP: only its own scripts and styles, nothing remote, no eval', () => {
    checkCsp(contentSecurityPolicy(), ["'none'"]);
    checkCsp(contentSecurityPolicy({ connect: ['ws://127.0.0.1:4321'] }), ['ws://127.0.0.1:4321']);
  });

  it('serves the renderer with the CSP header, and nothing outside it', async () => {
    const ok = await serveAppRequest(join(root, 'renderer'), new Request(RENDERER_URL));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toBe(contentSecurityPolicy());
    expect(ok.headers.get('content-type')).toMatch(/^text\/html/);
    for (const url of [
      'app://zflash/../outside.txt',
      'app://zflash/%2e%2e/outside.txt',
      'app://zflash/..%2foutside.txt',
      'app://other/index.html',
    ]) {
      const r = await serveAppRequest(join(root, 'renderer'), new Request(url));
      expect(r.status).toBe(404);
      expect(r.headers.get('content-security-policy')).toBe(contentSecurityPolicy());
    }
    const post = await serveAppRequest(
      join(root, 'renderer'),
      new Request(RENDERER_URL, { method: 'POST', body: 'x' }),
    );
    expect(post.status).toBe(405);
  });
});

/** A WebContents stand-in that records the hooks hardenContents installs. */
function fakeContents() {
  const listeners = new Map<string, ((e: { preventDefault(): void }) => void)[]>();
  let openHandler: ((d: { url: string }) => { action: string }) | null = null;
  const contents = {
    on(event: string, l: (e: { preventDefault(): void }) => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), l]);
      return contents;
    },
    setWindowOpenHandler(h: (d: { url: string }) => { action: string }) {
      openHandler = h;
    },
  };
  const fire = (event: string) => {
    let prevented = false;
    for (const l of listeners.get(event) ?? []) l({ preventDefault: () => (prevented = true) });
    return prevented;
  };
  return { contents, fire, open: (url: string) => openHandler?.({ url }) };
}

describe('checklist items 5, 11–14: permissions, navigation, new windows, webviews', () => {
  it('refuses navigation, redirects, <webview> and every new window', () => {
    const f = fakeContents();
    hardenContents(f.contents as unknown as HardenableContents);
    expect(f.fire('will-navigate')).toBe(true);
    expect(f.fire('will-redirect')).toBe(true);
    expect(f.fire('will-attach-webview')).toBe(true);
    expect(f.open('https://example.com/')).toEqual({ action: 'deny' });
    expect(f.open('app://zflash/index.html')).toEqual({ action: 'deny' });
  });

  it('denies every permission request and check', () => {
    const got: {
      request?: (wc: unknown, p: string, cb: (ok: boolean) => void) => void;
      check?: (...a: unknown[]) => boolean;
    } = {};
    denyAllPermissions({
      setPermissionRequestHandler: (h: never) => void (got.request = h),
      setPermissionCheckHandler: (h: never) => void (got.check = h),
    } as never);
    const { request, check } = got;
    for (const p of ['media', 'notifications', 'geolocation', 'clipboard-read', 'openExternal']) {
      let granted: boolean | null = null;
      request?.(null, p, (ok) => (granted = ok));
      expect(granted).toBe(false);
      expect(check?.(null, p, 'app://zflash', {})).toBe(false);
    }
  });
});

describe('checklist item 16: a current Electron', () => {
  it('is a supported major with contextBridge.executeInMainWorld (≥ 35)', () => {
    const { version } = JSON.parse(
      readFileSync(join(repo, 'node_modules/electron/package.json'), 'utf8'),
    );
    expect(Number(String(version).split('.')[0])).toBeGreaterThanOrEqual(39);
  });
});

describe('checklist items 15, 17: lint keeps IPC and openExternal where they belong', () => {
  const eslint = new ESLint({ cwd: repo });
  const lint = async (file: string, code: string) =>
    (await eslint.lintText(code, { filePath: join(repo, file) }))[0]?.messages.map(
      (m) => m.ruleId,
    ) ?? [];

  it('bans raw ipcMain/ipcRenderer outside main/ipc/, sendSync and openExternal everywhere', async () => {
    expect(
      await lint(
        'main/window-x.ts',
        "import { ipcMain } from 'electron';\nipcMain.handle('x', () => 1);\n",
      ),
    ).toContain('no-restricted-imports');
    expect(
      await lint('main/preload.ts', "import { ipcRenderer } from 'electron';\nvoid ipcRenderer;\n"),
    ).toContain('no-restricted-imports');
    expect(
      await lint(
        'main/x.ts',
        "import { shell } from 'electron';\nvoid shell.openExternal('https://x');\n",
      ),
    ).toContain('no-restricted-properties');
    expect(
      await lint(
        'main/ipc/x.ts',
        "import { ipcRenderer } from 'electron';\nipcRenderer.sendSync('x');\n",
      ),
    ).toContain('no-restricted-syntax');
    // Inside main/ipc/ the contract's own glue may use them.
    expect(
      await lint(
        'main/ipc/y.ts',
        "import { ipcMain } from 'electron';\nipcMain.handle('x', () => 1);\n",
      ),
    ).toEqual([]);
  });
});

describe('the helper command inside Electron', () => {
  it('runs the helper as Node through /usr/bin/env, an argv that survives elevation', () => {
    expect(
      helperCommandFor({
        platform: 'linux',
        execPath: '/opt/zf/zeta-flash',
        electron: '41.0.0',
        entry: '/opt/e.js',
      }),
    ).toEqual(['/usr/bin/env', 'ELECTRON_RUN_AS_NODE=1', '/opt/zf/zeta-flash', '/opt/e.js']);
    expect(
      helperCommandFor({
        platform: 'linux',
        execPath: '/usr/bin/node',
        electron: undefined,
        entry: '/e.js',
      }),
    ).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------
// The built main process against a recording `electron` stand-in.

const rec = vi.hoisted(() => {
  const state = {
    schemes: [] as unknown[],
    appHandlers: new Map<string, ((...a: unknown[]) => unknown)[]>(),
    protocolHandlers: new Map<string, (r: Request) => Promise<Response>>(),
    windows: [] as {
      options: unknown;
      url: string | null;
      sent: [string, unknown][];
      focused: number;
    }[],
    ipc: new Map<string, (event: unknown, request: unknown) => unknown>(),
    permissionRequest: null as null | ((wc: unknown, p: string, cb: (ok: boolean) => void) => void),
    permissionCheck: null as null | ((...a: unknown[]) => boolean),
    menu: null as unknown,
    singleInstance: 0,
    paths: {} as Record<string, string>,
    appPath: '',
  };
  return state;
});

vi.mock('electron', () => {
  class BrowserWindow {
    static all: BrowserWindow[] = [];
    readonly record: {
      options: unknown;
      url: string | null;
      sent: [string, unknown][];
      focused: number;
    };
    readonly webContents: { send: (c: string, p: unknown) => void; getURL: () => string };
    constructor(options: unknown) {
      this.record = { options, url: null, sent: [], focused: 0 };
      rec.windows.push(this.record);
      this.webContents = {
        send: (c, p) => this.record.sent.push([c, p]),
        getURL: () => this.record.url ?? '',
      };
      BrowserWindow.all.push(this);
    }
    static getAllWindows() {
      return BrowserWindow.all;
    }
    static getFocusedWindow() {
      return BrowserWindow.all[0] ?? null;
    }
    static fromWebContents() {
      return BrowserWindow.all[0] ?? null;
    }
    once() {}
    isDestroyed() {
      return false;
    }
    isMinimized() {
      return false;
    }
    restore() {}
    focus() {
      this.record.focused++;
    }
    loadURL(url: string) {
      this.record.url = url;
      return Promise.resolve();
    }
  }
  const on = (event: string, l: (...a: unknown[]) => unknown) => {
    rec.appHandlers.set(event, [...(rec.appHandlers.get(event) ?? []), l]);
  };
  const app = {
    isPackaged: false,
    requestSingleInstanceLock: () => (rec.singleInstance++, true),
    on,
    once: on,
    quit: () => undefined,
    whenReady: () => Promise.resolve(),
    isReady: () => rec.windows.length > 0,
    getPath: (name: string) => rec.paths[name] ?? rec.paths['userData'],
    getAppPath: () => rec.appPath,
  };
  return {
    app,
    BrowserWindow,
    protocol: {
      registerSchemesAsPrivileged: (s: unknown) => rec.schemes.push(s),
      handle: (scheme: string, h: (r: Request) => Promise<Response>) =>
        rec.protocolHandlers.set(scheme, h),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (h: never) => (rec.permissionRequest = h),
        setPermissionCheckHandler: (h: never) => (rec.permissionCheck = h),
      },
    },
    ipcMain: {
      handle: (c: string, h: (e: unknown, r: unknown) => unknown) => rec.ipc.set(c, h),
      removeHandler: (c: string) => rec.ipc.delete(c),
    },
    Menu: {
      buildFromTemplate: (t: unknown) => t,
      setApplicationMenu: (m: unknown) => (rec.menu = m),
    },
    dialog: {
      showOpenDialog: async () => ({ canceled: true, filePaths: [] }),
      showSaveDialog: async () => ({ canceled: true }),
    },
    clipboard: { writeText: () => undefined },
    shell: { openPath: async () => '' },
  };
});

describe('the built main process wires every item in (electron stand-in)', () => {
  let userData: string;
  const argv = process.argv;
  beforeAll(async () => {
    userData = mkdtempSync(join(tmpdir(), 'zflash-main-'));
    rec.paths = { userData, documents: userData };
    rec.appPath = repo;
    for (const name of ['launched.iso', 'second.img', 'finder.img.zst'])
      writeFileSync(join(userData, name), name);
    const main = join(dist, 'main', 'main.js');
    if (!existsSync(main) || !existsSync(join(dist, 'preload', 'preload.cjs')))
      throw new Error('these tests check the built app: run `npm run build:app` first');
    // `electron . launched.iso` from the settings folder: a double-click in development.
    process.argv = ['/x/electron', '--no-sandbox', repo, join(userData, 'launched.iso')];
    try {
      await import(/* @vite-ignore */ main);
    } finally {
      process.argv = argv;
    }
    // `whenReady().then(start)`: let start() run.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  });
  afterAll(() => {
    for (const l of rec.appHandlers.get('will-quit') ?? []) l();
    rmSync(userData, { recursive: true, force: true });
  });

  it('holds the single-instance lock and focuses the first window on a second launch', () => {
    expect(rec.singleInstance).toBe(1);
    expect(rec.appHandlers.get('second-instance')).toHaveLength(1);
  });

  it('gives the window the file it was opened with once, and pushes later ones with a focus', async () => {
    const own = { senderFrame: { url: 'app://zflash/index.html', parent: null }, sender: {} };
    const take = () => rec.ipc.get('app:opened-file')?.(own, {});
    expect(await take()).toEqual({ ok: true, value: join(userData, 'launched.iso') });
    expect(await take()).toEqual({ ok: true, value: null });

    const win = rec.windows[0];
    if (!win) throw new Error('no window');
    win.sent.length = 0;
    // A second double-click on Windows/Linux: a second launch's argv, relative to its folder.
    for (const l of rec.appHandlers.get('second-instance') ?? [])
      l({}, ['/x/electron', repo, '--original-process-start-time=1', 'second.img'], userData);
    // macOS Finder: open-file, which the app must claim (preventDefault).
    let claimed = 0;
    for (const l of rec.appHandlers.get('open-file') ?? [])
      l({ preventDefault: () => claimed++ }, join(userData, 'finder.img.zst'));
    // Not images: a folder, a relative path, a missing file.
    for (const path of [userData, 'finder.img.zst', join(userData, 'gone.iso')])
      for (const l of rec.appHandlers.get('open-file') ?? []) l({ preventDefault() {} }, path);
    for (const l of rec.appHandlers.get('second-instance') ?? []) l({}, ['/x/electron', repo], '/');

    expect(claimed).toBe(1);
    expect(win.sent).toEqual([
      ['app:file-opened', { path: join(userData, 'second.img') }],
      ['app:file-opened', { path: join(userData, 'finder.img.zst') }],
    ]);
    // Every launch and open request brings the window to the front, image or not.
    expect(win.focused).toBe(6);
    // The latest file wins; taken once.
    expect(await take()).toEqual({ ok: true, value: join(userData, 'finder.img.zst') });
    expect(await take()).toEqual({ ok: true, value: null });
  });

  it('registers app:// as a standard, secure scheme without fetch or CORS powers', () => {
    expect(rec.schemes).toEqual([
      [
        {
          scheme: 'app',
          privileges: { standard: true, secure: true, supportFetchAPI: false, corsEnabled: false },
        },
      ],
    ]);
  });

  it('opens one window with the checked options, loading app://zflash, never file://', () => {
    expect(rec.windows).toHaveLength(1);
    const w = rec.windows[0];
    expect(w?.options).toEqual(
      windowOptions(join(dist, 'preload', 'preload.cjs'), { devTools: true }),
    );
    expect(w?.url).toBe('app://zflash/index.html');
  });

  it('serves the built renderer with the CSP through the protocol handler', async () => {
    const handler = rec.protocolHandlers.get('app');
    const r = await handler?.(new Request('app://zflash/index.html'));
    expect(r?.status).toBe(200);
    expect(r?.headers.get('content-security-policy')).toBe(contentSecurityPolicy());
  });

  it('hardens every WebContents created, and denies permissions in the default session', () => {
    const f = fakeContents();
    for (const l of rec.appHandlers.get('web-contents-created') ?? []) l({}, f.contents);
    expect(f.fire('will-navigate')).toBe(true);
    expect(f.open('https://example.com')).toEqual({ action: 'deny' });
    let granted: boolean | null = null;
    rec.permissionRequest?.(null, 'media', (ok) => (granted = ok));
    expect(granted).toBe(false);
    expect(rec.permissionCheck?.()).toBe(false);
  });

  it('handles exactly the contract channels and checks the sender frame first (item 17)', async () => {
    expect(new Set(rec.ipc.keys())).toEqual(new Set(CHANNELS));
    const info = rec.ipc.get('app:info');
    const own = { senderFrame: { url: 'app://zflash/index.html', parent: null }, sender: {} };
    expect(await info?.(own, {})).toMatchObject({ ok: true, value: { transport: 'electron' } });
    for (const frame of [
      { url: 'https://evil.example/', parent: null },
      { url: 'app://zflash/index.html', parent: { url: 'app://zflash/' } }, // an iframe
      null,
    ]) {
      const r = (await info?.({ senderFrame: frame, sender: {} }, {})) as {
        ok: boolean;
        error?: { code: string };
      };
      expect(r).toMatchObject({ ok: false, error: { code: 'ZFLASH_INTERNAL' } });
    }
  });

  it('has a Diagnostics menu item that opens the screen in the window, and the NixOS folder item', () => {
    const help = (
      rec.menu as { label?: string; submenu?: { id: string; click: () => void }[] }[]
    ).find((m) => m.label === 'Help');
    expect(help?.submenu?.map((i) => i.id)).toEqual(['diagnostics', 'nixos-folder']);
    help?.submenu?.[0]?.click();
    expect(rec.windows[0]?.sent).toContainEqual(['app:show-diagnostics', {}]);
  });
});

describe('checklist item 20: the built preload exposes only window.zflash', () => {
  it('defines the named methods in the page world, and nothing of Electron', async () => {
    const calls: unknown[][] = [];
    const listeners = new Map<string, Set<(e: unknown, p: unknown) => void>>();
    const electron = {
      ipcRenderer: {
        invoke: async (...a: unknown[]) => (calls.push(['invoke', ...a]), { ok: true, value: 'x' }),
        on: (c: string, l: (e: unknown, p: unknown) => void) =>
          listeners.set(c, (listeners.get(c) ?? new Set()).add(l)),
        removeListener: (c: string, l: (e: unknown, p: unknown) => void) =>
          listeners.get(c)?.delete(l),
      },
      webUtils: { getPathForFile: (f: { name: string }) => `/dropped/${f.name}` },
      contextBridge: {
        // As Electron does: the function is serialized and run in the other world.
        executeInMainWorld: ({
          func,
          args,
        }: {
          func: (...a: unknown[]) => unknown;
          args: unknown[];
        }) => vm.runInContext(`(${func.toString()})`, page)(...args),
        exposeInMainWorld: () => {
          throw new Error('the preload must not expose anything else');
        },
      },
    };
    const page = vm.createContext({ AbortController });
    const preloadWorld = vm.createContext({
      require: (m: string) => {
        if (m !== 'electron') throw new Error(`a sandboxed preload cannot require ${m}`);
        return electron;
      },
      module: { exports: {} },
      exports: {},
    });
    vm.runInContext(readFileSync(join(dist, 'preload', 'preload.cjs'), 'utf8'), preloadWorld);

    const zflash = vm.runInContext('globalThis.zflash', page) as Record<
      string,
      (...a: unknown[]) => unknown
    >;
    expect(Object.keys(zflash).sort()).toEqual(
      [...Object.keys(METHODS), ...Object.keys(EVENT_METHODS), 'pathForFile'].sort(),
    );
    expect(Object.isFrozen(zflash)).toBe(true);
    expect(
      vm.runInContext("Object.getOwnPropertyDescriptor(globalThis, 'zflash').writable", page),
    ).toBe(false);
    for (const name of ['require', 'process', 'ipcRenderer', 'electron', 'module'])
      expect(vm.runInContext(`typeof globalThis.${name}`, page)).toBe('undefined');

    expect(await zflash['appInfo']?.()).toEqual({ ok: true, value: 'x' });
    await zflash['inspectImage']?.({ path: '/i.iso' });
    expect(calls).toEqual([
      ['invoke', 'app:info', {}],
      ['invoke', 'image:inspect', { path: '/i.iso' }],
    ]);

    // Events: the listener gets the payload only (never the IpcRendererEvent), until aborted.
    const got: unknown[] = [];
    const stop = new AbortController();
    zflash['onFlashSession']?.((p: unknown) => got.push(p), { signal: stop.signal });
    const emit = (p: unknown) =>
      listeners.get('flash:session')?.forEach((l) => l({ sender: 'ipc' }, p));
    emit({ n: 1 });
    stop.abort();
    emit({ n: 2 });
    expect(got).toEqual([{ n: 1 }]);
    expect(listeners.get('flash:session')?.size).toBe(0);
    expect(() => zflash['onDriveEvent']?.(() => undefined, {})).toThrow(/signal/);
    expect(zflash['pathForFile']?.({ name: 'k.pub' })).toBe('/dropped/k.pub');
  });
});
