// Nodes coming online, for real: mDNS over a network namespace this test creates, where
// Avahi stand-ins (test/roster/mdns-responder.mjs) announce node-NN.local and the built
// `zflash roster watch` listens. The namespace has only its own loopback (multicast switched
// on, 224.0.0.0/4 routed to it): no packet can leave the machine. Without the right to
// create namespaces the suite is reported skipped, never passed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rosterEventSchema, rosterSchema, type RosterEvent } from '../app/roster/schema.js';
import { tempDir, ZFLASH_BIN } from './fixtures.js';

const RECORD = new URL('./roster/record.mjs', import.meta.url).pathname;
const RESPONDER = new URL('./roster/mdns-responder.mjs', import.meta.url).pathname;
const NS = `zflash-mdns-${process.pid}`;

function ip(args: string[]): { ok: boolean; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, err: r.error ? r.error.message : r.stderr.trim() };
}

/** Creates the namespace now; returns why it cannot be used, or null. */
function setUpNamespace(): string | null {
  const add = ip(['netns', 'add', NS]);
  if (!add.ok) return `cannot create a network namespace: ${add.err}`;
  for (const args of [
    ['-n', NS, 'link', 'set', 'lo', 'up'],
    ['-n', NS, 'link', 'set', 'lo', 'multicast', 'on'],
    ['-n', NS, 'route', 'add', '224.0.0.0/4', 'dev', 'lo'],
  ]) {
    const r = ip(args);
    if (!r.ok) {
      ip(['netns', 'del', NS]);
      return `cannot set up multicast in the namespace: ${r.err}`;
    }
  }
  return null;
}

const unavailable = setUpNamespace();
afterAll(() => {
  if (!unavailable) ip(['netns', 'del', NS]);
});

/** A process inside the namespace (`ip netns exec` execs it: the pid is the program's). */
function inNs(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', NS, process.execPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

let tmp: ReturnType<typeof tempDir>;
let path: string;
let children: ChildProcess[] = [];
beforeEach(() => {
  tmp = tempDir('zflash-mdns-');
  path = join(tmp.path, 'roster.json');
});
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) =>
      c.exitCode === null && c.signalCode === null
        ? new Promise((res) => c.once('close', res))
        : null,
    ),
  );
  children = [];
  tmp.cleanup();
});

function seed(prefix: string, count: number) {
  const r = spawnSync(process.execPath, [RECORD, path, prefix, String(count)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
}

async function responder(host: string, address: string, mode: 'answer' | 'announce') {
  const child = inNs([RESPONDER, host, address, mode]);
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((res, rej) => {
    lines.once('line', (l) => (l === 'ready' ? res() : rej(new Error(l))));
    child.once('close', (code) => rej(new Error(`responder exited ${code}`)));
  });
}

interface Watch {
  child: ChildProcess;
  events: RosterEvent[];
  stdout: string;
  stderr: string;
  /** Resolves with the first event of this type. */
  next(type: RosterEvent['type']): Promise<RosterEvent>;
  exit: Promise<number | null>;
}

function watch(args: string[]): Watch {
  const child = inNs([ZFLASH_BIN, 'roster', 'watch', ...args], { ZFLASH_ROSTER: path });
  children.push(child);
  const w: Watch = {
    child,
    events: [],
    stdout: '',
    stderr: '',
    next: (type) =>
      new Promise((res, rej) => {
        const found = () => w.events.find((e) => e.type === type);
        const hit = found();
        if (hit) return res(hit);
        lines.on('line', () => {
          const e = found();
          if (e) res(e);
        });
        child.once('close', () =>
          found() ? res(found()!) : rej(new Error(`no ${type}: ${w.stderr}`)),
        );
      }),
    exit: new Promise((res) => child.once('close', (code) => res(code))),
  };
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (l) => {
    w.stdout += `${l}\n`;
    if (args.includes('--json')) w.events.push(rosterEventSchema.parse(JSON.parse(l)));
  });
  child.stderr!.on('data', (d: Buffer) => (w.stderr += d.toString()));
  return w;
}

const nodesOnDisk = () =>
  Object.fromEntries(
    rosterSchema.parse(JSON.parse(readFileSync(path, 'utf8'))).nodes.map((n) => [n.hostname, n]),
  );

describe.skipIf(unavailable !== null)(
  `roster watch over mDNS in a network namespace${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    it('a node that is already up answers; the roster flips to online with its address', async () => {
      seed('node', 1);
      await responder('node-01', '127.0.1.1', 'answer');
      const w = watch(['--json', '--timeout', '60']);
      expect(await w.exit).toBe(0);
      expect(w.events.map((e) => e.type)).toEqual(['watching', 'online', 'done']);
      expect(w.events[1]).toMatchObject({
        hostname: 'node-01',
        address: '127.0.1.1',
        seenBefore: false,
      });
      expect(w.events[2]).toEqual({ type: 'done', reason: 'all-online', waiting: [] });
      const node = nodesOnDisk()['node-01']!;
      expect(node.status).toBe('online');
      expect(node.online).toMatchObject({ address: '127.0.1.1', addresses: ['127.0.1.1'] });
      expect(Date.parse(node.online!.firstSeen)).toBeGreaterThan(Date.parse(node.flashedAt) - 1);
    });

    it('--interface ADDR listens on that interface and still hears the node', async () => {
      seed('node', 1);
      await responder('node-01', '127.0.1.1', 'answer');
      const w = watch(['--json', '--timeout', '60', '--interface', '127.0.0.1']);
      expect(await w.exit, w.stderr).toBe(0);
      expect(w.events.map((e) => e.type)).toEqual(['watching', 'online', 'done']);
      expect(nodesOnDisk()['node-01']!.status).toBe('online');
    });

    it('a node that boots while we listen is seen from its own announcement', async () => {
      seed('node', 2);
      await responder('node-01', '127.0.1.1', 'answer');
      await responder('node-02', '127.0.1.2', 'announce');
      const w = watch(['--json', '--timeout', '60']);
      expect(await w.exit).toBe(0);
      const online = w.events.filter((e) => e.type === 'online');
      expect(online.map((e) => e.type === 'online' && [e.hostname, e.address]).sort()).toEqual([
        ['node-01', '127.0.1.1'],
        ['node-02', '127.0.1.2'],
      ]);
      expect(nodesOnDisk()['node-02']!.online?.address).toBe('127.0.1.2');
    });

    it('--timeout ends the watch with exit 3 and the nodes still missing; the roster keeps them as flashed', async () => {
      seed('node', 2);
      await responder('node-01', '127.0.1.1', 'answer');
      const w = watch(['--timeout', '3']);
      expect(await w.exit).toBe(3);
      expect(w.stdout).toContain('node-01 is online at 127.0.1.1: ssh zeta@node-01.local');
      expect(w.stderr).toContain('node-02 did not come online within 3 s');
      expect(w.stderr).toContain('code: ZFLASH_WATCH_TIMEOUT');
      const nodes = nodesOnDisk();
      expect(nodes['node-01']!.status).toBe('online');
      expect(nodes['node-02']!.status).toBe('flashed');
      expect(nodes['node-02']!.online).toBeNull();
    });

    it('Ctrl-C stops the watch cleanly (exit 0, done: stopped)', async () => {
      seed('node', 1);
      const w = watch(['--json']);
      await w.next('watching');
      w.child.kill('SIGINT');
      expect(await w.exit).toBe(0);
      expect(w.events.at(-1)).toEqual({ type: 'done', reason: 'stopped', waiting: ['node-01'] });
      expect(nodesOnDisk()['node-01']!.status).toBe('flashed');
    });
  },
);
