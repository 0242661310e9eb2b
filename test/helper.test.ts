/**
 * The privileged helper, attacked for real: run as root (as pkexec, sudo, osascript or UAC
 * would run it) against a requester that is another uid (65534, via setpriv), with job and
 * events files swapped for links, hard links and other users' files; the files channel with
 * its parent killed; a system drive handed straight to it inside a private mount namespace;
 * a fake pkexec on PATH for the client's mapping of the prompt's outcome; the `inject` verb
 * on real loop devices, judged by mtools and fsck.fat.
 *
 * After every refusal: the drive the job names is byte-for-byte unchanged, and the
 * root-owned file an attacker pointed at still exists with its content.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  openSync,
  readSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorFromStderr, runHelper, runInjectHelper } from '../app/helper/client.js';
import type { HelperEvent, WriteJobRequest } from '../app/helper/protocol.js';
import { buildNodeIdentity, readSshKeyFile, type NodeIdentity } from '../app/node/index.js';
import {
  attachLoop,
  buildNixosIso,
  espOffsetBySfdisk,
  extractRange,
  fsckClean,
  mtype,
  requireLoop,
  run,
  sha256,
  tempDir,
  ZFLASH_BIN,
  type Loop,
} from './fixtures.js';

const HELPER = new URL('../dist/app/helper/entry.js', import.meta.url).pathname;
const CLIENT = new URL('../dist/app/helper/client.js', import.meta.url).href;
const NOBODY = 65534;
/** Node arguments that load helperMain (dist/) as root, then run it as uid 65534 with no groups. */
const AS_NOBODY = [
  '--input-type=module',
  '-e',
  `import { helperMain } from ${JSON.stringify(new URL('../dist/app/helper/main.js', import.meta.url).href)};
process.setgroups([]);
process.setgid(${NOBODY});
process.setuid(${NOBODY});
process.exit(await helperMain(process.argv.slice(1), {}));`,
];
/** The job size limit the docs promise (a literal: the test must fail if the code's limit moves). */
const JOB_LIMIT = 256 * 1024;
const MiB = 1024 * 1024;
const tmp = tempDir();
const loops: Loop[] = [];
/** The helper's environment, given explicitly: never this process's SUDO_UID or PKEXEC_UID. */
const baseEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
/** In-process clients run from the sources: point them at the built helper. */
const helperCommand = [process.execPath, HELPER];

let iso: string;
let bigBz2 = '';
/**
 * An image that takes seconds to write (bzip2 decodes slowly in JS): time to stop the helper
 * while it writes. Built once, by the first describe that needs it.
 */
function slowImage(): void {
  if (bigBz2) return;
  const big = buildNixosIso(`${tmp.path}/big.iso`, { fillerBytes: 40 * MiB });
  run('bzip2', ['-1', big]);
  bigBz2 = `${big}.bz2`;
}
let key: string;
let identity: NodeIdentity;
/** The drive every refused job names; it must never change. */
let target: { loop: Loop; file: string; hash: string };
/** Where the requester (uid 65534) makes its folders, like /tmp. */
let play: string;
/** A root-only folder holding a root-owned job file that names `target`. */
let victimDir: string;
let victim: string;
let victimText: string;

function drive(name: string, mib: number): { loop: Loop; file: string } {
  const file = `${tmp.path}/${name}`;
  writeFileSync(file, Buffer.alloc(mib * MiB, 0xa5));
  const loop = attachLoop(file);
  loops.push(loop);
  return { loop, file };
}

const hashOf = (file: string) => sha256(readFileSync(file));

function readDevice(dev: string, length: number, offset = 0): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(dev, 'r');
  try {
    readSync(fd, out, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Runs a command as the requester, uid/gid 65534 with no groups. */
function asNobody(args: readonly string[], input?: string): string {
  return run(
    'setpriv',
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...args],
    input === undefined ? {} : { input },
  );
}

/** What a front end hands to runHelper: a write job naming `device`. */
function writeRequest(device: string): WriteJobRequest {
  return {
    version: 1,
    verb: 'write',
    image: { path: iso, sha256: null },
    drive: { device, expectedSize: null },
    file: null,
    identity,
    createdAt: '2025-01-02T03:04:05.000Z',
    verify: true,
    eject: false,
    allowLoop: true,
  };
}

/** The job file as the client writes it, with what a test changes. */
function writeJob(device: string, overrides: Record<string, unknown> = {}) {
  return { ...writeRequest(device), parentPid: process.pid, ...overrides };
}

/** A folder of the requester's own (0700) with its job file (0600), made as uid 65534. */
function requesterJob(name: string, text: string, opts: { events?: boolean } = {}): string {
  const dir = `${play}/${name}`;
  asNobody(['sh', '-c', 'umask 077 && mkdir "$0" && cat > "$0/job.json"', dir], text);
  if (opts.events) asNobody(['sh', '-c', 'umask 077 && : > "$0/events.jsonl"', dir]);
  return dir;
}

interface HelperRun {
  code: number | null;
  events: HelperEvent[];
  stderr: string;
  /** What the helper said on stderr (its last word when the channel failed). */
  said: ReturnType<typeof errorFromStderr>;
}

/** Starts a command and holds its stdin open, as the client does (EOF means "stop"). */
function spawnHeld(cmd: string, args: readonly string[], env: Record<string, string>) {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) =>
    child.on('close', (code) => res({ code, stdout, stderr })),
  );
  return { child, done };
}

const parseLines = (text: string): HelperEvent[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as HelperEvent);

async function helper(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<HelperRun> {
  const { done } = spawnHeld(process.execPath, [HELPER, ...args], { ...baseEnv, ...env });
  const r = await done;
  return {
    code: r.code,
    events: parseLines(r.stdout),
    stderr: r.stderr,
    said: errorFromStderr(r.stderr),
  };
}

function expectRefused(r: HelperRun, code: string, message?: RegExp): void {
  expect(r.code).toBe(code === 'ZFLASH_DRIVE_REFUSED' ? 3 : 2);
  expect(r.said?.code).toBe(code);
  if (message) expect(r.said?.message).toMatch(message);
}

function expectNothingTouched(): void {
  expect(hashOf(target.file)).toBe(target.hash);
  expect(readFileSync(victim, 'utf8')).toBe(victimText);
}

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  requireLoop();
  // The requester must be able to reach its folder: the test root opens like /tmp does.
  chmodSync(tmp.path, 0o755);
  play = `${tmp.path}/play`;
  mkdirSync(play);
  chmodSync(play, 0o1777);
  iso = buildNixosIso(`${tmp.path}/nixos.iso`);
  chmodSync(iso, 0o644);
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  const { keys } = await readSshKeyFile(`${key}.pub`);
  ({ identity } = buildNodeIdentity({
    hostname: 'node-7',
    keys,
    wifi: { ssid: 'lab', passphrase: 'correct horse battery' },
  }));
  const t = drive('target.img', 64);
  target = { ...t, hash: hashOf(t.file) };
  victimDir = `${tmp.path}/root-only`;
  mkdirSync(victimDir, { mode: 0o700 });
  victim = `${victimDir}/job.json`;
  // A job root itself prepared: what an attacker would like the helper to run, or delete.
  victimText = JSON.stringify(writeJob(target.loop.device));
  writeFileSync(victim, victimText, { mode: 0o600 });
});

afterAll(() => {
  for (const l of loops) l.detach();
  tmp.cleanup();
});

describe('the job file: one handle, checked, read, never deleted by path (root, requester uid 65534)', () => {
  it('refuses a job file the requester swapped for a symlink to a root-owned job', async () => {
    const dir = requesterJob('a-symlink', JSON.stringify(writeJob(target.loop.device)));
    asNobody(['sh', '-c', 'rm "$0/job.json" && ln -s "$1" "$0/job.json"', dir, victim]);
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /job file: it is a link/);
  });

  it('refuses a hard link to a root-owned job in the requester’s folder (no protected_hardlinks on macOS)', async () => {
    const dir = requesterJob('a-hardlink', JSON.stringify(writeJob(target.loop.device)));
    asNobody(['rm', `${dir}/job.json`]);
    // Linux's protected_hardlinks stops uid 65534 from making this link; other systems do not.
    linkSync(victim, `${dir}/job.json`);
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /job file: it belongs to uid 0/);
    expect(statSync(victim).nlink).toBe(2);
  });

  it('refuses a job whose folder the requester swapped for a link to a root-only folder', async () => {
    const dir = requesterJob('a-dirswap', JSON.stringify(writeJob(target.loop.device)));
    // The end state of the race: checks by path passed on the requester's folder, then the
    // folder became a link to root's, and the old helper read and deleted root's job.
    asNobody(['sh', '-c', 'mv "$0" "$0.old" && ln -s "$1" "$0"', dir, victimDir]);
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /folder of its job: it is a link/);
  });

  it.each([
    ['PKEXEC_UID', { PKEXEC_UID: String(NOBODY) }],
    ['SUDO_UID', { SUDO_UID: String(NOBODY) }],
  ])(
    'refuses a root-owned job handed to a helper whose requester is 65534 (%s)',
    async (_n, env) => {
      const r = await helper(['write', '--job', victim], env);
      expectNothingTouched();
      expectRefused(r, 'ZFLASH_HELPER_JOB', /belongs to uid 0, not to the requester/);
    },
  );

  it('takes PKEXEC_UID or SUDO_UID over --requester (the client cannot claim to be root)', async () => {
    const r = await helper(['write', '--job', victim, '--requester', '0'], {
      SUDO_UID: String(NOBODY),
    });
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /belongs to uid 0/);
  });

  it.each(['640', '644', '604'])('refuses a job file of mode 0%s', async (mode) => {
    const dir = requesterJob(`a-mode-${mode}`, JSON.stringify(writeJob(target.loop.device)));
    asNobody(['chmod', mode, `${dir}/job.json`]);
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /job file: others can read or change it/);
    // Not even emptied: a refused file is not touched.
    expect(readFileSync(`${dir}/job.json`, 'utf8')).toContain('"verb":"write"');
  });

  it('refuses a job folder others can enter (0755)', async () => {
    const dir = requesterJob('a-open-folder', JSON.stringify(writeJob(target.loop.device)));
    asNobody(['chmod', '755', dir]);
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /folder of its job: others can enter it/);
  });

  it('refuses a job one byte over 256 KiB, and reads one of exactly 256 KiB', async () => {
    const job = JSON.stringify(writeJob(target.loop.device));
    const over = requesterJob('a-large', job.padEnd(JOB_LIMIT + 1, ' '));
    const r1 = await helper(['write', '--job', `${over}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r1, 'ZFLASH_HELPER_JOB', /job file: it is too large/);
    // At the limit the job is read; its drive is then refused (loop devices not allowed).
    const noLoop = JSON.stringify(writeJob(target.loop.device, { allowLoop: false }));
    const at = requesterJob('a-at-limit', noLoop.padEnd(JOB_LIMIT, ' '));
    expect(statSync(`${at}/job.json`).size).toBe(JOB_LIMIT);
    const r2 = await helper(['write', '--job', `${at}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r2, 'ZFLASH_DRIVE_REFUSED');
  });

  it('empties the job it read through its handle and deletes nothing (the requester removes its folder)', async () => {
    const dir = requesterJob(
      'a-read',
      JSON.stringify(writeJob(target.loop.device, { allowLoop: false })),
    );
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectRefused(r, 'ZFLASH_DRIVE_REFUSED');
    expect(r.said?.details?.['reasons']).toContain('DRIVE_LOOP_NOT_ALLOWED');
    const st = statSync(`${dir}/job.json`);
    expect([st.size, st.uid]).toEqual([0, NOBODY]);
    expect(readdirSync(dir)).toEqual(['job.json']);
    expectNothingTouched();
  });

  it('refuses a job naming both a drive and a file: neither is touched', async () => {
    const out = `${tmp.path}/both-out.img`;
    const dir = requesterJob(
      'a-both',
      JSON.stringify(writeJob(target.loop.device, { file: { path: out, overwrite: true } })),
    );
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /exactly one of drive and file/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a job naming only a file: root writes drives, never a path a user chose', async () => {
    // A root-owned file the requester must not be able to overwrite through the helper.
    const victim = `${tmp.path}/root-owned.conf`;
    writeFileSync(victim, 'keep me\n', { mode: 0o644 });
    const job = {
      ...writeJob(target.loop.device),
      drive: null,
      file: { path: victim, overwrite: true },
    };
    const dir = requesterJob('a-file-only', JSON.stringify(job));
    const r = await helper(['write', '--job', `${dir}/job.json`], { PKEXEC_UID: String(NOBODY) });
    expectRefused(r, 'ZFLASH_HELPER_JOB', /writes drives only/);
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
    expectNothingTouched();
  });
});

describe('the files channel (osascript, UAC) run for real as root', () => {
  // For the parent-gone and cancel-file tests.
  beforeAll(slowImage);

  /** A requester folder with a job and an events file, then `tamper` run as the requester. */
  function filesJob(name: string, tamper: string, job = writeJob(target.loop.device)): string {
    const dir = requesterJob(name, JSON.stringify(job), { events: true });
    if (tamper) asNobody(['sh', '-c', tamper, dir, victim]);
    return dir;
  }
  /**
   * The built helper on the files channel (stdio ignored), once it is writing past 8 MiB: it
   * must not have stopped before (the watchdog looks every 250 ms; writing 8 MiB of the slow
   * image takes seconds). `node` runs `HELPER` unless `command` gives other arguments.
   */
  async function writingOnFiles(dir: string, args: readonly string[], command = [HELPER]) {
    const child = spawn(process.execPath, [...command, ...args], { stdio: 'ignore', env: baseEnv });
    let ended = false;
    const exited = new Promise<number | null>((res) =>
      child.on('close', (code) => {
        ended = true;
        res(code);
      }),
    );
    const events = () => parseLines(readFileSync(`${dir}/events.jsonl`, 'utf8'));
    await until(
      'the helper to be writing',
      () =>
        ended ||
        events().some((e) => e.type === 'progress' && e.phase === 'writing' && e.bytes > 8 * MiB),
    );
    expect(events().filter((e) => e.type === 'error')).toEqual([]);
    expect(ended).toBe(false);
    return { exited, events };
  }
  const filesArgs = (dir: string) => [
    'write',
    '--job',
    `${dir}/job.json`,
    '--channel',
    'files',
    '--requester',
    String(NOBODY),
  ];

  it.each([
    ['missing', 'rm "$0/events.jsonl"', /events file: it does not exist/],
    [
      'a symlink to a root-owned file',
      'rm "$0/events.jsonl" && ln -s "$1" "$0/events.jsonl"',
      /events file: it is a link/,
    ],
    ['not 0600', 'chmod 644 "$0/events.jsonl"', /events file: others can read or change it/],
  ])(
    'refuses an events file that is %s, says so on stderr, reads no job',
    async (_n, tamper, msg) => {
      const dir = filesJob(`f-${_n.replace(/\W+/g, '-')}`, tamper);
      const r = await helper(filesArgs(dir));
      expectNothingTouched();
      expectRefused(r, 'ZFLASH_HELPER_JOB', msg);
      expect(readFileSync(`${dir}/job.json`, 'utf8')).toContain('"verb":"write"');
    },
  );

  it('refuses an events file owned by another uid (root), though folder and job are the requester’s', async () => {
    const dir = filesJob('f-foreign', '');
    const events = `${dir}/events.jsonl`;
    chownSync(events, 0, 0);
    const r = await helper(filesArgs(dir));
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /events file: it belongs to uid 0/);
    expect(readFileSync(events, 'utf8')).toBe('');
  });

  it('flashes for a requester named by --requester alone (what osascript leaves us), events in its file', async () => {
    const { loop } = drive('f-mac.img', 64);
    const dir = filesJob('f-mac', '', writeJob(loop.device));
    const r = await helper(filesArgs(dir));
    expect(r.code).toBe(0);
    expect(r.events).toEqual([]);
    const events = parseLines(readFileSync(`${dir}/events.jsonl`, 'utf8'));
    expect(events.at(-1)).toMatchObject({ type: 'result', verified: true });
    expect(events.some((e) => e.type === 'progress' && e.phase === 'verifying')).toBe(true);
    expect(mtype(loop.device, espOffsetBySfdisk(iso).offset, 'zeta-hostname.txt')).toBe('node-7\n');
    expect(statSync(`${dir}/job.json`).size).toBe(0);
  });

  it('the client ends a refused events file with the helper’s own registered error, not HELPER_DIED', async () => {
    // The client made the events file; this wrapper (the requester, between the client and
    // the helper) swaps it for a link before the helper starts.
    const swap =
      'd=$(dirname "$4"); rm -f "$d/events.jsonl"; ln -s "$VICTIM" "$d/events.jsonl"; exec "$0" "$@"';
    const run = runHelper(writeRequest(target.loop.device), {
      env: { ...baseEnv, VICTIM: victim },
      channel: 'files',
      helperCommand: ['/bin/sh', '-c', swap, process.execPath, HELPER],
      tempDir: tmp.path,
    });
    await expect(run).rejects.toMatchObject({
      code: 'ZFLASH_HELPER_JOB',
      exitCode: 2,
      message: expect.stringMatching(/events file: it is a link/),
    });
    expectNothingTouched();
  });

  it('the client reports a requester the helper does not accept with a registered error', async () => {
    const run = runHelper(writeRequest(target.loop.device), {
      env: baseEnv,
      channel: 'files',
      requester: NOBODY,
      tempDir: tmp.path,
      helperCommand,
    });
    await expect(run).rejects.toMatchObject({
      code: 'ZFLASH_HELPER_JOB',
      message: expect.stringMatching(/folder of its job: it belongs to uid 0/),
    });
    expectNothingTouched();
  });

  it('stops by itself when its parent process is gone: cancelled, first MiB not written', async () => {
    const { loop } = drive('f-orphan.img', 128);
    const parent = spawn('sleep', ['600'], { stdio: 'ignore' });
    const dir = `${tmp.path}/zflash-job-orphan`;
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(`${dir}/events.jsonl`, '', { mode: 0o600 });
    writeFileSync(
      `${dir}/job.json`,
      JSON.stringify(
        writeJob(loop.device, { image: { path: bigBz2, sha256: null }, parentPid: parent.pid }),
      ),
      { mode: 0o600 },
    );
    // stdio ignored and its real parent (us) alive: only the job's parentPid can stop it.
    const { exited, events } = await writingOnFiles(dir, [
      'write',
      '--job',
      `${dir}/job.json`,
      '--channel',
      'files',
    ]);
    parent.kill('SIGKILL');
    expect(await exited).toBe(130);
    expect(events().at(-1)).toMatchObject({ type: 'error', error: { code: 'ZFLASH_CANCELLED' } });
    expect(readDevice(loop.device, MiB).every((b) => b === 0)).toBe(true);
  });

  it('stops when the requester makes a cancel file beside the job: cancelled, first MiB not written', async () => {
    const { loop } = drive('f-cancel.img', 128);
    // A job with no parent to watch (parentPid null): it writes on until the cancel file.
    const dir = filesJob(
      'f-cancel',
      '',
      writeJob(loop.device, { image: { path: bigBz2, sha256: null }, parentPid: null }),
    );
    // No parent to watch and stdio ignored: only the cancel file can stop it.
    const { exited, events } = await writingOnFiles(dir, filesArgs(dir));
    asNobody(['sh', '-c', ': > "$0/cancel"', dir]);
    expect(await exited).toBe(130);
    expect(events().at(-1)).toMatchObject({ type: 'error', error: { code: 'ZFLASH_CANCELLED' } });
    expect(readDevice(loop.device, MiB).every((b) => b === 0)).toBe(true);
  });

  it('a helper that is not root takes a parent it may not signal (EPERM) for alive, and writes on', async () => {
    const { loop } = drive('f-eperm.img', 128);
    const owner = statSync(loop.device);
    // The drive is the requester's to write here: the helper runs as uid 65534, not root.
    chownSync(loop.device, NOBODY, NOBODY);
    chmodSync(bigBz2, 0o644);
    try {
      // Its parent is this test (root): uid 65534 may not signal it, kill(pid, 0) says EPERM.
      const dir = filesJob(
        'f-eperm',
        '',
        writeJob(loop.device, { image: { path: bigBz2, sha256: null }, parentPid: process.pid }),
      );
      const { exited, events } = await writingOnFiles(
        dir,
        ['write', '--job', `${dir}/job.json`, '--channel', 'files'],
        AS_NOBODY,
      );
      asNobody(['sh', '-c', ': > "$0/cancel"', dir]);
      expect(await exited).toBe(130);
      expect(events().at(-1)).toMatchObject({ type: 'error', error: { code: 'ZFLASH_CANCELLED' } });
    } finally {
      chownSync(loop.device, owner.uid, owner.gid);
    }
  });
});

describe('the stdio channel (pkexec, sudo) stopped while it writes', () => {
  beforeAll(slowImage);

  /** A helper writing the slow image to a fresh drive, its stdout read until it is writing. */
  async function writing(name: string, opts: { cancelFile?: boolean } = {}) {
    const { loop } = drive(`${name}.img`, 128);
    const dir = requesterJob(
      name,
      JSON.stringify(writeJob(loop.device, { image: { path: bigBz2, sha256: null } })),
    );
    if (opts.cancelFile) asNobody(['sh', '-c', ': > "$0/cancel"', dir]);
    const h = spawnHeld(process.execPath, [HELPER, 'write', '--job', `${dir}/job.json`], {
      ...baseEnv,
      PKEXEC_UID: String(NOBODY),
    });
    let out = '';
    let ended = false;
    h.child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    void h.done.then(() => (ended = true));
    // Not stopped before (its watchdog looks every 250 ms; 8 MiB of this image take seconds).
    await until(
      'the helper to be writing',
      () =>
        ended ||
        parseLines(out).some(
          (e) => e.type === 'progress' && e.phase === 'writing' && e.bytes > 8 * MiB,
        ),
    );
    expect(parseLines(out).filter((e) => e.type === 'error')).toEqual([]);
    expect(ended).toBe(false);
    return { ...h, loop, out: () => out };
  }

  it('its stdin closed (the client cancels, or died): cancelled, first MiB not written', async () => {
    // A cancel file beside the job is the files channel's signal, not this one's: it writes on.
    const h = await writing('s-stdin', { cancelFile: true });
    h.child.stdin.end();
    const r = await h.done;
    expect(r.code).toBe(130);
    expect(parseLines(h.out()).at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_CANCELLED' },
    });
    expect(readDevice(h.loop.device, MiB).every((b) => b === 0)).toBe(true);
  });

  it('its stdout closed (no one reads its events any more): cancelled, first MiB not written', async () => {
    const h = await writing('s-stdout');
    // Our end of its stdout pipe goes away: its next event fails with EPIPE.
    h.child.stdout.destroy();
    const r = await h.done;
    expect(r.code).toBe(130);
    expect(errorFromStderr(r.stderr)?.code).toBe('ZFLASH_CANCELLED');
    expect(readDevice(h.loop.device, MiB).every((b) => b === 0)).toBe(true);
  });
});

describe('leaving no secret behind', () => {
  /** A fake pkexec: what the elevation tool itself does is the one thing not run for real. */
  function fakePkexec(name: string, body: string): string {
    const bin = `${tmp.path}/${name}`;
    mkdirSync(bin);
    writeFileSync(`${bin}/pkexec`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return bin;
  }
  const runner = () => {
    const path = `${tmp.path}/runner.mjs`;
    writeFileSync(
      path,
      `import { runHelper } from ${JSON.stringify(CLIENT)};
const [request, options] = process.argv.slice(2).map((a) => JSON.parse(a));
runHelper(request, { ...options, env: process.env }).then(
  (r) => console.log(JSON.stringify({ ok: true, r })),
  (e) => console.log(JSON.stringify({ ok: false, code: e.code, exitCode: e.exitCode })),
);\n`,
    );
    return path;
  };

  it('a requester killed while the password prompt is open: its job (with the Wi-Fi PSK) is removed at the next start', async () => {
    const base = `${tmp.path}/tmp-stale`;
    mkdirSync(base);
    const pidFile = `${tmp.path}/prompt.pid`;
    const prompt = fakePkexec('bin-prompt', `echo $$ > "${pidFile}"; exec sleep 600`);
    const cli = spawn(
      process.execPath,
      [
        runner(),
        JSON.stringify(writeJob(target.loop.device)),
        JSON.stringify({ isRoot: false, platform: 'linux', tempDir: base }),
      ],
      { stdio: 'ignore', env: { ...baseEnv, PATH: `${prompt}:${baseEnv.PATH}` } },
    );
    await until(
      'the password prompt',
      () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'),
    );
    const [jobDir] = readdirSync(base);
    expect(jobDir).toMatch(new RegExp(`^zflash-job-${cli.pid}-`));
    const secret = identity.wifi?.psk ?? 'missing';
    expect(readFileSync(`${base}/${jobDir}/job.json`, 'utf8')).toContain(secret);
    cli.kill('SIGKILL');
    await new Promise((r) => cli.on('close', r));
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    expect(readdirSync(base)).toEqual([jobDir]);
    // A folder of a requester still running, and another user's, are not ours to remove.
    const live = spawn('sleep', ['600'], { stdio: 'ignore' });
    mkdirSync(`${base}/zflash-job-${live.pid}-LiVe01`, { mode: 0o700 });
    chmodSync(base, 0o1777);
    asNobody(['mkdir', '-m', '700', `${base}/zflash-job-999999999-NoBoDy`]);

    // The next start (this one's prompt is dismissed) removes the dead requester's folder.
    const dismissed = fakePkexec(
      'bin-dismiss',
      'echo "Error executing command as another user: Request dismissed" >&2; exit 126',
    );
    await expect(
      runHelper(writeRequest(target.loop.device), {
        env: { ...baseEnv, PATH: `${dismissed}:${baseEnv.PATH}` },
        isRoot: false,
        platform: 'linux',
        tempDir: base,
        helperCommand,
      }),
    ).rejects.toMatchObject({ code: 'ZFLASH_CANCELLED', exitCode: 130 });
    expect(readdirSync(base).sort()).toEqual(
      [`zflash-job-${live.pid}-LiVe01`, 'zflash-job-999999999-NoBoDy'].sort(),
    );
    live.kill('SIGKILL');
    expectNothingTouched();
  });
});

describe('the client maps what pkexec itself says', () => {
  function fakePkexec(name: string, body: string): string {
    const bin = `${tmp.path}/${name}`;
    mkdirSync(bin);
    writeFileSync(`${bin}/pkexec`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return bin;
  }
  const viaPkexec = (bin: string) =>
    runHelper(writeRequest(target.loop.device), {
      env: { ...baseEnv, PATH: `${bin}:${baseEnv.PATH}` },
      isRoot: false,
      platform: 'linux',
      tempDir: tmp.path,
      helperCommand,
    });

  it('a dismissed prompt (126) is cancelled: 130', async () => {
    const bin = fakePkexec(
      'bin-126',
      'echo "Error executing command as another user: Request dismissed" >&2; exit 126',
    );
    await expect(viaPkexec(bin)).rejects.toMatchObject({ code: 'ZFLASH_CANCELLED', exitCode: 130 });
    expectNothingTouched();
  });

  it('not authorized (127) is a refusal that says pkexec’s reason, not a cancel', async () => {
    const bin = fakePkexec(
      'bin-127',
      'echo "Error executing command as another user: Not authorized" >&2; echo >&2; echo "This incident has been reported." >&2; exit 127',
    );
    await expect(viaPkexec(bin)).rejects.toMatchObject({
      code: 'ZFLASH_ELEVATION_DENIED',
      exitCode: 3,
      message: expect.stringMatching(/This incident has been reported|Not authorized/),
      details: { stderr: expect.stringContaining('Not authorized') },
    });
    expectNothingTouched();
  });

  it('passes the job to pkexec as argv, with the requester and the drive, and never its own SUDO_UID', async () => {
    const argsFile = `${tmp.path}/pkexec-args.txt`;
    const bin = fakePkexec(
      'bin-args',
      `printf '%s\\n' "$@" > "${argsFile}"; env > "${argsFile}.env"; exit 126`,
    );
    await expect(
      runHelper(writeRequest(target.loop.device), {
        env: { ...baseEnv, PATH: `${bin}:${baseEnv.PATH}`, SUDO_UID: '4242', PKEXEC_UID: '4243' },
        isRoot: false,
        platform: 'linux',
        tempDir: tmp.path,
        helperCommand,
        requester: 1000,
      }),
    ).rejects.toMatchObject({ code: 'ZFLASH_CANCELLED' });
    const argv = readFileSync(argsFile, 'utf8').trim().split('\n');
    expect(argv.slice(0, 3)).toEqual([process.execPath, HELPER, 'write']);
    expect(argv.slice(3)).toEqual([
      '--job',
      expect.stringMatching(/zflash-job-\d+-\w{6}\/job\.json$/),
      '--requester',
      '1000',
      '--drive',
      target.loop.device,
    ]);
    const env = readFileSync(`${argsFile}.env`, 'utf8');
    expect(env).not.toMatch(/^(SUDO|PKEXEC)_UID=/m);
  });
});

describe('a system drive handed straight to the helper (a private mount namespace mounts it on /boot)', () => {
  let sys: { loop: Loop; file: string; hash: string };
  beforeAll(() => {
    const file = `${tmp.path}/system.img`;
    writeFileSync(file, Buffer.alloc(64 * MiB));
    run('mkfs.ext4', ['-q', file]);
    const loop = attachLoop(file);
    loops.push(loop);
    sys = { loop, file, hash: hashOf(file) };
  });
  /** `cmd` inside a mount namespace where `sys` is mounted read-only on /boot. */
  const withBoot = (cmd: readonly string[]): [string, string[]] => [
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount -o ro "$0" /boot && exec "$@"',
      sys.loop.device,
      ...cmd,
    ],
  ];

  it('write: refused as a system drive, unchanged', async () => {
    const dir = `${tmp.path}/zflash-job-sys-write`;
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(`${dir}/job.json`, JSON.stringify(writeJob(sys.loop.device)), { mode: 0o600 });
    const [cmd, args] = withBoot([process.execPath, HELPER, 'write', '--job', `${dir}/job.json`]);
    const r = await spawnHeld(cmd, args, baseEnv).done;
    const said = errorFromStderr(r.stderr);
    expect(r.code).toBe(3);
    expect(said?.code).toBe('ZFLASH_DRIVE_REFUSED');
    expect(said?.details?.['reasons']).toContain('DRIVE_SYSTEM');
    expect(hashOf(sys.file)).toBe(sys.hash);
  });

  it('inject through the client and the helper’s inject verb: refused as a system drive, unchanged', async () => {
    const path = `${tmp.path}/inject-runner.mjs`;
    writeFileSync(
      path,
      `import { runInjectHelper } from ${JSON.stringify(CLIENT)};
runInjectHelper(JSON.parse(process.argv[2]), { env: process.env, tempDir: process.argv[3] }).then(
  (r) => console.log(JSON.stringify({ ok: true, r })),
  (e) => console.log(JSON.stringify({ ok: false, code: e.code, details: e.details })),
);\n`,
    );
    const request = injectJob(sys.loop.device);
    const [cmd, args] = withBoot([process.execPath, path, JSON.stringify(request), tmp.path]);
    const r = await spawnHeld(cmd, args, baseEnv).done;
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(out).toMatchObject({ ok: false, code: 'ZFLASH_DRIVE_REFUSED' });
    expect(out.details.reasons).toContain('DRIVE_SYSTEM');
    expect(hashOf(sys.file)).toBe(sys.hash);
  });

  it('zflash inject (no helper): the engine refuses it too, unchanged', async () => {
    const [cmd, args] = withBoot([
      process.execPath,
      ZFLASH_BIN,
      'inject',
      sys.loop.device,
      '--host',
      'n',
      '--ssh-key',
      `${key}.pub`,
      '--json',
    ]);
    const r = await spawnHeld(cmd, args, { ...baseEnv, ZFLASH_ALLOW_LOOP: '1' }).done;
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout);
    expect(out.error.code).toBe('ZFLASH_DRIVE_REFUSED');
    expect(out.error.details.reasons).toContain('DRIVE_SYSTEM');
    expect(hashOf(sys.file)).toBe(sys.hash);
  });
});

function injectJob(device: string, allowLoop = true) {
  return {
    version: 1 as const,
    verb: 'inject' as const,
    drive: { device, expectedSize: null },
    identity,
    createdAt: '2025-01-02T03:04:05.000Z',
    allowLoop,
  };
}

describe('the inject verb', () => {
  function stick(name: string): { loop: Loop; file: string } {
    const file = `${tmp.path}/${name}`;
    writeFileSync(file, readFileSync(iso));
    const loop = attachLoop(file);
    loops.push(loop);
    return { loop, file };
  }

  it('writes the node files into a flashed loop device; mtools reads them, fsck.fat is clean', async () => {
    const { loop, file } = stick('inject-ok.iso');
    const events: HelperEvent[] = [];
    const r = await runInjectHelper(injectJob(loop.device), {
      env: baseEnv,
      tempDir: tmp.path,
      helperCommand,
      onEvent: (e) => events.push(e),
    });
    expect(r).toMatchObject({ type: 'injected', device: loop.device });
    expect(r.files.map((f) => f.name)).toEqual(
      expect.arrayContaining(['zeta-hostname.txt', 'zeta-authorized-keys.pub', 'zeta-node.json']),
    );
    const esp = espOffsetBySfdisk(file);
    expect(r.esp.offset).toBe(esp.offset);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('node-7\n');
    const manifest = JSON.parse(mtype(loop.device, esp.offset, 'zeta-node.json'));
    expect(manifest).toMatchObject({ hostname: 'node-7', createdAt: '2025-01-02T03:04:05.000Z' });
    expect(manifest.wifi.psk).toBe(identity.wifi?.psk);
    fsckClean(extractRange(loop.device, esp.offset, esp.size, `${tmp.path}/inject-ok.esp`));
  });

  it('refuses a loop device when the job does not allow loop devices (nothing else would stop it)', async () => {
    const { loop, file } = stick('inject-noloop.iso');
    const before = hashOf(file);
    await expect(
      runInjectHelper(injectJob(loop.device, false), {
        env: baseEnv,
        tempDir: tmp.path,
        helperCommand,
      }),
    ).rejects.toMatchObject({
      code: 'ZFLASH_DRIVE_REFUSED',
      details: { reasons: expect.arrayContaining(['DRIVE_LOOP_NOT_ALLOWED']) },
    });
    expect(hashOf(file)).toBe(before);
    // The same for zflash inject without ZFLASH_ALLOW_LOOP: the engine checks, not the CLI.
    const cli = spawnSync(
      process.execPath,
      [ZFLASH_BIN, 'inject', loop.device, '--host', 'n', '--ssh-key', `${key}.pub`],
      {
        env: baseEnv,
        encoding: 'utf8',
      },
    );
    expect(cli.status).toBe(3);
    expect(cli.stderr).toContain('code: ZFLASH_DRIVE_REFUSED');
    expect(hashOf(file)).toBe(before);
  });

  it('refuses a regular file: root never writes into a file a job names', async () => {
    const file = `${tmp.path}/inject-file.iso`;
    writeFileSync(file, readFileSync(iso));
    const before = hashOf(file);
    await expect(
      runInjectHelper(injectJob(file), { env: baseEnv, tempDir: tmp.path, helperCommand }),
    ).rejects.toMatchObject({
      code: 'ZFLASH_DRIVE_REFUSED',
      details: { reasons: ['DRIVE_NOT_BLOCK_DEVICE'] },
    });
    expect(hashOf(file)).toBe(before);
  });

  it('refuses a write job handed to the inject verb', async () => {
    const dir = `${tmp.path}/zflash-job-verb-mix`;
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(`${dir}/job.json`, JSON.stringify(writeJob(target.loop.device)), { mode: 0o600 });
    const r = await helper(['inject', '--job', `${dir}/job.json`]);
    expectNothingTouched();
    expectRefused(r, 'ZFLASH_HELPER_JOB', /verb/);
  });
});

describe('the helper run by a user, not root (no elevation: it is already who asked)', () => {
  it('takes its own uid as the requester and checks its folder against it', () => {
    const dir = requesterJob('u-open-folder', JSON.stringify(writeJob(target.loop.device)), {
      events: true,
    });
    asNobody(['chmod', '755', dir]);
    const r = spawnSync(
      process.execPath,
      [...AS_NOBODY, 'write', '--job', `${dir}/job.json`, '--channel', 'files'],
      { env: baseEnv, encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(errorFromStderr(r.stderr)?.message).toBe(
      'The helper refused the folder of its job: others can enter it (mode 0755, must be 0700).',
    );
    expectNothingTouched();
  });
});
