// The built page in Debian's Chromium, through the web shell: window.zflash as the renderer
// will use it — requests, errors as data, dialogs answered by the test or by the in-page path
// field, push events that stop through an AbortSignal, and the CSP enforced by the browser.
import { expect, test, type Page } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachSparseLoop, buildNixosIso } from '../../test/fixtures.js';
import type { ZflashApi } from '../../main/ipc/contract.js';
import { startWebShell, type WebShell } from './server.js';

declare global {
  interface Window {
    zflash: ZflashApi;
    seen: Record<string, unknown[]>;
  }
}

const repo = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(repo, 'dist');
let shell: WebShell;
let dir: string;
let iso: string;

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-shellspec-'));
  iso = buildNixosIso(join(dir, 'nixos.iso'));
  shell = await startWebShell({
    rendererDir: join(dist, 'renderer'),
    shellScript: join(dist, 'web-shell', 'zflash-shell.js'),
    userData: dir,
    nixosFolder: join(repo, 'nixos'),
    home: dir,
    allowLoop: true,
    deps: { driveWatchIntervalMs: 200 },
  });
});

test.afterAll(async () => {
  await shell?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(page: Page): Promise<void> {
  await page.goto(shell.url);
  await page.waitForFunction(() => typeof window.zflash === 'object');
}

test('the page gets window.zflash and round-trips requests to the real engine', async ({
  page,
}) => {
  await open(page);
  const info = await page.evaluate(() => window.zflash.appInfo());
  expect(info).toMatchObject({ ok: true, value: { transport: 'web', name: 'zeta-flash' } });
  const image = await page.evaluate((path) => window.zflash.inspectImage({ path }), iso);
  expect(image).toMatchObject({
    ok: true,
    value: { installer: { kind: 'nixos' }, esp: { payloadFits: true } },
  });
});

test('an engine error arrives as data with its code', async ({ page }) => {
  await open(page);
  const r = await page.evaluate(() =>
    window.zflash.inspectImage({ path: '/nonexistent/nixos.iso' }),
  );
  expect(r).toMatchObject({ ok: false, error: { code: 'ZFLASH_IMAGE_NOT_FOUND', kind: 'input' } });
});

test('a dialog is answered by the path the test supplies', async ({ page }) => {
  await open(page);
  shell.answerDialog('image', iso);
  expect(await page.evaluate(() => window.zflash.pickImage())).toEqual({ ok: true, value: iso });
});

test('without a supplied answer the page shows its path field', async ({ page }) => {
  await open(page);
  const picked = page.evaluate(() => window.zflash.pickKey());
  const field = page.locator('dialog[data-zflash-dialog="key"] input');
  await field.fill('/home/op/.ssh/id_ed25519.pub');
  await page.locator('dialog[data-zflash-dialog="key"] button[value="ok"]').click();
  expect(await picked).toEqual({ ok: true, value: '/home/op/.ssh/id_ed25519.pub' });
});

test('push events reach the page until its AbortSignal stops them', async ({ page }) => {
  await open(page);
  await page.evaluate(() => {
    window.seen = { kept: [], stopped: [] };
    const stop = new AbortController();
    const keep = new AbortController();
    window.zflash.onDriveEvent((e) => window.seen['kept']?.push(e), { signal: keep.signal });
    window.zflash.onDriveEvent(
      (e) => {
        window.seen['stopped']?.push(e);
        stop.abort();
      },
      { signal: stop.signal },
    );
  });
  // The watcher reports every drive as `attach` first; then a loop device this test adds.
  const loop = attachSparseLoop(dir, 32 * 1024 * 1024, { name: 'events.img' });
  try {
    await page.waitForFunction(
      (device) =>
        (window.seen['kept'] ?? []).some(
          (e) => (e as { drive?: { drive?: { device?: string } } }).drive?.drive?.device === device,
        ),
      loop.device,
    );
  } finally {
    loop.detach();
  }
  await page.waitForFunction(
    (device) =>
      (window.seen['kept'] ?? []).some(
        (e) =>
          (e as { type: string; drive?: { drive?: { device?: string } } }).type === 'detach' &&
          (e as { drive?: { drive?: { device?: string } } }).drive?.drive?.device === device,
      ),
    loop.device,
  );
  const seen = await page.evaluate(() => window.seen);
  expect(seen['stopped']).toHaveLength(1);
  expect((seen['kept'] ?? []).length).toBeGreaterThan(1);
  // A subscription without a signal is refused: it could never be stopped.
  const refused = await page.evaluate(() => {
    try {
      window.zflash.onFlashSession(() => undefined, {} as { signal: AbortSignal });
      return 'accepted';
    } catch (e) {
      return String(e);
    }
  });
  expect(refused).toMatch(/signal/);
});

test('the browser enforces the CSP: no inline or foreign script, nothing remote', async ({
  page,
}) => {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  await open(page);
  const inline = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.inlineRan = true';
    document.head.append(s);
    return (window as unknown as { inlineRan?: boolean }).inlineRan === true;
  });
  expect(inline).toBe(false);
  // A script from anywhere but the page's own origin does not load either.
  const foreign = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const s = document.createElement('script');
        s.src = 'data:text/javascript,window.foreignRan=true';
        s.onload = () => resolve('loaded');
        s.onerror = () => resolve('blocked');
        document.head.append(s);
      }),
  );
  expect(foreign).toBe('blocked');
  const remote = await page.evaluate(async () => {
    try {
      await fetch('https://example.com/');
      return 'fetched';
    } catch {
      return 'blocked';
    }
  });
  expect(remote).toBe('blocked');
  expect(violations.length).toBeGreaterThan(0);
});

test('a page opened without the token cannot use the contract', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${shell.origin}/`);
  await page.waitForFunction(() => typeof window.zflash === 'object');
  const r = await page.evaluate(() => window.zflash.appInfo());
  expect(r).toMatchObject({ ok: false, error: { code: 'ZFLASH_INTERNAL' } });
  expect(JSON.stringify(r)).toContain('token');
  await context.close();
});
