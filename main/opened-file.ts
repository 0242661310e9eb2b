/**
 * The image the OS opened the app with (electron-builder.yml's fileAssociations: .iso, .img,
 * .img.zst). macOS hands it over as `app.on('open-file')`; Windows and Linux put it on the
 * command line — of the first launch (`process.argv`) or of a second one, which the
 * single-instance lock turns into `second-instance` with that launch's argv and folder.
 *
 * `openedFileFromArgv` picks the image out of such an argv. It reads nothing but what the
 * `isFile` seam answers, so its tests give it Windows-style argv on Linux too.
 */
import { statSync } from 'node:fs';
import { posix, win32 } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ArgvContext {
  /** Which path rules apply (`win32`: drive letters and backslashes). */
  readonly platform: string;
  /**
   * Packaged: argv is `[app, …args]`. Not packaged (`electron .`, `electron dist/…`): argv is
   * `[electron, …switches, appPath, …args]`, so the first argument that is not a switch is the
   * app, not an image.
   */
  readonly isPackaged: boolean;
  /** The launch's working folder: a relative path on its command line is relative to it. */
  readonly cwd: string;
  /** Whether an absolute path names an existing regular file (default: stat, following links). */
  readonly isFile?: (path: string) => boolean;
}

export function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * A switch is anything starting with `-`: our own (`--foo`), Chromium's
 * (`--allow-file-access-from-files`, `--original-process-start-time=…` that Electron adds to a
 * second instance's argv on Windows), `--` itself, and macOS's old `-psn_0_…`.
 */
const isSwitch = (arg: string): boolean => arg.startsWith('-');

/**
 * An argument as a path: Linux desktop entries made by electron-builder run `Exec=… %U`, so a
 * file manager may pass `file:///…/nixos.iso` instead of the path.
 */
function asPath(arg: string, ctx: ArgvContext): string | null {
  const path = ctx.platform === 'win32' ? win32 : posix;
  // Windows passes the path itself (electron-builder registers `"…exe" "%1"`).
  if (ctx.platform !== 'win32' && arg.startsWith('file:')) {
    try {
      return fileURLToPath(arg);
    } catch {
      return null;
    }
  }
  return path.resolve(ctx.cwd, arg);
}

/**
 * The image path in a launch's argv: the first argument after the executable (and, unpackaged,
 * after the app path) that is not a switch and names an existing regular file, made absolute
 * against `cwd`. Null when there is none: folders, missing files and switches are passed over.
 */
export function openedFileFromArgv(argv: readonly string[], ctx: ArgvContext): string | null {
  const isFile = ctx.isFile ?? isRegularFile;
  let args = argv.slice(1).filter((a) => a !== '');
  if (!ctx.isPackaged) {
    const app = args.findIndex((a) => !isSwitch(a));
    args = app < 0 ? [] : args.slice(app + 1);
  }
  for (const arg of args) {
    if (isSwitch(arg)) continue;
    const path = asPath(arg, ctx);
    if (path && isFile(path)) return path;
  }
  return null;
}

/**
 * The latest file the OS opened the app with, until the window takes it: a window asks once
 * when it starts (`app:opened-file`), and again when main pushes `app:file-opened`.
 */
export class OpenedFile {
  #path: string | null = null;

  constructor(path: string | null = null) {
    this.#path = path;
  }

  /** A newer file replaces one not taken yet: the operator's last double-click wins. */
  remember(path: string): void {
    this.#path = path;
  }

  /** The file, once: the next take answers null until another arrives. */
  take(): string | null {
    const path = this.#path;
    this.#path = null;
    return path;
  }
}
