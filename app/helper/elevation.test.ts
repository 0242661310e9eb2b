import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { helperArgv } from './client.js';
import {
  elevationFor,
  isDenied,
  isDismissed,
  psQuote,
  shellQuote,
  windowsCommandLine,
} from './elevation.js';

const argv = [
  '/opt/Zeta Flash/node',
  '/opt/Zeta Flash/helper/entry.js',
  'write',
  '--job',
  "/tmp/zflash-job-a'b/job.json",
];

/**
 * The Windows C runtime's split of the arguments after the program name (the rules
 * CommandLineToArgvW documents), written here independently of the quoting under test:
 * 2n backslashes + `"` give n backslashes and a quote that opens or closes; 2n+1 backslashes
 * + `"` give n backslashes and a literal `"`; backslashes elsewhere are literal; outside
 * quotes, spaces and tabs end an argument; inside quotes, `""` is a literal `"`.
 */
function commandLineToArgv(cmd: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (cmd[i] === ' ' || cmd[i] === '\t') i++;
    if (i >= cmd.length) return out;
    let arg = '';
    let quoted = false;
    while (i < cmd.length) {
      const c = cmd[i];
      if (!quoted && (c === ' ' || c === '\t')) break;
      if (c === '\\') {
        let n = 0;
        while (cmd[i] === '\\') {
          n++;
          i++;
        }
        if (cmd[i] === '"') {
          arg += '\\'.repeat(Math.floor(n / 2));
          if (n % 2 === 1) {
            arg += '"';
            i++;
          }
        } else {
          arg += '\\'.repeat(n);
        }
        continue;
      }
      if (c === '"') {
        if (quoted && cmd[i + 1] === '"') {
          arg += '"';
          i += 2;
          continue;
        }
        quoted = !quoted;
        i++;
        continue;
      }
      arg += c;
      i++;
    }
    out.push(arg);
  }
}

/** PowerShell's single-quoted literals in a script, read back: any of ' ‘ ’ ‚ ‛ quotes, doubled to escape. */
function psLiterals(script: string): string[] {
  const q = /['\u2018\u2019\u201a\u201b]/;
  const out: string[] = [];
  let i = 0;
  while (i < script.length) {
    if (!q.test(script[i] ?? '')) {
      i++;
      continue;
    }
    let s = '';
    i++;
    for (;;) {
      const c = script[i];
      if (c === undefined) throw new Error('unterminated literal');
      if (q.test(c)) {
        if (q.test(script[i + 1] ?? '')) {
          s += c;
          i += 2;
          continue;
        }
        i++;
        break;
      }
      s += c;
      i++;
    }
    out.push(s);
  }
  return out;
}

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

  it('builds one AppleScript line on macOS that a real sh splits back into the argv, --requester included', () => {
    const full = helperArgv({
      helperCommand: [
        '/Applications/Zeta Flash.app/Contents/MacOS/node',
        '/Apps/Jane’s "x"/entry.js',
      ],
      verb: 'write',
      jobPath: "/var/folders/x/T/zflash-job-1-a'b $HOME/job.json",
      channel: 'files',
      requester: 501,
    });
    expect(full.slice(-4)).toEqual(['--channel', 'files', '--requester', '501']);
    const e = elevationFor({
      platform: 'darwin',
      isRoot: false,
      argv: full,
      env: {},
      exists: () => true,
    });
    expect(e.kind).toBe('osascript');
    if (e.kind !== 'osascript') return;
    expect(e.command).toBe('/usr/bin/osascript');
    expect(e.args[0]).toBe('-e');
    const script = e.args[1] ?? '';
    const m = /^do shell script "((?:[^"\\]|\\.)*)" with administrator privileges$/.exec(script);
    expect(m).not.toBeNull();
    // AppleScript string escapes: \\ and \".
    const shell = (m?.[1] ?? '').replace(/\\(.)/g, '$1');
    const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${shell}`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(full);
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });

  it.each([
    [
      'a per-user install under a name with a space',
      [
        'C:\\Users\\Jane Doe\\AppData\\Local\\Programs\\Zeta Flash\\resources\\helper\\entry.js',
        'write',
        '--job',
        'C:\\Users\\Jane Doe\\AppData\\Local\\Temp\\zflash-job-42-aBcDeF\\job.json',
        '--channel',
        'files',
      ],
    ],
    ['trailing backslashes', ['C:\\dir with space\\', 'C:\\nospace\\', 'C:\\two\\\\', 'x']],
    ['quotes and backslashes before them', ['a"b', 'a\\"b', 'a\\\\"b', '"', '\\"', 'say "hi" \\']],
    ['empty and blank arguments', ['', ' ', '\t', 'a b\tc']],
    ['typographic quotes and PowerShell specials', ['C:\\Users\\Jane’s PC\\$env:x `n', "it's"]],
  ])('quotes the Windows helper arguments as one string: %s', (_name, args) => {
    const node = 'C:\\Program Files\\Zeta Flash\\node’s.exe';
    const e = elevationFor({
      platform: 'win32',
      isRoot: false,
      argv: [node, ...args],
      env: {},
      exists: () => true,
    });
    expect(e.kind).toBe('uac');
    if (e.kind !== 'uac') return;
    expect(e.command).toBe('powershell.exe');
    expect(e.args.slice(0, 3)).toEqual(['-NoProfile', '-NonInteractive', '-EncodedCommand']);
    const script = Buffer.from(e.args[3] ?? '', 'base64').toString('utf16le');
    expect(script).toMatch(
      /^\$p = Start-Process -FilePath '.*' -ArgumentList '.*' -Verb RunAs -Wait -PassThru -WindowStyle Hidden; exit \$p\.ExitCode$/,
    );
    // Exactly two literals: the program and ONE argument string (never a, b, c joined by spaces).
    const [filePath, argString, ...rest] = psLiterals(script);
    expect(rest).toEqual([]);
    expect(filePath).toBe(node);
    expect(commandLineToArgv(argString ?? '')).toEqual(args);
  });

  it('would have split a path with a space under the old -ArgumentList a,b,c', () => {
    // What Start-Process does with a list: joins with spaces, quotes nothing.
    const joined = ['C:\\Users\\Jane Doe\\entry.js', 'write'].join(' ');
    expect(commandLineToArgv(joined)).toEqual(['C:\\Users\\Jane', 'Doe\\entry.js', 'write']);
    expect(
      commandLineToArgv(windowsCommandLine(['C:\\Users\\Jane Doe\\entry.js', 'write'])),
    ).toEqual(['C:\\Users\\Jane Doe\\entry.js', 'write']);
  });

  it('doubles every quote PowerShell ends a single-quoted literal on', () => {
    expect(psQuote("a'b’c‘d‚e‛f")).toBe("'a''b’’c‘‘d‚‚e‛‛f'");
    expect(psLiterals(psQuote("a'b’c"))).toEqual(["a'b’c"]);
  });
});

describe('isDismissed / isDenied', () => {
  it('treats a dismissed prompt as cancelled, a refusal as denied', () => {
    // pkexec(1): 126 = the dialog was dismissed; 127 = not authorized, no agent, or an error.
    expect(isDismissed('pkexec', 126, '')).toBe(true);
    expect(
      isDismissed('pkexec', 127, 'Error executing command as another user: Not authorized'),
    ).toBe(false);
    expect(isDenied('pkexec', 127)).toBe(true);
    expect(isDenied('pkexec', 126)).toBe(false);
    expect(isDismissed('pkexec', 4, '')).toBe(false);
    expect(isDismissed('osascript', 1, 'execution error: User canceled. (-128)')).toBe(true);
    expect(isDismissed('uac', 1, 'The operation was canceled by the user.')).toBe(true);
    expect(isDismissed('none', 130, '')).toBe(false);
    expect(isDenied('none', 127)).toBe(false);
  });
});
