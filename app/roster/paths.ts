/**
 * Where the roster lives when nobody says otherwise. Pure: the front end passes its
 * platform, environment and home folder (the desktop app passes its own userData path
 * instead and never calls this).
 */
import { posix, win32 } from 'node:path';

export const ROSTER_FILE = 'roster.json';

/**
 * The roster a front end uses from its environment: `ZFLASH_ROSTER=off` turns it off (null),
 * `ZFLASH_ROSTER=PATH` names it, otherwise the platform default. The CLI and the desktop app
 * call this, so both see the same cluster.
 */
export function rosterPathFromEnv(ctx: RosterPathContext): string | null {
  const named = ctx.env['ZFLASH_ROSTER'];
  if (named === 'off') return null;
  return named ? named : defaultRosterPath(ctx);
}

export interface RosterPathContext {
  readonly platform: NodeJS.Platform;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homedir: string;
}

/**
 * Linux and other Unixes: `$XDG_DATA_HOME/zeta-flash/roster.json`, `~/.local/share` when
 * XDG_DATA_HOME is unset or relative (the XDG Base Directory spec says to ignore relative
 * values). macOS: `~/Library/Application Support/Zeta Flash/roster.json`. Windows:
 * `%APPDATA%\Zeta Flash\roster.json` (the roaming profile, where Electron's userData is too).
 */
export function defaultRosterPath({ platform, env, homedir }: RosterPathContext): string {
  if (platform === 'win32') {
    const appData = env['APPDATA'];
    const base =
      appData && win32.isAbsolute(appData) ? appData : win32.join(homedir, 'AppData', 'Roaming');
    return win32.join(base, 'Zeta Flash', ROSTER_FILE);
  }
  if (platform === 'darwin') {
    return posix.join(homedir, 'Library', 'Application Support', 'Zeta Flash', ROSTER_FILE);
  }
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg && posix.isAbsolute(xdg) ? xdg : posix.join(homedir, '.local', 'share');
  return posix.join(base, 'zeta-flash', ROSTER_FILE);
}
