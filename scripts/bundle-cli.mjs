// Bundles the `zflash` command and its privileged helper into ES modules in dist/cli/:
//   dist/cli/zflash.js (+ its chunks dist/cli/zflash-*.js)  ← dist/app/cli/main.js
//   dist/cli/entry.js                                       ← dist/app/helper/entry.js
// Run by `npm run build` after tsc; bin/zflash.js prefers the bundle when it is not older than
// tsc's output (a bare `tsc` after a build leaves the bundle behind, so bin/ falls back).
//
// Why: a flash starts two Node processes (the command, then the helper), and on Node 20 each
// spent most of its start-up resolving, reading and compiling ~250 separate modules (zod alone
// is ~100 files). One file per process removes the resolution and the file I/O; measured with
// bench/flash.ts (start-up row), it is the largest single part of reaching the 0.3 s target.
// Splitting the command into chunks took another ~75 ms off (0.55 → 0.48 s): the helper is
// started from the entry chunk, which compiles in a few ms where the whole command took ~80.
// The helper bundle sits beside the command's chunks because app/helper/prestart.ts finds the
// helper as `./entry.js` next to itself (import.meta.url is kept as is in ES module output).
//
// Native addons and packages that read their own files at run time stay outside (loaded from
// node_modules with createRequire, as in the unbundled build and the packaged helper).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { helperPackages, root } from './helper-build.mjs';

/** The files this script writes, relative to the repository. */
const CLI_BUNDLE = 'dist/cli/zflash.js';
const HELPER_BUNDLE = 'dist/cli/entry.js';

export async function bundleCli({ log = () => {} } = {}) {
  const { rolldown } = await import('rolldown');
  const { NATIVE_MODULES } = await import(
    pathToFileURL(join(root, 'dist', 'app', 'native.js')).href
  );
  const externals = helperPackages([...NATIVE_MODULES]);
  const outDir = join(root, 'dist', 'cli');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  for (const [input, file] of [
    ['dist/app/cli/main.js', CLI_BUNDLE],
    ['dist/app/helper/entry.js', HELPER_BUNDLE],
  ]) {
    const bundle = await rolldown({
      input: join(root, input),
      platform: 'node',
      external: (id) => externals.some((e) => id === e || id.startsWith(`${e}/`)),
      logLevel: 'warn',
    });
    try {
      // The command is split: its entry chunk (argv, the early helper start, the command
      // table) is small, so the helper starts before the command's own modules are even
      // compiled; each command's modules are a chunk loaded when it runs. The helper runs one
      // verb with nearly all of its code: one file.
      const split = file === CLI_BUNDLE;
      await bundle.write({
        ...(split
          ? { dir: outDir, entryFileNames: 'zflash.js', chunkFileNames: 'zflash-[name]-[hash].js' }
          : { file: join(root, file), codeSplitting: false }),
        format: 'esm',
        sourcemap: false,
      });
    } finally {
      await bundle.close();
    }
    log(`bundled ${input} → ${file}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await bundleCli();
}
