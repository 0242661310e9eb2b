// The whole wizard in Debian's Chromium against `npm run web` (the real engine), on real loop
// devices: node 1 through every step, judged on the stick with mtools and fsck.fat; then
// node 2 with zero keystrokes and at most three clicks, counted in the page.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pbkdf2Sync } from 'node:crypto';
import {
  attachSparseLoop,
  buildZetaIso,
  espOffsetBySfdisk,
  extractRange,
  fileSha256,
  fsckClean,
  mtype,
  requireLoop,
  tempDir,
  type Loop,
} from '../test/fixtures.js';
import { startWebShell, type WebShellProcess } from './support/web-shell.js';
import { ARTIFACTS, counted, lookAt, startCounting, VIEWPORT } from './support/ui.js';

const SPEC = 'wizard';
const MiB = 1024 * 1024;
const SSID = 'zeta-lab';
const PASSPHRASE = 'correct horse battery staple';
const PASSWORD = 'console-pass-1';

test.describe.configure({ mode: 'serial', timeout: 240_000 });

let tmp: ReturnType<typeof tempDir>;
let shell: WebShellProcess;
let page: Page;
let iso: string;
let esp: { offset: number; size: number };
let fingerprint: string;
let keyLine: string;
const loops: Loop[] = [];
const sent: string[] = [];
const consoleErrors: string[] = [];

test.beforeAll(async ({ browser }) => {
  requireLoop();
  tmp = tempDir('zflash-e2e-wizard-');
  const home = join(tmp.path, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'op@e2e',
    '-f',
    join(home, '.ssh', 'id_ed25519'),
  ]);
  keyLine = readFileSync(join(home, '.ssh', 'id_ed25519.pub'), 'utf8').trim();
  fingerprint = execFileSync('ssh-keygen', ['-l', '-f', join(home, '.ssh', 'id_ed25519.pub')])
    .toString()
    .split(' ')[1] as string;
  // Big enough that the progress screen is seen for more than a moment (sparse, so cheap).
  iso = buildZetaIso(join(tmp.path, 'zeta-installer.iso'), { zeroFillerBytes: 192 * MiB });
  writeFileSync(`${iso}.sha256`, `${fileSha256(iso)}  zeta-installer.iso\n`);
  esp = espOffsetBySfdisk(iso);
  loops.push(attachSparseLoop(tmp.path, 256 * MiB, { name: 'stick-1.img' }));
  shell = await startWebShell({ userData: join(tmp.path, 'data'), home, pickImage: iso });
  const context = await browser.newContext({ viewport: VIEWPORT });
  page = await context.newPage();
  page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(e.message));
});

test.afterAll(async () => {
  await page?.context().close();
  await shell?.close();
  for (const l of loops) l.detach();
  tmp?.cleanup();
});

/** The node files on a flashed stick, read by mtools at the ESP's offset; fsck.fat judges it. */
function judge(loop: Loop) {
  const copy = extractRange(loop.device, esp.offset, esp.size, join(tmp.path, 'esp-copy.img'));
  fsckClean(copy);
  return {
    hostname: mtype(loop.device, esp.offset, 'zeta-hostname.txt'),
    keys: mtype(loop.device, esp.offset, 'zeta-authorized-keys.pub'),
    manifest: JSON.parse(mtype(loop.device, esp.offset, 'zeta-node.json')) as Record<
      string,
      unknown
    >,
  };
}

test('node 1: every step, flashed to a loop device and judged on the stick', async () => {
  const stick = loops[0] as Loop;
  await page.goto(shell.url);
  await expect(page.locator('html')).toHaveAttribute('data-loaded', 'true');
  await expect(page.getByTestId('step-image')).toBeVisible();
  await lookAt(page, SPEC, '1-image-empty');

  // 1. Image: what inspection found.
  await page.getByRole('button', { name: 'Choose image…' }).click();
  await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'zeta');
  await expect(page.getByTestId('esp')).toHaveAttribute('data-fits', 'true');
  await expect(page.getByTestId('checksum')).toHaveAttribute('data-found', 'true');
  await lookAt(page, SPEC, '1-image');
  await page.getByRole('button', { name: 'Next: name the node' }).click();

  // 2. Node: the suggested name, live validation, roles, Wi-Fi, password.
  const name = page.getByLabel('Node name');
  await expect(name).toHaveValue('node-01');
  await name.fill('Node_01');
  await expect(page.getByText('"_" at position 5 is not allowed (use a hyphen).')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Next: SSH keys' })).toBeDisabled();
  await name.fill('node-01');
  await page.getByRole('checkbox', { name: /worker/ }).check();
  await page.getByRole('checkbox', { name: 'Join a Wi-Fi network' }).check();
  await page.getByLabel('Network name (SSID)').fill(SSID);
  await page.getByLabel('Wi-Fi password').fill(PASSPHRASE);
  await page.getByRole('checkbox', { name: /Set a password for user zeta/ }).check();
  await page.getByLabel('Password for zeta').fill(PASSWORD);
  await expect(page.getByRole('checkbox', { name: /erase its disk anyway/ })).not.toBeChecked();
  await lookAt(page, SPEC, '2-node');
  await page.getByRole('button', { name: 'Next: SSH keys' }).click();

  // 3. Keys: the only key in ~/.ssh is pre-selected, shown by its real fingerprint.
  await expect(page.getByTestId('step-keys')).toBeVisible();
  const local = page.getByTestId('local-keys').getByRole('checkbox');
  await expect(local).toHaveCount(1);
  await expect(local).toBeChecked();
  await expect(page.getByTestId('local-keys')).toContainText(fingerprint);
  await lookAt(page, SPEC, '3-keys');
  await page.getByRole('button', { name: 'Next: choose the stick' }).click();

  // 4. Drive: the live list; this test's stick chosen by its path.
  const row = page.locator(`[data-testid=drive][data-device="${stick.device}"]`);
  await expect(row).toHaveAttribute('data-status', 'eligible');
  await row.getByRole('radio').check();
  await lookAt(page, SPEC, '4-drive');
  await page.getByRole('button', { name: 'Next: review' }).click();

  // 5. Review names the drive that will be erased, the node and the key fingerprint.
  await expect(page.getByTestId('erase-path')).toHaveText(stick.device);
  await expect(page.getByTestId('erase-size')).toHaveText('268.4 MB');
  await expect(page.getByTestId('review-hostname')).toContainText('ssh zeta@node-01.local');
  await expect(page.getByTestId('review-keys')).toContainText(fingerprint);
  await lookAt(page, SPEC, '5-review');
  // What the progress screen shows is recorded as the DOM changes (no polling gaps): a
  // small image flashes to a loop device faster than a poll would see it.
  await page.evaluate(() => {
    const w = window as unknown as { progress: string[] };
    w.progress = [];
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid=progress]');
      const seen = el ? `${el.getAttribute('data-phase')}|${el.textContent}` : null;
      if (seen && w.progress.at(-1) !== seen) w.progress.push(seen);
    }).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
  });
  await page.getByRole('button', { name: `Erase ${stick.device} and flash` }).click();

  await expect(page.getByTestId('progress')).toBeVisible();
  await page.screenshot({ path: `${ARTIFACTS}${SPEC}/5-flashing-light.png`, fullPage: true });

  // 6. Done: the ssh command with a copy button, and "Flash next node".
  await expect(page.getByTestId('step-done')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByRole('heading', { name: 'node-01 is ready' })).toBeVisible();
  await expect(page.getByLabel('the ssh command', { exact: true })).toHaveValue(
    'ssh zeta@node-01.local',
  );
  await expect(page.getByTestId('flash-result')).toContainText('image checksum matched');
  await lookAt(page, SPEC, '6-done');
  // Progress showed each phase in order, with the percent while writing and verifying.
  const shown = await page.evaluate(() => (window as unknown as { progress: string[] }).progress);
  writeFileSync(`${ARTIFACTS}${SPEC}/5-progress.txt`, `${shown.join('\n')}\n`);
  const phases = [...new Set(shown.map((s) => s.split('|')[0]))];
  expect(phases.filter((p) => p !== 'finishing')).toEqual(['preparing', 'writing', 'verifying']);
  expect(shown.find((s) => s.startsWith('writing|'))).toMatch(/Writing · \d+ %/);

  const onStick = judge(stick);
  expect(onStick.hostname).toBe('node-01\n');
  expect(onStick.keys).toBe(`${keyLine}\n`);
  // Only the PSK left the form: the stick has the one PBKDF2 gives, the passphrase went nowhere.
  const psk = pbkdf2Sync(PASSPHRASE, SSID, 4096, 32, 'sha1').toString('hex');
  expect(JSON.stringify(onStick.manifest)).toContain(psk);
  expect(sent.join('\n')).toContain(psk);
  expect(sent.join('\n')).not.toContain(PASSPHRASE);
  expect(JSON.stringify(onStick.manifest)).not.toContain(PASSWORD);
});

test('node 2: zero keystrokes, at most three clicks', async () => {
  await startCounting(page);
  await page.getByRole('button', { name: 'Flash next node' }).click();
  await expect(page.getByTestId('step-drive')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Choose the stick for node-02' })).toBeVisible();
  // (Another eligible stick already plugged in would be picked for now: no waiting box then.)
  await lookAt(page, SPEC, '7-next-waiting');

  // The next stick is plugged in: it is picked by itself.
  const next = attachSparseLoop(tmp.path, 256 * MiB, { name: 'stick-2.img' });
  loops.push(next);
  const row = page.locator(`[data-testid=drive][data-device="${next.device}"]`);
  await expect(row.getByRole('radio')).toBeChecked();
  await lookAt(page, SPEC, '7-next-picked');
  await page.getByRole('button', { name: 'Next: review' }).click();
  await expect(page.getByTestId('erase-path')).toHaveText(next.device);
  await page.getByRole('button', { name: `Erase ${next.device} and flash` }).click();
  await expect(page.getByRole('heading', { name: 'node-02 is ready' })).toBeVisible({
    timeout: 120_000,
  });

  expect(await counted(page)).toEqual({ clicks: 3, keys: 0 });

  const second = judge(next);
  expect(second.hostname).toBe('node-02\n');
  expect(second.keys).toBe(`${keyLine}\n`);
  // The first stick was not touched by the second flash.
  expect(judge(loops[0] as Loop).hostname).toBe('node-01\n');
  expect(consoleErrors).toEqual([]);
});
