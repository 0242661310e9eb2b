/**
 * Reading and writing the roster file.
 *
 * Writes are atomic replaces (temp file in the same folder, fsync, rename, fsync of the
 * folder), so a crash or a full disk leaves the previous roster, never half of one. Before
 * each replace the copy just read (and validated) becomes `roster.json.bak`, the last good
 * copy. A roster that does not parse is reported and the backup used; the damaged file is
 * kept beside it (`roster.json.damaged-<time>`) when the next write replaces it. When
 * neither parses, every operation stops with ZFLASH_ROSTER_CORRUPT and nothing is written:
 * an empty roster must never silently take the place of a damaged one.
 *
 * Every read-modify-write holds the lock (lock.ts), so concurrent flashes keep every entry.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { inputError, ioError, toZflashError, type ZflashError } from '../errors.js';
import type { Notice } from '../node/types.js';
import { withLock, type LockOptions } from './lock.js';
import {
  emptyRoster,
  flashRecordSchema,
  ROSTER_VERSION,
  rosterSchema,
  type FlashRecord,
  type Roster,
  type RosterNode,
} from './schema.js';

export const backupPath = (path: string): string => `${path}.bak`;
export const lockPath = (path: string): string => `${path}.lock`;

export interface OpenedRoster {
  readonly roster: Roster;
  /** Where the roster came from: the file, its backup (file damaged or missing), or nothing yet. */
  readonly source: 'file' | 'backup' | 'new';
  readonly notices: readonly Notice[];
  /** The file's exact text when source is 'file' (what becomes the backup on the next write). */
  readonly text: string | null;
  /** The main file exists but is damaged (it is kept aside on the next write). */
  readonly damaged: boolean;
}

type Candidate =
  | { readonly state: 'missing' }
  | { readonly state: 'ok'; readonly roster: Roster; readonly text: string }
  | { readonly state: 'bad'; readonly reason: string }
  | { readonly state: 'newer'; readonly version: unknown };

async function readCandidate(path: string): Promise<Candidate> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'missing' };
    throw ioError(
      'ZFLASH_ROSTER_UNREADABLE',
      `The roster ${path} cannot be read: ${code ?? (err as Error).message}.`,
      'Check that the file is yours and readable.',
      { path, errno: code ?? null },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { state: 'bad', reason: `it is not JSON (${(err as Error).message})` };
  }
  const version = (value as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > ROSTER_VERSION) return { state: 'newer', version };
  const parsed = rosterSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    return {
      state: 'bad',
      reason: `${issue?.message ?? 'it does not match the roster layout'}${where}`,
    };
  }
  return { state: 'ok', roster: parsed.data, text };
}

function newerError(path: string, version: unknown): ZflashError {
  return ioError(
    'ZFLASH_ROSTER_NEWER',
    `The roster ${path} was written by a newer Zeta Flash (roster version ${String(version)}); this one understands version ${ROSTER_VERSION}.`,
    'Update Zeta Flash. The file was left as it is.',
    { path, version },
  );
}

/**
 * Reads the roster. A missing file is a new, empty roster; a damaged one falls back to the
 * backup with a notice; both damaged throws ZFLASH_ROSTER_CORRUPT.
 */
export async function openRoster(path: string): Promise<OpenedRoster> {
  const main = await readCandidate(path);
  if (main.state === 'ok')
    return { roster: main.roster, source: 'file', notices: [], text: main.text, damaged: false };
  if (main.state === 'newer') throw newerError(path, main.version);

  const bak = await readCandidate(backupPath(path));
  if (main.state === 'missing' && bak.state === 'missing')
    return { roster: emptyRoster(), source: 'new', notices: [], text: null, damaged: false };
  if (bak.state === 'newer') throw newerError(backupPath(path), bak.version);
  if (bak.state === 'ok') {
    const why =
      main.state === 'bad' ? `is damaged: ${main.reason}` : 'is missing but its backup is there';
    return {
      roster: bak.roster,
      source: 'backup',
      damaged: main.state === 'bad',
      text: null,
      notices: [
        {
          code: 'ZFLASH_ROSTER_RESTORED',
          message: `The roster ${path} ${why}. Using the backup ${backupPath(path)} (${bak.roster.nodes.length} nodes); flashes recorded after it was made are missing.`,
        },
      ],
    };
  }
  const mainWhy = main.state === 'bad' ? `is damaged (${main.reason})` : 'is missing';
  const bakWhy =
    bak.state !== 'bad'
      ? 'is missing'
      : `is damaged${main.state === 'bad' ? ' too' : ''} (${bak.reason})`;
  throw ioError(
    'ZFLASH_ROSTER_CORRUPT',
    `The roster ${path} ${mainWhy} and its backup ${bakWhy}.`,
    `Nothing was changed. Repair the file, or move it aside to start a new roster.`,
    { path, backup: backupPath(path) },
  );
}

/** Writes `text` to `path` by temp file + fsync + rename, then fsyncs the folder. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  const tmp = `${dir}/.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    throw ioError(
      'ZFLASH_ROSTER_WRITE_FAILED',
      `${path} cannot be written: ${code ?? (err as Error).message}. The previous copy is unchanged.`,
      code === 'ENOSPC'
        ? 'Free some disk space and try again.'
        : 'Check that the folder is yours and writable.',
      { path, errno: code ?? null },
    );
  }
  // The rename is durable only once the folder is; Windows cannot open folders for this.
  if (process.platform !== 'win32') {
    const dh = await open(dir, 'r').catch(() => null);
    await dh?.sync().catch(() => undefined);
    await dh?.close();
  }
}

const serialize = (roster: Roster): string => `${JSON.stringify(roster, null, 2)}\n`;

export interface UpdateOptions {
  readonly lock?: LockOptions;
  /** The time stamped on the damaged copy's name. */
  readonly now?: () => Date;
}

/**
 * One locked read-modify-write. `mutate` returns the new roster (or the same object to
 * write nothing) and a result for the caller.
 */
export async function updateRoster<T>(
  path: string,
  mutate: (roster: Roster) => { roster: Roster; result: T },
  opts: UpdateOptions = {},
): Promise<{ result: T; notices: readonly Notice[] }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw ioError(
      'ZFLASH_ROSTER_WRITE_FAILED',
      `The roster's folder ${dirname(path)} cannot be created: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`,
      'Check that the folder above it is yours and writable.',
      { path },
    );
  });
  return withLock(
    lockPath(path),
    async () => {
      const opened = await openRoster(path);
      const { roster, result } = mutate(opened.roster);
      if (roster === opened.roster) return { result, notices: opened.notices };
      const checked = rosterSchema.safeParse(roster);
      if (!checked.success) throw toZflashError(checked.error);
      if (opened.text !== null) await writeFileAtomic(backupPath(path), opened.text);
      if (opened.damaged) {
        const stamp = (opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
        await rename(path, `${path}.damaged-${stamp}`).catch(() => undefined);
      }
      await writeFileAtomic(path, serialize(checked.data));
      return { result, notices: opened.notices };
    },
    opts.lock,
  );
}

export const findNode = (roster: Roster, hostname: string): RosterNode | undefined =>
  roster.nodes.find((n) => n.hostname === hostname);

function replaceNode(roster: Roster, node: RosterNode): Roster {
  const exists = roster.nodes.some((n) => n.hostname === node.hostname);
  return {
    ...roster,
    nodes: exists
      ? roster.nodes.map((n) => (n.hostname === node.hostname ? node : n))
      : [...roster.nodes, node],
  };
}

export interface RecordOptions extends UpdateOptions {
  /** The operator re-flashes this node on purpose (the name check allowed it). */
  readonly reflash?: boolean;
}

/**
 * Records a successful flash. A hostname already in the roster becomes `re-flashed`, its
 * previous flash kept in `history`. That happens without `reflash` only when another
 * process recorded the same name between the name check and the end of this flash (the
 * stick exists, so the record is kept); the notice ZFLASH_ROSTER_NAME_REUSED says so.
 */
export async function recordFlash(
  path: string,
  record: FlashRecord,
  opts: RecordOptions = {},
): Promise<{ node: RosterNode; notices: readonly Notice[] }> {
  // Parsing strips any field the roster must not hold (a caller spreading a NodeIdentity
  // would otherwise bring its PSK and password hash along).
  const parsed = flashRecordSchema.safeParse(record);
  if (!parsed.success) throw toZflashError(parsed.error);
  const r = parsed.data;
  const extra: Notice[] = [];
  const { result, notices } = await updateRoster(
    path,
    (roster) => {
      const old = findNode(roster, r.hostname);
      const { hostname: _h, ...flash } = r;
      let node: RosterNode;
      if (!old) {
        node = { hostname: r.hostname, status: 'flashed', ...flash, online: null, history: [] };
      } else {
        const { hostname: _o, status: _s, online: _on, history, ...previous } = old;
        const prev = flashRecordSchema.omit({ hostname: true }).parse(previous);
        node = {
          hostname: r.hostname,
          status: 're-flashed',
          ...flash,
          online: null,
          history: [...history, prev],
          // The same machine keeps booting from the same network card.
          ...(old.mac ? { mac: old.mac } : {}),
        };
        if (!opts.reflash)
          extra.push({
            code: 'ZFLASH_ROSTER_NAME_REUSED',
            message: `${r.hostname} was already in the roster (flashed ${old.flashedAt}); this stick now carries that name and the earlier record is kept in the node's history. Two machines with one name clash on the network: boot only one of them.`,
          });
      }
      return { roster: replaceNode(roster, node), result: node };
    },
    opts,
  );
  return { node: result, notices: [...notices, ...extra] };
}

/** Addresses → the one to show: IPv4 first (not link-local if there is another), then IPv6. */
export function preferredAddress(addresses: readonly string[]): string | null {
  const v4 = addresses.filter((a) => !a.includes(':'));
  const v6 = addresses.filter((a) => a.includes(':'));
  return (
    v4.find((a) => !a.startsWith('169.254.')) ??
    v4[0] ??
    v6.find((a) => !/^fe[89ab]/i.test(a)) ??
    v6[0] ??
    null
  );
}

export interface MarkOnlineOptions extends UpdateOptions {
  readonly addresses: readonly string[];
  readonly now: () => Date;
}

/**
 * Marks a node online after it was seen on the network: `firstSeen` is kept from the first
 * sighting after its latest flash, `lastSeen` and the addresses follow every sighting.
 * Returns null when the hostname is not in the roster.
 */
export async function markOnline(
  path: string,
  hostname: string,
  opts: MarkOnlineOptions,
): Promise<{ node: RosterNode; firstTime: boolean; notices: readonly Notice[] } | null> {
  const seenAt = opts.now().toISOString();
  const address = preferredAddress(opts.addresses);
  if (address === null) throw new Error('markOnline needs at least one address');
  const { result, notices } = await updateRoster(
    path,
    (roster) => {
      const old = findNode(roster, hostname);
      if (!old) return { roster, result: null };
      const addresses = [...new Set(opts.addresses)];
      const node: RosterNode = {
        ...old,
        status: 'online',
        online: {
          address,
          addresses,
          firstSeen: old.online?.firstSeen ?? seenAt,
          lastSeen: seenAt,
        },
      };
      return { roster: replaceNode(roster, node), result: { node, firstTime: !old.online } };
    },
    opts,
  );
  return result ? { ...result, notices } : null;
}

/**
 * Sets (or with null removes) the MAC address a roster node network-boots from. The node
 * must be in the roster (ZFLASH_NODE_UNKNOWN) and no other node may have the MAC
 * (ZFLASH_MAC_TAKEN): the netboot server installs a machine by its MAC alone.
 */
export async function setNodeMac(
  path: string,
  hostname: string,
  mac: string | null,
  opts: UpdateOptions = {},
): Promise<{ node: RosterNode; previous: string | null; notices: readonly Notice[] }> {
  const { result, notices } = await updateRoster(
    path,
    (roster) => {
      const old = findNode(roster, hostname);
      if (!old)
        throw inputError(
          'ZFLASH_NODE_UNKNOWN',
          `${hostname} is not in the roster.`,
          'Run zflash roster list for the nodes it has.',
          { hostname },
        );
      const holder =
        mac === null
          ? undefined
          : roster.nodes.find((n) => n.mac === mac && n.hostname !== hostname);
      if (holder)
        throw inputError(
          'ZFLASH_MAC_TAKEN',
          `${mac} is already the boot MAC address of ${holder.hostname}.`,
          `One machine, one node: remove it there first (zflash roster set ${holder.hostname} --mac none).`,
          { mac, hostname: holder.hostname },
        );
      const previous = old.mac ?? null;
      if (previous === mac) return { roster, result: { node: old, previous } };
      const { mac: _m, ...rest } = old;
      const node: RosterNode = mac === null ? rest : { ...rest, mac };
      return { roster: replaceNode(roster, node), result: { node, previous } };
    },
    opts,
  );
  return { ...result, notices };
}
