/**
 * The renderer's build: React + zustand into dist/renderer with relative asset paths (Electron
 * serves it from app://, the web shell from 127.0.0.1). The production page must run under
 * `script-src 'self'; style-src 'self'`: no inline script or style, no data: assets, no
 * modulepreload polyfill. `npm run dev:ui` serves renderer/dev/ with an in-memory fake of
 * window.zflash; the production input is index.html alone, so the fake never ships.
 */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    rollupOptions: { input: fileURLToPath(new URL('./index.html', import.meta.url)) },
  },
  server: { host: '127.0.0.1', port: 5178, strictPort: false },
});
