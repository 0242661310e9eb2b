// Several sticks at once (issue 11) in Debian's Chromium against `npm run web` (the real
// engine and helper), on real loop devices made from one real Zeta ISO: both sticks ticked,
// the review names two different nodes, one run writes both, and each stick's ESP — read by
// mtools, judged by fsck.fat — holds its own hostname; the roster has both. Then "Flash next
// nodes" with one good stick and one fake-capacity stick (64 MiB claimed over a 10 MiB
// tmpfs): that one fails with its own error while the other still finishes.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rosterPathFromEnv } from '../app/roster/paths.js';
import {
  attachLoop,
  attachSparseLoop,
  buildZetaIso,
  espOffsetBySfdisk,
  extractRange,
  fsckClean,
  mtype,
  requireLoop,
  run,
  tempDir,
  type Loop,
} from '../test/fixtures.js';
import { open, toKeys } from './support/flow.js';
import { ARTIFACTS, lookAt, VIEWPORT } from './support/ui.js';
import { startWebShell, type WebShellProcess } from './support/web-shell.js';

const SPEC = 'many';
const MiB = 1024 * 1024;

test.describe.configure({ mode: 'serial', timeout: 300_000 });

let tmp: ReturnType<typeof tempDir>;
let shell: WebShellProcess;
let page: Page;
let iso: string;
let home: string;
let esp: { offset: number; size: number };
let small: string | null = null;
const loops: Loop[] = [];
const consoleErrors: string[] = [];

test.beforeAll(async ({ browser }) => {
  requireLoop();
  tmp = tempDir('zflash-e2e-many-');
  home = join(tmp.path, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'op@many',
    '-f',
    join(home, '.ssh', 'id'),
  ]);
  // More than the 10 MiB the fake stick really holds, in data the writer cannot skip.
  iso = buildZetaIso(join(tmp.path, 'zeta-installer.iso'), { fillerBytes: 24 * MiB });
  esp = espOffsetBySfdisk(iso);
  loops.push(attachSparseLoop(tmp.path, 128 * MiB, { name: 'stick-a.img' }));
  loops.push(attachSparseLoop(tmp.path, 128 * MiB, { name: 'stick-b.img' }));
  shell = await startWebShell({ userData: join(tmp.path, 'data'), home, pickImage: iso });
  const context = await browser.newContext({ viewport: VIEWPORT });
  page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(e.message));
});

test.afterAll(async () => {
  await page?.context().close();
  await shell?.close();
  for (const l of loops) l.detach();
  if (small) spawnSync('umount', [small]);
  tmp?.cleanup();
});

/** The hostname on a flashed stick, read by mtools at the ESP's offset; fsck.fat judges the ESP. */
function hostnameOn(loop: Loop, n: string): string {
  fsckClean(extractRange(loop.device, esp.offset, esp.size, join(tmp.path, `esp-${n}.img`)));
  return mtype(loop.device, esp.offset, 'zeta-hostname.txt');
}

/**
 * Ticks exactly `mine` among the drive rows. Other tests on this machine may have loop devices
 * of their own, which the shell lists too: they are never ticked here.
 */
async function tickExactly(mine: readonly Loop[]) {
  const devices = new Set(mine.map((l) => l.device));
  for (const l of mine)
    await expect(page.locator(`[data-testid=drive][data-device="${l.device}"]`)).toHaveAttribute(
      'data-status',
      'eligible',
    );
  const rows = page.getByTestId('drive');
  for (let i = 0; i < (await rows.count()); i++) {
    const row = rows.nth(i);
    const box = row.getByRole('checkbox').first();
    if (await box.isDisabled()) continue;
    const device = (await row.getAttribute('data-device')) ?? '';
    if (devices.has(device)) await box.check();
    else await box.uncheck();
  }
}

/** Records each stick's progress as the DOM changes: a loop device races through it. */
async function recordProgress() {
  await page.evaluate(() => {
    const w = window as unknown as { seen: Record<string, string[]> };
    w.seen = {};
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-testid=stick-progress]')) {
        const d = el.getAttribute('data-device') ?? '';
        const s = `${el.getAttribute('data-status')}|${el.getAttribute('data-phase')}`;
        const list = (w.seen[d] ??= []);
        if (list.at(-1) !== s) list.push(s);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
}

test('two sticks ticked, two nodes reviewed, one run writes both, each stick holds its own name', async () => {
  const [a, b] = loops as [Loop, Loop];
  await open(page, shell.url);
  await toKeys(page);
  await page.getByRole('button', { name: 'Next: choose the stick' }).click();
  await expect(page.getByTestId('step-drive')).toBeVisible();

  // One stick is the default; the toggle offers several.
  const toggle = page.getByTestId('several-sticks');
  await expect(toggle).not.toBeChecked();
  await expect(
    page.locator(`[data-testid=drive][data-device="${a.device}"]`).getByRole('radio'),
  ).toBeVisible();
  await toggle.check();
  await tickExactly([a, b]);
  await expect(
    page.getByRole('heading', { name: 'Choose the sticks, one node each' }),
  ).toBeVisible();
  await lookAt(page, SPEC, '1-drive-several');
  await page.getByRole('button', { name: 'Next: review 2 sticks' }).click();

  // The review names both sticks, each with the node it becomes.
  await expect(page.getByTestId('step-review-many')).toBeVisible();
  const sticks = page.getByTestId('erase-stick');
  await expect(sticks).toHaveCount(2);
  await expect(sticks.getByTestId('erase-path')).toHaveText([a.device, b.device]);
  await expect(sticks.getByTestId('erase-size')).toHaveText(['134.2 MB', '134.2 MB']);
  await expect(sticks.getByTestId('stick-hostname')).toHaveText(['node-01', 'node-02']);
  await lookAt(page, SPEC, '2-review');

  await recordProgress();
  await page.getByRole('button', { name: 'Erase 2 sticks and flash' }).click();
  await expect(page.getByTestId('step-flashing-many')).toBeVisible();
  await page.screenshot({ path: `${ARTIFACTS}${SPEC}/3-flashing-light.png`, fullPage: true });

  await expect(page.getByTestId('step-done-many')).toBeVisible({ timeout: 180_000 });
  await expect(page.getByRole('heading', { name: '2 nodes are ready' })).toBeVisible();
  await expect(page.getByLabel('the ssh command for node-01')).toHaveValue(
    'ssh zeta@node-01.local',
  );
  await expect(page.getByLabel('the ssh command for node-02')).toHaveValue(
    'ssh zeta@node-02.local',
  );
  await lookAt(page, SPEC, '4-done');

  // Each stick's row went through writing and verifying on its own (the last stick's done
  // and the Done screen arrive together).
  const seen = await page.evaluate(
    () => (window as unknown as { seen: Record<string, string[]> }).seen,
  );
  for (const l of [a, b]) {
    expect(seen[l.device]?.some((s) => s.startsWith('running|writing'))).toBe(true);
    expect(seen[l.device]?.at(-1)).toMatch(/^(running\|verifying|done\|)/);
  }

  expect(hostnameOn(a, 'a')).toBe('node-01\n');
  expect(hostnameOn(b, 'b')).toBe('node-02\n');
  const rosterFile = rosterPathFromEnv({
    platform: 'linux',
    env: { ...process.env, HOME: home },
    homedir: home,
  });
  await expect
    .poll(() => {
      try {
        const r = JSON.parse(readFileSync(rosterFile ?? '', 'utf8')) as {
          nodes: { hostname: string; medium: { device: string } }[];
        };
        return r.nodes.map((n) => `${n.hostname} ${n.medium.device}`).sort();
      } catch {
        return [];
      }
    })
    .toEqual([`node-01 ${a.device}`, `node-02 ${b.device}`]);
});

test('flash next nodes: one stick fails with its own error, the other still finishes', async () => {
  await page.getByRole('button', { name: 'Flash next nodes' }).click();
  await expect(page.getByTestId('step-drive')).toBeVisible();
  await expect(page.getByTestId('several-sticks')).toBeChecked();

  // A good stick and a fake-capacity one are plugged in: both ticked as they appear.
  const good = attachSparseLoop(tmp.path, 128 * MiB, { name: 'stick-c.img' });
  loops.push(good);
  small = join(tmp.path, 'tmpfs');
  mkdirSync(small);
  run('mount', ['-t', 'tmpfs', '-o', 'size=10M', 'tmpfs', small]);
  run('truncate', ['-s', '64M', join(small, 'fake.img')]);
  const fake = attachLoop(join(small, 'fake.img'));
  loops.push(fake);
  for (const l of [good, fake])
    await expect(
      page.locator(`[data-testid=drive][data-device="${l.device}"]`).getByRole('checkbox'),
    ).toBeChecked();
  await tickExactly([good, fake]);
  await page.getByRole('button', { name: 'Next: review 2 sticks' }).click();
  const sticks = page.getByTestId('erase-stick');
  await expect(sticks.getByTestId('erase-path')).toHaveText([good.device, fake.device]);
  await expect(sticks.getByTestId('stick-hostname')).toHaveText(['node-03', 'node-04']);
  await page.getByRole('button', { name: 'Erase 2 sticks and flash' }).click();

  // (Whether the failed row is seen on the progress screen depends on which stick ends last:
  // the window moves to Done once both have. The store's test holds the progress screen while
  // one stick has failed and another runs; here the outcome of each stick is judged.)
  await expect(page.getByTestId('step-done-many')).toBeVisible({ timeout: 180_000 });
  await expect(page.getByRole('heading', { name: '1 of 2 sticks is ready' })).toBeVisible();
  await expect(page.getByLabel('the ssh command for node-03')).toHaveValue(
    'ssh zeta@node-03.local',
  );
  const failed = page.locator('[data-testid=done-node][data-status=failed]');
  await expect(failed).toContainText('node-04');
  await expect(failed).toContainText(fake.device);
  await lookAt(page, SPEC, '6-done-one-failed');
  expect(hostnameOn(good, 'c')).toBe('node-03\n');

  // The failed stick's diagnostics are its own.
  await failed.getByRole('button', { name: `Show diagnostics for ${fake.device}` }).click();
  await expect(page.getByTestId('diag-text')).toContainText(fake.device);
  await lookAt(page, SPEC, '7-diagnostics-failed-stick');
  await page.getByRole('button', { name: 'Back to Zeta Flash' }).click();
  await expect(page.getByTestId('step-done-many')).toBeVisible();
  expect(consoleErrors).toEqual([]);
});
