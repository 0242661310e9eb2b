/**
 * The helper's command line on every install (deb, AppImage, dmg, nsis, development), and the
 * argv the engine then elevates with it: what pkexec, osascript and PowerShell receive. The
 * AppImage copy (stageHelper) is made and run for real.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helperArgv } from '../app/helper/client.js';
import { elevationFor, elevationPrompt } from '../app/helper/elevation.js';
import {
  helperCommandFor,
  helperExecutableName,
  helperLaunchFor,
  MAC_HELPER_ENV,
  removeStaleStages,
  stageHelper,
} from './helper-command.js';

const tmp = mkdtempSync(join(tmpdir(), 'zflash-helper-command-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const electron = '41.7.1';
const entry = '/repo/dist/app/helper/entry.js';

/** Where each installer puts resources/helper. */
const installs = {
  deb: '/opt/Zeta Flash/resources/helper',
  appImage: '/tmp/.mount_ZetaFlXyZ/resources/helper',
  dmg: '/Applications/Zeta Flash.app/Contents/Resources/helper',
  nsis: 'C:\\Program Files\\Zeta Flash\\resources\\helper',
};

const job = (base: string) => ({
  verb: 'write' as const,
  jobPath: `${base}/zflash-job-42-aBcDeF/job.json`,
  requester: 1000,
  drives: ['/dev/sdb'],
});

describe('helperLaunchFor: the helper of each install', () => {
  it('deb (and any unpacked Linux install): the installed helper itself, the path polkit names', () => {
    const launch = helperLaunchFor({
      platform: 'linux',
      execPath: '/opt/Zeta Flash/zeta-flash',
      electron,
      entry,
      isPackaged: true,
      helperDir: installs.deb,
      appImage: undefined,
    });
    expect(launch).toEqual({
      kind: 'command',
      command: ['/opt/Zeta Flash/resources/helper/zeta-flash-helper'],
    });
  });

  it('AppImage: the helper is copied out of the FUSE mount first (root cannot read it)', () => {
    expect(
      helperLaunchFor({
        platform: 'linux',
        execPath: '/tmp/.mount_ZetaFlXyZ/zeta-flash',
        electron,
        entry,
        isPackaged: true,
        helperDir: installs.appImage,
        appImage: '/home/jane/Downloads/zeta-flash-0.1.0-x86_64.AppImage',
      }),
    ).toEqual({ kind: 'staged', source: installs.appImage, executable: 'zeta-flash-helper' });
  });

  it('dmg: the helper in the bundle, under `env -i` (a Node SEA reads NODE_OPTIONS)', () => {
    expect(
      helperLaunchFor({
        platform: 'darwin',
        execPath: '/Applications/Zeta Flash.app/Contents/MacOS/Zeta Flash',
        electron,
        entry,
        isPackaged: true,
        helperDir: installs.dmg,
      }),
    ).toEqual({
      kind: 'command',
      command: [
        '/usr/bin/env',
        '-i',
        'PATH=/usr/bin:/bin:/usr/sbin:/sbin',
        '/Applications/Zeta Flash.app/Contents/Resources/helper/zeta-flash-helper',
      ],
    });
  });

  it('nsis: the helper .exe under Program Files, with Windows separators', () => {
    expect(
      helperLaunchFor({
        platform: 'win32',
        execPath: 'C:\\Program Files\\Zeta Flash\\Zeta Flash.exe',
        electron,
        entry,
        isPackaged: true,
        helperDir: installs.nsis,
      }),
    ).toEqual({
      kind: 'command',
      command: ['C:\\Program Files\\Zeta Flash\\resources\\helper\\zeta-flash-helper.exe'],
    });
  });

  it('never runs the packaged Electron binary as Node (its RunAsNode fuse is off)', () => {
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      const execPath = `/x/${platform}/electron-binary`;
      const launch = helperLaunchFor({
        platform,
        execPath,
        electron,
        entry,
        isPackaged: true,
        helperDir: '/x/resources/helper',
      });
      expect(launch.kind).toBe('command');
      if (launch.kind !== 'command') continue;
      expect(launch.command).not.toContain(execPath);
      expect(launch.command.join(' ')).not.toMatch(/ELECTRON_RUN_AS_NODE/);
    }
  });

  it('development inside Electron: Electron as Node through /usr/bin/env; Windows and plain Node: the engine default', () => {
    expect(
      helperLaunchFor({
        platform: 'linux',
        execPath: '/repo/node_modules/electron/dist/electron',
        electron,
        entry,
        isPackaged: false,
        helperDir: null,
      }),
    ).toEqual({
      kind: 'command',
      command: [
        '/usr/bin/env',
        'ELECTRON_RUN_AS_NODE=1',
        '/repo/node_modules/electron/dist/electron',
        entry,
      ],
    });
    expect(
      helperLaunchFor({ platform: 'win32', execPath: 'C:\\e.exe', electron, entry }).kind,
    ).toBe('engine-default');
    expect(
      helperLaunchFor({
        platform: 'linux',
        execPath: '/usr/bin/node',
        electron: undefined,
        entry,
        isPackaged: true,
        helperDir: installs.deb,
      }).kind,
    ).toBe('engine-default');
    expect(() =>
      helperCommandFor({
        platform: 'linux',
        execPath: '/x',
        electron,
        entry,
        isPackaged: true,
        helperDir: installs.appImage,
        appImage: '/a.AppImage',
      }),
    ).toThrow(/staged/);
  });

  it('names the executable per platform as scripts/helper-build.mjs builds it', async () => {
    const build = await import('../scripts/helper-build.mjs');
    for (const p of ['linux', 'darwin', 'win32'] as const) {
      expect(helperExecutableName(p)).toBe(build.helperExecutableName(p));
    }
  });
});

describe('the elevated command line per target (what the prompt shows and runs)', () => {
  it('deb: pkexec runs the installed helper with the verb first (polkit exec.path and argv1), the drive last', () => {
    const argv = helperArgv({
      helperCommand: ['/opt/Zeta Flash/resources/helper/zeta-flash-helper'],
      channel: 'stdio',
      ...job('/tmp'),
    });
    const e = elevationFor({
      platform: 'linux',
      isRoot: false,
      argv,
      env: { PATH: '/usr/bin' },
      exists: (p) => p === '/usr/bin/pkexec',
    });
    expect(e).toEqual({
      kind: 'pkexec',
      command: '/usr/bin/pkexec',
      args: [
        '/opt/Zeta Flash/resources/helper/zeta-flash-helper',
        'write',
        '--job',
        '/tmp/zflash-job-42-aBcDeF/job.json',
        '--requester',
        '1000',
        '--drive',
        '/dev/sdb',
      ],
    });
  });

  it('dmg: one AppleScript line, with a prompt naming Zeta Flash and the drive, that sh splits back into env -i + helper + job', () => {
    const helper = `${installs.dmg}/zeta-flash-helper`;
    const argv = helperArgv({
      helperCommand: [...MAC_HELPER_ENV, helper],
      channel: 'files',
      ...job('/var/folders/x y/T'),
    });
    const prompt = elevationPrompt('write', '/dev/disk4');
    expect(prompt).toBe(
      'Zeta Flash wants to erase the drive /dev/disk4 and write the installer to it.',
    );
    const e = elevationFor({
      platform: 'darwin',
      isRoot: false,
      argv,
      env: {},
      exists: () => true,
      prompt,
    });
    expect(e.kind).toBe('osascript');
    if (e.kind !== 'osascript') return;
    const m =
      /^do shell script "((?:[^"\\]|\\.)*)" with prompt "((?:[^"\\]|\\.)*)" with administrator privileges$/.exec(
        e.args[1] ?? '',
      );
    expect(m?.[2]).toBe(prompt);
    const shell = (m?.[1] ?? '').replace(/\\(.)/g, '$1');
    const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${shell}`], { encoding: 'utf8' });
    expect(r.stdout.split('\0').slice(0, -1)).toEqual([
      '/usr/bin/env',
      '-i',
      'PATH=/usr/bin:/bin:/usr/sbin:/sbin',
      helper,
      'write',
      '--job',
      '/var/folders/x y/T/zflash-job-42-aBcDeF/job.json',
      '--channel',
      'files',
      '--requester',
      '1000',
      '--drive',
      '/dev/sdb',
    ]);
  });

  it('`env -i` really leaves the helper only PATH (NODE_OPTIONS cannot reach it)', () => {
    const r = spawnSync(MAC_HELPER_ENV[0] ?? '', [...MAC_HELPER_ENV.slice(1), 'env'], {
      env: { NODE_OPTIONS: '--require /tmp/x.js', DYLD_INSERT_LIBRARIES: '/tmp/x.dylib' },
      encoding: 'utf8',
    });
    expect(r.stdout.trim().split('\n')).toEqual(['PATH=/usr/bin:/bin:/usr/sbin:/sbin']);
  });

  it('nsis: PowerShell starts the helper .exe with RunAs, the drive in its arguments', () => {
    const helper = `${installs.nsis}\\zeta-flash-helper.exe`;
    const argv = helperArgv({
      helperCommand: [helper],
      channel: 'files',
      verb: 'write',
      jobPath: 'C:\\Users\\Jane Doe\\AppData\\Local\\Temp\\zflash-job-42-aBcDeF\\job.json',
      requester: null,
      drives: ['\\\\.\\PhysicalDrive2'],
    });
    const e = elevationFor({ platform: 'win32', isRoot: false, argv, env: {}, exists: () => true });
    expect(e.kind).toBe('uac');
    if (e.kind !== 'uac') return;
    const script = Buffer.from(e.args[3] ?? '', 'base64').toString('utf16le');
    expect(script).toContain(
      "Start-Process -FilePath 'C:\\Program Files\\Zeta Flash\\resources\\helper\\zeta-flash-helper.exe'",
    );
    expect(script).toContain(
      '-ArgumentList \'write --job "C:\\Users\\Jane Doe\\AppData\\Local\\Temp\\zflash-job-42-aBcDeF\\job.json" --channel files --drive \\\\.\\PhysicalDrive2\'',
    );
  });
});

describe('stageHelper: the AppImage helper copied where root can run it', () => {
  function fakeHelper(): string {
    const src = join(tmp, 'src-helper');
    mkdirSync(join(src, 'node_modules', 'addon'), { recursive: true });
    writeFileSync(join(src, 'node_modules', 'addon', 'index.js'), 'module.exports = 42;\n');
    writeFileSync(
      join(src, 'zeta-flash-helper'),
      '#!/bin/sh\nd=$(dirname "$0"); printf "ran %s with %s\\n" "$(cat "$d/node_modules/addon/index.js")" "$*"\n',
    );
    chmodSync(join(src, 'zeta-flash-helper'), 0o755);
    return src;
  }

  it('copies the folder into a private folder, keeps the executable bit, runs, and removes it on dispose', async () => {
    const base = join(tmp, 'runtime');
    mkdirSync(base, { mode: 0o700 });
    const staged = await stageHelper({
      source: fakeHelper(),
      executable: 'zeta-flash-helper',
      base,
    });
    expect(staged.dir.startsWith(`${base}/zeta-flash-helper-${process.pid}-`)).toBe(true);
    expect(statSync(staged.dir).mode & 0o777).toBe(0o700);
    const [exe] = staged.command;
    expect(statSync(exe ?? '').mode & 0o111).not.toBe(0);
    const r = spawnSync(exe ?? '', ['write', '--job', 'j'], { encoding: 'utf8' });
    expect(r.stdout).toBe('ran module.exports = 42; with write --job j\n');
    staged.dispose();
    expect(existsSync(staged.dir)).toBe(false);
  });

  it('removes copies left by dead runs of ours, and nothing else', async () => {
    const base = join(tmp, 'stale');
    mkdirSync(base);
    const dead = await new Promise<number>((resolve) => {
      const child = spawn('true');
      child.on('exit', () => resolve(child.pid ?? 0));
    });
    const name = (pid: number, s: string) => join(base, `zeta-flash-helper-${pid}-${s}`);
    mkdirSync(name(dead, 'aaaaaa'));
    writeFileSync(join(name(dead, 'aaaaaa'), 'x'), 'x');
    mkdirSync(name(process.pid, 'bbbbbb')); // a live run: ours, still in use
    const foreign = name(dead, 'cccccc');
    mkdirSync(foreign);
    chownSync(foreign, 65534, 65534); // another user's
    const target = join(tmp, 'keep-me');
    mkdirSync(target);
    writeFileSync(join(target, 'precious'), 'yes');
    symlinkSync(target, name(dead, 'dddddd')); // a link, never followed
    mkdirSync(join(base, 'zeta-flash-helper-notapid-eeeeee'));

    expect(removeStaleStages(base)).toEqual([name(dead, 'aaaaaa')]);
    expect(existsSync(name(process.pid, 'bbbbbb'))).toBe(true);
    expect(existsSync(foreign)).toBe(true);
    expect(lstatSync(name(dead, 'dddddd')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(target, 'precious'), 'utf8')).toBe('yes');
    expect(existsSync(join(base, 'zeta-flash-helper-notapid-eeeeee'))).toBe(true);
  });
});
