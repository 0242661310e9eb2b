/**
 * The modules that guard data, each mutated against the suites that cover it
 * (docs/testing.md, "Mutation testing"). `children: true` marks a module whose tests reach it
 * through processes they start (the built CLI, the helper): those run the instrumented build
 * in Stryker's sandbox, get the active mutant through the environment and report coverage
 * back to the test that started them (test/mutation/child-coverage.ts).
 */
export const modules = [
  {
    name: 'fat',
    mutate: ['app/disk/fat.ts'],
    tests: ['app/disk/fat.test.ts'],
  },
  {
    name: 'partition-table',
    mutate: ['app/disk/partition-table.ts'],
    tests: ['app/disk/partition-table.test.ts'],
  },
  {
    name: 'policy',
    mutate: ['app/drives/policy.ts'],
    tests: ['app/drives/policy.test.ts'],
  },
  {
    name: 'ssh-keys',
    mutate: ['app/node/ssh-keys.ts'],
    tests: ['app/node/ssh-keys.test.ts', 'app/node/identity.test.ts'],
  },
  {
    name: 'hostname',
    mutate: ['app/node/hostname.ts'],
    tests: ['app/node/hostname.test.ts', 'app/node/identity.test.ts'],
  },
  {
    // test/flash.test.ts starts the helper too (its files channel, cancel file, parent
    // watchdog), but rebuilds its compressed images for every mutant; test/helper.test.ts
    // runs the same channels and checks: left out to keep the run practical.
    // test/helper-main-live.test.ts (the watchdog in process) fails under Stryker's worker
    // threads (its dry run ends the cancelled write with exit 4): left out too.
    name: 'helper',
    mutate: ['app/helper/main.ts', 'app/helper/job-file.ts'],
    tests: ['app/helper/job-file.test.ts', 'app/helper/main.test.ts', 'test/helper.test.ts'],
    children: true,
  },
  {
    // In process, on files and on real loop devices. test/flash.test.ts reaches this module
    // too, through the CLI and the helper, but rebuilds its compressed images for every
    // mutant (~30 s each): left out to keep the run practical.
    name: 'write',
    mutate: ['app/flash/write.ts'],
    tests: ['app/flash/write.test.ts', 'test/write-device.test.ts'],
  },
];
