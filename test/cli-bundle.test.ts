// The `zflash` command runs from dist/cli/ (the command's entry and its chunks, and one file
// for its helper: scripts/bundle-cli.mjs) when that bundle is current, and from tsc's dist/app/ when a
// bare `tsc` has written dist/ since. A flash through the bundled command starts the bundled
// helper. Needs `npm run build` (tests in test/ run the built command).
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATIVE_MODULES } from '../app/native.js';
import {
  attachSparseLoop,
  buildZetaIso,
  espOffsetBySfdisk,
  mtype,
  requireLoop,
  tempDir,
} from './fixtures.js';

const repo = new URL('..', import.meta.url).pathname;
const BIN = join(repo, 'bin', 'zflash.js');

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('zflash-bundle-test-');
});
afterAll(() => tmp?.cleanup());

/** A copy of bin/zflash.js beside a dist/ whose two entries say which of them ran. */
function fakeInstall(opts: { bundle: 'none' | 'older' | 'newer' }): string {
  const root = join(tmp.path, `install-${opts.bundle}`);
  mkdirSync(join(root, 'bin'), { recursive: true });
  cpSync(BIN, join(root, 'bin', 'zflash.js'));
  writeFileSync(join(root, 'package.json'), '{"type":"module"}');
  const say = (what: string) =>
    `export async function main(argv) { process.stdout.write('${what} ' + argv.join(' ')); return 3; }\n`;
  mkdirSync(join(root, 'dist', 'app', 'cli'), { recursive: true });
  const compiled = join(root, 'dist', 'app', 'cli', 'main.js');
  writeFileSync(compiled, say('compiled'));
  if (opts.bundle !== 'none') {
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    const bundled = join(root, 'dist', 'cli', 'zflash.js');
    writeFileSync(bundled, say('bundled'));
    const t = Date.now() / 1000;
    // tsc wrote dist/app an hour after the bundle (stale), or the bundle came after tsc.
    utimesSync(compiled, t, opts.bundle === 'older' ? t : t - 3600);
    utimesSync(bundled, t, opts.bundle === 'older' ? t - 3600 : t);
  }
  return join(root, 'bin', 'zflash.js');
}

describe('which build bin/zflash.js runs', () => {
  it('the bundle when it is at least as new as tsc’s output, with the arguments and exit code', () => {
    const r = spawnSync(process.execPath, [fakeInstall({ bundle: 'newer' }), 'flash', '--help']);
    expect(r.stdout.toString()).toBe('bundled flash --help');
    expect(r.status).toBe(3);
  });

  it('tsc’s output when a bare tsc ran after the bundle (a stale bundle is never run)', () => {
    const r = spawnSync(process.execPath, [fakeInstall({ bundle: 'older' }), 'drives']);
    expect(r.stdout.toString()).toBe('compiled drives');
    expect(r.status).toBe(3);
  });

  it('tsc’s output when there is no bundle (the mutation sandbox builds with tsc only)', () => {
    const r = spawnSync(process.execPath, [fakeInstall({ bundle: 'none' }), '--version']);
    expect(r.stdout.toString()).toBe('compiled --version');
  });

  it('nothing built: a plain message with its code and hint, exit 1', () => {
    const root = join(tmp.path, 'unbuilt');
    mkdirSync(join(root, 'bin'), { recursive: true });
    cpSync(BIN, join(root, 'bin', 'zflash.js'));
    const r = spawnSync(process.execPath, [join(root, 'bin', 'zflash.js'), '--version']);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toContain('code: ZFLASH_NOT_BUILT');
    expect(r.stderr.toString()).toContain('hint: run `npm run build`');
  });
});

describe('the bundles npm run build made', () => {
  const read = (rel: string) => readFileSync(join(repo, rel), 'utf8');

  it('leave every native addon outside, loaded from node_modules at run time', () => {
    // The command is split into chunks (dist/cli/zflash-*.js), the helper is one file.
    const command = readdirSync(join(repo, 'dist', 'cli'))
      .filter((f) => /^zflash(-.+)?\.js$/.test(f))
      .map((f) => `dist/cli/${f}`);
    expect(command).toContain('dist/cli/zflash.js');
    for (const rel of [...command, 'dist/cli/entry.js']) {
      const text = read(rel);
      // The engine loads addons by name through createRequire (app/native.ts); a bundled copy
      // of an addon's JS loader would look for its .node file relative to dist/cli and fail.
      for (const name of NATIVE_MODULES)
        expect(text, `${rel} bundles ${name}`).not.toMatch(
          new RegExp(`node_modules/${name.replace('/', '\\/')}/`),
        );
    }
    // ... and loads them through createRequire: in the helper, and in one of the command's chunks.
    expect(read('dist/cli/entry.js')).toMatch(/from "node:module"/);
    expect(command.some((rel) => /from "node:module"/.test(read(rel)))).toBe(true);
  });

  it('flash with only the bundles present: the command starts its own helper beside it', () => {
    // An installation holding bin/, dist/cli/ and node_modules but no compiled helper: a flash
    // can only succeed if the bundled command starts dist/cli/entry.js.
    requireLoop();
    const root = join(tmp.path, 'bundles-only');
    mkdirSync(join(root, 'bin'), { recursive: true });
    cpSync(BIN, join(root, 'bin', 'zflash.js'));
    cpSync(join(repo, 'dist', 'cli'), join(root, 'dist', 'cli'), { recursive: true });
    mkdirSync(join(root, 'dist', 'app', 'cli'), { recursive: true });
    writeFileSync(
      join(root, 'dist', 'app', 'cli', 'main.js'),
      'throw new Error("not this one");\n',
    );
    const old = Date.now() / 1000 - 3600;
    utimesSync(join(root, 'dist', 'app', 'cli', 'main.js'), old, old);
    cpSync(join(repo, 'package.json'), join(root, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));

    const image = buildZetaIso(join(tmp.path, 'zeta.iso'));
    const key = join(tmp.path, 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bundle', '-f', key]);
    const loop = attachSparseLoop(tmp.path, 64 * 1024 * 1024, { name: 'stick.img' });
    const out = loop.device;
    try {
      // As root, a flash to a drive goes through the helper process (a --target file does not).
      const r = spawnSync(
        process.execPath,
        [
          join(root, 'bin', 'zflash.js'),
          'flash',
          image,
          '--drive',
          out,
          '--host',
          'bundled-1',
          '--ssh-key',
          `${key}.pub`,
          '--yes',
          '--json',
          '--no-eject',
        ],
        { env: { ...process.env, ZFLASH_ROSTER: 'off', ZFLASH_ALLOW_LOOP: '1' } },
      );
      expect(r.stderr.toString()).toBe('');
      expect(r.status).toBe(0);
      const result = r.stdout
        .toString()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; verified?: boolean; device?: string })
        .find((e) => e.type === 'result');
      expect(result).toMatchObject({ verified: true, device: out });
      const esp = espOffsetBySfdisk(out);
      expect(mtype(out, esp.offset, 'zeta-hostname.txt').trim()).toBe('bundled-1');
    } finally {
      loop.detach();
    }
  });
});
