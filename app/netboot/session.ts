/**
 * `serveNetboot`: one network-boot session, from the checks to Ctrl-C. It starts nothing
 * privileged by itself: dnsmasq is spawned with whatever `dnsmasq.prefix` the front end
 * chose (nothing when already root, pkexec otherwise) and drops to `dnsmasq.user` once its
 * ports are bound; the HTTP server, the roster and the rendering stay in this process.
 *
 * Progress is one stream of events per machine (by MAC): dhcp → ipxe → script → kernel →
 * initrd → identity → installer → online. dnsmasq's log says the first two (proxy DHCP
 * answered; which file the boot server step named), our HTTP server the next ones, the live
 * installer reports itself (POST …/installer), and mDNS sees the installed node (the roster
 * is marked online as `zflash roster watch` does).
 */
import { spawn as nodeSpawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { inputError, ioError } from '../errors.js';
import { buildNodeIdentity } from '../node/identity.js';
import type { ErasePolicy, SshPublicKey } from '../node/types.js';
import makeMdns from 'multicast-dns';
import { browseNodes, type MdnsSocket } from '../roster/mdns.js';
import { markOnline, openRoster } from '../roster/store.js';
import type { Roster } from '../roster/schema.js';
import { openArtifacts, type Artifacts } from './artifacts.js';
import {
  BOOT_SCRIPT,
  INTERFACE_NAME,
  dnsmasqArgs,
  dnsmasqConfig,
  parseDnsmasqLine,
  type DnsmasqLogEvent,
} from './dnsmasq.js';
import { bootScript } from './ipxe.js';
import {
  startNetbootServer,
  type NetbootServer,
  type NodeTarget,
  type ServerEvent,
} from './server.js';

export const NETBOOT_STEPS = [
  'dhcp',
  'ipxe',
  'script',
  'kernel',
  'initrd',
  'identity',
  'installer',
  'online',
] as const;
export type NetbootStep = (typeof NETBOOT_STEPS)[number];

export interface NetbootNodeInfo {
  readonly hostname: string;
  readonly mac: string;
}

export type NetbootEvent =
  | {
      readonly type: 'serving';
      readonly interface: string;
      readonly address: string;
      readonly port: number;
      readonly url: string;
      readonly runtimeDir: string;
      readonly loaders: { readonly bios: string | null; readonly uefi: string | null };
      /** Roster nodes with a boot MAC, as the roster was at the start. */
      readonly nodes: readonly NetbootNodeInfo[];
    }
  | {
      readonly type: 'step';
      readonly step: NetbootStep;
      readonly state: 'started' | 'done' | 'failed';
      readonly mac: string;
      /** Null while the MAC is not (yet) known to the roster. */
      readonly hostname: string | null;
      readonly ip: string | null;
      readonly detail: string | null;
      readonly at: string;
    }
  | {
      readonly type: 'refused';
      readonly mac: string;
      readonly ip: string;
      readonly at: string;
    }
  | { readonly type: 'notice'; readonly code: string; readonly message: string };

export interface DnsmasqLaunch {
  /** The dnsmasq binary (absolute). */
  readonly command: string;
  /** What runs it with the rights to bind ports 67/69/4011: [] when already root, [pkexec]. */
  readonly prefix: readonly string[];
  /** The account it drops to once the ports are bound. */
  readonly user: string;
  readonly group: string;
}

export interface NetbootServeOptions {
  readonly interface: string;
  readonly artifactsDir: string;
  readonly rosterPath: string;
  /** Public keys every node gets (the roster keeps fingerprints only). */
  readonly keys: readonly SshPublicKey[];
  readonly erase: ErasePolicy;
  /** HTTP port; 0 picks a free one. */
  readonly port: number;
  /** Folders to look for the iPXE binaries in, first match wins. */
  readonly ipxeDirs: readonly string[];
  readonly dnsmasq: DnsmasqLaunch;
  readonly signal: AbortSignal;
  readonly onEvent: (e: NetbootEvent) => void;
  readonly now?: () => Date;
  /** Where the runtime folder (TFTP root, dnsmasq.conf) is made; default the OS temp dir. */
  readonly runtimeParent?: string;
  readonly interfaces?: typeof networkInterfaces;
  readonly spawn?: typeof nodeSpawn;
  /** The mDNS socket, or null to not look for nodes coming online. */
  readonly mdns?: (() => MdnsSocket) | null;
}

export interface NetbootSummary {
  /** The last step each machine reached, by MAC. */
  readonly machines: readonly {
    readonly mac: string;
    readonly hostname: string | null;
    readonly step: NetbootStep | 'refused';
  }[];
}

/** iPXE binaries by firmware, in the order they are looked for (Debian, Fedora names). */
export const IPXE_LOADERS = {
  bios: ['undionly.kpxe'],
  uefi: ['snponly.efi', 'ipxe-snponly-x86_64.efi', 'ipxe.efi', 'ipxe-x86_64.efi'],
} as const;

/** Where distributions install them: Debian/Ubuntu, Fedora, NixOS (pkgs.ipxe in the profile). */
export const DEFAULT_IPXE_DIRS = [
  '/usr/lib/ipxe',
  '/usr/share/ipxe',
  '/run/current-system/sw/share/ipxe',
] as const;

export function findIpxeLoaders(
  dirs: readonly string[],
  exists: (p: string) => boolean = existsSync,
): { bios: string | null; uefi: string | null } {
  const find = (names: readonly string[]) => {
    for (const d of dirs) for (const n of names) if (exists(join(d, n))) return join(d, n);
    return null;
  };
  return { bios: find(IPXE_LOADERS.bios), uefi: find(IPXE_LOADERS.uefi) };
}

/** The interface's first IPv4 address, its netmask and network. */
export function interfaceAddress(
  name: string,
  interfaces: typeof networkInterfaces = networkInterfaces,
): { address: string; netmask: string; network: string } {
  if (!INTERFACE_NAME.test(name))
    throw inputError(
      'ZFLASH_NETBOOT_INTERFACE',
      `"${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" is not a network interface name.`,
      'Give the name `ip -br addr` shows for the cable the nodes are on, such as enp3s0.',
    );
  const all = interfaces();
  const list = all[name];
  if (!list)
    throw inputError(
      'ZFLASH_NETBOOT_INTERFACE',
      `This computer has no network interface named ${name}.`,
      `The interfaces with an address are: ${
        Object.keys(all)
          .filter((n) => n !== 'lo')
          .join(', ') || 'none'
      } (\`ip -br addr\` shows them).`,
      { interface: name },
    );
  const v4 = list.find((a) => a.family === 'IPv4' && !a.internal);
  if (!v4)
    throw inputError(
      'ZFLASH_NETBOOT_INTERFACE',
      `${name} has no IPv4 address: the nodes could not reach this computer over it.`,
      'Connect it to the network the nodes boot on (the router gives it an address), then start again.',
      { interface: name },
    );
  const a = v4.address.split('.').map(Number);
  const m = v4.netmask.split('.').map(Number);
  const network = a.map((x, i) => x & (m[i] ?? 0)).join('.');
  return { address: v4.address, netmask: v4.netmask, network };
}

const dnsmasqError = (message: string, output: string) =>
  ioError(
    'ZFLASH_NETBOOT_DNSMASQ_FAILED',
    message,
    /Address (already )?in use/i.test(output)
      ? 'Another DHCP or TFTP server runs on this computer (ports 67, 69 or 4011): stop it, or serve from a computer without one.'
      : 'The lines dnsmasq printed are in the details; check the interface and that no other PXE server runs on this computer.',
    { output: output.slice(-2000) },
  );

interface Machine {
  hostname: string | null;
  ip: string | null;
  last: string;
  step: NetbootStep | 'refused';
}

/** Serves until `signal` aborts; resolves with what each machine reached. */
export async function serveNetboot(opts: NetbootServeOptions): Promise<NetbootSummary> {
  const now = opts.now ?? (() => new Date());
  const spawn = opts.spawn ?? nodeSpawn;
  const net = interfaceAddress(opts.interface, opts.interfaces);
  const loaders = findIpxeLoaders(opts.ipxeDirs);
  if (!loaders.bios && !loaders.uefi)
    throw ioError(
      'ZFLASH_NETBOOT_TOOL_MISSING',
      `iPXE is not installed: none of ${[...IPXE_LOADERS.bios, ...IPXE_LOADERS.uefi].join(', ')} is in ${opts.ipxeDirs.join(', ')}.`,
      'Install the ipxe package (Debian/Ubuntu: apt install ipxe).',
    );

  // Checked before anything starts: the roster opens, and which nodes have a boot MAC.
  const first = await openRoster(opts.rosterPath);
  for (const n of first.notices) opts.onEvent({ type: 'notice', code: n.code, message: n.message });
  let rolesByHost = new Map<string, readonly string[]>();
  const rolesOf = (h: string) => rolesByHost.get(h) ?? [];
  const macMap = (roster: Roster): Map<string, string> => {
    rolesByHost = new Map(roster.nodes.map((n) => [n.hostname, n.roles]));
    const map = new Map<string, string>();
    for (const n of roster.nodes) {
      const mac = (n as { mac?: unknown }).mac;
      if (typeof mac === 'string') map.set(mac, n.hostname);
    }
    return map;
  };
  let byMac = macMap(first.roster);
  const givenPrints = new Set(opts.keys.map((k) => k.fingerprint));
  for (const node of first.roster.nodes) {
    const mac = (node as { mac?: unknown }).mac;
    if (typeof mac !== 'string') continue;
    if (node.keys.length && !node.keys.every((k) => givenPrints.has(k.fingerprint)))
      opts.onEvent({
        type: 'notice',
        code: 'ZFLASH_NETBOOT_KEYS_DIFFER',
        message: `${node.hostname} was flashed with other SSH keys than the ones given here (${node.keys.map((k) => k.fingerprint).join(', ')}); a network install gives it the keys given here.`,
      });
  }
  if (byMac.size === 0)
    opts.onEvent({
      type: 'notice',
      code: 'ZFLASH_NETBOOT_NO_MACS',
      message: `No node in the roster has a boot MAC address yet, so every machine gets the "not in the roster" screen. Add one with zflash roster set NAME --mac MAC (served from its next boot, no restart needed).`,
    });

  const createdAt = now();
  const machines = new Map<string, Machine>();
  const ipToMac = new Map<string, string>();
  const emitStep = (
    mac: string,
    step: NetbootStep,
    state: 'started' | 'done' | 'failed',
    ip: string | null,
    detail: string | null = null,
    hostname?: string | null,
  ) => {
    const m = machines.get(mac) ?? { hostname: null, ip: null, last: '', step };
    if (hostname !== undefined) m.hostname = hostname;
    else m.hostname ??= byMac.get(mac) ?? null;
    if (ip) {
      m.ip = ip;
      ipToMac.set(ip, mac);
    }
    machines.set(mac, m);
    const key = `${step}:${state}`;
    // The iPXE that firmware just loaded asks for DHCP again: not a step back.
    if (m.last === key || (step === 'dhcp' && m.last === 'ipxe:started')) return;
    m.last = key;
    if (state !== 'failed') m.step = step;
    opts.onEvent({
      type: 'step',
      step,
      state,
      mac,
      hostname: m.hostname,
      ip: m.ip,
      detail,
      at: now().toISOString(),
    });
  };

  const lookup = async (mac: string): Promise<NodeTarget | null> => {
    try {
      const { roster } = await openRoster(opts.rosterPath);
      byMac = macMap(roster);
    } catch (err) {
      opts.onEvent({
        type: 'notice',
        code: 'ZFLASH_NETBOOT_ROSTER_STALE',
        message: `The roster cannot be read now (${(err as Error).message}); serving the nodes it had.`,
      });
    }
    const hostname = byMac.get(mac);
    if (!hostname) return null;
    const { identity } = buildNodeIdentity({
      hostname,
      keys: opts.keys,
      roles: rolesOf(hostname),
      erase: opts.erase,
    });
    return { hostname, identity };
  };

  // mDNS: nodes whose identity went out are awaited; seen = installed and up.
  const awaiting = new Set<string>();
  const macOfHost = new Map<string, string>();
  const mdnsStop = new AbortController();
  let browse: Promise<void> | null = null;
  const startBrowse = () => {
    if (browse || opts.mdns === null) return;
    browse = browseNodes({
      wanted: () => [...awaiting],
      signal: mdnsStop.signal,
      // multicast-dns binds to `interface` (a unicast address, where no multicast arrives)
      // unless told otherwise: bind the wildcard, send and join the group on the interface.
      socket:
        opts.mdns ??
        (() => makeMdns({ interface: net.address, bind: '0.0.0.0' }) as unknown as MdnsSocket),
      onSighting: async ({ hostname, addresses }) => {
        if (!awaiting.delete(hostname)) return;
        await markOnline(opts.rosterPath, hostname, { addresses, now }).catch((err: unknown) =>
          opts.onEvent({
            type: 'notice',
            code: 'ZFLASH_NETBOOT_ROSTER_STALE',
            message: `${hostname} is online but the roster could not be updated: ${(err as Error).message}`,
          }),
        );
        const mac = macOfHost.get(hostname);
        if (mac) emitStep(mac, 'online', 'done', addresses[0] ?? null, addresses.join(' '));
      },
    }).catch((err: unknown) => {
      opts.onEvent({
        type: 'notice',
        code: 'ZFLASH_MDNS_FAILED',
        message: `Nodes coming online cannot be seen here: ${(err as Error).message} (zflash roster watch can do it later).`,
      });
    });
  };

  const onServer = (e: ServerEvent) => {
    if (e.type === 'script') {
      if (e.hostname === null) {
        const m = machines.get(e.mac) ?? {
          hostname: null,
          ip: e.ip,
          last: '',
          step: 'refused' as const,
        };
        m.step = 'refused';
        m.last = 'refused';
        m.hostname = null;
        machines.set(e.mac, m);
        ipToMac.set(e.ip, e.mac);
        opts.onEvent({ type: 'refused', mac: e.mac, ip: e.ip, at: now().toISOString() });
      } else emitStep(e.mac, 'script', 'done', e.ip, null, e.hostname);
    } else if (e.type === 'download') {
      const detail =
        e.state === 'failed' ? `${e.bytes} of ${e.total} bytes sent` : `${e.total} bytes`;
      emitStep(e.mac, e.file, e.state, e.ip, detail, e.hostname);
      if (e.file === 'identity' && e.state === 'done') {
        awaiting.add(e.hostname);
        macOfHost.set(e.hostname, e.mac);
        startBrowse();
      }
    } else {
      emitStep(e.mac, 'installer', 'done', e.ip, null, e.hostname);
    }
  };

  const onDnsmasq = (e: DnsmasqLogEvent) => {
    switch (e.kind) {
      case 'dhcp':
        return emitStep(e.mac, 'dhcp', 'done', null);
      case 'boot-file':
        return e.file === BOOT_SCRIPT
          ? emitStep(e.mac, 'ipxe', 'done', e.ip, 'iPXE asked for its script')
          : emitStep(e.mac, 'dhcp', 'done', e.ip, `firmware PXE: sent ${e.file}`);
      case 'tftp-sent': {
        const mac = ipToMac.get(e.ip);
        if (mac && !e.file.endsWith(BOOT_SCRIPT))
          emitStep(mac, 'ipxe', 'started', e.ip, `loading iPXE (${e.file.split('/').pop()})`);
        return;
      }
      case 'tftp-failed':
        opts.onEvent({
          type: 'notice',
          code: 'ZFLASH_NETBOOT_TFTP',
          message: `TFTP: ${e.message}`,
        });
        return;
      default:
        return;
    }
  };

  // From here on everything started is stopped in `finally`.
  let artifacts: Artifacts | null = null;
  let server: NetbootServer | null = null;
  let runtimeDir: string | null = null;
  let child: ChildProcess | null = null;
  let childExit: Promise<number | null> | null = null;
  try {
    artifacts = await openArtifacts(opts.artifactsDir);
    runtimeDir = await mkdtemp(join(opts.runtimeParent ?? tmpdir(), 'zflash-netboot-'));
    // dnsmasq reads the TFTP root after dropping to its own account.
    await chmod(runtimeDir, 0o755);
    const tftpRoot = join(runtimeDir, 'tftp');
    await mkdir(tftpRoot, { mode: 0o755 });
    const names = {
      bios: loaders.bios ? 'undionly.kpxe' : null,
      uefi: loaders.uefi ? (/snponly/.test(loaders.uefi) ? 'snponly.efi' : 'ipxe.efi') : null,
    };
    if (loaders.bios) await copyFile(loaders.bios, join(tftpRoot, names.bios!));
    if (loaders.uefi) await copyFile(loaders.uefi, join(tftpRoot, names.uefi!));

    try {
      server = await startNetbootServer({
        address: net.address,
        port: opts.port,
        artifacts,
        lookup,
        render: { createdAt },
        onEvent: onServer,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw ioError(
        'ZFLASH_NETBOOT_HTTP_FAILED',
        `The HTTP server cannot listen on ${net.address}:${opts.port}: ${code ?? (err as Error).message}.`,
        code === 'EADDRINUSE'
          ? 'Another program uses that port: give another with --port, or leave --port out for any free one.'
          : 'Ports below 1024 need root: use a port above 1024, or leave --port out.',
        { address: net.address, port: opts.port },
      );
    }
    await writeFile(join(tftpRoot, BOOT_SCRIPT), bootScript(server.base), { mode: 0o644 });
    const confFile = join(runtimeDir, 'dnsmasq.conf');
    await writeFile(
      confFile,
      dnsmasqConfig({
        interface: opts.interface,
        network: net.network,
        netmask: net.netmask,
        tftpRoot,
        biosLoader: names.bios,
        uefiLoader: names.uefi,
      }),
      { mode: 0o644 },
    );
    // Unprivileged first: a configuration dnsmasq refuses fails here, before any password prompt.
    const test = spawnSync(opts.dnsmasq.command, ['--test', `--conf-file=${confFile}`], {
      encoding: 'utf8',
    });
    if (test.error || test.status !== 0)
      throw dnsmasqError(
        `dnsmasq refused the configuration Zeta Flash wrote (${confFile}).`,
        `${test.error?.message ?? ''}${test.stderr ?? ''}${test.stdout ?? ''}`,
      );
    if (opts.signal.aborted) return summary(machines);

    const argv = [
      ...opts.dnsmasq.prefix,
      opts.dnsmasq.command,
      ...dnsmasqArgs({ confFile, user: opts.dnsmasq.user, group: opts.dnsmasq.group }),
    ];
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    childExit = new Promise<number | null>((res) => {
      // Also catches a SIGTERM refused while dnsmasq still runs as root (EPERM).
      proc.on('error', (err) => {
        output += `${err.message}\n`;
        if (proc.pid === undefined) res(null);
      });
      proc.once('close', (code) => res(code));
    });
    const ready = new Promise<boolean>((res) => {
      const lines = createInterface({ input: proc.stderr! });
      proc.stdout!.resume();
      lines.on('line', (line) => {
        output = `${output}${line}\n`.slice(-8000);
        const e = parseDnsmasqLine(line);
        if (!e) return;
        if (e.kind === 'ready') res(true);
        else onDnsmasq(e);
      });
      void childExit!.then(() => res(false));
    });
    const stopped = new Promise<'signal'>((res) => {
      if (opts.signal.aborted) res('signal');
      opts.signal.addEventListener('abort', () => res('signal'), { once: true });
    });
    const started = await Promise.race([ready, stopped]);
    if (started === 'signal') return summary(machines);
    if (!started) {
      const code = await childExit;
      throw dnsmasqError(
        `dnsmasq did not start (exit ${code ?? 'unknown'}): ${lastLine(output)}`,
        output,
      );
    }
    opts.onEvent({
      type: 'serving',
      interface: opts.interface,
      address: net.address,
      port: server.port,
      url: server.base,
      runtimeDir,
      loaders: names,
      nodes: [...byMac].map(([mac, hostname]) => ({ hostname, mac })),
    });
    const end = await Promise.race([stopped, childExit.then(() => 'exited' as const)]);
    if (end === 'exited')
      throw dnsmasqError(`dnsmasq stopped by itself: ${lastLine(output)}`, output);
    return summary(machines);
  } finally {
    mdnsStop.abort();
    if (child && childExit) await stopChild(child, childExit);
    await server?.close();
    await browse;
    await artifacts?.close();
    if (runtimeDir) await rm(runtimeDir, { recursive: true, force: true });
  }
}

const lastLine = (output: string): string =>
  output
    .trim()
    .split('\n')
    .pop()
    ?.replace(/^dnsmasq(-\w+)?(\[\d+\])?: /, '') ?? 'no output';

/** SIGTERM (dnsmasq ignores SIGINT), then SIGKILL if it has not gone after 5 s. */
async function stopChild(child: ChildProcess, exit: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exit;
  clearTimeout(timer);
}

function summary(machines: Map<string, Machine>): NetbootSummary {
  return {
    machines: [...machines].map(([mac, m]) => ({ mac, hostname: m.hostname, step: m.step })),
  };
}
