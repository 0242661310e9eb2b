/**
 * The download cache: verified installer images named `zeta-installer-<version>-<arch>.iso`,
 * a `.part` beside one while it downloads. Only names of that exact shape are ever listed or
 * deleted, so pointing the cache at a folder that holds other things cannot lose them.
 */
import { lstat, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join, posix, win32 } from 'node:path';
import { targetError } from '../errors.js';
import { ARCHITECTURES, type Architecture } from './release-manifest.js';

const NAME_RE = new RegExp(
  `^zeta-installer-(\\d+\\.\\d+\\.\\d+(?:-[0-9A-Za-z.]+)?)-(${ARCHITECTURES.join('|')})\\.iso(\\.part)?$`,
);

export interface CachedImage {
  readonly path: string;
  readonly fileName: string;
  readonly version: string;
  readonly arch: Architecture;
  readonly size: number;
  /** A download that has not finished (and was not verified). */
  readonly partial: boolean;
}

/**
 * The user's cache folder for downloaded installers: XDG_CACHE_HOME (absolute only) or
 * ~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows. Pure: the front
 * end passes its environment and home folder; the CLI and the app share the same folder.
 */
export function defaultCacheDir(opts: {
  readonly platform: NodeJS.Platform;
  readonly env: NodeJS.ProcessEnv;
  readonly homedir: string;
}): string {
  const { platform, env, homedir } = opts;
  if (platform === 'win32') {
    const base = env['LOCALAPPDATA'] || win32.join(homedir, 'AppData', 'Local');
    return win32.join(base, 'zeta-flash', 'cache');
  }
  if (platform === 'darwin') return posix.join(homedir, 'Library', 'Caches', 'zeta-flash');
  const xdg = env['XDG_CACHE_HOME'];
  // XDG: a relative XDG_CACHE_HOME is invalid and must be ignored.
  return posix.join(xdg && xdg.startsWith('/') ? xdg : posix.join(homedir, '.cache'), 'zeta-flash');
}

export function cacheError(dir: string, err: unknown, action: string) {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? String(err);
  return targetError(
    'ZFLASH_CACHE_UNWRITABLE',
    code === 'ENOSPC'
      ? `The disk holding the download folder ${dir} is full.`
      : `The download folder ${dir} cannot be ${action} (${code}).`,
    code === 'ENOSPC'
      ? 'Free some space (an installer image needs about 1.5 GiB), then run the download again: it resumes.'
      : 'Check that the folder is yours and writable, or choose another cache folder.',
    { dir, errno: code },
  );
}

export async function ensureCacheDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (err) {
    throw cacheError(dir, err, 'created');
  }
}

export async function listCachedImages(dir: string): Promise<CachedImage[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw cacheError(dir, err, 'read');
  }
  const out: CachedImage[] = [];
  for (const fileName of names.sort()) {
    const m = NAME_RE.exec(fileName);
    if (!m) continue;
    const path = join(dir, fileName);
    const st = await lstat(path).catch(() => null);
    if (!st?.isFile()) continue;
    out.push({
      path,
      fileName,
      version: m[1] ?? '',
      arch: m[2] as Architecture,
      size: st.size,
      partial: m[3] !== undefined,
    });
  }
  return out;
}

/**
 * Deletes the cached images and partial downloads of `arch` other than `keep` (a file name):
 * one verified installer per architecture is all anyone needs, and each is ~1 GiB.
 */
export async function pruneCache(
  dir: string,
  arch: Architecture,
  keep: readonly string[],
): Promise<string[]> {
  const pruned: string[] = [];
  for (const entry of await listCachedImages(dir)) {
    if (entry.arch !== arch || keep.includes(entry.fileName)) continue;
    try {
      await unlink(entry.path);
      pruned.push(entry.fileName);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw cacheError(dir, err, 'cleaned');
    }
  }
  return pruned;
}
