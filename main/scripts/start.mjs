// `npm start`, after the build: starts the Electron app from this folder (package.json "main"
// is dist/main/main.js). Where the Electron binary is not installed — this build environment
// cannot download it (DESIGN.md) — it says so and points at the web shell, without a stack.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const require = createRequire(import.meta.url);

/** The electron package exports the binary's path, and throws when its download never ran. */
function electronBinary() {
  try {
    return require('electron');
  } catch {
    return null;
  }
}
const binary = electronBinary();
if (typeof binary !== 'string' || !existsSync(binary)) {
  process.stderr.write(
    [
      'The Electron binary is not installed here, so the desktop app cannot start.',
      'hint: install it with `node node_modules/electron/install.js` on a machine that can',
      '      download it (npm 11 skips its install script; ELECTRON_SKIP_BINARY_DOWNLOAD=1 also',
      '      skips it), or run the same app in a browser with `npm run web`.',
      '',
    ].join('\n'),
  );
  process.exit(2);
}

const child = spawn(binary, ['.'], { cwd: root, stdio: 'inherit', env: process.env });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
