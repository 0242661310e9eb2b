// scanDrives with a real loop device needs root: test/drives-live.test.ts.
import { describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { ciMachine, linuxLaptop } from '../../test/recorded-drives.fixtures.js';
import { scanDrives } from './scanner.js';
import type { PolicyContext } from './types.js';

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
