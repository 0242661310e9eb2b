import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ZflashError } from '../errors.js';
import { browseNodes, sightingsIn, type MdnsSocket } from './mdns.js';

type Packet = Parameters<typeof sightingsIn>[0];
const response = (answers: unknown[], additionals: unknown[] = []): Packet =>
  ({
    type: 'response',
    id: 0,
    flags: 0,
    questions: [],
    answers,
    additionals,
    authorities: [],
  }) as unknown as Packet;
const a = (name: string, data: string, ttl = 120) => ({ name, type: 'A', ttl, class: 'IN', data });

/** What Avahi sends for a `_workstation._tcp` query: PTR answer, SRV/TXT/A additionals. */
function avahiWorkstation(host: string, address: string): Packet {
  const instance = `${host} [52:54:00:12:34:56]._workstation._tcp.local`;
  return response(
    [{ name: '_workstation._tcp.local', type: 'PTR', ttl: 4500, data: instance }],
    [
      {
        name: instance,
        type: 'SRV',
        ttl: 120,
        data: { target: `${host}.local`, port: 9, priority: 0, weight: 0 },
      },
      { name: instance, type: 'TXT', ttl: 4500, data: [] },
      a(`${host}.local`, address),
      { name: `${host}.local`, type: 'AAAA', ttl: 120, data: 'fe80::5054:ff:fe12:3456' },
    ],
  );
}

describe('sightingsIn', () => {
  const wanted = new Set(['node-01', 'node-02']);

  it('finds a wanted host in service answers and their additional records', () => {
    const s = sightingsIn(avahiWorkstation('node-01', '192.0.2.11'), wanted);
    expect([...s.seen]).toEqual([['node-01', ['192.0.2.11', 'fe80::5054:ff:fe12:3456']]]);
    expect(s.needAddress).toEqual([]);
  });

  it('matches names case-insensitively, with or without the final dot', () => {
    const s = sightingsIn(response([a('NODE-02.local.', '192.0.2.12')]), wanted);
    expect([...s.seen.keys()]).toEqual(['node-02']);
  });

  it('ignores hosts not wanted, goodbye records (TTL 0) and other domains', () => {
    const s = sightingsIn(
      response([
        a('printer.local', '192.0.2.50'),
        a('node-01.local', '192.0.2.11', 0),
        a('node-02.example', '192.0.2.12'),
      ]),
      wanted,
    );
    expect(s.seen.size).toBe(0);
  });

  it('asks for the address of a wanted SRV target that came without one', () => {
    const s = sightingsIn(
      response(
        [],
        [
          {
            name: 'x._ssh._tcp.local',
            type: 'SRV',
            ttl: 120,
            data: { target: 'node-02.local', port: 22 },
          },
        ],
      ),
      wanted,
    );
    expect(s.needAddress).toEqual(['node-02']);
  });
});

class FakeSocket extends EventEmitter {
  queries: { name: string; type: string }[][] = [];
  destroyed = false;
  query(q: { questions: { name: string; type: string }[] }) {
    this.queries.push(q.questions);
  }
  destroy(cb?: () => void) {
    this.destroyed = true;
    cb?.();
  }
}

afterEach(() => vi.useRealTimers());

describe('browseNodes', () => {
  it('queries the node services and wanted hosts, doubling the interval, and reports each sighting', async () => {
    vi.useFakeTimers();
    const sock = new FakeSocket();
    const stop = new AbortController();
    const seen: string[] = [];
    let wanted = ['node-01', 'node-02'];
    const done = browseNodes({
      wanted: () => wanted,
      signal: stop.signal,
      socket: () => sock as unknown as MdnsSocket,
      onSighting: async (s) => {
        seen.push(`${s.hostname} ${s.addresses.join(' ')}`);
        wanted = wanted.filter((h) => h !== s.hostname);
      },
    });
    sock.emit('ready');
    expect(sock.queries).toHaveLength(1);
    expect(sock.queries[0]).toEqual([
      { name: '_workstation._tcp.local', type: 'PTR' },
      { name: '_ssh._tcp.local', type: 'PTR' },
      { name: '_zeta-node._tcp.local', type: 'PTR' },
      { name: 'node-01.local', type: 'A' },
      { name: 'node-02.local', type: 'A' },
    ]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sock.queries).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(sock.queries).toHaveLength(2); // the next round waits 2 s, not 1 s
    await vi.advanceTimersByTimeAsync(1);
    expect(sock.queries).toHaveLength(3);

    sock.emit('response', avahiWorkstation('node-01', '192.0.2.11'));
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(['node-01 192.0.2.11 fe80::5054:ff:fe12:3456']);
    await vi.advanceTimersByTimeAsync(4000);
    expect(sock.queries.at(-1)?.map((q) => q.name)).toContain('node-02.local');
    expect(sock.queries.at(-1)?.map((q) => q.name)).not.toContain('node-01.local');

    stop.abort();
    await done;
    expect(sock.destroyed).toBe(true);
  });

  it('ends with ZFLASH_MDNS_FAILED when the socket cannot bind', async () => {
    const sock = new FakeSocket();
    const done = browseNodes({
      wanted: () => ['node-01'],
      signal: new AbortController().signal,
      socket: () => sock as unknown as MdnsSocket,
      onSighting: () => undefined,
    });
    sock.emit('error', Object.assign(new Error('bind EADDRINUSE'), { code: 'EADDRINUSE' }));
    const err = await done.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ZflashError);
    expect((err as ZflashError).code).toBe('ZFLASH_MDNS_FAILED');
    expect(sock.destroyed).toBe(true);
  });

  it('ends with the error of a sighting that could not be recorded', async () => {
    const sock = new FakeSocket();
    const done = browseNodes({
      wanted: () => ['node-01'],
      signal: new AbortController().signal,
      socket: () => sock as unknown as MdnsSocket,
      onSighting: () => {
        throw new Error('roster locked');
      },
    });
    sock.emit('response', response([a('node-01.local', '192.0.2.11')]));
    await expect(done).rejects.toThrow('roster locked');
  });
});
