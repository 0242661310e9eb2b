// A double-clicked image (electron-builder.yml's file associations): the window starts with
// it inspected in the image step, without a click. `npm run web -- --open-file PATH` plays the
// OS at launch; a second double-click while the app runs is the in-process shell's openFile,
// pushed to the page over the shell's WebSocket.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cancelledError } from '../app/errors.js';
import type { RunJob } from '../app/api/sessions.js';
import {
  attachSparseLoop,
  buildNixosIso,
  buildZetaIso,
  requireLoop,
  tempDir,
  type Loop,
} from '../test/fixtures.js';
import { open } from './support/flow.js';
import { lookAt, startCounting, counted, VIEWPORT } from './support/ui.js';
import { startWebShell as startShellProcess, type WebShellProcess } from './support/web-shell.js';
import { startWebShell, type WebShell } from './web-shell/server.js';

const SPEC = 'open-file';
const MiB = 1024 * 1024;
const repo = fileURLToPath(new URL('../', import.meta.url));

let tmp: ReturnType<typeof tempDir>;
let zeta: string;
let nixos: string;
let page: Page;
let stick: Loop | null = null;

test.describe.configure({ mode: 'serial', timeout: 120_000 });

test.beforeAll(async ({ browser }) => {
  tmp = tempDir('zflash-e2e-open-file-');
  mkdirSync(join(tmp.path, 'home', '.ssh'), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-f',
    join(tmp.path, 'home', '.ssh', 'id'),
  ]);
  zeta = buildZetaIso(join(tmp.path, 'zeta-installer-0.2.0-x86_64-linux.iso'), {
    fillerBytes: 4 * MiB,
  });
  nixos = buildNixosIso(join(tmp.path, 'nixos-minimal.iso'));
  page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
});

test.afterAll(async () => {
  await page?.context().close();
  stick?.detach();
  tmp?.cleanup();
});

test('launched with a Zeta ISO (--open-file): the image step shows it inspected, no click', async () => {
  let shell: WebShellProcess | null = null;
  try {
    // No --pick-image: a click on "Choose image…" would ask the page's path dialog instead.
    shell = await startShellProcess({
      userData: join(tmp.path, 'data-launch'),
      home: join(tmp.path, 'home'),
      openFile: zeta,
    });
    await page.goto(shell.url);
    await startCounting(page);
    await expect(page.locator('html')).toHaveAttribute('data-loaded', 'true');
    await expect(page.getByTestId('step-image')).toBeVisible();
    await expect(page.getByTestId('image-findings')).toContainText(
      'zeta-installer-0.2.0-x86_64-linux.iso',
    );
    await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'zeta');
    await expect(page.getByTestId('esp')).toHaveAttribute('data-fits', 'true');
    await expect(page.getByRole('button', { name: 'Next: name the node' })).toBeEnabled();
    expect(await counted(page)).toEqual({ clicks: 0, keys: 0 });
    await lookAt(page, SPEC, 'image-opened');

    // The file was taken once: asked again (a reload asks the same), main answers null.
    expect(await page.evaluate(() => window.zflash.takeOpenedFile())).toEqual({
      ok: true,
      value: null,
    });
  } finally {
    await shell?.close();
  }
});

test('a second double-click while running: the new image replaces the first, judged the same way', async () => {
  let shell: WebShell | null = null;
  try {
    shell = await startWebShell({
      rendererDir: join(repo, 'dist', 'renderer'),
      shellScript: join(repo, 'dist', 'web-shell', 'zflash-shell.js'),
      userData: join(tmp.path, 'data-running'),
      nixosFolder: join(repo, 'nixos'),
      home: join(tmp.path, 'home'),
      openedFile: zeta,
      watchDrives: false,
    });
    await open(page, shell.url);
    await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'zeta');

    // A NixOS ISO without Zeta opened now: inspected and blocked, as if chosen by hand.
    shell.openFile(nixos);
    await expect(page.getByTestId('image-findings')).toContainText('nixos-minimal.iso');
    await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'nixos');
    await expect(page.getByTestId('image-blocked')).toContainText(
      'This image cannot make a Zeta node.',
    );
    await expect(page.getByRole('button', { name: 'Next: name the node' })).toBeDisabled();
    await lookAt(page, SPEC, 'image-opened-while-running');
  } finally {
    await shell?.close();
  }
});

test('a file opened during a flash changes nothing: the flash screen stays, a notice says why', async () => {
  requireLoop();
  stick = attachSparseLoop(tmp.path, 64 * MiB, { name: 'stick.img' });
  const device = stick.device;
  // The helper's run says it is writing, then holds until cancelled: the file arrives while
  // the stick is being written, however fast a loop device is. Everything before it (the
  // plan, the drive checks on the real loop device) is the real thing.
  const run: RunJob = (_job, opts) =>
    new Promise((_resolve, reject) => {
      opts.onEvent?.({
        type: 'progress',
        phase: 'writing',
        bytes: MiB,
        total: 10 * MiB,
        speed: MiB,
        eta: 9,
      });
      opts.signal?.addEventListener('abort', () => reject(cancelledError()), { once: true });
    });
  let shell: WebShell | null = null;
  try {
    shell = await startWebShell({
      rendererDir: join(repo, 'dist', 'renderer'),
      shellScript: join(repo, 'dist', 'web-shell', 'zflash-shell.js'),
      userData: join(tmp.path, 'data-flashing'),
      nixosFolder: join(repo, 'nixos'),
      home: join(tmp.path, 'home'),
      allowLoop: true,
      openedFile: zeta,
      deps: { run },
    });
    await open(page, shell.url);
    await expect(page.getByTestId('installer')).toHaveAttribute('data-kind', 'zeta');
    await page.getByRole('button', { name: 'Next: name the node' }).click();
    await expect(page.getByLabel('Node name')).toHaveValue('node-01');
    await page.getByRole('button', { name: 'Next: SSH keys' }).click();
    await expect(page.getByTestId('local-keys').getByRole('checkbox')).toBeChecked();
    await page.getByRole('button', { name: 'Next: choose the stick' }).click();
    await page.locator(`[data-testid=drive][data-device="${device}"]`).getByRole('radio').check();
    await page.getByRole('button', { name: 'Next: review' }).click();
    await page.getByRole('button', { name: `Erase ${device} and flash` }).click();
    await expect(page.getByTestId('progress')).toBeVisible();

    shell.openFile(nixos);
    await expect(page.getByRole('list', { name: 'Notes' })).toContainText(
      'nixos-minimal.iso was not opened: a stick is being written.',
    );
    await expect(page.getByTestId('progress')).toBeVisible();
    await lookAt(page, SPEC, 'opened-during-flash');
    // The flash still writes the image it was planned with; the opened file was not inspected.
    expect(shell.service.sessions.list().map((f) => f.session.status)).toEqual(['running']);
    await expect
      .poll(async () =>
        page.evaluate(() => window.zflash.diagnostics({ error: null, device: null, image: null })),
      )
      .toMatchObject({
        ok: true,
        value: { text: expect.stringContaining('zeta-installer-0.2.0') },
      });

    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.getByTestId('step-drive')).toBeVisible();
  } finally {
    await shell?.close();
  }
});
