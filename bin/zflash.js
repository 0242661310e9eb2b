#!/usr/bin/env node
// The `zflash` command. The TypeScript engine is compiled to dist/ by `npm run build`
// (run by `prepare`, so `npm ci` leaves a working `npx zflash`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/app/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'zflash is not built yet.\nhint: run `npm run build` (or `npm ci`, which builds) in the project folder.\ncode: ZFLASH_NOT_BUILT\n',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
