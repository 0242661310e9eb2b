/**
 * How the helper is started with the rights to write a raw disk, per OS. Pure: it builds
 * argv arrays (never shell strings, except the one AppleScript needs, quoted here) so the
 * command construction is unit-tested on every OS from Linux.
 *
 * - already root (CI, a root shell): no elevation.
 * - Linux: `pkexec` found on PATH — NixOS keeps it at /run/wrappers/bin/pkexec, not
 *   /usr/bin (Etcher #3766 hard-coded the latter).
 * - macOS: `osascript` "do shell script ... with administrator privileges".
 * - Windows: PowerShell Start-Process -Verb RunAs (UAC), the helper's arguments as one
 *   string quoted by the Windows command-line rules.
 */
import { delimiter, join } from 'node:path';

export interface ElevationInput {
  readonly platform: NodeJS.Platform;
  readonly isRoot: boolean;
  /** The helper command without elevation: [node, entry.js, 'write', '--job', file]. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly exists: (path: string) => boolean;
  /** What the macOS password dialog says (else it reads "osascript wants to make changes"). */
  readonly prompt?: string;
}

export type Elevation =
  | { readonly kind: 'none'; readonly command: string; readonly args: readonly string[] }
  | {
      readonly kind: 'pkexec' | 'osascript' | 'uac';
      readonly command: string;
      readonly args: readonly string[];
    }
  | { readonly kind: 'unavailable'; readonly reason: string };

export function findOnPath(
  name: string,
  env: NodeJS.ProcessEnv,
  exists: (p: string) => boolean,
  extra: readonly string[] = [],
): string | null {
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter(Boolean), ...extra];
  for (const d of dirs) {
    const p = join(d, name);
    if (exists(p)) return p;
  }
  return null;
}

/** POSIX single-quote quoting, for the one shell string AppleScript requires. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** AppleScript string literal. */
function appleScriptString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * PowerShell single-quoted literal: nothing inside is expanded; a quote is doubled. PowerShell
 * also takes the typographic single quotes (U+2018–U+201B) as quotes, so those are doubled
 * too (a folder named `Jane’s` would otherwise end the literal).
 */
export function psQuote(s: string): string {
  return `'${s.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;
}

/**
 * One argument quoted for a Windows command line, so that the child's C runtime
 * (CommandLineToArgvW rules) splits it back into exactly `arg`. Backslashes are literal
 * except before a quote; so inside quotes, each run of backslashes that precedes a `"` (or
 * the closing quote) is doubled, and the `"` itself escaped.
 */
export function windowsQuoteArg(arg: string): string {
  if (arg !== '' && !/[ \t\n\v"]/.test(arg)) return arg;
  let out = '"';
  let slashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      slashes++;
      continue;
    }
    if (ch === '"') {
      out += '\\'.repeat(slashes * 2 + 1) + '"';
    } else {
      out += '\\'.repeat(slashes) + ch;
    }
    slashes = 0;
  }
  return `${out}${'\\'.repeat(slashes * 2)}"`;
}

/**
 * The whole argument string for Start-Process. Its `-ArgumentList a,b,c` joins the items
 * with spaces and quotes none of them, so `C:\Users\Jane Doe\…` would split in two: we pass
 * one string, already quoted for the child.
 */
export function windowsCommandLine(args: readonly string[]): string {
  return args.map(windowsQuoteArg).join(' ');
}

export function elevationFor(input: ElevationInput): Elevation {
  const [command, ...args] = input.argv;
  if (!command) return { kind: 'unavailable', reason: 'no helper command' };
  if (input.isRoot) return { kind: 'none', command, args };
  switch (input.platform) {
    case 'linux': {
      const pkexec = findOnPath('pkexec', input.env, input.exists, [
        '/run/wrappers/bin',
        '/usr/bin',
        '/usr/local/bin',
      ]);
      if (!pkexec) {
        return {
          kind: 'unavailable',
          reason: 'pkexec (polkit) was not found; run zflash as root (sudo) instead',
        };
      }
      return { kind: 'pkexec', command: pkexec, args: [command, ...args] };
    }
    case 'darwin': {
      const prompt = input.prompt ? ` with prompt ${appleScriptString(input.prompt)}` : '';
      const script = `do shell script ${appleScriptString(input.argv.map(shellQuote).join(' '))}${prompt} with administrator privileges`;
      return { kind: 'osascript', command: '/usr/bin/osascript', args: ['-e', script] };
    }
    case 'win32': {
      const ps = `$p = Start-Process -FilePath ${psQuote(command)} -ArgumentList ${psQuote(windowsCommandLine(args))} -Verb RunAs -Wait -PassThru -WindowStyle Hidden; exit $p.ExitCode`;
      // -EncodedCommand (UTF-16LE, base64): the script reaches PowerShell without a third
      // layer of quoting (powershell.exe's own command line).
      return {
        kind: 'uac',
        command: 'powershell.exe',
        args: [
          '-NoProfile',
          '-NonInteractive',
          '-EncodedCommand',
          Buffer.from(ps, 'utf16le').toString('base64'),
        ],
      };
    }
    default:
      return { kind: 'unavailable', reason: `raw writes are not supported on ${input.platform}` };
  }
}

/**
 * The sentence the password dialog shows where the OS lets us choose it (macOS): who asks and
 * for which drive. On Linux the polkit action's message says it (build/linux/), on Windows the
 * helper's version information.
 */
export function elevationPrompt(
  verb: 'write' | 'write-many' | 'inject',
  drives: string | null | readonly string[],
): string {
  const list = drives === null ? [] : typeof drives === 'string' ? [drives] : [...drives];
  if (list.length === 0) return 'Zeta Flash needs an administrator to write a drive.';
  if (verb === 'inject') return `Zeta Flash wants to write a node's files to the drive ${list[0]}.`;
  if (list.length === 1)
    return `Zeta Flash wants to erase the drive ${list[0]} and write the installer to it.`;
  return `Zeta Flash wants to erase the drives ${list.join(', ')} and write the installer to each.`;
}

/** Whether the elevation tool's own exit means "the operator dismissed the prompt". */
export function isDismissed(
  kind: Elevation['kind'],
  exitCode: number | null,
  stderr: string,
): boolean {
  switch (kind) {
    case 'pkexec':
      // pkexec(1): 126 when the operator dismissed the authentication dialog.
      return exitCode === 126;
    case 'osascript':
      return /User canceled|-128/.test(stderr);
    case 'uac':
      return /canceled by the user|operation was canceled/i.test(stderr);
    default:
      return false;
  }
}

/**
 * Whether the elevation tool refused the rights without the operator cancelling: pkexec(1)
 * exits 127 when not authorized (wrong password, not an administrator), when no
 * authentication agent could ask, or when it could not run the helper at all.
 */
export function isDenied(kind: Elevation['kind'], exitCode: number | null): boolean {
  return kind === 'pkexec' && exitCode === 127;
}
