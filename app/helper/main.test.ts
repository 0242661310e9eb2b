/**
 * helperMain in this process on the files channel, as the owner of its job folder (no root,
 * no drive): what it says about arguments and jobs it refuses, in its events file, on stderr
 * and in its exit code; and the built helper (dist/, `npm run build`) as a process of its own
 * for what only a process shows: stdin, signals, its parent, a file size limit. Flashing
 * through it is tested for real in test/helper.test.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildNodeIdentity, readSshKeyFile, type NodeIdentity } from '../node/index.js';
import { helperMain, parseHelperArgs } from './main.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-helpermain-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

let n = 0;
/** A 0700 folder with `job.json` (0600) holding `text` and an empty events file. */
function folder(text: string): string {
  const d = join(dir, `job-${n++}`);
  mkdirSync(d);
  chmodSync(d, 0o700);
  writeFileSync(join(d, 'job.json'), text, { mode: 0o600 });
  writeFileSync(join(d, 'events.jsonl'), '', { mode: 0o600 });
  return d;
}

/** What this process writes to stderr from now until vi.restoreAllMocks(), read by calling it. */
function captureStderr(): () => string {
  let text = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    text += chunk.toString();
    return true;
  });
  return () => text;
}

/** Runs helperMain on the files channel; returns its code, events and stderr. */
async function run(verb: string, text: string) {
  const d = folder(text);
  const stderr = captureStderr();
  const code = await helperMain([verb, '--job', join(d, 'job.json'), '--channel', 'files'], {});
  vi.restoreAllMocks();
  const events = readFileSync(join(d, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; error: Record<string, unknown> });
  return { code, events, stderr: stderr() };
}

const refusedJob = (message: string) => ({
  type: 'error',
  error: {
    code: 'ZFLASH_HELPER_JOB',
    kind: 'input',
    message,
    hint: 'Start the flash again from Zeta Flash.',
    exitCode: 2,
  },
});

describe('helperMain refuses what it cannot trust, and says so twice', () => {
  it('a job that is not JSON', async () => {
    const r = await run('write', '{not json');
    expect(r.code).toBe(2);
    expect(r.events).toEqual([
      refusedJob('The helper refused its job file: it is not valid JSON.'),
    ]);
    expect(r.stderr).toBe(`zflash-helper-error ${JSON.stringify(r.events[0]?.error)}\n`);
  });

  it('a job that fails its schema, naming each field', async () => {
    const r = await run('write', JSON.stringify({ version: 1, verb: 'write' }));
    expect(r.code).toBe(2);
    const message = r.events[0]?.error['message'] as string;
    expect(r.events[0]?.error['hint']).toBe('Start the flash again from Zeta Flash.');
    expect(message).toMatch(/^The helper refused its job: image: .+; /);
    expect(message).toMatch(/identity: /);
    expect(message.endsWith('.')).toBe(true);
  });

  it('names a nested field by its path, each field once, in order', async () => {
    const job = { ...injectJob(''), createdAt: 'yesterday' };
    const r = await run('inject', JSON.stringify(job));
    expect(r.code).toBe(2);
    expect(r.events[0]?.error['message']).toMatch(
      /^The helper refused its job: drive\.device: [^;]+; createdAt: [^;]+\.$/,
    );
  });

  it('a write job naming a file instead of a drive (root writes drives only)', async () => {
    const job = {
      version: 1,
      verb: 'write',
      image: { path: join(dir, 'any.iso'), sha256: null },
      drive: null,
      file: { path: join(dir, 'root-owned.conf'), overwrite: true },
      identity,
      createdAt: '2025-01-02T03:04:05.000Z',
      verify: true,
      eject: false,
      allowLoop: false,
      parentPid: null,
    };
    const r = await run('write', JSON.stringify(job));
    expect(r.code).toBe(2);
    expect(r.events).toEqual([
      refusedJob('The helper refused its job: it writes drives only, and this job names a file.'),
    ]);
  });

  it('an inject job handed to the write verb, and a write job to the inject verb', async () => {
    const inject = { version: 1, verb: 'inject' };
    const r = await run('write', JSON.stringify(inject));
    expect(r.events[0]?.error['message']).toMatch(/^The helper refused its job: verb: /);
    const w = await run('inject', JSON.stringify({ version: 1, verb: 'write' }));
    expect(w.events[0]?.error['message']).toMatch(/^The helper refused its job: verb: /);
  });

  it('a usage error goes to stderr only (there is no channel yet), exit 2', async () => {
    const stderr = captureStderr();
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const code = await helperMain(['erase', '--job', '/nonexistent/job.json'], {});
    vi.restoreAllMocks();
    expect(code).toBe(2);
    const body = JSON.parse(stderr().replace(/^zflash-helper-error /, '')) as Record<
      string,
      unknown
    >;
    expect(body).toEqual({
      code: 'ZFLASH_HELPER_USAGE',
      kind: 'input',
      message:
        'The helper was started with unexpected arguments: the verb must be one of write, write-many, inject.',
      hint: 'Start the flash again from Zeta Flash.',
      exitCode: 2,
    });
  });
});

describe('helperMain when something unexpected throws', () => {
  it('a throw that is not an Error: a bug (exit 1) whose body still carries details, empty', async () => {
    const d = folder('{}');
    const stderr = captureStderr();
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    // Asked for the requester's uid before the events file is open: said on stdout and stderr.
    vi.spyOn(process, 'getuid').mockImplementation(() => {
      throw 'no uid here';
    });
    const code = await helperMain(
      ['write', '--job', join(d, 'job.json'), '--channel', 'files'],
      {},
    );
    vi.restoreAllMocks();
    expect(code).toBe(1);
    expect(JSON.parse(stderr().replace(/^zflash-helper-error /, ''))).toEqual({
      code: 'ZFLASH_INTERNAL',
      kind: 'bug',
      message: 'Zeta Flash hit an unexpected error: no uid here',
      hint: 'This is a bug in Zeta Flash. Photograph this screen or save the diagnostics and report it.',
      exitCode: 1,
      details: {},
    });
  });
});

describe('helperMain with no requester named', () => {
  it('takes its own uid as the requester, and so checks the folder mode', async () => {
    const d = folder('{}');
    chmodSync(d, 0o755);
    const stderr = captureStderr();
    const code = await helperMain(
      ['write', '--job', join(d, 'job.json'), '--channel', 'files'],
      {},
    );
    vi.restoreAllMocks();
    expect(code).toBe(2);
    expect(stderr()).toContain(
      'The helper refused the folder of its job: others can enter it (mode 0755, must be 0700).',
    );
  });
});

describe('helperMain where there are no POSIX owners (Windows: UAC, ACLs)', () => {
  it('checks no owner and no mode: a folder others can enter is not refused there', async () => {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform');
    Object.defineProperty(process, 'platform', { ...platform, value: 'win32' });
    try {
      const d = folder('{}');
      chmodSync(d, 0o755);
      chmodSync(join(d, 'job.json'), 0o644);
      const stderr = captureStderr();
      const code = await helperMain(
        ['write', '--job', join(d, 'job.json'), '--channel', 'files'],
        {},
      );
      vi.restoreAllMocks();
      // Past the folder and the files: the job itself (`{}`) is what it refuses.
      expect(code).toBe(2);
      expect(stderr()).toMatch(/"message":"The helper refused its job: version: /);
    } finally {
      if (platform) Object.defineProperty(process, 'platform', platform);
    }
  });
});

describe('helperMain in a process that goes on after it (tests, an embedding front end)', () => {
  it('stops its watchdog when it returns', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const r = await run('write', '{not json');
      expect(r.code).toBe(2);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('parseHelperArgs says what is wrong', () => {
  const message = (argv: string[]) => {
    try {
      parseHelperArgs(argv);
    } catch (e) {
      return (e as Error).message;
    }
    return null;
  };
  it('in words of its own', () => {
    expect(message(['write'])).toBe(
      'The helper was started with unexpected arguments: --job FILE is missing.',
    );
    expect(message(['write', '--job', 'j', '--channel', 'x'])).toBe(
      'The helper was started with unexpected arguments: --channel must be files or stdio.',
    );
    expect(message(['write', '--job', 'j', '--channel', 'files', '--await-job'])).toBe(
      'The helper was started with unexpected arguments: --await-job needs the stdio channel (the job is announced on stdin).',
    );
    expect(message(['write', '--job', 'j', 'more'])).toBe(
      'The helper was started with unexpected arguments: the verb must be one of write, write-many, inject.',
    );
    // Unknown options are refused, even without a value.
    // Node's own words, not the name of its error class.
    expect(message(['write', '--job', 'j', '--shell'])).toMatch(
      /^The helper was started with unexpected arguments: Unknown option '--shell'\. /,
    );
    expect(parseHelperArgs(['write', '--job', 'j', '--channel', 'stdio']).channel).toBe('stdio');
  });
});

/** A valid identity for the jobs below (the schema checks it before anything else runs). */
let identity: NodeIdentity;
beforeAll(async () => {
  const key = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  const { keys } = await readSshKeyFile(`${key}.pub`);
  ({ identity } = buildNodeIdentity({ hostname: 'node-7', keys }));
});

/** helperMain on the files channel with `extra` arguments; its code, events and stderr. */
async function runWith(verb: string, job: unknown, extra: string[] = []) {
  const d = folder(JSON.stringify(job));
  const stderr = captureStderr();
  const code = await helperMain(
    [verb, '--job', join(d, 'job.json'), '--channel', 'files', ...extra],
    {},
  );
  vi.restoreAllMocks();
  const events = readFileSync(join(d, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; error?: Record<string, unknown> });
  return { code, events, stderr: stderr() };
}

/** Paths that are not block devices: whatever runs a job naming them refuses the drive. */
const notDrive = (name: string) => join(dir, `${name}.img`);
const injectJob = (device: string) => ({
  version: 1,
  verb: 'inject',
  drive: { device, expectedSize: null },
  identity,
  createdAt: '2025-01-02T03:04:05.000Z',
  allowLoop: false,
  parentPid: null,
});
const manyJob = (devices: string[]) => ({
  version: 1,
  verb: 'write-many',
  image: { path: join(dir, 'missing.iso'), sha256: null },
  drives: devices.map((device, i) => ({
    device,
    expectedSize: null,
    identity: { ...identity, hostname: `node-${i}` },
  })),
  createdAt: '2025-01-02T03:04:05.000Z',
  verify: true,
  eject: false,
  allowLoop: false,
  parentPid: null,
});

describe('helperMain runs only the drives the password prompt named (--drive)', () => {
  const usage = (r: { code: number; events: { error?: Record<string, unknown> }[] }) => {
    expect(r.code).toBe(2);
    return r.events[0]?.error;
  };
  it('refuses a job for another drive than the one named, saying both', async () => {
    const [a, b] = [notDrive('a'), notDrive('b')];
    const r = await runWith('inject', injectJob(b), ['--drive', a]);
    expect(usage(r)).toMatchObject({
      code: 'ZFLASH_HELPER_USAGE',
      message: `The helper was started with unexpected arguments: --drive ${a} is not what the job names (${b}).`,
    });
  });

  it('refuses a named drive the job does not write, and a job writing one drive more', async () => {
    const [a, b, c] = [notDrive('a'), notDrive('b'), notDrive('c')];
    // Same number of drives, one of them different.
    const r1 = await runWith('write-many', manyJob([a, b]), ['--drive', a, '--drive', c]);
    expect(usage(r1)?.['message']).toBe(
      `The helper was started with unexpected arguments: --drive ${a} ${c} is not what the job names (${a} ${b}).`,
    );
    // Every drive named is in the job, but the job writes one more.
    const r2 = await runWith('write-many', manyJob([a, b]), ['--drive', a]);
    expect(usage(r2)?.['message']).toBe(
      `The helper was started with unexpected arguments: --drive ${a} is not what the job names (${a} ${b}).`,
    );
  });

  it('takes the same drives in another order, and goes on to run the job', async () => {
    const [a, b] = [notDrive('a'), notDrive('b')];
    // Neither list is in sorted order: the comparison sorts both.
    const r = await runWith('write-many', manyJob([b, a]), ['--drive', b, '--drive', a]);
    expect(r.events.map((e) => e.error?.['code'])).not.toContain('ZFLASH_HELPER_USAGE');
    expect(r.stderr).not.toContain('ZFLASH_HELPER_USAGE');
    // The job ran: its image (which does not exist) is what it refused.
    expect(r.code).toBe(2);
    expect(r.events.map((e) => e.type)).toEqual(['progress', 'error']);
    expect(r.events[1]?.error).toMatchObject({
      code: 'ZFLASH_IMAGE_NOT_FOUND',
      details: { path: join(dir, 'missing.iso'), code: 'ENOENT' },
    });
  });
});

describe('helperMain ends a write-many job with its summary', () => {
  it('each drive refused on its own, then the summary, and the drives’ exit code', async () => {
    const image = join(dir, 'small.img');
    writeFileSync(image, Buffer.alloc(1024 * 1024, 0x5a));
    const [a, b] = [notDrive('many-a'), notDrive('many-b')];
    writeFileSync(a, Buffer.alloc(4 * 1024 * 1024));
    const job = { ...manyJob([a, b]), image: { path: image, sha256: null } };
    const r = await runWith('write-many', job);
    // The image has no ESP to put a node in: each drive fails with that, the job goes on.
    expect(r.events.filter((e) => e.type === 'error').map((e) => e.error?.['code'])).toEqual([
      'ZFLASH_NO_ESP',
      'ZFLASH_NO_ESP',
    ]);
    expect(r.events.at(-1)).toMatchObject({
      type: 'summary',
      drives: [
        { device: a, status: 'failed', code: 'ZFLASH_NO_ESP', exitCode: 3 },
        { device: b, status: 'failed', code: 'ZFLASH_NO_ESP', exitCode: 3 },
      ],
    });
    expect(r.code).toBe(3);
    // Every drive said its own error through the channel: nothing for stderr.
    expect(r.stderr).not.toContain('zflash-helper-error');
  });
});

/**
 * The built helper as a process of its own (dist/, as the client starts it), run as this
 * test's uid: what only a process shows — its stdin, its signals, its parent, its exit code.
 */
describe('the helper process on the stdio channel, started early (--await-job)', () => {
  const HELPER = new URL('../../dist/app/helper/entry.js', import.meta.url).pathname;
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  const started: ChildProcess[] = [];
  const strays: number[] = [];
  afterEach(() => {
    for (const c of started.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    for (const pid of strays.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  /** A folder as the client prepares it, with a job that fails its schema once read. */
  function prepared(): { d: string; job: string } {
    const d = folder('{}');
    return { d, job: join(d, 'job.json') };
  }

  /** Waits for `cond`, polling; fails the test (not a timing: a bound) if it never holds. */
  async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`never: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function start(cmd: string, args: string[]) {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    started.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<{ code: number | null; signal: string | null }>((res) =>
      child.on('close', (code, signal) => res({ code, signal })),
    );
    return { child, closed, out: () => stdout, err: () => stderr };
  }

  /** The error the helper said on stderr after its marker. */
  const said = (stderr: string) =>
    JSON.parse(stderr.split('zflash-helper-error ')[1] ?? 'null') as Record<string, unknown> | null;

  /** Whether `pid` catches signal `sig` (its handler is installed: /proc/PID/status). */
  function catches(pid: number, sig: number): boolean {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(sig - 1)) & 1n) === 1n;
  }

  it('reads its job only after the line that announces it', async () => {
    const { job } = prepared();
    const h = start(process.execPath, [HELPER, 'inject', '--job', job, '--await-job']);
    h.child.stdin.write('ready\n');
    const { code } = await h.closed;
    // Read, then refused for what it holds; emptied once read.
    expect(code).toBe(2);
    expect(said(h.err())?.['message']).toMatch(/^The helper refused its job: version: /);
    expect(readFileSync(job, 'utf8')).toBe('');
  });

  it.each([
    ['no line at all', ''],
    ['text without a line break', 'read'],
  ])('stdin closed after %s: cancelled, its job never read', async (_what, text) => {
    const { job } = prepared();
    const h = start(process.execPath, [HELPER, 'inject', '--job', job, '--await-job']);
    h.child.stdin.end(text);
    const { code } = await h.closed;
    expect(code).toBe(130);
    expect(said(h.err())).toMatchObject({ code: 'ZFLASH_CANCELLED', exitCode: 130 });
    expect(readFileSync(job, 'utf8')).toBe('{}');
  });

  it.each([
    ['SIGTERM', 15],
    ['SIGINT', 2],
    ['SIGHUP', 1],
  ] as const)(
    '%s while it waits: cancelled (130), not killed, its job never read',
    async (sig, n) => {
      const { job } = prepared();
      const h = start(process.execPath, [HELPER, 'inject', '--job', job, '--await-job']);
      const pid = h.child.pid ?? 0;
      // SIGHUP is the last of the three it catches: once it does, all three are caught.
      await until(`the helper catching ${sig}`, () => catches(pid, 1) && catches(pid, n));
      h.child.kill(sig);
      expect(await h.closed).toEqual({ code: 130, signal: null });
      expect(said(h.err())).toMatchObject({ code: 'ZFLASH_CANCELLED' });
      expect(readFileSync(job, 'utf8')).toBe('{}');
    },
  );

  it('stdin that is a file at its end (/dev/null): cancelled at once, its job never read', async () => {
    const { job } = prepared();
    // A file's stdin says 'end' and never 'close' (a pipe's says both).
    const child = spawn(process.execPath, [HELPER, 'inject', '--job', job, '--await-job'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    started.push(child);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise((res) => child.on('close', res));
    expect(code).toBe(130);
    expect(said(stderr)).toMatchObject({ code: 'ZFLASH_CANCELLED', exitCode: 130 });
    expect(readFileSync(job, 'utf8')).toBe('{}');
  });

  it('stdin that cannot be read (a descriptor open for writing only): cancelled, not crashed, its job never read', async () => {
    const { d, job } = prepared();
    const fd = openSync(join(d, 'write-only'), 'w');
    try {
      const child = spawn(process.execPath, [HELPER, 'inject', '--job', job, '--await-job'], {
        stdio: [fd, 'ignore', 'pipe'],
        env,
      });
      started.push(child);
      let stderr = '';
      child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      const code = await new Promise((res) => child.on('close', res));
      // Its first read fails (EBADF): an 'error' on stdin stops it like its end would.
      expect(code).toBe(130);
      expect(said(stderr)).toMatchObject({ code: 'ZFLASH_CANCELLED', exitCode: 130 });
      expect(readFileSync(job, 'utf8')).toBe('{}');
    } finally {
      closeSync(fd);
    }
  });

  it('stops when its parent is gone though its stdin is still open (a FIFO we hold)', async () => {
    const { d, job } = prepared();
    // The helper's stdin is a FIFO this test holds open for writing until the end: no EOF
    // ever comes, only the change of parent can stop it.
    const fifo = join(d, 'stdin');
    execFileSync('mkfifo', [fifo]);
    const held = openSync(fifo, 'r+');
    try {
      // A parent shell that starts the helper in the background on the shell's own stdin
      // (a background job would get /dev/null), says its pid, then waits.
      const shell = spawn(
        'sh',
        [
          '-c',
          'exec 3<&0; "$@" <&3 3<&- & echo "$!"; wait',
          'sh',
          process.execPath,
          HELPER,
          'inject',
          '--job',
          job,
          '--await-job',
        ],
        { stdio: [held, 'pipe', 'pipe'], env },
      );
      started.push(shell);
      let out = '';
      let err = '';
      shell.stdout?.on('data', (b: Buffer) => (out += b.toString()));
      shell.stderr?.on('data', (b: Buffer) => (err += b.toString()));
      // The helper holds the shell's stdout and stderr until it ends.
      const ended = new Promise((res) => shell.on('close', res));
      await until('the helper’s pid', () => out.endsWith('\n'));
      const pid = Number(out.trim());
      strays.push(pid);
      await until('the helper catching signals', () => catches(pid, 1));
      shell.kill('SIGKILL');
      await ended;
      expect(said(err)).toMatchObject({ code: 'ZFLASH_CANCELLED', exitCode: 130 });
      expect(readFileSync(job, 'utf8')).toBe('{}');
    } finally {
      closeSync(held);
    }
  });
});

describe('the helper process when its events file takes no more (files channel)', () => {
  const HELPER = new URL('../../dist/app/helper/entry.js', import.meta.url).pathname;
  it('the failed write is a bug, said on stderr with its stack, exit 1', async () => {
    const d = folder(JSON.stringify(injectJob(notDrive('efbig'))));
    const events = join(d, 'events.jsonl');
    // At the file size limit the helper runs with (RLIMIT_FSIZE): its first line fails, EFBIG.
    writeFileSync(events, '\n'.repeat(64 * 1024));
    const child = spawn(
      'prlimit',
      [
        `--fsize=${64 * 1024}`,
        process.execPath,
        HELPER,
        'inject',
        '--job',
        join(d, 'job.json'),
        '--channel',
        'files',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
      },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise((res) => child.on('close', res));
    expect(code).toBe(1);
    const body = JSON.parse(stderr.replace(/^zflash-helper-error /, '')) as Record<string, unknown>;
    expect(body).toMatchObject({
      code: 'ZFLASH_INTERNAL',
      kind: 'bug',
      message: 'Zeta Flash hit an unexpected error: EFBIG: file too large, write',
      exitCode: 1,
      details: { stack: expect.stringMatching(/^Error: EFBIG: file too large, write\n {4}at /) },
    });
    expect(readFileSync(events, 'utf8')).toBe('\n'.repeat(64 * 1024));
  });
});
