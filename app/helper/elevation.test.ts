import { describe, expect, it } from 'vitest';
import { elevationFor, isDismissed, shellQuote } from './elevation.js';

const argv = [
  '/opt/Zeta Flash/node',
  '/opt/Zeta Flash/helper/entry.js',
  'write',
  '--job',
  "/tmp/zflash-job-a'b/job.json",
];

describe('elevationFor', () => {
  it('runs the helper directly when already root', () => {
    expect(
      elevationFor({ platform: 'linux', isRoot: true, argv, env: {}, exists: () => false }),
    ).toEqual({
      kind: 'none',
      command: argv[0],
      args: argv.slice(1),
    });
  });

  it('finds pkexec on PATH, including NixOS /run/wrappers/bin, never assuming /usr/bin', () => {
    const nixos = elevationFor({
      platform: 'linux',
      isRoot: false,
      argv,
      env: { PATH: '/run/wrappers/bin:/run/current-system/sw/bin' },
      exists: (p) => p === '/run/wrappers/bin/pkexec',
    });
    expect(nixos).toEqual({ kind: 'pkexec', command: '/run/wrappers/bin/pkexec', args: argv });
    const none = elevationFor({
      platform: 'linux',
      isRoot: false,
      argv,
      env: { PATH: '/bin' },
      exists: () => false,
    });
    expect(none.kind).toBe('unavailable');
  });

  it('builds one AppleScript line on macOS with every argument shell-quoted', () => {
    const e = elevationFor({
      platform: 'darwin',
      isRoot: false,
      argv,
      env: {},
      exists: () => true,
    });
    expect(e.kind).toBe('osascript');
    if (e.kind !== 'osascript') return;
    expect(e.command).toBe('/usr/bin/osascript');
    expect(e.args[0]).toBe('-e');
    const script = e.args[1] ?? '';
    expect(script).toMatch(/^do shell script ".*" with administrator privileges$/);
    // The apostrophe in the job path is closed, escaped and reopened: no shell injection.
    expect(script).toContain(shellQuote("/tmp/zflash-job-a'b/job.json").replace(/\\/g, '\\\\'));
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });

  it('asks UAC through PowerShell Start-Process -Verb RunAs on Windows', () => {
    const e = elevationFor({ platform: 'win32', isRoot: false, argv, env: {}, exists: () => true });
    expect(e.kind).toBe('uac');
    if (e.kind !== 'uac') return;
    expect(e.command).toBe('powershell.exe');
    expect(e.args.at(-1)).toContain('-Verb RunAs');
    expect(e.args.at(-1)).toContain("'/tmp/zflash-job-a''b/job.json'");
  });
});

describe('isDismissed', () => {
  it('treats a dismissed prompt as cancelled, not failed', () => {
    expect(isDismissed('pkexec', 126, '')).toBe(true);
    expect(isDismissed('pkexec', 4, '')).toBe(false);
    expect(isDismissed('osascript', 1, 'execution error: User canceled. (-128)')).toBe(true);
    expect(isDismissed('uac', 1, 'The operation was canceled by the user.')).toBe(true);
    expect(isDismissed('none', 130, '')).toBe(false);
  });
});
