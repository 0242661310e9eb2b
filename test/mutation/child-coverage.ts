/**
 * Setup file for modules whose tests reach them through child processes (the built CLI, the
 * helper), used only while Stryker runs (test/mutation/vitest.config.ts):
 *
 * - the active mutant reaches every process a test starts, through the variable Stryker's
 *   instrumented code reads (`__STRYKER_ACTIVE_MUTANT__`), with NODE_OPTIONS loading
 *   child-preload.mjs; tests that hand a child an environment of their own (the helper gets
 *   PATH only) get those three variables added by a wrapper around node:child_process;
 * - what those processes covered is added to the coverage of the test that started them, so
 *   Stryker's per-test coverage analysis runs each mutant against the tests that reach it.
 *
 * It changes no assertion and no test's behaviour: outside Stryker the variables are unset.
 */
import childProcess from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';

type Counts = Record<string, number>;
interface Coverage {
  static: Counts;
  perTest: Record<string, Counts>;
}
interface StrykerNs {
  activeMutant?: string;
  currentTestId?: string;
  mutantCoverage?: Coverage;
}

const g = globalThis as { __stryker__?: StrykerNs };
const ns: StrykerNs = g.__stryker__ ?? (g.__stryker__ = {});
const root = process.env['ZFLASH_MUTATION_COVERAGE_ROOT'];
if (!root) throw new Error('ZFLASH_MUTATION_COVERAGE_ROOT is not set (run test/mutation/run.mjs)');
const preload = new URL('./child-preload.mjs', import.meta.url).href;

const VARS = ['__STRYKER_ACTIVE_MUTANT__', 'NODE_OPTIONS', 'ZFLASH_MUTATION_COVERAGE'] as const;

function newDir(): string {
  const d = mkdtempSync(join(root!, 'cov-'));
  // Processes run as another uid (setpriv 65534) write here too.
  chmodSync(d, 0o1777);
  return d;
}

const dir = newDir();
function setEnv(): void {
  if (ns.activeMutant === undefined) delete process.env['__STRYKER_ACTIVE_MUTANT__'];
  else process.env['__STRYKER_ACTIVE_MUTANT__'] = String(ns.activeMutant);
  const opts = process.env['NODE_OPTIONS'] ?? '';
  if (!opts.includes(preload)) process.env['NODE_OPTIONS'] = `${opts} --import=${preload}`.trim();
  process.env['ZFLASH_MUTATION_COVERAGE'] = dir;
}
setEnv();

/** Adds what the children wrote since the last call to `into`, and empties the folder. */
function collect(into: Counts): void {
  for (const f of readdirSync(dir)) {
    const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Coverage;
    for (const counts of [c.static, ...Object.values(c.perTest)]) {
      for (const [id, n] of Object.entries(counts)) into[id] = (into[id] ?? 0) + n;
    }
    rmSync(join(dir, f), { force: true });
  }
}

const coverage = (): Coverage =>
  ns.mutantCoverage ?? (ns.mutantCoverage = { static: {}, perTest: {} });

let testId: string | undefined;
beforeAll(() => setEnv());
beforeEach(() => {
  // What children of beforeAll hooks covered belongs to every test: static coverage.
  collect(coverage().static);
  testId = ns.currentTestId;
  setEnv();
});
afterEach(() => {
  const c = coverage();
  if (testId === undefined) collect(c.static);
  else collect((c.perTest[testId] ??= {}));
  testId = undefined;
});
afterAll(() => {
  collect(coverage().static);
});

/** Adds the variables to an environment a test hands a child explicitly. */
function withVars<T extends { env?: NodeJS.ProcessEnv } | undefined>(options: T): T {
  if (!options || typeof options !== 'object' || !options.env) return options;
  const extra: NodeJS.ProcessEnv = {};
  for (const k of VARS) if (process.env[k] !== undefined) extra[k] = process.env[k];
  return { ...options, env: { ...options.env, ...extra } };
}

type AnyFn = (...args: unknown[]) => unknown;
const cp = childProcess as unknown as Record<string, AnyFn>;
for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'fork']) {
  const original = cp[name]!;
  cp[name] = function (this: unknown, ...args: unknown[]) {
    // (cmd, args?, options?, callback?): the options object is the first non-array object.
    const i = args.findIndex((a, n) => n > 0 && a && typeof a === 'object' && !Array.isArray(a));
    if (i > 0) args[i] = withVars(args[i] as { env?: NodeJS.ProcessEnv });
    return original.apply(this, args);
  };
}
syncBuiltinESMExports();
