/**
 * Seeing nodes come up: an mDNS browser that matches what Avahi on a Zeta node publishes
 * (nixos/modules/common.nix: addresses and `_workstation._tcp`; sshd's `_ssh._tcp`;
 * roles.nix: `_zeta-node._tcp`) against the roster's hostnames.
 *
 * A node counts as seen when an A or AAAA record for `<hostname>.local` arrives, in an
 * answer or in the additional records Avahi attaches to service answers. Services whose
 * SRV target is a wanted host but that came without its address trigger an address query.
 * Avahi announces its records when it starts, so a node that boots while we listen shows up
 * unasked; for nodes already up the browser queries with the interval doubling from 1 s
 * (RFC 6762 §5.2) up to `maxIntervalMs`.
 *
 * multicast-dns (the packet layer bonjour-service is built on) is used directly because
 * the browse needs plain A queries for known hostnames, which service-level browsers do not
 * offer. mDNS answers are unauthenticated: "online" is a hint for the operator, never used
 * to decide anything about a drive or a key.
 */
import makeMdns from 'multicast-dns';
import { ioError } from '../errors.js';

type MdnsPacket = makeMdns.ResponsePacket;
type MdnsRecord = MdnsPacket['answers'][number];

/** The service types a Zeta node publishes, any of which identifies it. */
export const NODE_SERVICE_TYPES = [
  '_workstation._tcp.local',
  '_ssh._tcp.local',
  '_zeta-node._tcp.local',
] as const;

/** The subset of multicast-dns this module uses, so tests can hand in a fake. */
export interface MdnsSocket {
  on(event: 'response', listener: (packet: MdnsPacket) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  on(event: 'error' | 'warning', listener: (err: Error) => void): unknown;
  query(query: { questions: { name: string; type: 'A' | 'AAAA' | 'PTR' }[] }): void;
  destroy(cb?: () => void): void;
}

export interface MdnsSocketOptions {
  /** IPv4 address of the interface to use; all interfaces when absent. */
  readonly interface?: string;
  readonly port?: number;
}

export const openMdnsSocket = (opts: MdnsSocketOptions = {}): MdnsSocket =>
  makeMdns({
    // multicast-dns binds the socket to `interface` unless told otherwise, and on Linux a
    // socket bound to a unicast address never receives datagrams sent to 224.0.0.251: the
    // interface chooses the group membership and the outgoing queries; the socket listens on
    // the wildcard address.
    ...(opts.interface ? { interface: opts.interface, bind: '0.0.0.0' } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  }) as unknown as MdnsSocket;

const hostOf = (name: string): string | null => {
  const m = /^([^.]+)\.local\.?$/i.exec(name);
  return m ? m[1]!.toLowerCase() : null;
};

export interface PacketSightings {
  /** Wanted hostnames with the addresses the packet gave for them. */
  readonly seen: ReadonlyMap<string, readonly string[]>;
  /** Wanted hostnames named as a service's SRV target without an address in the packet. */
  readonly needAddress: readonly string[];
}

/** What one mDNS response says about the wanted hosts. Pure, for unit tests. */
export function sightingsIn(packet: MdnsPacket, wanted: ReadonlySet<string>): PacketSightings {
  const records: MdnsRecord[] = [...(packet.answers ?? []), ...(packet.additionals ?? [])];
  const seen = new Map<string, string[]>();
  const targets = new Set<string>();
  for (const r of records) {
    if ((r.type === 'A' || r.type === 'AAAA') && typeof r.data === 'string' && r.ttl !== 0) {
      const host = hostOf(r.name);
      if (host && wanted.has(host)) {
        const list = seen.get(host) ?? [];
        if (!list.includes(r.data)) list.push(r.data);
        seen.set(host, list);
      }
    } else if (r.type === 'SRV' && r.ttl !== 0) {
      const host = hostOf((r.data as { target?: string }).target ?? '');
      if (host && wanted.has(host)) targets.add(host);
    }
  }
  return { seen, needAddress: [...targets].filter((h) => !seen.has(h)) };
}

export interface NodeSighting {
  readonly hostname: string;
  readonly addresses: readonly string[];
}

export interface BrowseOptions {
  /** The hostnames still looked for; asked again before every query round. */
  readonly wanted: () => readonly string[];
  /** Awaited one at a time, in arrival order. A throw ends the browse with that error. */
  readonly onSighting: (s: NodeSighting) => void | Promise<void>;
  /** Stops the browse; browseNodes then resolves. */
  readonly signal: AbortSignal;
  readonly socket?: () => MdnsSocket;
  readonly firstIntervalMs?: number;
  readonly maxIntervalMs?: number;
  readonly onWarning?: (message: string) => void;
}

// Questions per packet: 20 names of up to 63+7 bytes stay well inside a 1500-byte frame.
const QUESTIONS_PER_PACKET = 20;

/** Browses until `signal` aborts. Rejects with ZFLASH_MDNS_FAILED when the socket cannot be used. */
export function browseNodes(opts: BrowseOptions): Promise<void> {
  const firstInterval = opts.firstIntervalMs ?? 1000;
  const maxInterval = opts.maxIntervalMs ?? 60_000;
  return new Promise<void>((resolve, reject) => {
    if (opts.signal.aborted) return resolve();
    let socket: MdnsSocket;
    try {
      socket = (opts.socket ?? openMdnsSocket)();
    } catch (err) {
      return reject(mdnsError(err));
    }
    let timer: NodeJS.Timeout | null = null;
    let interval = firstInterval;
    let chain = Promise.resolve();
    let finished = false;

    const finish = (err?: unknown) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      socket.destroy(() => (err ? reject(err) : resolve()));
    };
    const onAbort = () => {
      // Let sightings already being recorded finish, so the roster write is not cut short.
      chain.then(() => finish(), finish);
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });

    const send = (questions: { name: string; type: 'A' | 'AAAA' | 'PTR' }[]) => {
      for (let i = 0; i < questions.length; i += QUESTIONS_PER_PACKET)
        socket.query({ questions: questions.slice(i, i + QUESTIONS_PER_PACKET) });
    };
    const round = () => {
      if (finished) return;
      const wanted = opts.wanted();
      if (wanted.length > 0)
        send([
          ...NODE_SERVICE_TYPES.map((name) => ({ name, type: 'PTR' as const })),
          ...wanted.map((h) => ({ name: `${h}.local`, type: 'A' as const })),
        ]);
      timer = setTimeout(round, interval);
      interval = Math.min(interval * 2, maxInterval);
    };

    socket.on('error', (err) => finish(mdnsError(err)));
    socket.on('warning', (err) => opts.onWarning?.(err.message));
    socket.on('ready', round);
    socket.on('response', (packet) => {
      if (finished) return;
      const wanted = new Set(opts.wanted());
      const { seen, needAddress } = sightingsIn(packet, wanted);
      if (needAddress.length) send(needAddress.map((h) => ({ name: `${h}.local`, type: 'A' })));
      for (const [hostname, addresses] of seen) {
        chain = chain.then(() => opts.onSighting({ hostname, addresses }));
        chain.catch(finish);
      }
    });
  });
}

function mdnsError(err: unknown) {
  const e = err as NodeJS.ErrnoException;
  return ioError(
    'ZFLASH_MDNS_FAILED',
    `Zeta Flash cannot listen for nodes on the network (mDNS, UDP port 5353): ${e.code ?? e.message}.`,
    e.code === 'EADDRINUSE'
      ? 'Another program holds UDP port 5353 exclusively; stop it, or look for the nodes with avahi-browse.'
      : 'Check that this computer has a network connection and that a firewall allows mDNS.',
    { errno: e.code ?? null },
  );
}
