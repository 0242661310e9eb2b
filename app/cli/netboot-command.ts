/**
 * `zflash netboot serve`: install the roster's nodes over the network (docs/netboot.md).
 * dnsmasq (proxy DHCP + TFTP) is the only privileged part: started directly when zflash
 * already runs as root, through pkexec otherwise, and told to drop to an unprivileged account
 * once its ports are bound. Everything else — the HTTP server, the roster, rendering — runs in
 * this process as the invoking user.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { inputError, ioError } from '../errors.js';
import { findOnPath } from '../helper/elevation.js';
import {
  mergeKeys,
  parseAuthorizedKeys,
  readSshKeyFile,
  validateErasePolicy,
  MAX_KEY_FILE_BYTES,
  type Notice,
  type SshPublicKey,
} from '../node/index.js';
import {
  DEFAULT_IPXE_DIRS,
  serveNetboot,
  type DnsmasqLaunch,
  type NetbootEvent,
  type NetbootStep,
} from '../netboot/session.js';
import { parse, wantsJson } from './args.js';
import { readAllStdin } from './identity-options.js';
import type { CliIo, Command } from './io.js';
import { printJsonLine, reportError } from './output.js';
import { resolveRosterPath } from './roster-path.js';

const USAGE =
  'zflash netboot serve --artifacts DIR --interface IF --ssh-key FILE [--ssh-key …] [--erase blank-only|any] [--port N] [--ipxe-dir DIR] [--roster FILE] [--json]';

export const netbootHelp = `${USAGE}

Installs the roster's nodes over the network: every node with a boot MAC address
(zflash roster set NAME --mac MAC) that network-boots on IF gets the Zeta installer and
its identity, with zero typing. Machines the roster does not name get a screen saying so,
and nothing else. Ctrl-C stops everything it started.

  --artifacts DIR     what \`nix build ./nixos#netboot\` made: bzImage, initrd, netboot.ipxe
  --interface IF      the network the nodes boot on (ip -br addr); served there only
  --ssh-key FILE      the OpenSSH public key(s) every node gets (repeat; - reads stdin)
  --erase P           blank-only (default) or any: what the installer may erase
  --port N            the HTTP port (default: any free one)
  --ipxe-dir DIR      where undionly.kpxe and snponly.efi/ipxe.efi are (default: the
                      ipxe package's folder, /usr/lib/ipxe on Debian and Ubuntu)
  --roster FILE       the roster (default as for zflash roster)
  --json              JSON lines: serving, step, refused, notice, stopped, error

Only public material goes over the network: the SSH public keys, the hostname, the
roles and the erase policy. Never a Wi-Fi passphrase or a password hash: nodes installed
this way are reached by SSH key (add Wi-Fi or a password afterwards, or use a stick).

Needs Linux, dnsmasq (Debian: dnsmasq-base) and iPXE (Debian: ipxe). dnsmasq answers as
a proxy DHCP server beside the router's own, which keeps handing out the addresses.`;

const STEP_WORDS: Record<NetbootStep, string> = {
  dhcp: 'DHCP: asked to network-boot',
  ipxe: 'iPXE',
  script: 'iPXE fetched its install script',
  kernel: 'kernel',
  initrd: 'NixOS initrd',
  identity: 'identity (keys, hostname, roles) sent',
  installer: 'installer started',
  online: 'online',
};

function eventLine(e: NetbootEvent): string | null {
  const t = (iso: string) => iso.slice(11, 19);
  switch (e.type) {
    case 'step': {
      const who = `${e.hostname ?? '(not in roster)'} ${e.mac}${e.ip ? ` ${e.ip}` : ''}`;
      const what =
        e.step === 'kernel' || e.step === 'initrd'
          ? `${STEP_WORDS[e.step]} ${e.state === 'started' ? 'downloading' : e.state === 'done' ? 'sent' : `failed (${e.detail ?? ''})`}`
          : e.step === 'ipxe' && e.state === 'started'
            ? `iPXE: ${e.detail ?? 'loading'}`
            : e.step === 'online'
              ? `ONLINE: ssh zeta@${e.hostname ?? '?'}.local (${e.detail ?? ''})`
              : STEP_WORDS[e.step];
      return `${t(e.at)}  ${who}  ${what}`;
    }
    case 'refused':
      return `${t(e.at)}  ${e.mac} ${e.ip}  NOT IN THE ROSTER: shown the refusal, nothing sent`;
    default:
      return null;
  }
}

/** Public keys from --ssh-key files (or - for standard input), merged and deduplicated. */
async function readKeys(
  files: readonly string[],
  io: CliIo,
): Promise<{ keys: SshPublicKey[]; notices: Notice[] }> {
  if (files.length === 0)
    throw inputError(
      'ZFLASH_NO_KEYS',
      'No SSH public key was given: the nodes would be unreachable.',
      'Add --ssh-key ~/.ssh/id_ed25519.pub (the .pub file); every node served gets it.',
    );
  const notices: Notice[] = [];
  const lists: SshPublicKey[][] = [];
  let stdinUsed = false;
  for (const f of files) {
    let r;
    if (f === '-') {
      if (stdinUsed)
        throw inputError(
          'ZFLASH_USAGE',
          'Standard input can be read for keys only once.',
          'Give --ssh-key - once; put further keys in files.',
        );
      stdinUsed = true;
      const text = await readAllStdin(io.stdin);
      if (text.length > MAX_KEY_FILE_BYTES)
        throw inputError(
          'ZFLASH_KEY_FILE_TOO_LARGE',
          `Standard input holds more than ${MAX_KEY_FILE_BYTES / 1024} KiB: that is not a list of public keys.`,
          'Pipe only public keys into it, for example ssh-add -L.',
        );
      r = parseAuthorizedKeys(text, 'standard input');
    } else r = await readSshKeyFile(f);
    notices.push(...r.notices);
    lists.push([...r.keys]);
  }
  const keys = [...mergeKeys(lists)];
  if (keys.length === 0)
    throw inputError(
      'ZFLASH_NO_KEYS',
      'The key files hold no usable SSH public key: the nodes would be unreachable.',
      'Give the .pub file of a key you log in with.',
    );
  return { keys, notices };
}

/** The primary group's name of a user (dnsmasq's --group takes a name). */
function groupOf(user: string): string | null {
  const r = spawnSync('id', ['-gn', user], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || null : null;
}

/**
 * How dnsmasq is started and whom it becomes. Root: directly, dropping to the `dnsmasq`
 * account (Debian's dnsmasq-base makes it) or `nobody`. Anyone else: through pkexec, dropping
 * to the invoking user — so this process can stop it (a signal needs the same uid).
 */
export function dnsmasqLaunch(env: NodeJS.ProcessEnv, isRoot: boolean): DnsmasqLaunch {
  const command = findOnPath('dnsmasq', env, existsSync, [
    '/usr/sbin',
    '/sbin',
    '/run/current-system/sw/bin',
  ]);
  if (!command)
    throw ioError(
      'ZFLASH_NETBOOT_TOOL_MISSING',
      'dnsmasq is not installed.',
      'Install it (Debian/Ubuntu: apt install dnsmasq-base; its system service is not needed).',
    );
  if (isRoot) {
    const user = groupOf('dnsmasq') ? 'dnsmasq' : 'nobody';
    return { command, prefix: [], user, group: groupOf(user) ?? 'nogroup' };
  }
  const pkexec = findOnPath('pkexec', env, existsSync, ['/run/wrappers/bin', '/usr/bin']);
  if (!pkexec)
    throw inputError(
      'ZFLASH_NETBOOT_UNSUPPORTED',
      'dnsmasq needs root to answer network boot requests, and pkexec (polkit) was not found to ask for it.',
      'Run the command as root (sudo zflash netboot serve …).',
    );
  const user = userInfo().username;
  return { command, prefix: [pkexec], user, group: groupOf(user) ?? user };
}

async function serve(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(
    argv,
    {
      artifacts: { type: 'string' },
      interface: { type: 'string' },
      'ssh-key': { type: 'string', multiple: true },
      erase: { type: 'string' },
      port: { type: 'string' },
      'ipxe-dir': { type: 'string', multiple: true },
      roster: { type: 'string' },
      json: { type: 'boolean' },
      // Refused with a reason instead of "unknown option": they would send secrets.
      'wifi-ssid': { type: 'string' },
      'wifi-pass-file': { type: 'string' },
      'password-file': { type: 'string' },
      'password-hash': { type: 'string' },
    },
    USAGE,
    false,
  );
  const json = !!values.json;
  if (
    values['wifi-ssid'] ||
    values['wifi-pass-file'] ||
    values['password-file'] ||
    values['password-hash']
  )
    throw inputError(
      'ZFLASH_USAGE',
      'Network boot serves only public material: no Wi-Fi passphrase or password goes over the network, where anyone could ask for it.',
      'Leave out the Wi-Fi and password options; nodes installed over the network are reached by SSH key. Use a stick for a node that needs them.',
    );
  if (process.platform !== 'linux')
    throw inputError(
      'ZFLASH_NETBOOT_UNSUPPORTED',
      `Serving network boot works on Linux only, not on ${process.platform}.`,
      'Run it on a Linux computer on the nodes\u2019 network.',
    );
  if (!values.artifacts)
    throw inputError(
      'ZFLASH_USAGE',
      'Say where the netboot build is: --artifacts DIR.',
      `Usage: ${USAGE}`,
    );
  if (!values.interface)
    throw inputError(
      'ZFLASH_USAGE',
      'Say which network to serve: --interface IF.',
      `Usage: ${USAGE}`,
    );
  let port = 0;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port < 1 || port > 65535)
      throw inputError(
        'ZFLASH_USAGE',
        `--port takes a port number (1-65535), not "${values.port}".`,
        `Usage: ${USAGE}`,
      );
  }
  const { erase, notices: eraseNotices } = validateErasePolicy({
    ...(values.erase ? { policy: values.erase } : {}),
  });
  const { keys, notices } = await readKeys(values['ssh-key'] ?? [], io);
  const rosterPath = resolveRosterPath(io.env, values.roster);
  const isRoot = process.getuid?.() === 0;
  const dnsmasq = dnsmasqLaunch(io.env, isRoot);

  const notice = (n: { code: string; message: string }) => {
    if (json) printJsonLine(io, { type: 'notice', code: n.code, message: n.message });
    else io.stderr.write(`note: ${n.message}\n`);
  };
  for (const n of [...notices, ...eraseNotices]) notice(n);
  if (isRoot && !json)
    io.stderr.write(
      `note: zflash runs as root here; dnsmasq drops to ${dnsmasq.user}. Run it as your own user and only dnsmasq gets root (through pkexec).\n`,
    );

  const summary = await serveNetboot({
    interface: values.interface,
    artifactsDir: values.artifacts,
    rosterPath,
    keys,
    erase,
    port,
    ipxeDirs: values['ipxe-dir'] ?? [...DEFAULT_IPXE_DIRS],
    dnsmasq,
    signal: io.signal,
    onEvent: (e) => {
      if (json) return printJsonLine(io, e);
      if (e.type === 'notice') return notice(e);
      if (e.type === 'serving') {
        io.stdout.write(
          [
            `Serving network boot on ${e.interface} (${e.address}): proxy DHCP + TFTP by dnsmasq (as ${dnsmasq.user}), HTTP ${e.url}`,
            `Only public material is served: SSH public keys, hostname, roles, erase policy (${erase.policy}).`,
            'Never a Wi-Fi passphrase or a password hash: these nodes are reached by SSH key.',
            e.nodes.length
              ? `Roster nodes with a boot MAC: ${e.nodes.map((n) => `${n.hostname} (${n.mac})`).join(', ')}`
              : 'No roster node has a boot MAC yet: zflash roster set NAME --mac MAC.',
            'Other machines get a "not in the roster" screen. Ctrl-C stops.',
            '',
          ].join('\n'),
        );
        return;
      }
      const line = eventLine(e);
      if (line) io.stdout.write(`${line}\n`);
    },
  });
  if (json) printJsonLine(io, { type: 'stopped', machines: summary.machines });
  else {
    io.stdout.write(`\nStopped; dnsmasq and the HTTP server are down.\n`);
    for (const m of summary.machines)
      io.stdout.write(`  ${(m.hostname ?? '(not in roster)').padEnd(16)} ${m.mac}  ${m.step}\n`);
  }
  return 0;
}

export const netbootCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  try {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h' || sub === 'help' || rest.includes('--help')) {
      io.stdout.write(`${netbootHelp}\n`);
      return sub ? 0 : 2;
    }
    if (sub !== 'serve')
      throw inputError('ZFLASH_USAGE', `"${sub}" is not a netboot command.`, `Usage: ${USAGE}`);
    return await serve(rest, io);
  } catch (err) {
    return reportError(io, err, json);
  }
};
