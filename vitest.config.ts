import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'app/**/*.test.ts',
      'test/**/*.test.ts',
      'main/**/*.test.ts',
      'e2e/**/*.test.ts',
      'renderer/**/*.test.ts',
    ],
    // Loop devices and fixture images are real and shared by the kernel: keep
    // files sequential so two suites never race for losetup or the CPU.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Flashes in tests record into no roster unless a test names one (ZFLASH_ROSTER=PATH):
    // the operator's own roster in ~/.local/share is never touched by a test run.
    env: { ZFLASH_ROSTER: 'off' },
  },
});
