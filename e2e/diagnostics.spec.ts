// A fake-capacity stick (a loop device that claims 64 MiB over a file on a 10 MiB tmpfs) fails
// the flash for real; the window lands on the diagnostics screen, whose QR code — decoded by
// zbarimg from a screenshot, as a phone would from a photo — is the same JSON the screen shows.
// No secret of the node (Wi-Fi passphrase or PSK, console password) is in any of it.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachLoop,
  buildZetaIso,
  requireLoop,
  run,
  tempDir,
  type Loop,
} from '../test/fixtures.js';
import { open, toKeys } from './support/flow.js';
import { ARTIFACTS, lookAt, VIEWPORT } from './support/ui.js';
import { startWebShell, type WebShellProcess } from './support/web-shell.js';

const SPEC = 'diagnostics';
const MiB = 1024 * 1024;
const SSID = 'lab-net';
const PASSPHRASE = 'photo-safe passphrase';
const PASSWORD = 'console-secret-9';

let tmp: ReturnType<typeof tempDir>;
let shell: WebShellProcess;
let page: Page;
let small: string | null = null;
let fake: Loop | null = null;
let saved: string;

test.describe.configure({ mode: 'serial', timeout: 180_000 });

test.beforeAll(async ({ browser }) => {
  requireLoop();
  tmp = tempDir('zflash-e2e-diag-');
  const home = join(tmp.path, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id')]);
  // More than the 10 MiB the stick really holds.
  const iso = buildZetaIso(join(tmp.path, 'zeta.iso'), { fillerBytes: 24 * MiB });
  small = join(tmp.path, 'tmpfs');
  mkdirSync(small);
  run('mount', ['-t', 'tmpfs', '-o', 'size=10M', 'tmpfs', small]);
  run('truncate', ['-s', '64M', join(small, 'fake.img')]);
  fake = attachLoop(join(small, 'fake.img'));
  saved = join(tmp.path, 'saved-diagnostics.txt');
  shell = await startWebShell({
    userData: join(tmp.path, 'data'),
    home,
    pickImage: iso,
    saveTo: saved,
  });
  const context = await browser.newContext({ viewport: VIEWPORT });
  page = await context.newPage();
});

test.afterAll(async () => {
  await page?.context().close();
  await shell?.close();
  fake?.detach();
  if (small) spawnSync('umount', [small]);
  tmp?.cleanup();
});

test('the menu item opens the diagnostics screen at any time', async () => {
  await open(page, shell.url);
  await page.getByRole('button', { name: 'Diagnostics' }).click();
  await expect(page.getByTestId('diagnostics')).toHaveAttribute('data-code', '');
  await expect(page.getByTestId('diag-text')).toContainText('No error.');
  await lookAt(page, SPEC, 'no-error');
  await page.getByRole('button', { name: 'Back to Zeta Flash' }).click();
  await expect(page.getByTestId('step-image')).toBeVisible();
});

test('a fake-capacity stick lands on the diagnostics screen; its QR decodes to the same JSON', async () => {
  const device = (fake as Loop).device;
  await toKeys(page);
  await page.getByRole('button', { name: 'Back' }).click();
  await page.getByRole('checkbox', { name: 'Join a Wi-Fi network' }).check();
  await page.getByLabel('Network name (SSID)').fill(SSID);
  await page.getByLabel('Wi-Fi password').fill(PASSPHRASE);
  await page.getByRole('checkbox', { name: /Set a password for user zeta/ }).check();
  await page.getByLabel('Password for zeta').fill(PASSWORD);
  await page.getByRole('button', { name: 'Next: SSH keys' }).click();
  await page.getByRole('button', { name: 'Next: choose the stick' }).click();
  await page.locator(`[data-testid=drive][data-device="${device}"]`).getByRole('radio').check();
  await page.getByRole('button', { name: 'Next: review' }).click();
  await page.getByRole('button', { name: `Erase ${device} and flash` }).click();

  const screen = page.getByTestId('diagnostics');
  await expect(screen).toHaveAttribute('data-code', 'ZFLASH_FAKE_CAPACITY', { timeout: 120_000 });
  await expect(page.getByTestId('diag-code')).toHaveText('ZFLASH_FAKE_CAPACITY');
  await expect(screen.getByRole('heading')).toContainText('holds less than it claims');
  await expect(page.getByTestId('diag-next')).toContainText('Use another stick');
  const text = (await page.getByTestId('diag-text').textContent()) ?? '';
  expect(text).toContain(device);
  expect(text).toMatch(/FLASH +failed in writing/);
  await lookAt(page, SPEC, 'fake-capacity');

  // The QR code, photographed (a screenshot of it) and decoded by a real decoder.
  const png = join(ARTIFACTS, SPEC, 'qr.png');
  await page.getByTestId('diag-qr').screenshot({ path: png });
  const decoded = execFileSync('zbarimg', ['--raw', '-q', png]).toString().replace(/\n$/, '');
  const json = (await page.getByTestId('diag-json').textContent()) ?? '';
  expect(decoded).toBe(json);
  const facts = JSON.parse(decoded) as Record<string, unknown>;
  expect(JSON.stringify(facts)).toContain('ZFLASH_FAKE_CAPACITY');

  // Save to file (the shell answers the save dialog with --save-to) and copy.
  await page.getByRole('button', { name: 'Save to file…' }).click();
  await expect(page.getByTestId('diag-message')).toHaveText(`Saved to ${saved}`);
  const file = readFileSync(saved, 'utf8');
  expect(file).toContain('ZFLASH_FAKE_CAPACITY');
  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(page.getByTestId('diag-message')).toContainText('Copied');

  // Nothing secret anywhere the diagnostics went.
  const psk = pbkdf2Sync(PASSPHRASE, SSID, 4096, 32, 'sha1').toString('hex');
  for (const where of [text, json, decoded, file]) {
    expect(where).toContain(SSID);
    for (const secret of [PASSPHRASE, psk, PASSWORD]) expect(where).not.toContain(secret);
  }

  // Back in the wizard, the failed stick is not picked again by itself.
  await page.getByRole('button', { name: 'Back to Zeta Flash' }).click();
  await expect(page.getByTestId('step-drive')).toBeVisible();
  await expect(
    page.locator(`[data-testid=drive][data-device="${device}"]`).getByRole('radio'),
  ).not.toBeChecked();
});
