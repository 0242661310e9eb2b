// The cluster through `npm run web` with its real roster (a file in the shell's settings
// folder): a flashed node is listed with its ssh command and exported; its name is refused for
// a new node; re-flashing it on purpose writes a stick whose installer may erase the node's
// disk (issue 13), while a new node's stick erases only a blank disk.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
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
import { lookAt, VIEWPORT } from './support/ui.js';
import { startWebShell, type WebShellProcess } from './support/web-shell.js';

const SPEC = 'cluster';
const MiB = 1024 * 1024;

let tmp: ReturnType<typeof tempDir>;
let shell: WebShellProcess;
let page: Page;
let iso: string;
let exported: string;
const loops: Loop[] = [];

test.describe.configure({ mode: 'serial', timeout: 180_000 });

test.beforeAll(async ({ browser }) => {
  requireLoop();
  tmp = tempDir('zflash-e2e-cluster-');
  const home = join(tmp.path, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id')]);
  iso = buildZetaIso(join(tmp.path, 'zeta.iso'));
  exported = join(tmp.path, 'exported.txt');
  shell = await startWebShell({
    userData: join(tmp.path, 'data'),
    home,
    pickImage: iso,
    saveTo: exported,
  });
  page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
});

test.afterAll(async () => {
  await page?.context().close();
  await shell?.close();
  for (const l of loops) l.detach();
  tmp?.cleanup();
});

/** The erase policy the stick's installer will follow (zeta-node.json, manifest schema 2). */
function erasePolicy(loop: Loop): string {
  const esp = espOffsetBySfdisk(iso);
  const manifest = JSON.parse(mtype(loop.device, esp.offset, 'zeta-node.json')) as {
    erase?: { policy: string };
  };
  return manifest.erase?.policy ?? 'none';
}

/** From the stick step: pick `loop`, review, erase and flash, and wait for Done. */
async function flashTo(loop: Loop, hostname: string): Promise<void> {
  await page
    .locator(`[data-testid=drive][data-device="${loop.device}"]`)
    .getByRole('radio')
    .check();
  await page.getByRole('button', { name: 'Next: review' }).click();
  await expect(page.getByTestId('review-hostname')).toContainText(hostname);
  await page.getByRole('button', { name: `Erase ${loop.device} and flash` }).click();
  await expect(page.getByRole('heading', { name: `${hostname} is ready` })).toBeVisible({
    timeout: 120_000,
  });
}

test('a flashed node is in the Cluster screen, with its ssh command and exports', async () => {
  const stick = attachSparseLoop(tmp.path, 64 * MiB, { name: 'first.img' });
  loops.push(stick);
  await open(page, shell.url);
  await page.getByRole('button', { name: 'Cluster' }).click();
  await expect(page.getByTestId('cluster')).toContainText('No node has been flashed yet.');
  await page.getByRole('button', { name: 'Back to flashing' }).click();

  await page.getByRole('button', { name: 'Choose image…' }).click();
  await page.getByRole('button', { name: 'Next: name the node' }).click();
  await expect(page.getByLabel('Node name')).toHaveValue('node-01');
  await page.getByRole('checkbox', { name: /worker/ }).check();
  await page.getByRole('button', { name: 'Next: SSH keys' }).click();
  await page.getByRole('button', { name: 'Next: choose the stick' }).click();
  await flashTo(stick, 'node-01');
  expect(erasePolicy(stick)).toBe('blank-only');

  await page.getByRole('button', { name: 'Cluster (1)' }).click();
  const row = page.locator('[data-testid=roster-node][data-hostname="node-01"]');
  await expect(row).toContainText('Flashed, not seen yet');
  await expect(row).toContainText('worker');
  await expect(row.getByLabel('the ssh command for node-01', { exact: true })).toHaveValue(
    'ssh zeta@node-01.local',
  );
  await page.getByRole('button', { name: 'SSH config…' }).click();
  await expect(page.getByTestId('export-message')).toHaveText(`Saved to ${exported}`);
  expect(readFileSync(exported, 'utf8')).toContain(
    'Host node-01\n  HostName node-01.local\n  User zeta\n',
  );
  await lookAt(page, SPEC, 'cluster');
  await page.getByRole('button', { name: 'Back to flashing' }).click();
});

test('the roster’s names are refused for a new node; re-flashing one on purpose erases anyway', async () => {
  await page.getByRole('button', { name: 'Flash next node' }).click();
  await expect(page.getByRole('heading', { name: 'Choose the stick for node-02' })).toBeVisible();
  await page
    .getByRole('navigation', { name: 'Steps' })
    .getByRole('button', { name: /^Node/ })
    .click();
  await page.getByLabel('Node name').fill('node-01');
  await expect(page.getByText('node-01 is already in your cluster')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Next: SSH keys' })).toBeDisabled();
  await lookAt(page, SPEC, 'name-taken');

  await page.getByRole('button', { name: 'Cluster (1)' }).click();
  await page.getByRole('button', { name: 'Re-flash node-01' }).click();
  await expect(page.getByRole('heading', { name: 'Choose the stick for node-01' })).toBeVisible();
  const again = attachSparseLoop(tmp.path, 64 * MiB, { name: 'again.img' });
  loops.push(again);
  await flashTo(again, 'node-01');
  expect(erasePolicy(again)).toBe('any');

  // (Main records a flash in the roster once per hostname and run, so this re-flash does not
  // show as "Re-flashed" here yet: reported to main's owner, not asserted.)
  // The next node is new again: its own name, and its disk erased only if blank.
  await page.getByRole('button', { name: 'Flash next node' }).click();
  await expect(page.getByRole('heading', { name: 'Choose the stick for node-02' })).toBeVisible();
  await page
    .getByRole('navigation', { name: 'Steps' })
    .getByRole('button', { name: /^Node/ })
    .click();
  await expect(page.getByRole('checkbox', { name: /erase its disk anyway/ })).not.toBeChecked();
});
