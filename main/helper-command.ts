/**
 * How the desktop app starts the privileged helper, per install. The engine elevates whatever
 * argv this returns (pkexec, osascript, UAC: app/helper/elevation.ts), so the argv must mean the
 * same thing after elevation dropped our environment.
 *
 * - Packaged: the helper is its own executable, `resources/helper/zeta-flash-helper[.exe]`, a
 *   Node single-executable application built at packaging time (scripts/helper-build.mjs; why
 *   not Electron as Node: docs/packaging.md). The Electron binary's RunAsNode fuse is off.
 *   - Linux deb (and any unpacked install): pkexec runs the helper where it is installed, the
 *     path build/linux/dev.zeta.flash.policy names, so polkit shows our action's message and
 *     keeps the authorization for a few minutes (auth_admin_keep).
 *   - AppImage: its files live on a FUSE mount that only the user can read (not root), so the
 *     helper folder is copied out first (stageHelper) and pkexec falls back to its generic
 *     action and prompt.
 *   - macOS: `env -i` gives the helper a known environment under `osascript`: a Node SEA still
 *     honours NODE_OPTIONS, which must not reach a root process.
 *   - Windows: the helper's own .exe, elevated by UAC.
 * - Development inside Electron: `process.execPath` is the Electron binary, which opens a window
 *   unless ELECTRON_RUN_AS_NODE is set, and elevation clears the environment: the variable goes
 *   through `/usr/bin/env` in the argv (an argv array, no shell). Windows has no /usr/bin/env and
 *   UAC drops the environment: there the development app needs a packaged helper too.
 * - Plain Node (the CLI, tests): the engine's default, `[node, dist/app/helper/entry.js]`.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { posix, win32 } from 'node:path';
import { isAlive } from '../app/helper/prestart.js';

export const HELPER_BASENAME = 'zeta-flash-helper';

export const helperExecutableName = (platform: NodeJS.Platform): string =>
  platform === 'win32' ? `${HELPER_BASENAME}.exe` : HELPER_BASENAME;

/** The environment the macOS helper gets: only a PATH (diskutil is in /usr/sbin). */
export const MAC_HELPER_ENV = ['/usr/bin/env', '-i', 'PATH=/usr/bin:/bin:/usr/sbin:/sbin'];

export interface HelperCommandInput {
  readonly platform: NodeJS.Platform;
  /** process.execPath */
  readonly execPath: string;
  /** process.versions.electron: set inside Electron. */
  readonly electron: string | undefined;
  /** app/helper/client.ts HELPER_ENTRY */
  readonly entry: string;
  /** app.isPackaged (default false) */
  readonly isPackaged?: boolean;
  /** The helper folder of a packaged app (main/resources.ts), null in development. */
  readonly helperDir?: string | null;
  /** $APPIMAGE: set by the AppImage runtime to the .AppImage file. */
  readonly appImage?: string | undefined;
}

export type HelperLaunch =
  /** The engine's default: `[process.execPath, entry.js]` (plain Node). */
  | { readonly kind: 'engine-default' }
  /** This argv, then `VERB --job FILE …`. */
  | { readonly kind: 'command'; readonly command: readonly string[] }
  /** Copy `source` (the helper folder) somewhere root can read, then run `executable` there. */
  | { readonly kind: 'staged'; readonly source: string; readonly executable: string };

export function helperLaunchFor(input: HelperCommandInput): HelperLaunch {
  if (!input.electron) return { kind: 'engine-default' };
  if (!input.isPackaged || !input.helperDir) {
    if (input.platform === 'win32') return { kind: 'engine-default' };
    return {
      kind: 'command',
      command: ['/usr/bin/env', 'ELECTRON_RUN_AS_NODE=1', input.execPath, input.entry],
    };
  }
  const path = input.platform === 'win32' ? win32 : posix;
  const executable = helperExecutableName(input.platform);
  const exe = path.join(input.helperDir, executable);
  switch (input.platform) {
    case 'linux':
      return input.appImage
        ? { kind: 'staged', source: input.helperDir, executable }
        : { kind: 'command', command: [exe] };
    case 'darwin':
      return { kind: 'command', command: [...MAC_HELPER_ENV, exe] };
    default:
      return { kind: 'command', command: [exe] };
  }
}

/** The argv before `VERB --job FILE`, or undefined for the engine's default (not staged). */
export function helperCommandFor(input: HelperCommandInput): readonly string[] | undefined {
  const launch = helperLaunchFor(input);
  if (launch.kind === 'staged') throw new Error('this helper must be staged first (stageHelper)');
  return launch.kind === 'command' ? launch.command : undefined;
}

export interface StagedHelper {
  readonly dir: string;
  readonly command: readonly string[];
  /** Removes the copy (synchronous: it runs while the app quits). */
  dispose(): void;
}

const STAGE_PREFIX = 'zeta-flash-helper-';
const STALE_STAGE = new RegExp(`^${STAGE_PREFIX}(\\d+)-[A-Za-z0-9]{6}$`);

/**
 * Removes copies an earlier run left (the app was killed): only ours — named with a pid that no
 * longer runs, a real folder (not a link), owned by us. Returns what it removed.
 */
export function removeStaleStages(base: string, uid = process.getuid?.() ?? null): string[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = STALE_STAGE.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    const dir = posix.join(base, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || (uid !== null && st.uid !== uid)) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

/**
 * Copies the helper folder (the executable and its addons, ~110 MB) out of an AppImage's FUSE
 * mount into a private folder of ours in `base` (XDG_RUNTIME_DIR: a tmpfs root can read, not
 * /tmp, which may be mounted noexec), for this run of the app.
 */
export async function stageHelper(opts: {
  readonly source: string;
  readonly executable: string;
  readonly base: string;
}): Promise<StagedHelper> {
  removeStaleStages(opts.base);
  const dir = await mkdtemp(posix.join(opts.base, `${STAGE_PREFIX}${process.pid}-`));
  try {
    await cp(opts.source, posix.join(dir, 'helper'), { recursive: true, verbatimSymlinks: true });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    command: [posix.join(dir, 'helper', opts.executable)],
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
