/**
 * Several sticks at once (issue 11), end to end on real loop block devices: the built CLI
 * and the privileged helper it starts (verb `write-many`), judged per stick by mtools,
 * fsck.fat and a byte-for-byte comparison with the image overlaid for that stick's node.
 * Then what goes wrong: a fake-capacity stick among good ones, Ctrl-C mid-write, the same
 * drive named twice, a forged job, a drive the helper's re-check refuses.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlashEvent } from '../app/flash/events.js';
import { computeImagePatch } from '../app/flash/overlay.js';
import { eachDrive, prepareFlashMany, runFlashMany } from '../app/api/plan.js';
import { idleSession, reduce, type FlashSession } from '../app/flash/session.js';
import type { WriteManyJobRequest } from '../app/helper/protocol.js';
import { probeImage } from '../app/image/image-source.js';
import { buildNodeIdentity, readSshKeyFile, type NodeIdentity } from '../app/node/index.js';
import { renderPayload } from '../app/payload/render.js';
import { flashRecordFor, openRoster, recordFlash } from '../app/roster/index.js';
import {
  attachLoop,
  buildNixosIso,
  equalOutside,
  espOffsetBySfdisk,
  extractRange,
  fsckClean,
  mtype,
  requireLoop,
  run,
  sha256,
  tempDir,
  type Loop,
  zflashWithin,
  ZFLASH_BIN as BIN,
} from './fixtures.js';
import { cliLines } from './json-lines.js';

const HELPER = new URL('../dist/app/helper/entry.js', import.meta.url).pathname;
const PTY = new URL('./tools/pty-answer.py', import.meta.url).pathname;
const MiB = 1024 * 1024;
const tmp = tempDir();
const loops: Loop[] = [];
const mounts: string[] = [];
const env = { ZFLASH_ALLOW_LOOP: '1' };
/** A hang (a stick holding the others back forever) becomes a failure, not a stuck run. */
const zflash = (args: string[]) => zflashWithin(args, env, 120_000);
const helper = { env: process.env, helperCommand: [process.execPath, HELPER] };

let iso: string;
/** Larger than the shared window (16 MiB), so only sticks reading through it drain it. */
let mid: string;
let key: string;

/** A loop device over a new file of `mib` MiB filled with a pattern (so "untouched" is checkable). */
function stick(name: string, mib = 48): { loop: Loop; file: string } {
  const file = `${tmp.path}/${name}`;
  writeFileSync(file, Buffer.alloc(mib * MiB, 0xa5));
  const loop = attachLoop(file);
  loops.push(loop);
  return { loop, file };
}

function readDevice(dev: string, length: number, offset = 0): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(dev, 'r');
  try {
    readSync(fd, out, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

const untouched = (dev: string) => readDevice(dev, MiB).every((b) => b === 0xa5);

async function identity(hostname: string): Promise<NodeIdentity> {
  const { keys } = await readSshKeyFile(`${key}.pub`);
  return buildNodeIdentity({ hostname, keys }).identity;
}

/** The image with the ESP patch the helper computes for `hostname` at `createdAt`. */
async function expectedBytes(image: string, raw: string, hostname: string, createdAt: string) {
  const when = new Date(createdAt);
  const patch = await computeImagePatch(
    await probeImage(image),
    renderPayload(await identity(hostname), { createdAt: when, imageSha256: null }),
    { now: when },
  );
  const bytes = readFileSync(raw);
  for (const e of patch.extents) e.data.copy(bytes, e.offset);
  return bytes;
}

/** Every helper process running now (none must outlive a test). */
function helperPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(HELPER);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const flashArgs = (image: string, devices: string[]) => [
  'flash',
  image,
  ...devices.flatMap((d) => ['--drive', d]),
  '--ssh-key',
  `${key}.pub`,
  '--yes',
];

/** Judges one stick: its hostname (mtools), every byte against its own overlaid image, fsck. */
async function judge(device: string, hostname: string, image = iso, raw = iso) {
  const esp = espOffsetBySfdisk(raw);
  expect(mtype(device, esp.offset, 'zeta-hostname.txt')).toBe(`${hostname}\n`);
  const manifest = JSON.parse(mtype(device, esp.offset, 'zeta-node.json'));
  const want = await expectedBytes(image, raw, hostname, manifest.createdAt);
  expect(sha256(readDevice(device, want.length))).toBe(sha256(want));
  fsckClean(extractRange(device, esp.offset, esp.size, `${tmp.path}/${basename(device)}.esp`));
  return { esp, bytes: readDevice(device, want.length) };
}

beforeAll(() => {
  requireLoop();
  iso = buildNixosIso(`${tmp.path}/nixos.iso`, { fillerBytes: 12 * MiB });
  mid = buildNixosIso(`${tmp.path}/mid.iso`, { fillerBytes: 36 * MiB });
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
});

afterAll(() => {
  for (const l of loops) l.detach();
  for (const m of mounts) spawnSync('umount', [m]);
  tmp.cleanup();
});

describe('zflash flash --drive A --drive B --drive C', () => {
  it('writes each stick its own node (the next free names), byte for byte, and records each', async () => {
    const roster = `${tmp.path}/roster.json`;
    // rack-02 is taken: the three sticks become rack-01, rack-03 and rack-04.
    await recordFlash(
      roster,
      flashRecordFor(await identity('rack-02'), {
        image: { path: iso, sha256: null },
        medium: { kind: 'file', path: '/elsewhere.img', size: 1 },
        flashedAt: new Date(),
        appVersion: 'test',
      }),
    );
    const sticks = [stick('a.img'), stick('b.img'), stick('c.img')];
    const devices = sticks.map((s) => s.loop.device);
    const r = zflash([
      ...flashArgs(iso, devices),
      '--roster',
      roster,
      '--host-pattern',
      'rack-{nn}',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = cliLines(r.stdout);
    const results = lines.filter((l) => l.type === 'result');
    expect(results.map((l) => [l.device, (l as { hostname?: string }).hostname])).toEqual([
      [devices[0], 'rack-01'],
      [devices[1], 'rack-03'],
      [devices[2], 'rack-04'],
    ]);
    // Progress per stick: each stick's events, folded as the app folds one session per
    // drive, make a whole flash that ends done.
    const sessions = new Map<string, FlashSession>(devices.map((d) => [d, idleSession]));
    const fold = eachDrive(devices, (d, e) => sessions.set(d, reduce(sessions.get(d)!, e)));
    for (const l of lines) {
      if (l.type !== 'progress' && l.type !== 'log' && l.type !== 'result') continue;
      const device = (l as { device?: string }).device ?? null;
      if (device !== null) expect(devices).toContain(device);
      fold(device, l as FlashEvent);
    }
    for (const d of devices) {
      const writing = lines.filter(
        (l) => l.type === 'progress' && l.phase === 'writing' && l.device === d,
      );
      expect(writing.length).toBeGreaterThan(0);
      expect(sessions.get(d)?.status).toBe('done');
    }

    const judged = [];
    for (const [i, host] of ['rack-01', 'rack-03', 'rack-04'].entries())
      judged.push(await judge(devices[i] ?? '', host));
    // Sticks differ only inside their ESP (the node files), nowhere else.
    const { esp } = judged[0]!;
    for (const j of judged.slice(1))
      expect(equalOutside(judged[0]!.bytes, j.bytes, esp.offset, esp.offset + esp.size)).toBe(true);
    expect(judged[0]!.bytes.equals(judged[1]!.bytes)).toBe(false);

    const { roster: after } = await openRoster(roster);
    expect(after.nodes.map((n) => n.hostname).sort()).toEqual([
      'rack-01',
      'rack-02',
      'rack-03',
      'rack-04',
    ]);
    expect(after.nodes.find((n) => n.hostname === 'rack-03')?.medium).toMatchObject({
      kind: 'drive',
      device: devices[1],
    });
  });

  it('reads a compressed image once for all sticks (the shared read delivers its size once)', async () => {
    const raw = mid;
    run('zstd', ['-q', '-f', '-k', '-1', raw, '-o', `${raw}.zst`]);
    const sticks = [stick('z1.img', 64), stick('z2.img', 64), stick('z3.img', 64)];
    const plan = await prepareFlashMany({
      image: `${raw}.zst`,
      drives: await Promise.all(
        sticks.map(async (s, i) => ({
          device: s.loop.device,
          identity: await identity(`zst-${i + 1}`),
        })),
      ),
      allowLoop: true,
      eject: false,
    });
    const seen: (string | null)[] = [];
    const result = await runFlashMany(plan.job, {
      helper,
      onEvent: (device) => seen.push(device),
    });
    expect(result.exitCode).toBe(0);
    expect(result.drives.map((d) => d.ok)).toEqual([true, true, true]);
    // The decoder ran once: the bytes it delivered are the image's size, not three times it.
    expect(result.imageBytesRead).toBe(readFileSync(raw).length);
    for (const [i, s] of sticks.entries())
      await judge(s.loop.device, `zst-${i + 1}`, `${raw}.zst`, raw);
    expect(new Set(seen.filter(Boolean))).toEqual(new Set(sticks.map((s) => s.loop.device)));
  });

  it('a fake-capacity stick among them fails on its own; the others finish', async () => {
    const small = `${tmp.path}/tmpfs`;
    mkdirSync(small);
    run('mount', ['-t', 'tmpfs', '-o', 'size=10M', 'tmpfs', small]);
    mounts.unshift(small);
    // Claims 64 MiB, holds 10: a sparse file on a 10 MiB tmpfs.
    run('truncate', ['-s', '64M', `${small}/fake.img`]);
    const fake = attachLoop(`${small}/fake.img`);
    loops.push(fake);
    const good = [stick('g1.img', 64), stick('g2.img', 64)];
    const devices = [good[0]!.loop.device, fake.device, good[1]!.loop.device];
    // The image is larger than the fake stick and the shared window together: the good
    // sticks finish only if the failed one stops holding them back.
    const r = zflash([...flashArgs(mid, devices), '--no-roster']);
    expect(r.code).toBe(4);
    const out = r.stdout.split('\n');
    const lineOf = (dev: string) => out.find((l) => l.includes(`(${basename(dev)},`)) ?? '';
    expect(lineOf(fake.device)).toMatch(/FAILED\s+node-02 .*holds less than it claims/);
    expect(r.stdout).toContain('code: ZFLASH_FAKE_CAPACITY');
    expect(lineOf(devices[0]!)).toMatch(/ok\s+node-01 .*written and verified/);
    expect(lineOf(devices[2]!)).toMatch(/ok\s+node-03 .*written and verified/);
    expect(r.stdout).toContain('2 of 3 sticks are ready');
    // The fake one was never finished: no partition table.
    expect(readDevice(fake.device, 512).every((b) => b === 0)).toBe(true);
    await judge(devices[0]!, 'node-01', mid, mid);
    await judge(devices[2]!, 'node-03', mid, mid);
  });

  it('Ctrl-C mid-write cancels every stick; none is left with a partition table', async () => {
    // bzip2 decodes slowly in JS: a big one gives time to cancel mid-write.
    const big = buildNixosIso(`${tmp.path}/big.iso`, { fillerBytes: 40 * MiB });
    run('bzip2', ['-k', '-1', big]);
    const sticks = [stick('x1.img', 96), stick('x2.img', 96), stick('x3.img', 96)];
    const devices = sticks.map((s) => s.loop.device);
    const child = spawn(
      process.execPath,
      [BIN, ...flashArgs(`${big}.bz2`, devices), '--no-roster', '--json'],
      { env: { ...process.env, ...env } },
    );
    const seen: Record<string, unknown>[] = [];
    let sent = false;
    createInterface({ input: child.stdout }).on('line', (l) => {
      const e = JSON.parse(l);
      seen.push(e);
      if (!sent && e.type === 'progress' && e.phase === 'writing' && e.bytes > 8 * MiB) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    const ends = seen.filter((e) => e.type === 'error' || e.type === 'result');
    expect(ends.map((e) => e.device)).toEqual(devices);
    for (const e of ends)
      expect(e).toMatchObject({ type: 'error', error: { code: 'ZFLASH_CANCELLED' } });
    for (const d of devices) {
      const head = readDevice(d, MiB);
      expect(head.every((b) => b === 0)).toBe(true);
    }
    await until('the helper to exit', () => helperPids().length === 0);
  });
});

describe('refused before anything is written', () => {
  it('the same drive twice, by name or through a link; --host with several drives', () => {
    const { loop, file } = stick('dup.img');
    const before = sha256(readFileSync(file));
    const link = `${tmp.path}/dup-link`;
    symlinkSync(loop.device, link);
    for (const pair of [
      [basename(loop.device), loop.device],
      [loop.device, link],
    ]) {
      const r = zflash([...flashArgs(iso, pair), '--no-roster']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('code: ZFLASH_DUPLICATE_DRIVE');
    }
    const other = stick('dup2.img');
    const r = zflash([...flashArgs(iso, [loop.device, other.loop.device]), '--host', 'n1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host names one node/);
    expect(sha256(readFileSync(file))).toBe(before);
    expect(untouched(other.loop.device)).toBe(true);
  });

  it('two sticks for one hostname are refused by the plan', async () => {
    const [a, b] = [stick('h1.img'), stick('h2.img')];
    const twin = await identity('same-name');
    await expect(
      prepareFlashMany({
        image: iso,
        drives: [
          { device: a.loop.device, identity: twin },
          { device: b.loop.device, identity: twin },
        ],
        allowLoop: true,
      }),
    ).rejects.toMatchObject({ code: 'ZFLASH_DUPLICATE_HOSTNAME' });
  });

  it('without --yes: every drive is confirmed by name, in any order; one missing writes nothing', () => {
    const [a, b] = [stick('c1.img', 32), stick('c2.img', 32)];
    const argv = [
      process.execPath,
      BIN,
      'flash',
      iso,
      '--drive',
      a.loop.device,
      '--drive',
      b.loop.device,
      '--ssh-key',
      `${key}.pub`,
      '--no-roster',
    ];
    const typed = (answer: string) =>
      spawnSync('python3', [PTY, 'anything else cancels', answer, '--', ...argv], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 120_000,
      });
    const one = typed(basename(a.loop.device));
    expect(one.status).toBe(130);
    expect(one.stdout).toContain(`${a.loop.device}: `);
    expect(one.stdout).toContain(`${b.loop.device}: `);
    expect(untouched(a.loop.device) && untouched(b.loop.device)).toBe(true);
    // Both, the other way round, one by its short name and one by its path.
    const both = typed(`${b.loop.device} ${basename(a.loop.device)}`);
    expect(both.status).toBe(0);
    expect(both.stdout).toContain('All 2 sticks are ready');
    expect(mtype(a.loop.device, espOffsetBySfdisk(iso).offset, 'zeta-hostname.txt')).toBe(
      'node-01\n',
    );
    // No terminal at all: refused, naming both.
    const none = zflash(argv.slice(2));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('code: ZFLASH_CONFIRMATION_REQUIRED');
  });
});

describe('the helper trusts nothing in a write-many job', () => {
  /** Starts the helper as the client does and returns every JSON line it printed. */
  async function runHelperWith(job: unknown) {
    const dir = `${tmp.path}/job-${Math.random().toString(36).slice(2)}`;
    mkdirSync(dir, { mode: 0o700 });
    const path = `${dir}/job.json`;
    writeFileSync(path, JSON.stringify(job));
    chmodSync(path, 0o600);
    const child = spawn(process.execPath, [HELPER, 'write-many', '--job', path], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    const events = out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return { code, events, last: events.at(-1) };
  }

  async function job(drives: { device: string; hostname: string }[]) {
    return {
      version: 1,
      verb: 'write-many',
      image: { path: iso, sha256: null },
      drives: await Promise.all(
        drives.map(async (d) => ({
          device: d.device,
          expectedSize: null,
          identity: JSON.parse(JSON.stringify(await identity(d.hostname))),
        })),
      ),
      createdAt: new Date().toISOString(),
      verify: true,
      eject: false,
      allowLoop: true,
      parentPid: process.pid,
    };
  }

  it('refuses duplicate hostnames, the same drive by two paths, and too many drives', async () => {
    const [a, b] = [stick('t1.img'), stick('t2.img')];
    const r1 = await runHelperWith(
      await job([
        { device: a.loop.device, hostname: 'twin' },
        { device: b.loop.device, hostname: 'twin' },
      ]),
    );
    expect(r1.code).toBe(2);
    expect(r1.last).toMatchObject({ type: 'error', error: { code: 'ZFLASH_HELPER_JOB' } });
    expect(r1.last.error.message).toMatch(/same hostname/);

    const link = `${tmp.path}/t1-link`;
    symlinkSync(a.loop.device, link);
    const r2 = await runHelperWith(
      await job([
        { device: a.loop.device, hostname: 'one' },
        { device: link, hostname: 'two' },
      ]),
    );
    expect(r2.code).toBe(2);
    expect(r2.last).toMatchObject({ type: 'error', error: { code: 'ZFLASH_DUPLICATE_DRIVE' } });
    expect(r2.events.some((e) => e.type === 'progress' && e.device)).toBe(false);

    const many = await job(
      Array.from({ length: 17 }, (_, i) => ({ device: `/dev/x${i}`, hostname: `n${i}` })),
    );
    const r3 = await runHelperWith(many);
    expect(r3.code).toBe(2);
    expect(r3.last.error.code).toBe('ZFLASH_HELPER_JOB');
    expect(untouched(a.loop.device) && untouched(b.loop.device)).toBe(true);
  });

  it('a drive its re-check refuses gets its own error; the others are written', async () => {
    const good = stick('r1.img');
    const file = `${tmp.path}/r-ro.img`;
    writeFileSync(file, Buffer.alloc(48 * MiB, 0xa5));
    const ro = attachLoop(file, { readOnly: true });
    loops.push(ro);
    // A job no plan would make (prepareFlashMany refuses a read-only drive up front).
    const request: WriteManyJobRequest = {
      version: 1,
      verb: 'write-many',
      image: { path: iso, sha256: null },
      drives: [
        { device: ro.device, expectedSize: null, identity: await identity('ro-node') },
        { device: good.loop.device, expectedSize: null, identity: await identity('ok-node') },
      ],
      createdAt: new Date().toISOString(),
      verify: true,
      eject: false,
      allowLoop: true,
    };
    const r = await runFlashMany(request, { helper });
    expect(r.drives[0]).toMatchObject({
      ok: false,
      device: ro.device,
      error: { code: 'ZFLASH_DRIVE_REFUSED' },
    });
    const refused = r.drives[0];
    expect(refused && !refused.ok && refused.error.details?.['reasons']).toContain(
      'DRIVE_READ_ONLY',
    );
    expect(r.drives[1]).toMatchObject({ ok: true, hostname: 'ok-node' });
    // Exit code of the first stick that failed: a refused drive is a target problem.
    expect(r.exitCode).toBe(3);
    expect(r.imageBytesRead).toBe(readFileSync(iso).length);
    await judge(good.loop.device, 'ok-node');
    expect(untouched(ro.device)).toBe(true);
  });
});
