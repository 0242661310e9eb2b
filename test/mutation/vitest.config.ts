/**
 * Vitest as Stryker runs it for one module (test/mutation/run.mjs): the project's settings
 * with the include narrowed to the suites that cover that module.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.js';

const tests = (process.env['ZFLASH_MUTATION_TESTS'] ?? '').split(',').filter(Boolean);
if (tests.length === 0) throw new Error('ZFLASH_MUTATION_TESTS names no test file');
const children = process.env['ZFLASH_MUTATION_CHILDREN'] === '1';

export default defineConfig({
  ...base,
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    ...base.test,
    include: tests,
    setupFiles: children ? [fileURLToPath(new URL('./child-coverage.ts', import.meta.url))] : [],
  },
});
