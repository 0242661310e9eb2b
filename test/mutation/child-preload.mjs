/**
 * Loaded (NODE_OPTIONS=--import) into every process a test starts while Stryker runs a module
 * whose tests reach it through child processes: on exit, the instrumented code's mutant
 * coverage is written where the test that started us collects it (child-coverage.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

process.on('exit', () => {
  const dir = process.env['ZFLASH_MUTATION_COVERAGE'];
  const coverage = globalThis.__stryker__?.mutantCoverage;
  if (!dir || !coverage) return;
  try {
    writeFileSync(join(dir, `${process.pid}-${Date.now()}.json`), JSON.stringify(coverage));
  } catch {
    // A process that may not write there (setpriv to another uid) loses its coverage only.
  }
});
