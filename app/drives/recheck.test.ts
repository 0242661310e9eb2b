import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachSparseLoop, run, systemDisks, type Loop } from '../../test/fixtures.js';
import { recheckDrive, stableDescription } from './recheck.js';
import { readSystemContext } from './system-context.js';

const MiB = 1024 * 1024;

describe('recheckDrive (the helper, right before it opens the drive)', () => {
  let dir: string;
  let loop: Loop | undefined;
  let parted: Loop | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zflash-recheck-'));
    loop = attachSparseLoop(dir, 64 * MiB);
    parted = attachSparseLoop(dir, 16 * MiB, { name: 'parted.img', partitions: true });
    run('sfdisk', ['--quiet', parted.device], { input: 'label: dos\n,,83\n' });
    try {
      run('partx', ['-u', parted.device]);
    } catch {
      run('partx', ['-a', parted!.device]);
    }
  });
  afterAll(async () => {
    await loop?.detach();
    await parted?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves a symlink to the loop device and judges the real device', async () => {
    const link = join(dir, 'by-id-link');
    await symlink(loop!.device, link);
    const r = await recheckDrive(link, { allowLoop: true, imageSize: 32 * MiB });
    expect(r.requestedPath).toBe(link);
    expect(r.drive.device).toBe(loop!.device);
    expect(r.drive.raw).toBe(loop!.device);
    expect(r.deviceNumber).toMatch(/^7:\d+$/);
    expect(r.verdict).toEqual({ status: 'eligible', reasons: [] });
  });

  it('refuses it as too small against a bigger image', async () => {
    const r = await recheckDrive(loop!.device, { allowLoop: true, imageSize: 65 * MiB });
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_TOO_SMALL']);
  });

  it('accepts a PolicyContext read earlier, and re-reads the system facts', async () => {
    const ctx = await readSystemContext({ allowLoop: true, imageSize: 1 * MiB });
    const r = await recheckDrive(loop!.device, ctx);
    expect(r.verdict.status).toBe('eligible');
  });

  it('refuses a loop device when loop devices are not allowed', async () => {
    const r = await recheckDrive(loop!.device, { allowLoop: false });
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_LOOP_NOT_ALLOWED']);
  });

  it('refuses a drive that is not the one the operator chose any more', async () => {
    const r = await recheckDrive(loop!.device, {
      allowLoop: true,
      expected: { size: 16 * 1000 * 1000 * 1000, description: 'SanDisk Ultra' },
    });
    expect(r.verdict.status).toBe('refused');
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_CHANGED']);
    expect(r.verdict.reasons[0]?.message).toContain('size and description changed');
  });

  it('accepts the same drive when only its mount part of the description changed', async () => {
    const r = await recheckDrive(loop!.device, {
      allowLoop: true,
      expected: { size: 64 * MiB, description: `Loop device (${loop!.backingFile})` },
    });
    expect(r.verdict.status).toBe('eligible');
    expect(stableDescription('SanDisk Ultra (/run/media/alice/STICK)')).toBe('SanDisk Ultra');
    expect(stableDescription('SanDisk Ultra')).toBe('SanDisk Ultra');
  });

  it('refuses a partition, naming the whole drive as the thing to choose', async () => {
    const r = await recheckDrive(`${parted!.device}p1`, { allowLoop: true });
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_PARTITION']);
  });

  it('refuses a regular file', async () => {
    const file = join(dir, 'not-a-drive.img');
    await writeFile(file, 'x');
    const r = await recheckDrive(file, { allowLoop: true });
    expect(r.verdict.status).toBe('refused');
    expect(r.verdict.reasons).toEqual([
      {
        code: 'DRIVE_NOT_BLOCK_DEVICE',
        severity: 'refused',
        message: `${file} is a regular file, not a drive.`,
      },
    ]);
  });

  it('refuses a path that does not exist', async () => {
    const r = await recheckDrive('/dev/zflash-no-such-drive');
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_NOT_FOUND']);
    expect(r.drive.device).toBe('/dev/zflash-no-such-drive');
  });

  it('refuses the system disk (the disk under /, found with findmnt and lsblk)', async () => {
    for (const disk of systemDisks()) {
      const r = await recheckDrive(disk);
      expect(r.verdict.status, disk).toBe('refused');
      expect(r.verdict.reasons.map((x) => x.code)).toContain('DRIVE_SYSTEM');
    }
  });
});
