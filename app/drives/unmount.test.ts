// unmountDrive on Linux with real loop devices and ext4 mounts needs root:
// test/unmount-live.test.ts.
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { zflashFailure as failure } from '../../test/fixtures.js';
import {
  darwinUnmountCommand,
  linuxUnmountCommand,
  unmountDrive,
  windowsCleanScript,
  type Exec,
} from './unmount.js';

describe('command construction (macOS, Windows: run here only with a recording exec)', () => {
  it('Linux: umount the exact mount point, neither lazy nor forced, links not followed', () => {
    expect(linuxUnmountCommand('/usr/bin/umount', '/media/alice/STICK')).toEqual([
      '/usr/bin/umount',
      ['--no-canonicalize', '--', '/media/alice/STICK'],
    ]);
  });

  it('macOS: diskutil unmountDisk of that whole disk, /dev/rdiskN named as /dev/diskN', () => {
    expect(darwinUnmountCommand('/dev/rdisk4')).toEqual([
      '/usr/sbin/diskutil',
      ['unmountDisk', '/dev/disk4'],
    ]);
    expect(darwinUnmountCommand('/dev/disk12')).toEqual([
      '/usr/sbin/diskutil',
      ['unmountDisk', '/dev/disk12'],
    ]);
    for (const bad of ['/dev/disk4s1', '/dev/disk', 'disk4', '/dev/disk4 force']) {
      expect(() => darwinUnmountCommand(bad), bad).toThrow(
        expect.objectContaining({ code: 'ZFLASH_DRIVE_REFUSED' }),
      );
    }
  });

  it('Windows: a diskpart script for that disk number and nothing else', () => {
    expect(windowsCleanScript('\\\\.\\PhysicalDrive2')).toEqual([
      'select disk 2',
      'clean',
      'rescan',
    ]);
    expect(windowsCleanScript('\\\\.\\PHYSICALDRIVE11')).toEqual([
      'select disk 11',
      'clean',
      'rescan',
    ]);
    for (const bad of ['\\\\.\\PhysicalDrive2\r\nselect disk 0', 'C:', '\\\\.\\C:', '/dev/sda']) {
      expect(() => windowsCleanScript(bad), bad).toThrow(
        expect.objectContaining({ code: 'ZFLASH_DRIVE_REFUSED' }),
      );
    }
  });

  it('Windows: runs `diskpart /s FILE` with that script, then removes the file', async () => {
    const calls: { cmd: string; args: readonly string[]; script: string }[] = [];
    const exec: Exec = async (cmd, args) => {
      calls.push({ cmd, args, script: readFileSync(args[1] ?? '', 'utf8') });
      return { code: 0, stdout: 'DiskPart succeeded in cleaning the disk.', stderr: '' };
    };
    const r = await unmountDrive(
      { device: '\\\\.\\PhysicalDrive3', deviceNumber: null },
      { platform: 'win32', exec },
    );
    expect(r).toEqual({ unmounted: [] });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.cmd).toBe('diskpart');
    expect(calls[0]?.args[0]).toBe('/s');
    expect(calls[0]?.script).toBe('select disk 3\r\nclean\r\nrescan\r\n');
    await expect(stat(calls[0]?.args[1] ?? '')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('Windows and macOS: a refusal from the OS is ZFLASH_DRIVE_BUSY with its own words', async () => {
    const refusing: Exec = async () => ({
      code: 1,
      stdout: '',
      stderr: 'Unmount of disk4 failed: at least one volume could not be unmounted',
    });
    const mac = await failure(
      unmountDrive(
        { device: '/dev/rdisk4', deviceNumber: '1:4' },
        { platform: 'darwin', exec: refusing },
      ),
    );
    expect(mac.code).toBe('ZFLASH_DRIVE_BUSY');
    expect(mac.message).toContain('at least one volume could not be unmounted');
    const win = await failure(
      unmountDrive(
        { device: '\\\\.\\PhysicalDrive1', deviceNumber: null },
        {
          platform: 'win32',
          exec: async () => ({
            code: 2147755018,
            stdout: 'Virtual Disk Service error',
            stderr: '',
          }),
        },
      ),
    );
    expect(win.code).toBe('ZFLASH_DRIVE_BUSY');
    expect(win.message).toContain('Virtual Disk Service error');
  });
});
