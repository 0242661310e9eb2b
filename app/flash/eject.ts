/** Eject / power off a drive after a verified write, where the OS supports it. Best effort. */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';

function run(cmd: string, args: readonly string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 15_000 }, (err) => resolve(!err));
  });
}

export async function ejectDrive(
  device: string,
  platform: NodeJS.Platform = process.platform,
): Promise<boolean> {
  switch (platform) {
    case 'linux':
      // A loop device is a test or VM target: there is nothing to power off.
      if (/^loop\d+$/.test(basename(device))) return false;
      return (await run('udisksctl', ['power-off', '-b', device])) || run('eject', [device]);
    case 'darwin':
      return run('diskutil', ['eject', device.replace('/dev/rdisk', '/dev/disk')]);
    default:
      return false;
  }
}
