// Issue 14's download through the web shell and the real catalogue code: a release manifest
// signed with a per-run Ed25519 key, served with its installer by a local release server (the
// network is never used). The image step offers the installer with version, size and date,
// shows the download's progress, cancels a stalled one, resumes it, and inspects the verified
// file as the image. The shell runs in-process here: the catalogue (URL and key) is an option of
// startWebShell that `npm run web` has no flag for.
import { expect, test, type Page } from '@playwright/test';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCatalogServer, type CatalogServer } from '../test/catalog-server.js';
import { buildZetaIso, tempDir } from '../test/fixtures.js';
import { open } from './support/flow.js';
import { lookAt, VIEWPORT } from './support/ui.js';
import { startWebShell, type WebShell } from './web-shell/server.js';

const SPEC = 'download';
const MiB = 1024 * 1024;
const repo = fileURLToPath(new URL('../', import.meta.url));

let tmp: ReturnType<typeof tempDir>;
let server: CatalogServer;
let shell: WebShell;
let page: Page;
let iso: Buffer;

test.describe.configure({ mode: 'serial', timeout: 180_000 });

test.beforeAll(async ({ browser }) => {
  tmp = tempDir('zflash-e2e-download-');
  iso = readFileSync(buildZetaIso(join(tmp.path, 'zeta.iso'), { fillerBytes: 24 * MiB }));
  const release = generateKeyPairSync('ed25519');
  const manifest = Buffer.from(
    JSON.stringify({
      zetaReleaseManifest: 1,
      version: '0.2.0',
      date: '2026-05-01T12:00:00Z',
      images: {
        'x86_64-linux': {
          url: 'zeta-installer-0.2.0-x86_64-linux.iso',
          size: iso.length,
          sha256: createHash('sha256').update(iso).digest('hex'),
        },
      },
    }),
  );
  server = await startCatalogServer();
  server.set('/r/manifest.json', { body: manifest });
  server.set('/r/manifest.json.sig', {
    body: Buffer.from(sign(null, manifest, release.privateKey).toString('base64')),
  });
  // First the transfer stalls after 3 MiB (so a cancel can be seen), later it completes.
  server.set('/r/zeta-installer-0.2.0-x86_64-linux.iso', { body: iso, stallAfter: 3 * MiB });
  shell = await startWebShell({
    rendererDir: join(repo, 'dist', 'renderer'),
    shellScript: join(repo, 'dist', 'web-shell', 'zflash-shell.js'),
    userData: join(tmp.path, 'data'),
    nixosFolder: join(repo, 'nixos'),
    home: tmp.path,
    catalog: { manifestUrl: `${server.base}/r/manifest.json`, keys: [release.publicKey] },
    watchDrives: false,
  });
  page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
});

test.afterAll(async () => {
  await page?.context().close();
  await shell?.close();
  await server?.close();
  tmp?.cleanup();
});

test('the image step offers the signed installer; a stalled download is cancelled', async () => {
  await open(page, shell.url);
  const offer = page.getByTestId('download');
  await expect(offer).toContainText('Get the Zeta installer v0.2.0');
  await expect(offer).toContainText('released 2026-05-01, signed');
  const button = offer.getByRole('button', { name: /^Download for PC nodes \(x86_64\) · / });
  await expect(button).toContainText(`${(iso.length / 1e6).toFixed(1)} MB`);
  await lookAt(page, SPEC, 'offer');

  await button.click();
  const progress = page.getByTestId('download-progress');
  await expect(progress).toContainText(
    new RegExp(`Downloading · \\d+ % · [\\d.]+ [kM]B of ${(iso.length / 1e6).toFixed(1)} MB`),
  );
  await lookAt(page, SPEC, 'downloading');
  await page.getByRole('button', { name: 'Cancel download' }).click();
  await expect(button).toBeVisible();
  await expect(offer.getByRole('alert')).toHaveCount(0);
  await expect(page.getByTestId('image-findings')).toHaveCount(0);
});

test('downloading again resumes, verifies, and the installer becomes the image', async () => {
  server.set('/r/zeta-installer-0.2.0-x86_64-linux.iso', { body: iso });
  await page.evaluate(() => {
    const w = window as unknown as { seen: string[] };
    w.seen = [];
    new MutationObserver(() => {
      const t = document.querySelector('[data-testid=download-progress]')?.textContent;
      if (t && w.seen.at(-1) !== t) w.seen.push(t);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByRole('button', { name: /^Download for PC nodes/ }).click();
  await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'zeta', {
    timeout: 120_000,
  });
  await expect(page.getByTestId('image-findings')).toContainText(
    'zeta-installer-0.2.0-x86_64-linux.iso',
  );
  const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
  // The server was asked for the rest only, and the window said where it resumed.
  const ranges = server.requests.filter((r) => r.path.endsWith('.iso')).map((r) => r.range);
  expect(ranges).toHaveLength(2);
  expect(ranges[0]).toBeNull();
  const from = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
  expect(from).toBeGreaterThan(0);
  expect(seen.some((t) => t.includes(`(resumed at ${(from / 1e6).toFixed(1)} MB)`))).toBe(true);
  await lookAt(page, SPEC, 'downloaded');

  // The next window starts with it: the downloaded installer is the remembered image.
  const again = await page.context().newPage();
  await open(again, shell.url);
  await expect(again.getByTestId('image-findings')).toContainText(
    'zeta-installer-0.2.0-x86_64-linux.iso',
  );
  await again.close();
});
