/**
 * The public keys already on this machine (`~/.ssh/*.pub`), offered so the operator clicks
 * instead of browsing for a file. Each file goes through the same reader as a picked file
 * (readSshKeyFile: size cap, binary and private-key refusal), and a file that fails is
 * reported as a notice and skipped: one broken file must not hide the good ones.
 *
 * The home folder is a parameter (the engine never reads the environment). Only regular
 * files directly in `<home>/.ssh` are read; symlinks are skipped so that a link planted in
 * ~/.ssh cannot make the app read some other file.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { toZflashError } from '../errors.js';
import { readSshKeyFile } from './ssh-keys.js';
import type { Notice, SshPublicKey } from './types.js';

/** More than this many .pub files is not a key folder anyone curates by hand. */
const MAX_FILES = 64;

export interface LocalKey extends SshPublicKey {
  /** The file it was read from. */
  readonly file: string;
}

export async function listLocalPublicKeys(
  home: string,
): Promise<{ keys: LocalKey[]; notices: Notice[] }> {
  const dir = join(home, '.ssh');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { keys: [], notices: [] };
  }
  const keys: LocalKey[] = [];
  const notices: Notice[] = [];
  const seen = new Set<string>();
  for (const name of names
    .filter((n) => n.endsWith('.pub'))
    .sort()
    .slice(0, MAX_FILES)) {
    const file = join(dir, name);
    const st = await lstat(file).catch(() => null);
    if (!st?.isFile()) continue;
    try {
      const read = await readSshKeyFile(file);
      for (const key of read.keys) {
        const id = `${key.type} ${key.base64}`;
        if (seen.has(id)) continue;
        seen.add(id);
        keys.push(Object.freeze({ ...key, file }));
      }
      notices.push(...read.notices);
    } catch (err) {
      const e = toZflashError(err);
      notices.push({
        code: e.code,
        message: `${name} was skipped: ${e.message}`,
      });
    }
  }
  return { keys, notices };
}
