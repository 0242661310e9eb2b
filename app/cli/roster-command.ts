/**
 * `zflash roster list|export|next|watch`: the cluster roster from the command line.
 * `zflash flash` records into the same file (resolveRosterPath).
 */
import { resolve } from 'node:path';
import { inputError, targetError } from '../errors.js';
import type { Notice } from '../node/types.js';
import {
  browseNodes,
  checkNewName,
  DEFAULT_NAME_PATTERN,
  markOnline,
  openRoster,
  openMdnsSocket,
  setNodeMac,
  sortedNodes,
  suggestName,
  toColmenaHive,
  toCsv,
  toJson,
  toSshConfig,
  writeFileAtomic,
  type RosterEvent,
  type RosterNode,
} from '../roster/index.js';
import { APP } from '../version.js';
import { parse, wantsJson } from './args.js';
import type { CliIo, Command } from './io.js';
import { formatSize, printJsonLine, reportError } from './output.js';

import { parseMac } from '../node/mac.js';

const USAGE = 'zflash roster <list|export|next|watch|set> [options]';
const FORMATS = ['ssh-config', 'json', 'csv', 'colmena'] as const;
type Format = (typeof FORMATS)[number];

export const rosterHelp = `${USAGE}

The roster remembers which stick became which node: every successful \`zflash flash\`
records the hostname, roles, key fingerprints, image, drive and time.

  list [--json]                      the nodes, their status and address
  export --format F [--output FILE]  F: ssh-config, json, csv or colmena (hive.nix)
         [--nixos DIR] [--identity DIR]   colmena: where the bundled nixos/ folder and the
                                          nodes' identity folders are, relative to the hive
  next [--pattern P] [--json]        the lowest free name in a pattern (default ${DEFAULT_NAME_PATTERN};
                                     also prefix-NN or a sample name such as rack-01)
  watch [NAME...] [--timeout S] [--json] [--interface ADDR]
                                     wait for flashed nodes to come online (mDNS), mark
                                     them online in the roster; Ctrl-C stops
  set NAME --mac MAC|none [--json]   the MAC address NAME network-boots from
                                     (zflash netboot serve installs it); none removes it

  --roster FILE   use this roster file (default: $ZFLASH_ROSTER, else
                  $XDG_DATA_HOME/zeta-flash/roster.json, ~/.local/share/... when unset;
                  ~/Library/Application Support/Zeta Flash/ on macOS; %APPDATA%\\Zeta Flash\\ on Windows)`;

export { resolveRosterPath } from './roster-path.js';
import { resolveRosterPath } from './roster-path.js';

/** For front ends that check a name before flashing: throws ZFLASH_NAME_TAKEN / ZFLASH_NODE_UNKNOWN. */
export async function checkNameInRoster(
  path: string,
  hostname: string,
  reflash: boolean,
): Promise<readonly Notice[]> {
  const { roster, notices } = await openRoster(path);
  checkNewName(roster, hostname, { reflash });
  return notices;
}

const emit = (io: CliIo, event: RosterEvent) => printJsonLine(io, event);

function printNotices(io: CliIo, json: boolean, notices: readonly Notice[]): void {
  for (const n of notices) {
    if (json) emit(io, { type: 'notice', code: n.code, message: n.message });
    else io.stderr.write(`warning: ${n.message} [${n.code}]\n`);
  }
}

const shortTime = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')}Z`;

function mediumText(n: RosterNode): string {
  const m = n.medium;
  if (m.kind === 'file') return `file ${m.path}`;
  const what = [
    m.model,
    m.serial ? `serial ${m.serial}` : null,
    m.size === null ? null : formatSize(m.size),
  ]
    .filter(Boolean)
    .join(', ');
  return what ? `${m.device} (${what})` : m.device;
}

export function formatRosterTable(nodes: readonly RosterNode[]): string {
  const header = ['HOSTNAME', 'STATUS', 'ROLES', 'ADDRESS', 'FLASHED', 'IMAGE', 'MEDIUM'];
  const rows = nodes.map((n) => [
    n.hostname,
    n.status,
    n.roles.join(',') || '-',
    n.online?.address ?? '-',
    shortTime(n.flashedAt),
    n.image.name,
    mediumText(n),
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return (
    all
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

async function list(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(
    argv,
    { json: { type: 'boolean' }, roster: { type: 'string' } },
    'zflash roster list [--json] [--roster FILE]',
    false,
  );
  const path = resolveRosterPath(io.env, values.roster);
  const { roster, notices } = await openRoster(path);
  printNotices(io, !!values.json, notices);
  const nodes = sortedNodes(roster);
  if (values.json) {
    for (const n of nodes) emit(io, { type: 'node', ...n });
  } else if (nodes.length === 0) {
    io.stdout.write(`The roster is empty (${path}): nodes appear here after zflash flash.\n`);
  } else {
    io.stdout.write(formatRosterTable(nodes));
  }
  return 0;
}

async function exportRoster(argv: readonly string[], io: CliIo): Promise<number> {
  const usage =
    'zflash roster export --format ssh-config|json|csv|colmena [--output FILE] [--nixos DIR] [--identity DIR] [--roster FILE]';
  const { values } = parse(
    argv,
    {
      format: { type: 'string' },
      output: { type: 'string', short: 'o' },
      nixos: { type: 'string' },
      identity: { type: 'string' },
      roster: { type: 'string' },
    },
    usage,
    false,
  );
  const format = values.format as Format | undefined;
  if (!format || !FORMATS.includes(format))
    throw inputError(
      'ZFLASH_USAGE',
      format ? `"${format}" is not an export format.` : 'Say which format to export.',
      `Use --format with one of ${FORMATS.join(', ')}.`,
    );
  if ((values.nixos || values.identity) && format !== 'colmena')
    throw inputError(
      'ZFLASH_USAGE',
      '--nixos and --identity belong to the colmena export.',
      `Usage: ${usage}`,
    );
  const { roster, notices } = await openRoster(resolveRosterPath(io.env, values.roster));
  printNotices(io, false, notices);
  const text =
    format === 'ssh-config'
      ? toSshConfig(roster)
      : format === 'json'
        ? toJson(roster)
        : format === 'csv'
          ? toCsv(roster)
          : toColmenaHive(roster, {
              appVersion: APP.version,
              ...(values.nixos ? { nixosPath: values.nixos } : {}),
              ...(values.identity ? { identityPath: values.identity } : {}),
            });
  if (values.output) {
    await writeFileAtomic(resolve(values.output), text);
    io.stderr.write(`Wrote ${roster.nodes.length} nodes to ${values.output}.\n`);
  } else io.stdout.write(text);
  return 0;
}

async function next(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(
    argv,
    { pattern: { type: 'string' }, json: { type: 'boolean' }, roster: { type: 'string' } },
    'zflash roster next [--pattern P] [--json] [--roster FILE]',
    false,
  );
  const { roster, notices } = await openRoster(resolveRosterPath(io.env, values.roster));
  printNotices(io, !!values.json, notices);
  const pattern = values.pattern ?? DEFAULT_NAME_PATTERN;
  const hostname = suggestName(roster, pattern);
  if (values.json) emit(io, { type: 'name', hostname, pattern });
  else io.stdout.write(`${hostname}\n`);
  return 0;
}

async function watch(argv: readonly string[], io: CliIo): Promise<number> {
  const usage =
    'zflash roster watch [NAME...] [--timeout S] [--json] [--interface ADDR] [--roster FILE]';
  const { values, positionals: names } = parse(
    argv,
    {
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      interface: { type: 'string' },
      roster: { type: 'string' },
    },
    usage,
  );
  const json = !!values.json;
  const positionals = names as string[];
  let timeoutMs: number | null = null;
  if (values.timeout !== undefined) {
    const s = Number(values.timeout);
    if (!Number.isFinite(s) || s <= 0)
      throw inputError(
        'ZFLASH_USAGE',
        `--timeout takes a number of seconds above 0, not "${values.timeout}".`,
        `Usage: ${usage}`,
      );
    timeoutMs = Math.round(s * 1000);
  }
  const path = resolveRosterPath(io.env, values.roster);
  const { roster, notices } = await openRoster(path);
  printNotices(io, json, notices);

  for (const name of positionals)
    if (!roster.nodes.some((n) => n.hostname === name))
      throw inputError(
        'ZFLASH_NODE_UNKNOWN',
        `${name} is not in the roster, so there is nothing to watch for.`,
        'Run zflash roster list for the nodes it has.',
        { hostname: name },
      );
  // Named nodes are watched whatever their status (to see one come back); otherwise the
  // ones flashed and not yet seen.
  const targets = sortedNodes(roster).filter((n) =>
    positionals.length ? positionals.includes(n.hostname) : n.status !== 'online',
  );
  const waiting = new Set(targets.map((n) => n.hostname));
  const before = new Map(targets.map((n) => [n.hostname, n.online !== null]));

  const done = (reason: 'all-online' | 'stopped' | 'timeout') => {
    if (json) emit(io, { type: 'done', reason, waiting: [...waiting] });
  };
  if (waiting.size === 0) {
    if (!json)
      io.stdout.write(
        roster.nodes.length === 0
          ? `The roster is empty (${path}): there is no node to wait for.\n`
          : `All ${roster.nodes.length} nodes in the roster are online already.\n`,
      );
    done('all-online');
    return 0;
  }
  if (json) emit(io, { type: 'watching', waiting: [...waiting] });
  else io.stdout.write(`Waiting for ${[...waiting].join(', ')} to come online (Ctrl-C to stop)…\n`);

  const stop = new AbortController();
  // An object, so TypeScript does not narrow what the callbacks below assign.
  const end: { reason: 'all-online' | 'stopped' | 'timeout' } = { reason: 'stopped' };
  const onAbort = () => stop.abort();
  io.signal.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeoutMs === null
      ? null
      : setTimeout(() => {
          end.reason = 'timeout';
          stop.abort();
        }, timeoutMs);
  try {
    await browseNodes({
      wanted: () => [...waiting],
      signal: stop.signal,
      socket: () => openMdnsSocket(values.interface ? { interface: values.interface } : {}),
      onWarning: (m) => {
        if (!json) io.stderr.write(`note: mDNS: ${m}\n`);
      },
      onSighting: async ({ hostname, addresses }) => {
        if (!waiting.has(hostname)) return;
        waiting.delete(hostname);
        const marked = await markOnline(path, hostname, { addresses, now: () => new Date() });
        const online = marked?.node.online; // null: removed from the roster meanwhile
        if (online && json)
          emit(io, {
            type: 'online',
            hostname,
            address: online.address,
            addresses: [...online.addresses],
            firstSeen: online.firstSeen,
            seenBefore: before.get(hostname) ?? false,
          });
        else if (online)
          io.stdout.write(
            `${hostname} is online at ${online.address}: ssh zeta@${hostname}.local\n`,
          );
        if (waiting.size === 0) {
          end.reason = 'all-online';
          stop.abort();
        }
      },
    });
  } finally {
    if (timer) clearTimeout(timer);
    io.signal.removeEventListener('abort', onAbort);
  }
  done(end.reason);
  if (!json && end.reason === 'all-online') io.stdout.write('Every node is online.\n');
  if (end.reason === 'timeout' && waiting.size > 0)
    throw targetError(
      'ZFLASH_WATCH_TIMEOUT',
      `${[...waiting].join(', ')} did not come online within ${values.timeout} s.`,
      'Check that the node booted from its stick and finished installing (its screen says so), and that it is on the same network as this computer.',
      { waiting: [...waiting] },
    );
  return 0;
}

async function set(argv: readonly string[], io: CliIo): Promise<number> {
  const usage = 'zflash roster set NAME --mac MAC|none [--json] [--roster FILE]';
  const { values, positionals } = parse(
    argv,
    { mac: { type: 'string' }, json: { type: 'boolean' }, roster: { type: 'string' } },
    usage,
  );
  const [name, ...extra] = positionals as string[];
  if (!name || extra.length || values.mac === undefined)
    throw inputError('ZFLASH_USAGE', 'Name one node and its --mac.', `Usage: ${usage}`);
  let mac: string | null = null;
  if (values.mac !== 'none') {
    const parsed = parseMac(values.mac);
    if ('problem' in parsed)
      throw inputError(
        'ZFLASH_MAC_INVALID',
        `"${values.mac.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" is not a MAC address: ${parsed.problem}.`,
        "Copy it from the machine's firmware screen or `ip link` (like 52:54:00:12:34:56); --mac none removes it.",
      );
    mac = parsed.mac;
  }
  const path = resolveRosterPath(io.env, values.roster);
  const { node, previous, notices } = await setNodeMac(path, name, mac);
  printNotices(io, !!values.json, notices);
  if (values.json) emit(io, { type: 'node', ...node });
  else if (previous === mac)
    io.stdout.write(`${name} already ${mac ? `boots from ${mac}` : 'has no boot MAC address'}.\n`);
  else
    io.stdout.write(
      mac
        ? `${name} network-boots from ${mac}${previous ? ` (was ${previous})` : ''}: zflash netboot serve installs it.\n`
        : `${name} has no boot MAC address any more (was ${previous}).\n`,
    );
  return 0;
}

const subcommands: Record<string, (argv: readonly string[], io: CliIo) => Promise<number>> = {
  list,
  export: exportRoster,
  next,
  watch,
  set,
};

export const rosterCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  try {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h' || sub === 'help' || rest.includes('--help')) {
      io.stdout.write(`${rosterHelp}\n`);
      return sub ? 0 : 2;
    }
    const run = subcommands[sub];
    if (!run)
      throw inputError('ZFLASH_USAGE', `"${sub}" is not a roster command.`, `Usage: ${USAGE}`);
    return await run(rest, io);
  } catch (err) {
    return reportError(io, err, json);
  }
};
