import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['app/**/*.test.ts', 'test/**/*.test.ts', 'renderer/**/*.test.ts'],
    // Loop devices and fixture images are real and shared by the kernel: keep
    // files sequential so two suites never race for losetup or the CPU.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
