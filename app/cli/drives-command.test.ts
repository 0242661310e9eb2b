// `zflash drives` on this machine's drives and a real loop device needs root:
// test/drives-command-live.test.ts.
import { describe, expect, it } from 'vitest';
import { makeIo } from '../../test/cli-capture.js';
import { onlyLine } from '../../test/json-lines.js';
import { ciMachine, linuxLaptop } from '../../test/recorded-drives.fixtures.js';
import type { PolicyContext } from '../drives/types.js';
import { createDrivesCommand, drivesCommand } from './drives-command.js';

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
