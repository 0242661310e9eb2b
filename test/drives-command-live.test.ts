/**
 * `zflash drives` against this machine's real drivelist and a real loop device (needs root).
 * Recorded drives and usage errors stay beside the code in app/cli/drives-command.test.ts.
 */
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrivesCommand, drivesCommand } from '../app/cli/drives-command.js';
import { makeIo } from './cli-capture.js';
import { attachSparseLoop, requireLoop, systemDisks, type Loop } from './fixtures.js';
import { cliLines } from './json-lines.js';

const MiB = 1024 * 1024;

const driveLines = (text: string) => cliLines(text).flatMap((l) => (l.type === 'drive' ? [l] : []));

describe('zflash drives on this machine (real drivelist and a real loop device)', () => {
  let dir: string;
  let loop: Loop | undefined;
  beforeAll(async () => {
    requireLoop();
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
