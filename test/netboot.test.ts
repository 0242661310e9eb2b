/**
 * Network boot end to end, for real: in network namespaces this test creates (a bridge, a
 * "router" namespace running the network's ordinary DHCP server, tap devices for the VMs),
 * the built `zflash netboot serve` runs dnsmasq (proxy DHCP + TFTP) and its HTTP server, and
 * QEMU (TCG) PXE-boots two machines through QEMU's iPXE ROM:
 *   - a roster node's MAC: boot.ipxe over TFTP → its script over HTTP → the kernel with our
 *     command line and both initrds; the stand-in initrd prints /zeta/* and the command line
 *     on the serial console and powers off;
 *   - an unknown MAC: the refusal script, and nothing else.
 * The artifacts are stand-ins in the NixOS layout: a kernel Debian ships as bzImage, a
 * busybox-static initrd made here, a netboot.ipxe naming its init. The namespaces have no
 * route out: no packet leaves them. Without root or a prerequisite the suite is reported
 * skipped; as root (CI, where .ci/run installs them) a missing prerequisite fails it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rosterSchema } from '../app/roster/schema.js';
import type { NetbootEvent } from '../app/netboot/session.js';
import { netbootLineSchema } from '../app/netboot/wire.js';
import {
  buildNixosIso,
  espOffsetBySfdisk,
  mtype,
  run,
  tempDir,
  zflash,
  ZFLASH_BIN,
} from './fixtures.js';

const RECORD = new URL('./roster/record.mjs', import.meta.url).pathname;
const RESPONDER = new URL('./roster/mdns-responder.mjs', import.meta.url).pathname;
const NS = `zfnb-${process.pid}`;
const RTR = `zfnbr-${process.pid}`;
const CLI = `zfnbc-${process.pid}`;
const NET = '10.231.0';
const NODE_MAC = '52:54:00:00:00:07';
const STRANGER_MAC = '52:54:00:00:00:99';
const INIT = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-standin/init';
const isRoot = process.getuid?.() === 0;

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const kernelImage = () =>
  existsSync('/boot')
    ? readdirSync('/boot')
        .filter((f) => /^vmlinuz-/.test(f))
        .map((f) => `/boot/${f}`)[0]
    : undefined;
const NIC_ROM = ['/usr/lib/ipxe/qemu/pxe-e1000.rom', '/usr/lib/ipxe/qemu/efi-e1000.rom'].find((p) =>
  existsSync(p),
);

function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (!isRoot) missing.push('root (network namespaces, tap devices)');
  for (const c of ['ip', 'qemu-system-x86_64', 'cpio', 'busybox', 'ssh-keygen'])
    if (!have(c)) missing.push(c);
  if (!existsSync('/usr/sbin/dnsmasq')) missing.push('dnsmasq (dnsmasq-base)');
  if (!existsSync('/usr/lib/ipxe/undionly.kpxe')) missing.push('ipxe (undionly.kpxe)');
  if (!NIC_ROM) missing.push('ipxe-qemu (the e1000 iPXE ROM)');
  if (!kernelImage()) missing.push('a Debian kernel in /boot (linux-image-cloud-amd64)');
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun');
  // busybox-static: the stand-in initrd has no libraries, so no dynamic loader may be named.
  if (have('busybox') && readFileSync('/bin/busybox').includes('/ld-linux'))
    missing.push('busybox-static');
  return missing;
}

const missing = missingPrerequisites();
const tmp = tempDir('zflash-netboot-e2e-');
const children: ChildProcess[] = [];

function ip(args: string[]): void {
  run('ip', args);
}
function inNs(ns: string, cmd: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}
const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve(c.exitCode)
    : new Promise<number | null>((res) => c.once('close', (code) => res(code)));

/** The stand-in artifacts, in the layout `nix build ./nixos#netboot` leaves. */
function buildArtifacts(dir: string): void {
  const root = join(tmp.path, 'standin-root');
  for (const d of ['bin', 'dev', 'proc', 'zeta']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  run('mknod', [join(root, 'dev/console'), 'c', '5', '1']);
  // Stage 1 of the stand-in: what the node received, on the serial console, then power off.
  writeFileSync(
    join(root, 'init'),
    [
      '#!/bin/busybox sh',
      '/bin/busybox mount -t proc proc /proc',
      'echo',
      'echo "STANDIN-CMDLINE $(/bin/busybox cat /proc/cmdline)"',
      'for f in /zeta/*; do echo "STANDIN-BEGIN $f"; /bin/busybox cat "$f"; echo "STANDIN-END $f"; done',
      'echo STANDIN-DONE',
      '/bin/busybox poweroff -f',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  mkdirSync(dir);
  run('sh', ['-c', `cd '${root}' && find . | cpio -o -H newc --quiet -O '${join(dir, 'initrd')}'`]);
  copyFileSync(kernelImage()!, join(dir, 'bzImage'));
  // As nixpkgs writes it; panic=-1 turns a failed boot into a quick QEMU exit (-no-reboot).
  writeFileSync(
    join(dir, 'netboot.ipxe'),
    `#!ipxe\nkernel bzImage init=${INIT} initrd=initrd console=ttyS0,115200n8 panic=-1 loglevel=4 \${cmdline}\ninitrd initrd\nboot\n`,
  );
}

const events: NetbootEvent[] = [];
let serve: ChildProcess;
let serveStderr = '';
let rosterPath: string;
let keyPub: string;
const waiters: (() => void)[] = [];
function until<T>(find: () => T | undefined, what: string, child?: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = find();
      if (hit !== undefined) {
        resolve(hit);
        return true;
      }
      return false;
    };
    if (check()) return;
    const w = () => {
      if (check()) waiters.splice(waiters.indexOf(w), 1);
    };
    waiters.push(w);
    (child ?? serve).once('close', () => {
      if (!check()) reject(new Error(`no ${what}; stderr: ${serveStderr}`));
    });
  });
}
const poke = () => [...waiters].forEach((w) => w());

function qemu(mac: string, tap: string, serial: string): ChildProcess {
  return inNs(NS, 'timeout', [
    '300',
    'qemu-system-x86_64',
    '-accel',
    'tcg',
    '-m',
    '384',
    '-nographic',
    '-monitor',
    'none',
    '-serial',
    `file:${serial}`,
    '-netdev',
    `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device',
    `e1000,netdev=n0,mac=${mac},romfile=${NIC_ROM}`,
    '-boot',
    'n',
    '-no-reboot',
  ]);
}
const serialText = (p: string) =>
  existsSync(p)
    ? readFileSync(p, 'latin1')
        .replace(/\r/g, '')
        .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '')
    : '';

describe.skipIf(missing.length > 0 && !isRoot)('zflash netboot serve, end to end in QEMU', () => {
  beforeAll(async () => {
    if (missing.length) throw new Error(`prerequisites missing: ${missing.join(', ')}`);
    const artifacts = join(tmp.path, 'result');
    buildArtifacts(artifacts);
    keyPub = join(tmp.path, 'id_ed25519.pub');
    run('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'ops@laptop',
      '-f',
      keyPub.replace(/\.pub$/, ''),
    ]);
    rosterPath = join(tmp.path, 'roster.json');
    run(process.execPath, [RECORD, rosterPath, 'node', '8', 'worker']);
    const set = zflash(['roster', 'set', 'node-07', '--mac', NODE_MAC, '--roster', rosterPath]);
    expect(set.code, set.stderr).toBe(0);

    // The serving computer's namespace: a bridge with the address, taps for the VMs; a
    // router namespace on the same bridge; no default route anywhere.
    ip(['netns', 'add', NS]);
    ip(['netns', 'add', RTR]);
    ip(['netns', 'add', CLI]);
    for (const args of [
      ['-n', NS, 'link', 'set', 'lo', 'up'],
      ['-n', NS, 'link', 'add', 'br0', 'type', 'bridge'],
      ['-n', NS, 'addr', 'add', `${NET}.2/24`, 'dev', 'br0'],
      ['-n', NS, 'link', 'set', 'br0', 'up'],
      ['-n', NS, 'route', 'add', '224.0.0.0/4', 'dev', 'br0'],
      ['-n', NS, 'link', 'add', 'rtrp', 'type', 'veth', 'peer', 'name', 'rtr0', 'netns', RTR],
      ['-n', NS, 'link', 'set', 'rtrp', 'master', 'br0', 'up'],
      ['-n', RTR, 'addr', 'add', `${NET}.1/24`, 'dev', 'rtr0'],
      ['-n', RTR, 'link', 'set', 'rtr0', 'up'],
      ['-n', NS, 'link', 'add', 'clip', 'type', 'veth', 'peer', 'name', 'cli0', 'netns', CLI],
      ['-n', NS, 'link', 'set', 'clip', 'master', 'br0', 'up'],
      ['-n', CLI, 'link', 'set', 'cli0', 'up'],
      ['-n', NS, 'tuntap', 'add', 'tap0', 'mode', 'tap'],
      ['-n', NS, 'link', 'set', 'tap0', 'master', 'br0', 'up'],
      ['-n', NS, 'tuntap', 'add', 'tap1', 'mode', 'tap'],
      ['-n', NS, 'link', 'set', 'tap1', 'master', 'br0', 'up'],
    ])
      ip(args);

    serve = inNs(NS, process.execPath, [
      ZFLASH_BIN,
      'netboot',
      'serve',
      '--artifacts',
      artifacts,
      '--interface',
      'br0',
      '--ssh-key',
      keyPub,
      '--roster',
      rosterPath,
      '--json',
    ]);
    serve.stderr!.on('data', (d: Buffer) => (serveStderr += d.toString()));
    createInterface({ input: serve.stdout! }).on('line', (l) => {
      // Every line must be a documented one (app/netboot/wire.ts).
      netbootLineSchema.parse(JSON.parse(l));
      events.push(JSON.parse(l) as NetbootEvent);
      poke();
    });
    await until(() => events.find((e) => e.type === 'serving'), 'serving event');
  }, 120_000);

  afterAll(async () => {
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null) c.kill(c === serve ? 'SIGINT' : 'SIGTERM');
    await Promise.all(children.map(exited));
    for (const ns of [NS, RTR, CLI]) spawnSync('ip', ['netns', 'del', ns]);
    tmp.cleanup();
  }, 60_000);

  it('dnsmasq runs unprivileged, on the bridge only, and hands out no address', async () => {
    const ss = run('ip', ['netns', 'exec', NS, 'ss', '-ulpnH']);
    const pid = /dnsmasq",pid=(\d+)/.exec(ss)?.[1];
    expect(pid, ss).toBeDefined();
    const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    expect(Number(uid?.[1])).not.toBe(0);
    expect(Number(uid?.[2])).not.toBe(0);
    const sockets = ss.split('\n').filter((l) => l.includes('dnsmasq'));
    expect(sockets.length).toBeGreaterThan(0);
    for (const s of sockets) expect(s).toMatch(/%br0:|10\.231\.0\.2:|\]%br0:/);
    expect(ss).not.toMatch(/127\.0\.0\.1:69\b/);
    // A DHCP client on the bridge, the router not started yet: only our dnsmasq could answer.
    const plain = spawnSync('ip', [
      'netns',
      'exec',
      CLI,
      'busybox',
      'udhcpc',
      '-i',
      'cli0',
      '-n',
      '-q',
      '-f',
      '-t',
      '3',
      '-T',
      '1',
      '-s',
      '/bin/true',
    ]);
    const pxe = spawnSync('ip', [
      'netns',
      'exec',
      CLI,
      'busybox',
      'udhcpc',
      '-i',
      'cli0',
      '-n',
      '-q',
      '-f',
      '-t',
      '3',
      '-T',
      '1',
      '-s',
      '/bin/true',
      '-V',
      'PXEClient:Arch:00000:UNDI:002001',
    ]);
    expect(plain.status).not.toBe(0);
    expect(pxe.status).not.toBe(0);
    // The router's DHCP server: the same client now gets an address (the check above can fail).
    inNs(RTR, '/usr/sbin/dnsmasq', [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=rtr0',
      '--bind-interfaces',
      `--dhcp-range=${NET}.100,${NET}.150,1h`,
      `--dhcp-leasefile=${join(tmp.path, 'router.leases')}`,
      '--log-facility=-',
      '--pid-file=',
      '--user=nobody',
      '--group=nogroup',
    ]);
    let got = 1;
    for (let i = 0; i < 5 && got !== 0; i++)
      got =
        spawnSync('ip', [
          'netns',
          'exec',
          CLI,
          'busybox',
          'udhcpc',
          '-i',
          'cli0',
          '-n',
          '-q',
          '-f',
          '-t',
          '3',
          '-T',
          '1',
          '-s',
          '/bin/true',
        ]).status ?? 1;
    expect(got).toBe(0);
  }, 120_000);

  it('a roster MAC boots through iPXE and our script into the kernel with our command line and both initrds; an unknown MAC gets the refusal only', async () => {
    const nodeSerial = join(tmp.path, 'node.serial');
    const strangerSerial = join(tmp.path, 'stranger.serial');
    const stranger = qemu(STRANGER_MAC, 'tap1', strangerSerial);
    const vm = qemu(NODE_MAC, 'tap0', nodeSerial);
    const code = await exited(vm);
    const out = serialText(nodeSerial);
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toContain("Zeta netboot: asking for this machine's script");
    expect(out).toContain(`Zeta netboot: installing node node-07 (${NODE_MAC})`);
    const cmdline = /STANDIN-CMDLINE (.*)$/m.exec(out)?.[1] ?? '';
    const args = cmdline.trim().split(/\s+/);
    expect(args, out.slice(-3000)).toContain(`init=${INIT}`);
    expect(args).toContain('zeta.hostname=node-07');
    expect(args).toEqual(
      expect.arrayContaining(['initrd=initrd', 'initrd=zeta.cpio', 'console=ttyS0,115200n8']),
    );
    expect(args.some((a) => a.includes('${'))).toBe(false);
    const file = (name: string) =>
      new RegExp(`^STANDIN-BEGIN /zeta/${name}\\n([\\s\\S]*?)STANDIN-END /zeta/${name}$`, 'm').exec(
        out,
      )?.[1];
    expect(file('zeta-hostname.txt')).toBe('node-07\n');
    expect(file('zeta-authorized-keys.pub')).toBe(readFileSync(keyPub, 'utf8').trim() + '\n');
    const manifest = JSON.parse(file('zeta-node.json') ?? 'null');
    expect(manifest).toMatchObject({
      schema: 2,
      hostname: 'node-07',
      roles: ['worker'],
      wifi: null,
      passwordHash: null,
    });

    // The stranger: the refusal on its screen, then it waits.
    await until(
      () =>
        serialText(strangerSerial).includes('Press a key to boot from the next device')
          ? true
          : undefined,
      'refusal on the stranger',
      stranger,
    );
    const sOut = serialText(strangerSerial);
    expect(sOut).toContain('THIS MACHINE IS NOT IN THE ROSTER');
    expect(sOut).toContain(`MAC address: ${STRANGER_MAC}`);
    await until(
      () => events.find((e) => e.type === 'refused' && e.mac === STRANGER_MAC),
      'refused event',
    );
    const strangerSteps = events
      .filter((e) => e.type === 'step' && e.mac === STRANGER_MAC)
      .map((e) => (e as { step: string }).step);
    expect(
      strangerSteps.every((s) => s === 'dhcp' || s === 'ipxe'),
      strangerSteps.join(),
    ).toBe(true);
    expect(sOut).not.toMatch(/\/kernel\.\.\.|\/initrd\.\.\.|\/identity\.\.\./);
    stranger.kill('SIGTERM');

    // The node's progress, in order.
    const steps = events
      .filter((e) => e.type === 'step' && e.mac === NODE_MAC && e.state !== 'started')
      .map((e) => (e as { step: string }).step);
    expect(steps).toEqual(['dhcp', 'ipxe', 'script', 'kernel', 'initrd', 'identity']);
    const nodeEvents = events.filter((e) => e.type === 'step' && e.mac === NODE_MAC);
    expect(
      nodeEvents.every(
        (e) =>
          (e as { hostname: string | null }).hostname === 'node-07' ||
          (e as { step: string }).step === 'dhcp',
      ),
    ).toBe(true);

    // The live installer's report (netboot.nix POSTs to zeta.report=), from inside the namespace.
    const report = args.find((a) => a.startsWith('zeta.report='))!.slice('zeta.report='.length);
    run('ip', [
      'netns',
      'exec',
      NS,
      process.execPath,
      '-e',
      `fetch(${JSON.stringify(report)},{method:'POST'}).then(r=>process.exit(r.ok?0:1))`,
    ]);
    await until(
      () => events.find((e) => e.type === 'step' && e.step === 'installer' && e.mac === NODE_MAC),
      'installer step',
    );
  }, 300_000);

  it('the identity initrd served is a newc cpio holding what zflash writes onto a stick', () => {
    const serving = events.find((e) => e.type === 'serving') as Extract<
      NetbootEvent,
      { type: 'serving' }
    >;
    const served = join(tmp.path, 'served.cpio');
    run('ip', [
      'netns',
      'exec',
      NS,
      process.execPath,
      '-e',
      `fetch(${JSON.stringify(`${serving.url}/node/52-54-00-00-00-07/identity`)}).then(r=>r.arrayBuffer()).then(b=>require('fs').writeFileSync(${JSON.stringify(served)},Buffer.from(b)))`,
    ]);
    const listed = run('sh', ['-c', `cpio -t --quiet < '${served}'`])
      .trim()
      .split('\n');
    expect(listed).toEqual([
      'zeta',
      'zeta/zeta-authorized-keys.pub',
      'zeta/zeta-hostname.txt',
      'zeta/zeta-node.json',
    ]);
    const x = join(tmp.path, 'unpacked');
    mkdirSync(x);
    run('sh', ['-c', `cd '${x}' && cpio -idm --quiet < '${served}'`]);
    // The stick for the same node, written by the real `zflash inject`.
    const iso = buildNixosIso(join(tmp.path, 'stick.iso'));
    const inj = zflash([
      'inject',
      iso,
      '--host',
      'node-07',
      '--ssh-key',
      keyPub,
      '--role',
      'worker',
    ]);
    expect(inj.code, inj.stderr).toBe(0);
    const { offset } = espOffsetBySfdisk(iso);
    for (const f of ['zeta-authorized-keys.pub', 'zeta-hostname.txt'])
      expect(readFileSync(join(x, 'zeta', f), 'utf8'), f).toBe(mtype(iso, offset, f));
    const net = JSON.parse(readFileSync(join(x, 'zeta', 'zeta-node.json'), 'utf8'));
    const stick = JSON.parse(mtype(iso, offset, 'zeta-node.json'));
    // The same manifest; only the time it was made differs (inject stamps its own).
    expect({ ...net, createdAt: null }).toEqual({ ...stick, createdAt: null });
  }, 120_000);

  it('the roster flips to online when the node answers mDNS, and Ctrl-C stops everything', async () => {
    inNs(NS, process.execPath, [RESPONDER, 'node-07', `${NET}.107`, 'answer']);
    await until(
      () => events.find((e) => e.type === 'step' && e.step === 'online' && e.mac === NODE_MAC),
      'online step',
    );
    const node = rosterSchema
      .parse(JSON.parse(readFileSync(rosterPath, 'utf8')))
      .nodes.find((n) => n.hostname === 'node-07');
    expect(node?.status).toBe('online');
    expect(node?.online?.address).toBe(`${NET}.107`);
    expect(node?.mac).toBe(NODE_MAC);

    const serving = events.find((e) => e.type === 'serving') as Extract<
      NetbootEvent,
      { type: 'serving' }
    >;
    serve.kill('SIGINT');
    expect(await exited(serve)).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'stopped' });
    expect(existsSync(serving.runtimeDir)).toBe(false);
    const ss = run('ip', ['netns', 'exec', NS, 'ss', '-ulpntH']);
    expect(ss).not.toMatch(/dnsmasq|:67\b|:69\b|:4011\b/);
    expect(ss).not.toContain(`:${serving.port}`);
  }, 120_000);
});
