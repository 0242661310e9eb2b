// The whole wizard with the keyboard alone (Tab, arrows, Space, Enter; no pointer), flashing a
// real loop device through `npm run web`: every control is reachable in a sensible order, and
// its name is what the Tab stop announces.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachSparseLoop,
  buildZetaIso,
  espOffsetBySfdisk,
  mtype,
  requireLoop,
  tempDir,
  type Loop,
} from '../test/fixtures.js';
import { open } from './support/flow.js';
import { ARTIFACTS, VIEWPORT } from './support/ui.js';
import { startWebShell, type WebShellProcess } from './support/web-shell.js';

const MiB = 1024 * 1024;
let tmp: ReturnType<typeof tempDir>;
let shell: WebShellProcess;
let iso: string;
let stick: Loop;

test.beforeAll(async () => {
  requireLoop();
  tmp = tempDir('zflash-e2e-keyboard-');
  const home = join(tmp.path, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id')]);
  iso = buildZetaIso(join(tmp.path, 'zeta.iso'));
  stick = attachSparseLoop(tmp.path, 64 * MiB, { name: 'stick.img' });
  shell = await startWebShell({ userData: join(tmp.path, 'data'), home, pickImage: iso });
});

test.afterAll(async () => {
  await shell?.close();
  stick?.detach();
  tmp?.cleanup();
});

/** The accessible name of the focused element, as a screen reader would start reading it. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el) return '';
    const label =
      (el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null) ??
      el.closest('label')?.textContent;
    return (el.getAttribute('aria-label') ?? label ?? el.textContent ?? '').trim();
  });

/** Presses Tab until the focused control's name matches; fails if it never comes. */
async function tabTo(page: Page, name: RegExp): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    if (name.test(now)) return;
    seen.push(now);
  }
  throw new Error(`Tab never reached ${name}; stops were: ${seen.join(' | ')}`);
}

test('keyboard only: image, node, keys, stick, review, flash, done', async ({ browser }) => {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  await open(page, shell.url);

  await tabTo(page, /^Choose image…$/);
  await page.screenshot({ path: `${ARTIFACTS}keyboard/focus-visible.png` });
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('installer')).toBeVisible();
  await tabTo(page, /^Next: name the node$/);
  await page.keyboard.press('Enter');

  // The new step's heading has focus; the name field is the first stop after it.
  await expect(page.getByRole('heading', { name: 'Name the node' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Node name')).toBeFocused();
  await expect(page.getByLabel('Node name')).toHaveValue('node-01');
  await tabTo(page, /worker/);
  await page.keyboard.press('Space');
  await expect(page.getByRole('checkbox', { name: /worker/ })).toBeChecked();
  // Enter in the form submits the step.
  await page.getByLabel('Node name').focus();
  await page.keyboard.press('Enter');

  await expect(page.getByRole('heading', { name: 'Who may log in' })).toBeFocused();
  await expect(page.getByTestId('local-keys').getByRole('checkbox')).toBeChecked();
  await tabTo(page, /^Next: choose the stick$/);
  await page.keyboard.press('Enter');

  // Radios: Tab enters the group, arrows move the choice (refused drives are skipped).
  await expect(page.getByRole('heading', { name: /Choose the stick/ })).toBeFocused();
  const ours = page
    .locator(`[data-testid=drive][data-device="${stick.device}"]`)
    .getByRole('radio');
  await expect(ours).toBeEnabled();
  await tabTo(page, /Ready|Check first|Flashed/);
  for (let i = 0; i < 20 && !(await ours.isChecked()); i++) {
    await page.keyboard.press('ArrowDown');
  }
  await expect(ours).toBeChecked();
  await tabTo(page, /^Next: review$/);
  await page.keyboard.press('Enter');

  await expect(page.getByTestId('erase-path')).toHaveText(stick.device);
  await tabTo(page, new RegExp(`^Erase ${stick.device} and flash$`));
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'node-01 is ready' })).toBeFocused({
    timeout: 120_000,
  });
  await tabTo(page, /^Copy the ssh command$/);
  await tabTo(page, /^Flash next node$/);

  const esp = espOffsetBySfdisk(iso);
  expect(mtype(stick.device, esp.offset, 'zeta-hostname.txt')).toBe('node-01\n');
  await context.close();
});
