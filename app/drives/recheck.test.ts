// Checks that need no device. The recheck of real loop devices (symlinks, partitions, the
// system disk, a drive that changed) needs root: test/drives-live.test.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recheckDrive, stableDescription } from './recheck.js';

describe('recheckDrive without a device', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zflash-recheck-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
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

  it('compares descriptions without their mount part', () => {
    expect(stableDescription('SanDisk Ultra (/run/media/alice/STICK)')).toBe('SanDisk Ultra');
    expect(stableDescription('SanDisk Ultra')).toBe('SanDisk Ultra');
  });
});
