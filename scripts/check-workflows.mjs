#!/usr/bin/env node
// Validates GitHub Actions workflow files offline with GitHub's own workflow parser and schema
// (@actions/workflow-parser, the parser behind GitHub's Actions language service): unknown keys,
// wrong value types, bad expressions and missing required properties are errors.
//
//   node scripts/check-workflows.mjs [FILE...]     (default: .github/workflows/*.yml)
//
// Exit 0 when every file is valid, 1 with one line per problem otherwise.
import { readdirSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';

// The parser imports its schema JSON without an import attribute, which bundlers accept and
// Node refuses; this resolve hook adds the attribute for that package's JSON files only.
const hooks = `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.endsWith('.json') && r.url.includes('/@actions/workflow-parser/'))
    return { ...r, importAttributes: { type: 'json' } };
  return r;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } =
  await import('@actions/workflow-parser');

const dir = new URL('../.github/workflows/', import.meta.url).pathname;
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => join(dir, f));

let problems = 0;
for (const file of files) {
  const content = readFileSync(file, 'utf8');
  const parsed = parseWorkflow({ name: file, content }, new NoOperationTraceWriter());
  if (parsed.value) await convertWorkflowTemplate(parsed.context, parsed.value);
  const errors = parsed.context.errors.getErrors();
  if (!parsed.value && errors.length === 0) errors.push({ message: `${file}: empty workflow` });
  for (const e of errors) process.stdout.write(`${e.message}\n`);
  problems += errors.length;
  if (errors.length === 0) process.stdout.write(`${file}: valid\n`);
}
process.exit(problems === 0 ? 0 : 1);
