// Builds what tsc does not: the sandboxed preload (one CommonJS file: a sandboxed preload can
// only require('electron')), the web shell's page script (one classic script, so it runs
// before the renderer's modules), and the renderer. Until renderer/index.html exists, the
// placeholder page in main/placeholder/ stands in for it. Run after `npm run build` (tsc).
import { cp, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const dist = join(root, 'dist');
const quiet = { logLevel: 'warn', configFile: false, publicDir: false };

async function bundle(entry, outDir, fileName, format) {
  await build({
    ...quiet,
    root,
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      sourcemap: false,
      target: 'es2022',
      lib: {
        entry: join(root, entry),
        formats: [format],
        fileName: () => fileName,
        name: 'zflashShell',
      },
      rollupOptions: { external: ['electron'] },
    },
  });
}

await bundle('main/preload.ts', join(dist, 'preload'), 'preload.cjs', 'cjs');
await bundle(
  'e2e/web-shell/page/shell-page.ts',
  join(dist, 'web-shell'),
  'zflash-shell.js',
  'iife',
);

const rendererOut = join(dist, 'renderer');
await rm(rendererOut, { recursive: true, force: true });
const rendererRoot = join(root, 'renderer');
if (existsSync(join(rendererRoot, 'index.html'))) {
  const configFile = ['vite.config.ts', 'vite.config.mjs', 'vite.config.js']
    .map((f) => join(rendererRoot, f))
    .find((f) => existsSync(f));
  await build({
    logLevel: 'warn',
    root: rendererRoot,
    base: './',
    configFile: configFile ?? false,
    build: { outDir: rendererOut, emptyOutDir: true },
  });
  console.log('built the renderer into dist/renderer');
} else {
  await mkdir(rendererOut, { recursive: true });
  await cp(join(root, 'main', 'placeholder'), rendererOut, { recursive: true });
  console.log('renderer/index.html does not exist yet: dist/renderer holds the placeholder page');
}
