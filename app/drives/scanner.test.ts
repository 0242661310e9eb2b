import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { attachSparseLoop, type Loop } from '../../test/fixtures.js';
import { ciMachine, linuxLaptop } from '../../test/recorded-drives.fixtures.js';
import { scanDrives } from './scanner.js';
import type { PolicyContext } from './types.js';

const MiB = 1024 * 1024;

describe('scanDrives with a real loop device', () => {
  let dir: string;
  let loop: Loop | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zflash-scan-'));
    loop = attachSparseLoop(dir, 64 * MiB);
  });
  afterAll(async () => {
    await loop?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists loop devices only with ZFLASH_ALLOW_LOOP=1', async () => {
    const hidden = await scanDrives({ allowLoop: false });
    expect(hidden.some((a) => a.drive.device === loop!.device)).toBe(false);
    expect(hidden.some((a) => a.drive.isLoop)).toBe(false);
    const shown = await scanDrives({ allowLoop: true });
    const mine = shown.find((a) => a.drive.device === loop!.device);
    expect(mine?.drive).toMatchObject({
      raw: loop!.device,
      size: 64 * MiB,
      busType: 'LOOP',
      isLoop: true,
      isReadOnly: false,
      mountpoints: [],
      description: `Loop device (${loop!.backingFile})`,
    });
  });

  it('takes the loop permission from its caller only, never from the environment', async () => {
    const saved = process.env['ZFLASH_ALLOW_LOOP'];
    process.env['ZFLASH_ALLOW_LOOP'] = '1';
    try {
      const scan = await scanDrives({});
      expect(scan.some((a) => a.drive.device === loop!.device)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env['ZFLASH_ALLOW_LOOP'];
      else process.env['ZFLASH_ALLOW_LOOP'] = saved;
    }
  });

  it('offers it when the image fits and refuses it as too small when it does not', async () => {
    const fits = await scanDrives({ allowLoop: true, imageSize: 32 * MiB });
    expect(fits.find((a) => a.drive.device === loop!.device)?.verdict).toEqual({
      status: 'eligible',
      reasons: [],
    });
    const tooBig = await scanDrives({ allowLoop: true, imageSize: 128 * MiB });
    const v = tooBig.find((a) => a.drive.device === loop!.device)?.verdict;
    expect(v?.status).toBe('refused');
    expect(v?.reasons.map((r) => r.code)).toEqual(['DRIVE_TOO_SMALL']);
  });
});

describe('scanDrives with injected enumerators', () => {
  const fixedContext = async (): Promise<PolicyContext> => ({
    source: 'procfs',
    imagePath: null,
    imageSize: null,
    appPaths: [],
    allowLoop: false,
    uses: [],
  });

  it('judges recorded outputs', async () => {
    const scan = await scanDrives({
      list: async () => [...ciMachine, ...linuxLaptop],
      readContext: fixedContext,
    });
    expect(scan.map((a) => [a.drive.device, a.verdict.status])).toEqual([
      ['/dev/zram0', 'refused'],
      ['/dev/vda', 'refused'],
      ['/dev/nvme0n1', 'refused'],
      ['/dev/sda', 'eligible'],
    ]);
    expect(scan[2]?.drive.mountpoints).toEqual(['/boot/efi', '/']);
  });

  it('turns an enumerator failure into ZFLASH_DRIVE_SCAN_FAILED with a hint', async () => {
    const err = await scanDrives({
      list: () => Promise.reject(new Error('lsblk: command not found')),
      readContext: fixedContext,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZflashError);
    const z = err as ZflashError;
    expect(z.code).toBe('ZFLASH_DRIVE_SCAN_FAILED');
    expect(z.kind).toBe('io');
    expect(z.hint.length).toBeGreaterThan(10);
    expect(z.details).toMatchObject({ cause: 'lsblk: command not found' });
  });
});
