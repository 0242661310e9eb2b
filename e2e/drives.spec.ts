// What the wizard refuses, on real images and loop devices: a NixOS installer without Zeta is
// blocked at the image step (another image is allowed and said plainly); drives the policy
// refuses are listed with their reasons and cannot be chosen; a warning needs a tick.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachLoop,
  attachSparseLoop,
  buildNixosIso,
  mountExt4,
  buildZetaIso,
  fileSha256,
  requireLoop,
  tempDir,
  type Loop,
  type Mount,
} from '../test/fixtures.js';
import { answerPathDialog, open } from './support/flow.js';
import { lookAt, VIEWPORT } from './support/ui.js';
import { startWebShell, type WebShellProcess } from './support/web-shell.js';

const SPEC = 'drives';
const MiB = 1024 * 1024;

let tmp: ReturnType<typeof tempDir>;
let shell: WebShellProcess;
let page: Page;
const images: Record<string, string> = {};
const loops: Loop[] = [];
const mounts: Mount[] = [];

test.describe.configure({ mode: 'serial', timeout: 180_000 });

test.beforeAll(async ({ browser }) => {
  requireLoop();
  tmp = tempDir('zflash-e2e-drives-');
  const home = join(tmp.path, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id')]);
  images['nixos'] = buildNixosIso(join(tmp.path, 'nixos-minimal.iso'), {
    fillerBytes: 8 * MiB,
  });
  images['other'] = buildNixosIso(join(tmp.path, 'other.iso'), {
    volumeId: 'OTHER_LIVE',
    noNixStore: true,
  });
  images['zeta'] = buildZetaIso(join(tmp.path, 'zeta.iso'), { fillerBytes: 8 * MiB });
  // No --pick-image: the test answers the shell's own path dialog for each image.
  shell = await startWebShell({ userData: join(tmp.path, 'data'), home });
  const context = await browser.newContext({ viewport: VIEWPORT });
  page = await context.newPage();
});

test.afterAll(async () => {
  await page?.context().close();
  await shell?.close();
  for (const m of mounts) m.cleanup();
  for (const l of loops) l.detach();
  tmp?.cleanup();
});

async function chooseImage(path: string): Promise<void> {
  await page.getByRole('button', { name: /^Choose (another )?image…$/ }).click();
  await answerPathDialog(page, 'image', path);
  await expect(page.getByTestId('image-findings')).toContainText(path.split('/').pop() ?? '');
}

test('a NixOS installer without Zeta is blocked; another image is allowed, said plainly', async () => {
  await open(page, shell.url);
  const next = page.getByRole('button', { name: 'Next: name the node' });

  await chooseImage(images['nixos'] as string);
  await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'nixos');
  await expect(page.getByTestId('image-blocked')).toContainText(
    'This image cannot make a Zeta node.',
  );
  await expect(page.getByTestId('image-blocked')).toContainText('zflash image get');
  await expect(next).toBeDisabled();
  await lookAt(page, SPEC, 'image-nixos-blocked');

  await chooseImage(images['other'] as string);
  await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'other');
  await expect(page.getByTestId('installer')).toContainText(
    'not a NixOS or Zeta installer. Zeta Flash can write it, but nothing on it will read the node settings.',
  );
  await expect(next).toBeEnabled();
  await lookAt(page, SPEC, 'image-other');

  await chooseImage(images['zeta'] as string);
  await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'zeta');
  await expect(page.getByTestId('image-blocked')).toHaveCount(0);
  await next.click();
  await page.getByRole('button', { name: 'Next: SSH keys' }).click();
  await page.getByRole('button', { name: 'Next: choose the stick' }).click();
  await expect(page.getByTestId('step-drive')).toBeVisible();
});

test('refused drives are listed with their reasons and cannot be chosen', async () => {
  // Smaller than the image, and read-only: both refused by the engine's policy.
  const small = attachSparseLoop(tmp.path, 2 * MiB, { name: 'small.img' });
  loops.push(small);
  const roFile = join(tmp.path, 'readonly.img');
  execFileSync('truncate', ['-s', `${64 * MiB}`, roFile]);
  const ro = attachLoop(roFile, { readOnly: true });
  loops.push(ro);
  // In use at a long path with no place to break a line: the reason quotes the path, and a
  // machine whose own disks are mounted at long paths (CI's was) must not make the page
  // scroll sideways at 200 %.
  const busy = attachSparseLoop(tmp.path, 64 * MiB, { name: 'busy.img' });
  loops.push(busy);
  mounts.push(mountExt4(busy.device, join(tmp.path, `mounted-${'x'.repeat(72)}`)));

  for (const [loop, code] of [
    [small, 'DRIVE_TOO_SMALL'],
    [ro, 'DRIVE_READ_ONLY'],
    [busy, 'DRIVE_MOUNTED'],
  ] as const) {
    const row = page.locator(`[data-testid=drive][data-device="${loop.device}"]`);
    await expect(row).toHaveAttribute('data-status', 'refused');
    await expect(row.locator(`[data-code=${code}]`)).toBeVisible();
    const radio = row.getByRole('radio');
    await expect(radio).toBeDisabled();
    // Clicking the whole row (its label) changes nothing.
    await row.locator('label').click({ force: true });
    await expect(radio).not.toBeChecked();
  }
  await lookAt(page, SPEC, 'refused-drives');
});

test('a drive with a warning needs a tick before it can be used', async () => {
  // A 200 GB drive (sparse: nothing is ever written to it) is large for an installer stick.
  const big = attachSparseLoop(tmp.path, 200e9, { name: 'big.img' });
  loops.push(big);
  const row = page.locator(`[data-testid=drive][data-device="${big.device}"]`);
  await expect(row).toHaveAttribute('data-status', 'warn');
  await expect(row.locator('[data-code=DRIVE_LARGE]')).toBeVisible();
  await row.getByRole('radio').check();
  const next = page.getByRole('button', { name: 'Next: review' });
  await expect(next).toBeDisabled();
  await lookAt(page, SPEC, 'warning-unticked');
  await row.getByTestId('acknowledge').check();
  await expect(next).toBeEnabled();
  await row.getByTestId('acknowledge').uncheck();
  await expect(next).toBeDisabled();
  big.detach();
  await expect(row).toHaveCount(0);
});

test('an eligible stick is taken, and the review names it', async () => {
  const stick = attachSparseLoop(tmp.path, 64 * MiB, { name: 'stick.img' });
  loops.push(stick);
  const row = page.locator(`[data-testid=drive][data-device="${stick.device}"]`);
  await expect(row).toHaveAttribute('data-status', 'eligible');
  await row.getByRole('radio').check();
  await page.getByRole('button', { name: 'Next: review' }).click();
  await expect(page.getByTestId('erase-path')).toHaveText(stick.device);
  await expect(page.getByTestId('erase-size')).toHaveText('67.1 MB');
  // Unplugged before the operator confirms: the helper's own check refuses it, the failure
  // opens the diagnostics screen, and nothing was written to the stick's backing file.
  stick.detach();
  await page.getByRole('button', { name: `Erase ${stick.device} and flash` }).click();
  await expect(page.getByTestId('diagnostics')).toHaveAttribute(
    'data-code',
    'ZFLASH_DRIVE_REFUSED',
  );
  await expect(page.getByTestId('diag-next')).toContainText('Plug it in again');
  await lookAt(page, SPEC, 'stick-gone');
  expect(readFileSync(stick.backingFile).every((b) => b === 0)).toBe(true);
  await page.getByRole('button', { name: 'Back to Zeta Flash' }).click();
  await expect(page.getByTestId('step-drive')).toBeVisible();
});

test('Cancel stops a flash: the stick is left without a partition table, not looking finished', async () => {
  // A large image with a .sha256 beside it: checking it takes long enough to cancel in the middle.
  const big = buildZetaIso(join(tmp.path, 'big-zeta.iso'), { zeroFillerBytes: 400 * MiB });
  writeFileSync(`${big}.sha256`, `${fileSha256(big)}  big-zeta.iso\n`);
  await page
    .getByRole('navigation', { name: 'Steps' })
    .getByRole('button', { name: /^Image/ })
    .click();
  await chooseImage(big);
  await page.getByRole('button', { name: 'Next: name the node' }).click();
  await page.getByRole('button', { name: 'Next: SSH keys' }).click();
  await page.getByRole('button', { name: 'Next: choose the stick' }).click();
  const stick = attachSparseLoop(tmp.path, 512 * MiB, { name: 'cancel.img' });
  loops.push(stick);
  await page
    .locator(`[data-testid=drive][data-device="${stick.device}"]`)
    .getByRole('radio')
    .check();
  await page.getByRole('button', { name: 'Next: review' }).click();
  await page.getByRole('button', { name: `Erase ${stick.device} and flash` }).click();
  await expect(page.getByTestId('step-flashing')).toBeVisible();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('step-drive')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByRole('status').filter({ hasText: 'Cancelled.' })).toContainText(
    `The stick ${stick.device} was not finished: flash it again before you use it.`,
  );
  await lookAt(page, SPEC, 'cancelled');
  // The partition table is written last: a cancelled stick has none.
  const head = Buffer.alloc(1024 * 1024);
  const fd = openSync(stick.device, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  expect(head.every((b) => b === 0)).toBe(true);
});
