#!/usr/bin/env node
// The `zflash` command. The TypeScript engine is compiled to dist/ by `npm run build`
// (run by `prepare`, so `npm ci` leaves a working `npx zflash`), which also bundles the command
// and its helper into one file each in dist/cli/ (scripts/bundle-cli.mjs: faster start-up).
// The bundle is used unless tsc has written dist/ since (a bare `tsc` leaves it stale).
import { statSync } from 'node:fs';

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const compiled = mtime('../dist/app/cli/main.js');
if (compiled === undefined) {
  process.stderr.write(
    'zflash is not built yet.\nhint: run `npm run build` (or `npm ci`, which builds) in the project folder.\ncode: ZFLASH_NOT_BUILT\n',
  );
  process.exit(1);
}
const bundled = mtime('../dist/cli/zflash.js');
const entry =
  bundled !== undefined && bundled >= compiled
    ? '../dist/cli/zflash.js'
    : '../dist/app/cli/main.js';
const { main } = await import(new URL(entry, import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
