/** The node-identity options shared by `zflash inject` and `zflash flash`. */
import { readFile, stat } from 'node:fs/promises';
import { inputError } from '../errors.js';
import {
  buildNodeIdentity,
  mergeKeys,
  readSshKeyFile,
  validatePasswordHash,
  type NodeIdentity,
  type Notice,
} from '../node/index.js';

export const identityOptions = {
  host: { type: 'string' },
  'ssh-key': { type: 'string', multiple: true },
  role: { type: 'string', multiple: true },
  'wifi-ssid': { type: 'string' },
  'wifi-pass-file': { type: 'string' },
  'password-file': { type: 'string' },
  'password-hash': { type: 'string' },
  erase: { type: 'string' },
  'erase-disk': { type: 'string' },
} as const;

export const identityUsage =
  '--host NAME --ssh-key FILE [--ssh-key FILE...] [--role R...] [--wifi-ssid S --wifi-pass-file F] [--password-file F | --password-hash HASH] [--erase blank-only|any] [--erase-disk SERIAL-OR-BY-ID]';

export interface IdentityValues {
  host?: string;
  'ssh-key'?: string[];
  role?: string[];
  'wifi-ssid'?: string;
  'wifi-pass-file'?: string;
  'password-file'?: string;
  'password-hash'?: string;
  /** What the installer may erase on the node: blank-only (default) or any. */
  erase?: string;
  /** The node's target disk: serial or /dev/disk/by-id name (the installer uses exactly it). */
  'erase-disk'?: string;
}

/** A secret kept in a file (so it never sits in shell history or `ps`): its first line. */
async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    const st = await stat(path);
    if (!st.isFile() || st.size > 4096) throw new Error('not a small file');
    const text = (await readFile(path, 'utf8')).replace(/^\uFEFF/, '');
    return text.split(/\r?\n/)[0] ?? '';
  } catch {
    throw inputError(
      'ZFLASH_SECRET_FILE',
      `The ${what} file ${path} cannot be read (it must be a small text file).`,
      `Put the ${what} alone on the first line of a text file and pass its path.`,
      { path },
    );
  }
}

export async function identityFromOptions(
  v: IdentityValues,
): Promise<{ identity: NodeIdentity; notices: Notice[] }> {
  if (!v.host)
    throw inputError(
      'ZFLASH_HOSTNAME_MISSING',
      'No hostname was given.',
      'Add --host NAME, for example --host node-1.',
    );
  const keyFiles = v['ssh-key'] ?? [];
  if (keyFiles.length === 0) {
    throw inputError(
      'ZFLASH_NO_KEYS',
      'No SSH public key was given: the node would be unreachable.',
      'Add --ssh-key ~/.ssh/id_ed25519.pub (the .pub file).',
    );
  }
  const notices: Notice[] = [];
  const lists = [];
  for (const f of keyFiles) {
    const r = await readSshKeyFile(f);
    notices.push(...r.notices);
    lists.push(r.keys);
  }
  if ((v['wifi-ssid'] === undefined) !== (v['wifi-pass-file'] === undefined)) {
    throw inputError(
      'ZFLASH_WIFI_INCOMPLETE',
      'Wi-Fi needs both the network name and the passphrase.',
      'Pass --wifi-ssid NAME together with --wifi-pass-file FILE (the passphrase on its first line).',
    );
  }
  if (v['password-file'] && v['password-hash']) {
    throw inputError(
      'ZFLASH_USAGE',
      'Give either --password-file or --password-hash, not both.',
      'Keep one of the two options.',
    );
  }
  const wifi =
    v['wifi-ssid'] !== undefined && v['wifi-pass-file']
      ? {
          ssid: v['wifi-ssid'],
          passphrase: await readSecretFile(v['wifi-pass-file'], 'Wi-Fi passphrase'),
        }
      : null;
  const password = v['password-file'] ? await readSecretFile(v['password-file'], 'password') : null;
  const built = buildNodeIdentity({
    hostname: v.host,
    keys: mergeKeys(lists),
    roles: v.role ?? [],
    wifi,
    password,
    passwordHash: v['password-hash'] ? validatePasswordHash(v['password-hash']) : null,
    erase: { policy: v.erase, disk: v['erase-disk'] ?? null },
  });
  return { identity: built.identity, notices: [...notices, ...built.notices] };
}
