import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachSparseLoop, systemDisks, type Loop } from '../../test/fixtures.js';
import { cliLines, onlyLine } from '../../test/json-lines.js';
import { ciMachine, linuxLaptop } from '../../test/recorded-drives.fixtures.js';
import type { PolicyContext } from '../drives/types.js';
import { createDrivesCommand, drivesCommand } from './drives-command.js';
import type { CliIo } from './io.js';

const MiB = 1024 * 1024;

/** A stream that keeps what was written and can wait for a line matching a predicate. */
class Capture extends Writable {
  text = '';
  private waiters: { match: (line: string) => boolean; resolve: () => void }[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    const lines = this.text.split('\n');
    this.waiters = this.waiters.filter((w) => {
      if (!lines.some(w.match)) return true;
      w.resolve();
      return false;
    });
    done();
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l.length > 0);
  }
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<void> {
    if (this.text.split('\n').some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching line in ${timeoutMs} ms:\n${this.text}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

function makeIo(env: NodeJS.ProcessEnv = {}, signal = new AbortController().signal) {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, stdin: new PassThrough(), env, signal };
  return { io, stdout, stderr };
}

const driveLines = (text: string) => cliLines(text).flatMap((l) => (l.type === 'drive' ? [l] : []));

describe('zflash drives on this machine (real drivelist and a real loop device)', () => {
  let dir: string;
  let loop: Loop | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zflash-drives-cli-'));
    loop = attachSparseLoop(dir, 64 * MiB);
  });
  afterAll(async () => {
    await loop?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  it('--json prints one parseable document listing the loop device', async () => {
    const { io, stdout, stderr } = makeIo({ ZFLASH_ALLOW_LOOP: '1' });
    expect(await drivesCommand(['--json'], io)).toBe(0);
    expect(stderr.text).toBe('');
    const drives = driveLines(stdout.text);
    const mine = drives.find((d) => d.drive.device === loop!.device);
    expect(mine).toMatchObject({
      type: 'drive',
      drive: { size: 64 * MiB, isLoop: true },
      verdict: { status: 'eligible', reasons: [] },
    });
    const [system] = systemDisks();
    expect(drives.find((d) => d.drive.device === system)?.verdict.status).toBe('refused');
  });

  it('--json without ZFLASH_ALLOW_LOOP hides loop devices', async () => {
    const { io, stdout } = makeIo({});
    expect(await drivesCommand(['--json'], io)).toBe(0);
    const drives = driveLines(stdout.text);
    expect(drives.length).toBeGreaterThan(0);
    expect(drives.some((d) => d.drive.isLoop)).toBe(false);
  });

  it('--image judges the loop device as too small for a bigger image', async () => {
    const image = join(dir, 'big.iso');
    await writeFile(image, '');
    await truncate(image, 100 * MiB);
    const { io, stdout } = makeIo({ ZFLASH_ALLOW_LOOP: '1' });
    expect(await drivesCommand(['--json', '--image', image], io)).toBe(0);
    const mine = driveLines(stdout.text).find((d) => d.drive.device === loop!.device);
    expect(mine?.verdict.reasons.map((r) => r.code)).toEqual(['DRIVE_TOO_SMALL']);
  });

  it('prints a readable table with the reasons under each drive', async () => {
    const { io, stdout } = makeIo({ ZFLASH_ALLOW_LOOP: '1' });
    expect(await drivesCommand([], io)).toBe(0);
    const lines = stdout.lines();
    expect(lines[0]).toMatch(/^DEVICE\s+SIZE\s+BUS\s+DESCRIPTION\s+MOUNTPOINTS\s+VERDICT$/);
    expect(lines.find((l) => l.startsWith(loop!.device))).toMatch(
      /\s67\.1 MB\s+LOOP\s+Loop device .*\s+-\s+eligible$/,
    );
    // The system disk is derived from `/` (findmnt, lsblk), not this machine's recorded name.
    const [system] = systemDisks();
    const row = lines.findIndex((l) => l.startsWith(`${system} `));
    expect(row).toBeGreaterThan(0);
    expect(lines[row]).toMatch(/\srefused$/);
    expect(lines.slice(row + 1)).toContainEqual(
      expect.stringMatching(
        /^ {4}refused: This computer runs from this drive: it holds .+\. \[DRIVE_SYSTEM\]$/,
      ),
    );
  });

  it('--watch --json prints one line per event and exits 0 when stopped', async () => {
    const controller = new AbortController();
    const { io, stdout } = makeIo({ ZFLASH_ALLOW_LOOP: '1' }, controller.signal);
    const run = createDrivesCommand({ intervalMs: 100 })(['--watch', '--json'], io);
    await stdout.waitForLine((l) => l.includes(`"device":"${loop!.device}"`), 10_000);
    controller.abort();
    expect(await run).toBe(0);
    const events = cliLines(stdout.text);
    // Other suites may plug loop devices meanwhile: only ours is asserted.
    const ours = events.flatMap((e) =>
      (e.type === 'attach' || e.type === 'change') && e.drive.device === loop!.device ? [e] : [],
    );
    expect(ours.map((e) => e.type)).toEqual(['attach']);
    expect(ours[0]?.verdict.status).toBe('eligible');
  });
});

describe('zflash drives with recorded drives', () => {
  const context = async (): Promise<PolicyContext> => ({
    source: 'procfs',
    imagePath: null,
    imageSize: null,
    appPaths: [],
    allowLoop: false,
    uses: [],
  });

  it('--watch (text) reports plugged-in drives as they come and go', async () => {
    const controller = new AbortController();
    const { io, stdout } = makeIo({}, controller.signal);
    let calls = 0;
    const command = createDrivesCommand({
      intervalMs: 1,
      readContext: context,
      list: async () => (calls++ < 2 ? ciMachine : [...ciMachine, ...linuxLaptop]),
    });
    const run = command(['--watch'], io);
    await stdout.waitForLine((l) => l.startsWith('+ attach  /dev/sda'), 5000);
    controller.abort();
    expect(await run).toBe(0);
    const lines = stdout.lines();
    expect(lines[0]).toBe('Watching for drives (Ctrl-C to stop)…');
    expect(lines.filter((l) => l.startsWith('+ attach'))).toEqual([
      '+ attach  /dev/zram0  unknown  UNKNOWN  -  -  refused',
      '+ attach  /dev/vda  274.9 GB  UNKNOWN  0x1af4  /  refused',
      '+ attach  /dev/nvme0n1  1000.2 GB  NVME  Samsung SSD 980 PRO 1TB (/boot/efi, /)  /boot/efi, /  refused',
      '+ attach  /dev/sda  15.7 GB  USB  SanDisk Ultra (/run/media/alice/STICK)  /run/media/alice/STICK  eligible',
    ]);
  });

  it('reports a scan failure with message, hint and code', async () => {
    const { io, stderr } = makeIo();
    const command = createDrivesCommand({
      readContext: context,
      list: () => Promise.reject(new Error('boom')),
    });
    expect(await command([], io)).toBe(4);
    expect(stderr.lines()).toEqual([
      'error: Zeta Flash could not list the drives attached to this computer.',
      'hint: Check that `lsblk` (util-linux) is installed and works, then try again.',
      'code: ZFLASH_DRIVE_SCAN_FAILED',
    ]);
  });
});

describe('zflash drives usage', () => {
  it('--help prints usage and exits 0', async () => {
    const { io, stdout } = makeIo();
    expect(await drivesCommand(['--help'], io)).toBe(0);
    expect(stdout.text).toContain('zflash drives [--json] [--watch] [--image PATH]');
  });

  it('an unknown option exits 2 with message, hint and code', async () => {
    const { io, stdout, stderr } = makeIo();
    expect(await drivesCommand(['--bogus'], io)).toBe(2);
    expect(stdout.text).toBe('');
    const lines = stderr.lines();
    expect(lines[0]).toMatch(/^error: .*--bogus/);
    expect(lines[1]).toBe('hint: Usage: zflash drives [--json] [--watch] [--image PATH]');
    expect(lines[2]).toBe('code: ZFLASH_USAGE');
  });

  it('with --json, an unknown option is a JSON error object', async () => {
    const { io, stdout } = makeIo();
    expect(await drivesCommand(['--json', '--bogus'], io)).toBe(2);
    const { error } = onlyLine(stdout.text, 'error');
    expect(error).toMatchObject({ code: 'ZFLASH_USAGE', kind: 'input', exitCode: 2 });
    expect(error.message).toContain('--bogus');
    expect(error.hint).toContain('Usage:');
  });

  it('a missing --image exits 2 before any watching starts', async () => {
    const { io, stderr } = makeIo();
    expect(await drivesCommand(['--watch', '--image', '/nonexistent/zflash.iso'], io)).toBe(2);
    expect(stderr.text).toContain('code: ZFLASH_IMAGE_NOT_FOUND');
  });
});
