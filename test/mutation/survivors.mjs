#!/usr/bin/env node
/**
 * `node test/mutation/survivors.mjs MODULE`: the mutants of the last run of MODULE that no
 * test killed (survived, no coverage), one line each: file:line:column, mutator, replacement.
 */
import { readFileSync } from 'node:fs';

const name = process.argv[2];
if (!name) {
  console.error('usage: survivors.mjs MODULE');
  process.exit(2);
}
const report = JSON.parse(
  readFileSync(new URL(`../../reports/mutation/${name}/mutation.json`, import.meta.url), 'utf8'),
);
for (const [file, { mutants }] of Object.entries(report.files)) {
  for (const m of mutants) {
    if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue;
    const { line, column } = m.location.start;
    const repl = (m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 90);
    console.log(`${file}:${line}:${column} ${m.status} ${m.mutatorName}: ${repl}`);
  }
}
