// Security lint, part of `npm test`: @doyensec/electronegativity over main/ and renderer/ (the
// Electron code), failing on any high or medium finding that is not explained next to the code.
//
// - A finding is accepted only by electronegativity's own `eng-disable CHECK_ID` comment on the
//   flagged line, and the line above it must be a comment saying why (checked here: an
//   unexplained eng-disable fails too).
// - CSP_GLOBAL_CHECK "no CSP found" cannot be silenced in code: the scanner looks for <meta>
//   tags and webRequest header assignments, and our CSP is a response header built by
//   contentSecurityPolicy() (main/security.ts) for every app:// response. So the real policy is
//   read from the build and judged by the evaluator electronegativity itself uses; the finding
//   is accepted only when that leaves nothing high or medium.
// - AVAILABLE_SECURITY_FIXES_GLOBAL_CHECK is not run: it downloads Electron's release list, and
//   a lint must give the same answer offline (keeping Electron current is checklist item 16).
// - A file the scanner could not parse was not checked: that fails as well.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

export const BLOCKING = new Set(['CRITICAL', 'HIGH', 'MEDIUM']);
/** By class name, as electronegativity's exclusion list takes them. */
export const NOT_RUN = ['AvailableSecurityFixesGlobalCheck'];
/** A folder of the repository (`main`), or any folder by absolute path (tests). */
const fromRoot = (d) => (isAbsolute(d) ? d : join(root, d));
const SOURCE = /\.(?:[cm]?js|jsx|ts|tsx|html?)$/;
const DISABLE = /(?:\/\*|\/\/|<!--)[ \t]*eng-disable[ \t]+([\w \t]+)/;

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (SOURCE.test(name)) out.push(p);
  }
  return out;
}

/** Every eng-disable comment under `dir`, and whether the line above explains it. */
export function disableComments(dir) {
  const found = [];
  for (const file of sourceFiles(dir)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const m = DISABLE.exec(line);
      if (!m) return;
      const above = (lines[i - 1] ?? '').trim();
      const explained =
        /^(?:\/\/|\/?\*|<!--)/.test(above) &&
        !DISABLE.test(above) &&
        above
          .replace(/^(?:\/\/|\/?\*+|<!--)/, '')
          .trim()
          .split(/\s+/).length >= 4;
      found.push({
        file: relative(root, file),
        line: i + 1,
        checks: m[1].trim().split(/[\s,]+/),
        explained,
      });
    });
  }
  return found;
}

/** Our CSP, judged by electronegativity's CSP evaluator: the high and medium findings. */
export async function cspFindings() {
  const security = join(root, 'dist', 'main', 'security.js');
  const { contentSecurityPolicy } = await import(pathToFileURL(security).href);
  const csp = require('@doyensec/csp-evaluator');
  const parsed = new csp.CspParser(contentSecurityPolicy());
  return new csp.CspEvaluator(parsed.csp, csp.Version.CSP3)
    .evaluate()
    .filter((f) => f.severity <= csp.severities.MEDIUM)
    .map((f) => `${f.directive}: ${f.description}`);
}

/**
 * Runs electronegativity over `dirs` of the repository at once (its global checks, such as
 * "navigation is limited somewhere", must see main/ and renderer/ together), from a copy
 * holding only those folders; its findings as plain objects, with repository paths.
 */
export async function scanDirs(dirs, electronVersion) {
  const scan = mkdtempSync(join(tmpdir(), 'zflash-electronegativity-'));
  try {
    for (const d of dirs) {
      const from = fromRoot(d);
      cpSync(from, join(scan, basename(from)), {
        recursive: true,
        filter: (src) => !/(?:^|[\\/])(?:node_modules|dist)(?:[\\/]|$)/.test(relative(from, src)),
      });
    }
    return await scanDir(scan, electronVersion, (file) => relative(scan, file));
  } finally {
    rmSync(scan, { recursive: true, force: true });
  }
}

async function scanDir(dir, electronVersion, rel) {
  const run = require('@doyensec/electronegativity');
  // It prints its progress with console.log and winston; the report below is what counts.
  const log = console.log;
  console.log = () => {};
  let result;
  try {
    result = await run({
      input: dir,
      output: null,
      isSarif: false,
      customScan: [],
      excludeFromScan: NOT_RUN,
      severitySet: 'informational',
      confidenceSet: 'tentative',
      isRelative: false,
      electronVersionOverride: electronVersion,
      parserPlugins: [],
    });
  } finally {
    console.log = log;
  }
  return {
    findings: result.issues.map((i) => ({
      id: i.id,
      severity: i.severity.name,
      confidence: i.confidence.name,
      file: i.file === 'N/A' ? 'N/A' : rel(i.file),
      line: i.location.line,
      description: i.description,
    })),
    errors: result.errors.filter((e) => !e.tolerable).map((e) => `${rel(e.file)}: ${e.message}`),
  };
}

/** The whole gate: what blocks, and what was accepted and why. */
export async function securityLint(dirs = ['main', 'renderer']) {
  const electronVersion = require('electron/package.json').version;
  const blocking = [];
  const accepted = [];
  const errors = [];
  const { findings, errors: parseErrors } = await scanDirs(dirs, electronVersion);
  errors.push(...parseErrors);
  for (const f of findings) {
    if (!BLOCKING.has(f.severity)) continue;
    if (f.id === 'CSP_GLOBAL_CHECK' && f.file === 'N/A') {
      const weak = await cspFindings();
      if (weak.length === 0) {
        accepted.push({
          ...f,
          why: 'the CSP is a response header (main/security.ts), judged clean by the same evaluator',
        });
        continue;
      }
      blocking.push({ ...f, description: `${f.description}; our CSP: ${weak.join('; ')}` });
      continue;
    }
    blocking.push(f);
  }
  for (const c of dirs.flatMap((d) => disableComments(fromRoot(d)))) {
    const where = { id: c.checks.join(' '), file: c.file, line: c.line };
    if (c.explained) accepted.push({ ...where, why: 'eng-disable, explained above it' });
    else
      blocking.push({
        ...where,
        severity: 'UNEXPLAINED',
        description: 'eng-disable without a comment above it saying why',
      });
  }
  return { electronVersion, blocking, accepted, errors };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.slice(2);
  const { electronVersion, blocking, accepted, errors } = await securityLint(
    dirs.length ? dirs : undefined,
  );
  for (const a of accepted) console.log(`accepted  ${a.id}  ${a.file}:${a.line}  (${a.why})`);
  for (const b of blocking)
    console.error(`FAIL  ${b.severity}  ${b.id}  ${b.file}:${b.line}  ${b.description}`);
  for (const e of errors) console.error(`FAIL  not scanned: ${e}`);
  const ok = blocking.length === 0 && errors.length === 0;
  console.log(
    ok
      ? `electronegativity (Electron ${electronVersion}): no high or medium finding left unexplained`
      : `electronegativity: ${blocking.length + errors.length} problem(s)`,
  );
  process.exit(ok ? 0 : 1);
}
