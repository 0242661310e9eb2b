/**
 * `npm run web`: serves the built renderer on 127.0.0.1 with the app's IPC contract over a
 * token-protected WebSocket, backed by the real handlers and engine, and prints the URL to
 * open. Ctrl-C stops it (running flashes are cancelled first).
 *
 *   --port N            listen on this port (default: a free one)
 *   --pick-image PATH   answer every "choose an image" dialog with PATH (tests, scripts)
 *   --pick-key PATH     answer every "choose a key" dialog with PATH
 *   --save-to PATH      answer every "save diagnostics" dialog with PATH
 *   --open-file PATH    start as if the OS had opened the app with PATH (a double-clicked image)
 *   --user-data DIR     where settings live (default: ~/.config/zeta-flash-web)
 *
 * ZFLASH_ALLOW_LOOP=1 offers loop devices as drives (Linux), as for the CLI.
 */
import {
  DEFAULT_MANIFEST_URL,
  RELEASE_PUBLIC_KEYS,
  defaultCacheDir,
  trustedKeys,
} from '../../app/catalog/index.js';
import { rosterPathFromEnv } from '../../app/roster/paths.js';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startWebShell } from './server.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/e2e/web-shell/cli.js → dist/
const dist = resolve(here, '..', '..');
const repo = resolve(dist, '..');

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        'pick-image': { type: 'string' },
        'pick-key': { type: 'string' },
        'save-to': { type: 'string' },
        'open-file': { type: 'string' },
        'user-data': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(
      `zflash web shell: ${(err as Error).message}\nhint: npm run web -- --help\n`,
    );
    return 2;
  }
  if (values.help) {
    process.stdout.write(
      'npm run web [-- --port N] [--pick-image PATH] [--pick-key PATH] [--save-to PATH] [--open-file PATH] [--user-data DIR]\n',
    );
    return 0;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`zflash web shell: --port must be a port number, not "${values.port}".\n`);
    return 2;
  }
  const userData = resolve(values['user-data'] ?? join(homedir(), '.config', 'zeta-flash-web'));
  mkdirSync(userData, { recursive: true, mode: 0o700 });
  const answers = {
    ...(values['pick-image'] ? { image: resolve(values['pick-image']) } : {}),
    ...(values['pick-key'] ? { key: resolve(values['pick-key']) } : {}),
    ...(values['save-to'] ? { save: resolve(values['save-to']) } : {}),
  };
  const shell = await startWebShell({
    port,
    rendererDir: join(dist, 'renderer'),
    shellScript: join(dist, 'web-shell', 'zflash-shell.js'),
    userData,
    nixosFolder: join(repo, 'nixos'),
    allowLoop: process.platform === 'linux' && process.env['ZFLASH_ALLOW_LOOP'] === '1',
    answers,
    ...(values['open-file'] ? { openedFile: resolve(values['open-file']) } : {}),
    // The same roster, download cache and catalogue as the zflash command and the app.
    roster: rosterPathFromEnv({ platform: process.platform, env: process.env, homedir: homedir() }),
    cache: defaultCacheDir({ platform: process.platform, env: process.env, homedir: homedir() }),
    catalog: {
      manifestUrl: process.env['ZFLASH_MANIFEST_URL'] || DEFAULT_MANIFEST_URL,
      keys: () => trustedKeys(RELEASE_PUBLIC_KEYS),
    },
  });
  process.stdout.write(
    `Zeta Flash web shell: open ${shell.url}\n(127.0.0.1 only; the token after # lets that page in. Ctrl-C stops.)\n`,
  );
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write('Stopping…\n');
  await shell.close();
  return 0;
}

process.exitCode = await main();
