/** The node-identity options shared by `zflash inject` and `zflash flash`. */
import { readFile, stat } from 'node:fs/promises';
import { inputError } from '../errors.js';
import {
  MAX_KEY_FILE_BYTES,
  buildNodeIdentity,
  mergeKeys,
  parseAuthorizedKeys,
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
  '--host NAME --ssh-key FILE|- [--ssh-key …] [--role R[,R…]] [--wifi-ssid S --wifi-pass-file F] [--password-file F | --password-hash HASH] [--erase blank-only|any [--erase-disk ID]]';

/** What each identity option means, for every command's --help. */
export const identityHelp = `Node identity:
  --host NAME            the node's hostname (RFC 1123: a-z, 0-9, -; up to 63);
                         it comes up as ssh zeta@NAME.local
  --ssh-key FILE         an OpenSSH public key file (.pub, several keys allowed);
                         repeat for more files; - reads keys from standard input
                         (ssh-add -L | zflash …). Private keys are refused.
  --role R[,R…]          control-plane, worker, gpu, storage (repeat or comma-separate)
  --wifi-ssid NAME       Wi-Fi network for the installer and the node ...
  --wifi-pass-file FILE  ... and a file holding its passphrase on the first line;
                         only the derived WPA key (PSK) is written to the stick
  --password-file FILE   a password for user zeta on the console (first line of the
                         file); only its sha512crypt hash is written to the stick
  --password-hash HASH   the same, already hashed ($6$… or $y$…)
                         Without either, password login stays locked: SSH keys only.
  --erase blank-only     (the default) the installer erases only a blank disk; a disk
                         that holds data stops at a screen asking what to do
  --erase any            this machine may already hold data: erase its disk anyway
  --erase-disk ID        install to exactly this disk (its serial or /dev/disk/by-id
                         name); the installer stops if it is absent`;

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

/** Reads all of standard input, up to the key-file limit and one byte past it. */
export async function readAllStdin(stdin: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    parts.push(b);
    length += b.length;
    if (length > MAX_KEY_FILE_BYTES) break;
  }
  return Buffer.concat(parts).subarray(0, MAX_KEY_FILE_BYTES + 1);
}

export interface IdentityResult {
  readonly identity: NodeIdentity;
  readonly notices: Notice[];
  /** Standard input was read for keys (`--ssh-key -`): confirmations must use the terminal. */
  readonly stdinUsed: boolean;
}

export async function identityFromOptions(
  v: IdentityValues,
  readStdin?: () => Promise<Buffer>,
): Promise<IdentityResult> {
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
  let stdinUsed = false;
  for (const f of keyFiles) {
    let r;
    if (f === '-') {
      if (stdinUsed || !readStdin) {
        throw inputError(
          'ZFLASH_USAGE',
          'Standard input can be read for keys only once.',
          'Give --ssh-key - once; put further keys in files.',
        );
      }
      stdinUsed = true;
      const text = await readStdin();
      if (text.length > MAX_KEY_FILE_BYTES) {
        throw inputError(
          'ZFLASH_KEY_FILE_TOO_LARGE',
          `Standard input holds more than ${MAX_KEY_FILE_BYTES / 1024} KiB: that is not a list of public keys.`,
          'Pipe only public keys into it, for example ssh-add -L.',
        );
      }
      r = parseAuthorizedKeys(text, 'standard input');
    } else r = await readSshKeyFile(f);
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
  return { identity: built.identity, notices: [...notices, ...built.notices], stdinUsed };
}
