/**
 * The typed confirmation of `zflash flash` without --yes, driven through a real
 * pseudo-terminal (test/tools/pty-answer.py) as a person types it: a wrong name writes
 * nothing, the short name and the /dev path both confirm, no terminal refuses, and keys
 * piped on standard input leave the question to the terminal.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attachLoop,
  buildNixosIso,
  espOffsetBySfdisk,
  mtype,
  requireLoop,
  run,
  sha256,
  tempDir,
  ZFLASH_BIN,
  type Loop,
} from './fixtures.js';
import { cliLines } from './json-lines.js';

const PTY = new URL('./tools/pty-answer.py', import.meta.url).pathname;
const MiB = 1024 * 1024;
const tmp = tempDir();
const loops: Loop[] = [];
const env = { ...process.env, ZFLASH_ALLOW_LOOP: '1' };
let iso: string;
let key: string;

beforeAll(() => {
  requireLoop();
  iso = buildNixosIso(`${tmp.path}/nixos.iso`, { fillerBytes: 4 * MiB });
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
});
afterAll(() => {
  for (const l of loops) l.detach();
  tmp.cleanup();
});

function stick(name: string): { loop: Loop; file: string } {
  const file = `${tmp.path}/${name}`;
  writeFileSync(file, Buffer.alloc(32 * MiB, 0xa5));
  const loop = attachLoop(file);
  loops.push(loop);
  return { loop, file };
}

/** The helper as tsc builds it and as the bundle the command prefers starts it. */
const HELPERS = ['../dist/app/helper/entry.js', '../dist/cli/entry.js'].map(
  (rel) => new URL(rel, import.meta.url).pathname,
);
/** Running helper processes (their command line names a built entry). */
function helperProcesses(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8');
        return HELPERS.some((h) => cmdline.includes(h));
      } catch {
        return false;
      }
    })
    .map(Number);
}
/** Job folders of this process's children (zflash-job-<pid>-…) that outlived them. */
const jobDirs = () =>
  readdirSync(tmpdir()).filter(
    (d) => d.startsWith('zflash-job-') && !existsSync(`/proc/${d.split('-')[2]}`),
  );

/** Runs argv on a pseudo-terminal and types `answer` at the confirmation prompt. */
function typed(answer: string, argv: readonly string[]) {
  const r = spawnSync('python3', [PTY, 'anything else cancels', answer, '--', ...argv], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, screen: r.stdout };
}

const flash = (device: string, host = 'node-1') => [
  process.execPath,
  ZFLASH_BIN,
  'flash',
  iso,
  '--drive',
  device,
  '--host',
  host,
  '--ssh-key',
  `${key}.pub`,
];

describe('zflash flash asks before it erases', () => {
  it('a wrong name writes nothing: exit 130 and the stick is byte-for-byte unchanged', () => {
    const { loop, file } = stick('wrong.img');
    const before = sha256(readFileSync(file));
    const r = typed('sdz', flash(loop.device));
    expect(r.screen).toContain(`This will ERASE ${loop.device}`);
    expect(r.screen).toContain(`Type ${basename(loop.device)} (or ${loop.device})`);
    expect(r.screen).toContain('code: ZFLASH_CANCELLED');
    expect(r.code).toBe(130);
    expect(sha256(readFileSync(file))).toBe(before);
    // As root the helper was started early, waiting for a job that never came: it is gone,
    // and so is the folder made for its job.
    expect(helperProcesses()).toEqual([]);
    expect(jobDirs()).toEqual([]);
  });

  it('options refused before the command takes the helper started for it: none is left', () => {
    // As root with one --drive, the entry point starts the helper before the flash command
    // has parsed anything; an unknown option then ends the command before it adopts it.
    const { loop, file } = stick('bogus.img');
    const before = sha256(readFileSync(file));
    const r = spawnSync(
      flash(loop.device)[0]!,
      [...flash(loop.device).slice(1), '--yes', '--bogus'],
      {
        env,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('code: ZFLASH_USAGE');
    expect(sha256(readFileSync(file))).toBe(before);
    expect(helperProcesses()).toEqual([]);
    expect(jobDirs()).toEqual([]);
  });

  it('the short name confirms, and the stick is written', () => {
    const { loop } = stick('short.img');
    const r = typed(basename(loop.device), flash(loop.device, 'node-short'));
    expect(r.code).toBe(0);
    expect(r.screen).toContain('written and verified');
    const esp = espOffsetBySfdisk(iso);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('node-short\n');
  });

  it('the /dev path confirms too, and --drive takes the short name', () => {
    const { loop } = stick('path.img');
    const argv = flash(basename(loop.device), 'node-path');
    const r = typed(loop.device, argv);
    expect(r.code).toBe(0);
    const esp = espOffsetBySfdisk(iso);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('node-path\n');
  });

  it('without a terminal and without --yes it refuses (exit 2) and writes nothing', () => {
    const { loop, file } = stick('notty.img');
    const before = sha256(readFileSync(file));
    const r = spawnSync(process.execPath, [...flash(loop.device).slice(1), '--json'], {
      env,
      encoding: 'utf8',
      input: '',
    });
    expect(r.status).toBe(2);
    const last = cliLines(r.stdout).at(-1);
    expect(last).toMatchObject({ type: 'error', error: { code: 'ZFLASH_CONFIRMATION_REQUIRED' } });
    expect(sha256(readFileSync(file))).toBe(before);
  });

  it('keys piped on standard input (--ssh-key -): the question goes to the terminal', () => {
    const { loop } = stick('stdin.img');
    const argv = flash(loop.device, 'node-stdin').map((a) => (a === `${key}.pub` ? '-' : a));
    const shell = `cat '${key}.pub' | ${argv.map((a) => `'${a}'`).join(' ')}`;
    const wrong = typed('nope', ['sh', '-c', shell]);
    expect(wrong.code).toBe(130);
    const r = typed(basename(loop.device), ['sh', '-c', shell]);
    expect(r.code).toBe(0);
    const esp = espOffsetBySfdisk(iso);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('node-stdin\n');
    const keys = mtype(loop.device, esp.offset, 'zeta-authorized-keys.pub');
    expect(keys).toContain(readFileSync(`${key}.pub`, 'utf8').split(' ')[1]);
  });
});
