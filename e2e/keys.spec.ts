// The keys step with real keys made by ssh-keygen: a dropped private key is refused calmly and
// none of it — bytes or path — appears in any request the page sent, in the console, in the
// web shell's log or in the remembered settings; a dropped .pub is taken with the fingerprint
// ssh-keygen prints; a private key chosen in the dialog is refused by the engine the same calm way.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildZetaIso, tempDir } from '../test/fixtures.js';
import { answerPathDialog, dropFile, open, toKeys } from './support/flow.js';
import { lookAt, VIEWPORT } from './support/ui.js';
import { startWebShell, type WebShellProcess } from './support/web-shell.js';

const SPEC = 'keys';
// The second test starts from what the first one left remembered.
test.describe.configure({ mode: 'serial' });

let tmp: ReturnType<typeof tempDir>;
let shell: WebShellProcess;
let home: string;
let iso: string;

function keygen(path: string, args: string[] = ['-t', 'ed25519']): void {
  execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', 'e2e-key', '-f', path]);
}
const fingerprintOf = (pub: string) =>
  execFileSync('ssh-keygen', ['-l', '-f', pub]).toString().split(' ')[1] as string;

/** The secret part of a private key file: its armoured body, line by line. */
function secretLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length >= 20 && !l.startsWith('-----'));
}

test.beforeAll(async () => {
  tmp = tempDir('zflash-e2e-keys-');
  home = join(tmp.path, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  // Two keys in ~/.ssh: neither is pre-selected.
  keygen(join(home, '.ssh', 'id_ed25519'));
  keygen(join(home, '.ssh', 'id_ecdsa'), ['-t', 'ecdsa']);
  keygen(join(tmp.path, 'drop_ed25519'));
  keygen(join(tmp.path, 'drop_rsa_pem'), ['-t', 'rsa', '-b', '3072', '-m', 'PEM']);
  iso = buildZetaIso(join(tmp.path, 'zeta.iso'));
  shell = await startWebShell({ userData: join(tmp.path, 'data'), home, pickImage: iso });
});

test.afterAll(async () => {
  await shell?.close();
  tmp?.cleanup();
});

async function watch(page: Page) {
  const sent: string[] = [];
  const logged: string[] = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
  page.on('console', (m) => logged.push(m.text()));
  page.on('pageerror', (e) => logged.push(e.message));
  return { sent, logged };
}

test('a dropped private key is refused, and none of it leaves the page', async ({ browser }) => {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const { sent, logged } = await watch(page);
  await open(page, shell.url);
  await toKeys(page);
  await expect(page.getByTestId('local-keys').getByRole('checkbox')).toHaveCount(2);
  await expect(page.getByTestId('local-keys').getByRole('checkbox').first()).not.toBeChecked();

  for (const name of ['drop_ed25519', 'drop_rsa_pem']) {
    await dropFile(page, name, readFileSync(join(tmp.path, name)));
    await expect(page.getByTestId('key-refusal')).toContainText(
      'This is a private key — it never leaves this computer',
    );
    await expect(page.getByTestId('key-count')).toHaveText(/No key chosen yet/);
  }
  await lookAt(page, SPEC, 'private-key-refused');

  // A public key dropped the same way is taken, with ssh-keygen's own fingerprint.
  const pub = join(tmp.path, 'drop_ed25519.pub');
  await dropFile(page, 'drop_ed25519.pub', readFileSync(pub));
  await expect(page.getByTestId('key-refusal')).toHaveCount(0);
  await expect(page.getByTestId('chosen-keys')).toContainText(fingerprintOf(pub));
  await expect(page.getByTestId('key-count')).toHaveText('1 key will be on the stick.');
  await lookAt(page, SPEC, 'public-key-dropped');

  // Whatever happened, the private keys' bytes and paths went nowhere.
  const everywhere = [
    ...sent,
    ...logged,
    shell.log(),
    ...readdirSync(join(tmp.path, 'data')).map((f) =>
      readFileSync(join(tmp.path, 'data', f), 'utf8'),
    ),
  ].join('\n');
  expect(sent.length).toBeGreaterThan(0);
  expect(everywhere).toContain(readFileSync(pub, 'utf8').split(' ')[1]); // the public one did go
  for (const name of ['drop_ed25519', 'drop_rsa_pem']) {
    for (const line of secretLines(join(tmp.path, name))) expect(everywhere).not.toContain(line);
    expect(everywhere).not.toContain(join(tmp.path, name));
  }
  expect(everywhere).not.toContain('PRIVATE KEY');
  await context.close();
});

test('a private key chosen in the dialog is refused by the engine, calmly', async ({ browser }) => {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const { sent } = await watch(page);
  await open(page, shell.url);
  await toKeys(page);
  // The .pub dropped in the first test is remembered (settings keep public key lines only).
  await expect(page.getByTestId('key-count')).toHaveText('1 key will be on the stick.');
  await page.getByRole('button', { name: 'Choose a .pub file…' }).click();
  await answerPathDialog(page, 'key', join(home, '.ssh', 'id_ed25519'));
  await expect(page.getByTestId('key-refusal')).toContainText('This is a private key');
  // Main read the file and answered with the code alone: no byte of the key came back.
  for (const line of secretLines(join(home, '.ssh', 'id_ed25519')))
    expect(sent.join('\n')).not.toContain(line);

  // Ticking a key from ~/.ssh chooses it; the choice is remembered for the next window.
  await page.getByTestId('local-keys').getByRole('checkbox').first().check();
  await expect(page.getByTestId('key-count')).toHaveText('2 keys will be on the stick.');
  await lookAt(page, SPEC, 'local-key-ticked');
  const again = await context.newPage();
  await open(again, shell.url);
  await toKeys(again);
  await expect(again.getByTestId('key-count')).toHaveText('2 keys will be on the stick.');
  await expect(again.getByTestId('local-keys').getByRole('checkbox').first()).toBeChecked();
  await context.close();
});
