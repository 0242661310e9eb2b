/**
 * Playwright: the e2e suite in Debian's Chromium (`playwright install` cannot download
 * browsers here, DESIGN.md) against the web shell, and the Electron spec, which runs the real
 * app where an Electron binary is installed and reports itself skipped where it is not.
 * `npm run e2e` builds first; `npm test` runs it after the build.
 */
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  // Loop devices and the CPU are shared: one worker, one file at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env['ZFLASH_CHROMIUM'] ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    },
    trace: 'off',
    screenshot: 'off',
    video: 'off',
  },
});
