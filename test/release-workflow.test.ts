/**
 * The release workflow cannot run here (no forge, no Nix binary cache), so it is checked as far
 * as it can be: GitHub's own workflow parser and schema accept it (and refuse broken copies,
 * so the check can fail), every `run:` script passes shellcheck, and the steps that make a
 * release trustworthy are there: tag trigger, committed flake.lock, zflash's own Zeta check,
 * signing with the secret only where it is needed, and the three assets attached.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { tempDir } from './fixtures.js';

const WORKFLOW = new URL('../.github/workflows/release.yml', import.meta.url).pathname;
const CHECK = new URL('../scripts/check-workflows.mjs', import.meta.url).pathname;
const text = readFileSync(WORKFLOW, 'utf8');
const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: { push: { tags: string[] } } & Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<
    string,
    { permissions: Record<string, string>; environment?: string; steps: Step[] }
  >;
}
const wf = parse(text) as Workflow;
const job = wf.jobs['installer']!;
const steps = job.steps;

function check(file: string) {
  const r = spawnSync(process.execPath, [CHECK, file], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('.github/workflows/release.yml', () => {
  it('is valid for GitHub’s workflow parser and schema', () => {
    const r = check(WORKFLOW);
    expect(r.out).toBe(`${WORKFLOW}: valid\n`);
    expect(r.code).toBe(0);
  });

  it('the validation refuses broken copies (an unknown key, a bad expression, a bad permission)', () => {
    const broken: [string, string, RegExp][] = [
      ['unknown-key.yml', text.replace('runs-on:', 'runs_on:'), /Unexpected value 'runs_on'/],
      [
        'bad-expression.yml',
        text.replace('${{ github.ref_name }}', '${{ github.ref_name( }}'),
        /Unexpected end of expression|Unexpected symbol/,
      ],
      ['bad-permission.yml', text.replace('contents: write', 'contents: writ'), /writ/],
    ];
    for (const [name, content, why] of broken) {
      expect(content).not.toBe(text);
      const file = join(tmp.path, name);
      writeFileSync(file, content);
      const r = check(file);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(why);
    }
  });

  it('every run: script passes shellcheck', () => {
    for (const step of steps.filter((s) => s.run)) {
      // Expressions are substituted by the runner before bash sees the script.
      const script = `#!/usr/bin/env bash\nset -euo pipefail\n${step.run!.replace(/\$\{\{[^}]*\}\}/g, 'EXPR')}`;
      const r = spawnSync('shellcheck', ['-s', 'bash', '-'], { input: script, encoding: 'utf8' });
      expect(`${step.name}: ${r.stdout}${r.stderr}`).toBe(`${step.name}: `);
      expect(r.status).toBe(0);
    }
  });

  it('runs on version tags only, with write access only in the release job', () => {
    expect(Object.keys(wf.on)).toEqual(['push']);
    expect(wf.on.push.tags).toEqual(['v*']);
    expect(wf.permissions).toEqual({ contents: 'read' });
    expect(job.permissions).toEqual({ contents: 'write' });
    expect(job.environment).toBe('release');
  });

  it('builds the ISO from the committed flake.lock and checks it with zflash before signing', () => {
    const at = (re: RegExp) => steps.findIndex((s) => re.test(s.run ?? ''));
    const build = at(/nix build --no-update-lock-file .*\.\/nixos#installer-iso/);
    const lockCheck = at(/nixos\/flake\.lock/);
    const inspect = at(/zflash\.js inspect "\$iso" --require-zeta/);
    const sign = at(/scripts\/release-manifest\.mjs/);
    const upload = at(/gh release upload .*release\/\*/);
    expect([lockCheck, build, inspect, sign, upload].every((i) => i >= 0)).toBe(true);
    expect(lockCheck < build && build < inspect && inspect < sign && sign < upload).toBe(true);
    expect(steps.some((s) => s.uses?.startsWith('cachix/install-nix-action@'))).toBe(true);
    expect(steps[sign]!.run).toMatch(
      /--url-base "https:\/\/github\.com\/\$REPOSITORY\/releases\/download\/\$TAG\/"/,
    );
  });

  it('hands the signing key only to the steps that check and use it', () => {
    const withKey = steps.filter((s) =>
      JSON.stringify(s).includes('secrets.ZETA_RELEASE_SIGNING_KEY'),
    );
    expect(withKey.map((s) => s.name)).toEqual([
      'The signing key is there before hours of building',
      'Write and sign the release manifest',
    ]);
    for (const s of withKey) {
      expect(s.env?.['ZETA_RELEASE_SIGNING_KEY']).toBe('${{ secrets.ZETA_RELEASE_SIGNING_KEY }}');
      // Never interpolated into a script, where it could end up in a log or a command line.
      expect(s.run).not.toMatch(/secrets\./);
    }
    expect(text.match(/secrets\./g)).toHaveLength(2);
  });
});
