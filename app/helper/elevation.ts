/**
 * How the helper is started with the rights to write a raw disk, per OS. Pure: it builds
 * argv arrays (never shell strings, except the one AppleScript needs, quoted here) so the
 * command construction is unit-tested on every OS from Linux.
 *
 * - already root (CI, a root shell): no elevation.
 * - Linux: `pkexec` found on PATH — NixOS keeps it at /run/wrappers/bin/pkexec, not
 *   /usr/bin (Etcher #3766 hard-coded the latter).
 * - macOS: `osascript` "do shell script ... with administrator privileges".
 * - Windows: PowerShell Start-Process -Verb RunAs (UAC).
 */
import { delimiter, join } from 'node:path';

export interface ElevationInput {
  readonly platform: NodeJS.Platform;
  readonly isRoot: boolean;
  /** The helper command without elevation: [node, entry.js, 'write', '--job', file]. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly exists: (path: string) => boolean;
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

/** PowerShell single-quoted literal. */
function psQuote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
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
      const script = `do shell script ${appleScriptString(input.argv.map(shellQuote).join(' '))} with administrator privileges`;
      return { kind: 'osascript', command: '/usr/bin/osascript', args: ['-e', script] };
    }
    case 'win32': {
      const argList = args.map(psQuote).join(',');
      const ps = `$p = Start-Process -FilePath ${psQuote(command)} -ArgumentList ${argList} -Verb RunAs -Wait -PassThru -WindowStyle Hidden; exit $p.ExitCode`;
      return {
        kind: 'uac',
        command: 'powershell.exe',
        args: ['-NoProfile', '-NonInteractive', '-Command', ps],
      };
    }
    default:
      return { kind: 'unavailable', reason: `raw writes are not supported on ${input.platform}` };
  }
}

/** Whether the elevation tool's own exit means "the operator dismissed the prompt". */
export function isDismissed(
  kind: Elevation['kind'],
  exitCode: number | null,
  stderr: string,
): boolean {
  switch (kind) {
    case 'pkexec':
      // 126: authorization dismissed/failed; 127: not authorized or no agent answered.
      return exitCode === 126 || exitCode === 127;
    case 'osascript':
      return /User canceled|-128/.test(stderr);
    case 'uac':
      return /canceled by the user|operation was canceled/i.test(stderr);
    default:
      return false;
  }
}
