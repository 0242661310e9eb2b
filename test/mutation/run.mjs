#!/usr/bin/env node
/**
 * `npm run mutation [-- MODULE... [--concurrency N] [--full]]`: StrykerJS over the modules
 * that guard data, one module at a time against the suites that cover it, then a table of
 * mutation scores (killed + timed out over all valid mutants) per module and file.
 *
 * `npm run mutation -- MODULE --lines FILE:A-B [--lines FILE:C-D]…`: a narrowed re-test of one
 * module's lines (after tests aimed at their survivors), with the same suites and sandbox.
 * Its table is printed only: summary.json and summary.md keep whole-module runs.
 *
 * Reports go to reports/mutation/ (gitignored): MODULE/mutation.html to browse every mutant,
 * MODULE/mutation.json, MODULE/incremental.json (Stryker's incremental mode: an unchanged
 * mutant with unchanged tests keeps its result; --full ignores it), summary.json and
 * summary.md (the table docs/testing.md keeps).
 *
 * The suites of the helper and the write path attach loop devices (root). Every temp file of
 * the run goes to a folder of its own (TMPDIR); afterwards only loop devices backed by files
 * in it and mounts inside it are undone, then it is removed.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stryker } from '@stryker-mutator/core';
import { modules } from './modules.mjs';

const repo = fileURLToPath(new URL('../..', import.meta.url));
process.chdir(repo);

const argv = process.argv.slice(2);
let concurrency = 1;
let full = false;
let dryRunOnly = false;
const lines = [];
const names = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--concurrency') concurrency = Number(argv[++i]);
  else if (a === '--full') full = true;
  else if (a === '--dry-run') dryRunOnly = true;
  else if (a === '--lines') lines.push(argv[++i] ?? '');
  else names.push(a);
}
if (!(concurrency === 1 || concurrency === 2)) {
  console.error('--concurrency is 1 or 2 (the machine is shared)');
  process.exit(2);
}
const unknown = names.filter((n) => !modules.some((m) => m.name === n));
if (unknown.length > 0) {
  console.error(`unknown module ${unknown.join(', ')}; known: ${modules.map((m) => m.name)}`);
  process.exit(2);
}
const selected = names.length ? modules.filter((m) => names.includes(m.name)) : modules;
if (lines.length > 0) {
  const files = selected.length === 1 ? selected[0].mutate : [];
  const bad = lines.filter((l) => !/^[^:]+:\d+-\d+$/.test(l) || !files.includes(l.split(':')[0]));
  if (selected.length !== 1 || bad.length > 0) {
    console.error(
      `--lines needs one module and FILE:A-B ranges in its files (${files.join(', ') || 'name one module'})`,
    );
    process.exit(2);
  }
}
if (selected.some((m) => m.children) && process.getuid?.() !== 0) {
  console.error('the helper and write suites attach loop devices: run as root');
  process.exit(2);
}

const out = join(repo, 'reports', 'mutation');
mkdirSync(out, { recursive: true });

/** Loop devices backed by files under `dir`, and mounts inside it: only ours. */
function undoLeftovers(dir) {
  const mounts = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
  for (const t of (mounts.stdout ?? '').split('\n').reverse()) {
    if (t.startsWith(`${dir}/`)) spawnSync('umount', [t]);
  }
  const loops = spawnSync('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  for (const line of (loops.stdout ?? '').split('\n')) {
    const [name, back] = line.trim().split(/\s+/, 2);
    if (name && back?.startsWith(`${dir}/`)) spawnSync('losetup', ['-d', name]);
  }
}

function tally(results, files) {
  const rows = [];
  for (const file of files) {
    const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, errors: 0, ignored: 0 };
    for (const r of results.filter((x) => relative(repo, x.fileName) === file)) {
      if (r.status === 'Killed') c.killed++;
      else if (r.status === 'Timeout') c.timeout++;
      else if (r.status === 'Survived') c.survived++;
      else if (r.status === 'NoCoverage') c.noCoverage++;
      else if (r.status === 'Ignored') c.ignored++;
      else c.errors++; // CompileError, RuntimeError: not valid mutants
    }
    const valid = c.killed + c.timeout + c.survived + c.noCoverage;
    rows.push({ file, ...c, valid, score: valid ? (100 * (c.killed + c.timeout)) / valid : null });
  }
  return rows;
}

const summary = [];
const started = Date.now();
for (const m of selected) {
  const t0 = Date.now();
  const tmp = mkdtempSync('/tmp/zflash-mutation-');
  chmodSync(tmp, 0o1777);
  const env = {
    TMPDIR: tmp,
    ZFLASH_MUTATION_TESTS: m.tests.join(','),
    ZFLASH_MUTATION_CHILDREN: m.children ? '1' : '0',
    ZFLASH_MUTATION_COVERAGE_ROOT: tmp,
  };
  Object.assign(process.env, env);
  const dir = join(out, m.name);
  console.log(`\n=== ${m.name}: ${m.mutate.join(', ')} against ${m.tests.join(', ')}`);
  let results;
  try {
    results = await new Stryker({
      mutate: lines.length > 0 ? lines : m.mutate,
      concurrency,
      dryRunOnly,
      // A narrowed run neither uses nor overwrites the module's incremental record.
      incremental: !full && lines.length === 0,
      force: full,
      incrementalFile: join(dir, 'incremental.json'),
      // A narrowed run's report goes beside the whole run's, not over it.
      htmlReporter: { fileName: join(dir, lines.length ? 'narrowed' : '', 'mutation.html') },
      jsonReporter: { fileName: join(dir, lines.length ? 'narrowed' : '', 'mutation.json') },
      vitest: { configFile: 'test/mutation/vitest.config.ts', related: !m.children },
      ...(m.children ? { buildCommand: 'npx tsc -p tsconfig.build.json' } : {}),
    }).runMutationTest();
  } finally {
    undoLeftovers(tmp);
    rmSync(tmp, { recursive: true, force: true });
  }
  const seconds = Math.round((Date.now() - t0) / 1000);
  for (const row of tally(results, m.mutate)) summary.push({ module: m.name, seconds, ...row });
}

const date = new Date().toISOString().slice(0, 10);
const totalSeconds = Math.round((Date.now() - started) / 1000);
const pct = (s) => (s === null ? '-' : `${s.toFixed(1)} %`);
const mmss = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
let previous = [];
try {
  const saved = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  previous = (saved.rows ?? []).map((r) => ({ date: saved.date, ...r }));
} catch {
  // first run
}
// A run of some modules keeps the last rows of the others (each row has its own date).
const rows = [
  ...previous.filter((p) => !selected.some((m) => m.name === p.module)),
  ...summary.map((r) => ({ ...r, date, concurrency })),
].sort(
  (a, b) =>
    modules.findIndex((m) => m.name === a.module) - modules.findIndex((m) => m.name === b.module),
);
const table = [
  '| module | file | score | killed | timeout | survived | no coverage | module runtime | measured |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...rows.map(
    (r) =>
      `| ${r.module} | \`${r.file}\` | ${pct(r.score)} | ${r.killed} | ${r.timeout} | ${r.survived} | ${r.noCoverage} | ${mmss(r.seconds)} | ${r.date} |`,
  ),
].join('\n');
console.log(
  `\nThis run: ${selected.map((m) => m.name).join(', ')} in ${mmss(totalSeconds)} (concurrency ${concurrency}).\n\n${table}\n`,
);
if (lines.length === 0) {
  writeFileSync(join(out, 'summary.json'), `${JSON.stringify({ rows }, null, 2)}\n`);
  writeFileSync(join(out, 'summary.md'), `${table}\n`);
} else {
  console.log(`narrowed to ${lines.join(', ')}: not kept in summary.md (whole-module runs only)`);
}
const below = summary.filter((r) => r.score !== null && r.score < 85);
if (below.length) console.log(`below 85 %: ${below.map((r) => r.file).join(', ')}`);
