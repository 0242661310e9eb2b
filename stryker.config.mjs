// @ts-check
/**
 * StrykerJS settings shared by every module. Run it through `npm run mutation`
 * (test/mutation/run.mjs), which mutates one module at a time against the suites that cover
 * it (test/mutation/modules.mjs) and prints the score of each; docs/testing.md says how to
 * read the report.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // Each mutant runs only the tests that reached its code in the dry run (children included).
  coverageAnalysis: 'perTest',
  // The machine is shared and the loop-device suites are sequential: never more than 2.
  concurrency: 1,
  // Loop-device suites start processes and wait on the kernel: leave them room.
  timeoutMS: 20_000,
  timeoutFactor: 2,
  // The sandbox builds dist/ from the instrumented sources for the suites that run the CLI and
  // the helper: type checks of instrumented code are off there (it is not what is tested).
  disableTypeChecks: 'app/**/*.ts',
  tempDirName: '.stryker-tmp',
  ignorePatterns: [
    'dist',
    'out',
    'release',
    'reports',
    'coverage',
    'test-results',
    'playwright-report',
    '.tmp',
    '.stryker-tmp',
  ],
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 85, low: 70, break: null },
  incremental: true,
  cleanTempDir: true,
};
