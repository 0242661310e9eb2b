/**
 * The window's security, written out as data and small functions so a test can check every
 * item of Electron's security checklist without launching Electron (the binary cannot run
 * here; main/security.test.ts). main.ts only wires these in.
 *
 * Checklist (electronjs.org/docs/latest/tutorial/security), and where each item lives:
 *  1 only our own content: the `app://zflash` protocol serves the built renderer; CSP allows
 *    nothing remote · 2 no Node integration · 3 context isolation · 4 sandbox · 5 permission
 *    requests denied · 6 webSecurity kept · 7 a strict CSP header on every response · 8 no
 *    insecure content · 9 no experimental features · 10 no enableBlinkFeatures · 11/12 no
 *    <webview> (tag off, attach refused) · 13 navigation blocked · 14 new windows denied ·
 *    15 no shell.openExternal at all (lint bans it) · 16 a current Electron · 17 IPC senders
 *    checked (ipc/electron-ipc.ts) · 18 a custom protocol, not file:// · 19 fuses: set at
 *    packaging (electron-builder.yml electronFuses, RunAsNode off) · 20 no Electron API reaches the page (the preload
 *    exposes only window.zflash's named methods).
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type {
  BrowserWindowConstructorOptions,
  Event as ElectronEvent,
  HandlerDetails,
  Session,
  WindowOpenHandlerResponse,
} from 'electron';
import { APP_HOST, APP_ORIGIN_URL, APP_SCHEME } from './ipc/handle.js';

export { APP_HOST, APP_ORIGIN_URL, APP_SCHEME };
export const RENDERER_URL = `${APP_ORIGIN_URL}/index.html`;

/**
 * The page may load only its own files: scripts and styles from its origin, images from its
 * origin or data: URLs (the diagnostics QR code), no plugins, no frames, no forms, no <base>.
 * `connect` adds what the transport needs: nothing in Electron (IPC is not fetch), the web
 * shell's own loopback WebSocket there.
 */
export function contentSecurityPolicy(opts: { connect?: readonly string[] } = {}): string {
  const connect = opts.connect?.length ? opts.connect.join(' ') : "'none'";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connect}`,
    "media-src 'none'",
    "object-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "manifest-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers on every response of the app's pages (Electron protocol and web shell alike). */
export function securityHeaders(csp: string): Record<string, string> {
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

/** Every webPreference that matters, written out even where it equals Electron's default. */
export function windowOptions(
  preload: string,
  opts: { devTools: boolean },
): BrowserWindowConstructorOptions {
  return {
    width: 1120,
    height: 780,
    minWidth: 800,
    minHeight: 600,
    show: false,
    title: 'Zeta Flash',
    backgroundColor: '#ffffff',
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: opts.devTools,
    },
  };
}

/** The hooks of a WebContents this module hardens (a structural subset of Electron's). */
export interface HardenableContents {
  on(event: 'will-navigate' | 'will-redirect', listener: (e: ElectronEvent) => void): unknown;
  on(event: 'will-attach-webview', listener: (e: ElectronEvent) => void): unknown;
  setWindowOpenHandler(handler: (details: HandlerDetails) => WindowOpenHandlerResponse): void;
}

/**
 * Navigation away from the app, new windows and <webview>s are refused outright: the app has
 * no link it needs to follow (checklist 11–14). Links to documentation are shown as text.
 */
export function hardenContents(contents: HardenableContents): void {
  const refuse = (e: ElectronEvent) => e.preventDefault();
  contents.on('will-navigate', refuse);
  contents.on('will-redirect', refuse);
  contents.on('will-attach-webview', refuse);
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

/** Every permission request and check is denied: the app needs no camera, no notifications… */
export function denyAllPermissions(
  session: Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>,
): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export const contentTypeOf = (path: string): string =>
  MIME[extname(path).toLowerCase()] ?? 'application/octet-stream';

/**
 * The file under `root` a URL path names, or null: `..`, encoded slashes, NUL and symlinks
 * leading out of `root` are refused; `/` is index.html.
 */
export async function resolveRendererFile(root: string, urlPath: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const rel = decoded === '/' || decoded === '' ? 'index.html' : decoded.replace(/^\/+/, '');
  const base = resolve(root);
  const candidate = resolve(base, normalize(rel));
  if (candidate !== base && !candidate.startsWith(base + sep)) return null;
  try {
    const [realBase, real] = await Promise.all([realpath(base), realpath(candidate)]);
    if (!real.startsWith(realBase + sep)) return null;
    if (!(await stat(real)).isFile()) return null;
    return real;
  } catch {
    return null;
  }
}

/**
 * The `app://zflash/…` protocol handler: the built renderer from `root`, with the CSP and the
 * other security headers on every response, GET only, and nothing from anywhere else.
 */
export async function serveAppRequest(root: string, request: Request): Promise<Response> {
  const headers = securityHeaders(contentSecurityPolicy());
  const url = new URL(request.url);
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) {
    return new Response('Not found', { status: 404, headers });
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('Method not allowed', { status: 405, headers });
  }
  const file = await resolveRendererFile(root, url.pathname);
  if (!file) return new Response('Not found', { status: 404, headers });
  const body = await readFile(file);
  return new Response(request.method === 'HEAD' ? null : body, {
    status: 200,
    headers: { ...headers, 'Content-Type': contentTypeOf(file) },
  });
}

/** Where the built pieces are, relative to the built main (dist/main/…). */
export function builtPaths(distRoot: string): { preload: string; renderer: string } {
  return {
    preload: join(distRoot, 'preload', 'preload.cjs'),
    renderer: join(distRoot, 'renderer'),
  };
}
