/**
 * Issue #4: how long does `zflash flash` take to write and verify a 1 GiB NixOS installer
 * image on a block device, next to the plain tools doing the same job in the same run?
 *
 * Baseline: `dd bs=4M oflag=direct conv=fsync` writes the image to a loop device, then
 * `dd iflag=direct bs=4M | cmp - IMAGE` reads it back and compares. Ours: the whole
 * `node bin/zflash.js flash IMAGE --drive LOOP … --yes --json --no-eject` command (CLI, the
 * helper it starts, ESP patch, write, first MiB last, read-back verify, payload check).
 * Also: where our time goes (JSON progress events, timestamped on arrival) and the peak
 * memory of the zflash process tree (VmHWM of the CLI and the helper, polled from /proc).
 * Printed, never asserted (DESIGN.md: bench/ is not part of `npm test`).
 *
 * Run with `npm run bench:flash` as root (builds app/ and bench/ into dist/ first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import {
  attachLoop,
  buildNixosIso,
  espOffsetBySfdisk,
  mtype,
  requireLoop,
  run,
  tempDir,
  type Loop,
} from '../test/fixtures.js';
import { GiB, MiB, ratio, repoRoot, stats, type Stats } from './common.js';

/** Timed rounds per block (one baseline and one zflash run each, order alternating). */
const ROUNDS = 3;
/** Uncounted rounds first in each block (the first also allocates the backing file). */
const WARMUP = 1;
/** Image filler: the ISO tree around it is ~4 MiB, so the image comes out at exactly 1 GiB. */
const FILLER_BYTES = GiB - 4 * MiB;
/** The loop device is a bit larger than the image, like a stick (zflash wipes its last MiB). */
const BACKING_BYTES = GiB + 128 * MiB;
const POLL_MS = 50;
const TARGET_RATIO = 1.0;
const TARGET_PEAK_MIB = 200;
const HOST = 'bench-node';

const median = (samples: readonly number[]) => stats(samples).median;

/** Child processes running right now, so Ctrl-C can stop them before the loop is detached. */
const running = new Set<ChildProcess>();

interface Finished {
  readonly ms: number;
  readonly stderr: string;
}

/**
 * Runs one child to its end and times it (spawn → close). Every command compared is spawned
 * this way, asynchronously, so the event loop stays free for timestamps and /proc polling.
 */
function timed(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; onLine?: (line: string, at: number) => void } = {},
  onSpawn?: (child: ChildProcess) => void,
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, [...args], {
      stdio: ['ignore', opts.onLine ? 'pipe' : 'ignore', 'pipe'],
      env: opts.env ?? process.env,
    });
    running.add(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
    });
    if (opts.onLine && child.stdout) {
      const onLine = opts.onLine;
      createInterface({ input: child.stdout }).on('line', (l) => onLine(l, performance.now()));
    }
    onSpawn?.(child);
    child.on('error', (err) => {
      running.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      running.delete(child);
      if (code === 0) resolve({ ms, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${stderr}`));
    });
  });
}

// --- peak memory of the zflash process tree ------------------------------------------------

const readOr = (path: string, fallback: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};

/** `pid` and every process below it, from /proc/PID/task/TID/children. */
function processTree(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop() as number;
    out.push(p);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      for (const c of readOr(`/proc/${p}/task/${t}/children`, '').split(' ')) {
        if (/^\d+$/.test(c)) todo.push(Number(c));
      }
    }
  }
  return out;
}

const statusKiB = (status: string, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);

interface Memory {
  /** High-water RSS (VmHWM) of the CLI process and of the helper process, KiB. */
  cli: number;
  helper: number;
  /** The largest sum of current RSS over the whole tree seen in one poll, KiB. */
  treeNow: number;
}

/**
 * Polls the tree under `pid` every POLL_MS until stopped. VmHWM is the kernel's own
 * high-water mark, so a poll that comes late still sees the peak, unless the process
 * grew in its last POLL_MS (the helper's last moments only close the drive).
 */
function memorySampler(pid: number): { stop: () => Memory } {
  const m: Memory = { cli: 0, helper: 0, treeNow: 0 };
  const poll = () => {
    let now = 0;
    for (const p of processTree(pid)) {
      const status = readOr(`/proc/${p}/status`, '');
      if (!status) continue;
      now += statusKiB(status, 'VmRSS');
      const hwm = statusKiB(status, 'VmHWM');
      if (p === pid) m.cli = Math.max(m.cli, hwm);
      else if (readOr(`/proc/${p}/cmdline`, '').includes('helper/entry.js')) {
        m.helper = Math.max(m.helper, hwm);
      }
    }
    m.treeNow = Math.max(m.treeNow, now);
  };
  poll();
  const timer = setInterval(poll, POLL_MS);
  return {
    stop: () => {
      clearInterval(timer);
      return m;
    },
  };
}

// --- the two contenders ---------------------------------------------------------------------

interface BaselineRun {
  readonly write: number;
  readonly read: number;
  readonly total: number;
}

/** dd writes (direct I/O, fsync), then dd reads back (direct I/O) into cmp through a pipe. */
async function baseline(image: string, device: string, size: number): Promise<BaselineRun> {
  const w = await timed('dd', [
    `if=${image}`,
    `of=${device}`,
    'bs=4M',
    'oflag=direct',
    'conv=fsync',
    'status=none',
  ]);
  // count_bytes: exactly the image's bytes (an ISO is whole 2 KiB sectors, so the last, short
  // read is still a multiple of the sector size that O_DIRECT needs).
  const readBack = `dd if='${device}' iflag=direct,count_bytes bs=4M count=${size} status=none | cmp - '${image}'`;
  const r = await timed('bash', ['-o', 'pipefail', '-c', readBack]);
  return { write: w.ms, read: r.ms, total: w.ms + r.ms };
}

type Phase = 'startup' | 'preparing' | 'writing' | 'finishing' | 'verifying' | 'wrapup' | 'exit';

interface OursRun {
  readonly total: number;
  readonly phases: Record<Phase, number>;
  readonly memory: Memory;
}

interface Progress {
  type: string;
  phase?: string;
  bytes?: number;
  total?: number | null;
  verified?: boolean;
  bytesWritten?: number;
}

/** The whole `zflash flash` command; phases from the arrival times of its JSON lines. */
async function ours(
  node: string,
  args: readonly string[],
  size: number,
  espOffset: number,
  device: string,
): Promise<OursRun> {
  const t0 = performance.now();
  const firstOf = new Map<string, number>();
  let verified = -1;
  let resultAt = -1;
  let result: Progress | null = null;
  let sampler: { stop: () => Memory } | null = null;
  const done = await timed(
    node,
    args,
    {
      env: { ...process.env, ZFLASH_ALLOW_LOOP: '1' },
      onLine: (line, at) => {
        const e = JSON.parse(line) as Progress;
        if (e.type === 'progress' && e.phase) {
          if (!firstOf.has(e.phase)) firstOf.set(e.phase, at);
          if (e.phase === 'verifying' && e.bytes === size && verified < 0) verified = at;
        } else if (e.type === 'result') {
          result = e;
          resultAt = at;
        }
      },
    },
    (child) => {
      if (child.pid) sampler = memorySampler(child.pid);
    },
  );
  const memory = (sampler as { stop: () => Memory } | null)?.stop() ?? {
    cli: 0,
    helper: 0,
    treeNow: 0,
  };
  const r = result as Progress | null;
  if (!r || r.verified !== true || r.bytesWritten !== size) {
    throw new Error(`bench: zflash did not report a verified write: ${JSON.stringify(r)}`);
  }
  // The identity really is on the device (outside the timing).
  const hostname = mtype(device, espOffset, 'zeta-hostname.txt').trim();
  if (hostname !== HOST) throw new Error(`bench: the ESP on ${device} says host ${hostname}`);
  const at = (p: string) => {
    const t = firstOf.get(p);
    if (t === undefined) throw new Error(`bench: no '${p}' progress event from zflash`);
    return t;
  };
  if (verified < 0) throw new Error('bench: no final verifying event from zflash');
  const end = t0 + done.ms;
  return {
    total: done.ms,
    memory,
    phases: {
      startup: at('preparing') - t0,
      preparing: at('writing') - at('preparing'),
      writing: at('finishing') - at('writing'),
      finishing: at('verifying') - at('finishing'),
      verifying: verified - at('verifying'),
      wrapup: resultAt - verified,
      exit: end - resultAt,
    },
  };
}

// --- setup helpers --------------------------------------------------------------------------

/** Loop direct I/O on or off (the kernel accepts the switch while nothing holds the device). */
function setDirectIo(device: string, on: boolean): boolean {
  spawnSync('losetup', [`--direct-io=${on ? 'on' : 'off'}`, device]);
  return run('losetup', ['-n', '-O', 'DIO', device]).trim() === '1';
}

/** File-system type and device of the folder holding the loop's backing file. */
function whereIs(path: string): string {
  const r = spawnSync('df', ['--output=fstype,source,target', path]);
  const line = r.stdout?.toString().trim().split('\n').at(-1)?.trim() ?? '';
  return line.replace(/\s+/g, ' ') || 'unknown file system';
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rate = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;

function row(label: string, s: Stats, base?: Stats, extra = ''): string {
  return [
    label.padEnd(56),
    sec(s.median).padStart(9),
    sec(s.p90).padStart(9),
    String(s.runs).padStart(4),
    (base ? ratio(s.median, base.median) : '').padStart(9),
    extra ? `  ${extra}` : '',
  ]
    .join('')
    .trimEnd();
}

const HEAD = [
  ''.padEnd(56),
  'median'.padStart(9),
  'p90'.padStart(9),
  'N'.padStart(4),
  'ratio'.padStart(9),
].join('');

interface Block {
  readonly title: string;
  readonly directIo: boolean;
  readonly base: BaselineRun[];
  readonly ours: OursRun[];
}

function report(b: Block, size: number): string[] {
  const base = stats(b.base.map((r) => r.total));
  const mine = stats(b.ours.map((r) => r.total));
  const ph = (p: Phase) => median(b.ours.map((r) => r.phases[p]));
  const write = median(b.base.map((r) => r.write));
  const read = median(b.base.map((r) => r.read));
  const streaming = ph('writing') + ph('finishing') + ph('verifying');
  const fixed = ph('startup') + ph('preparing') + ph('wrapup') + ph('exit');
  const phase = (label: string, ms: number, note = '') =>
    `  ${label.padEnd(54)}${sec(ms).padStart(9)}  ${note}`.trimEnd();
  return [
    `${b.title} (ratio = ours / dd+cmp in the same block)`,
    HEAD,
    row('zflash flash IMG --drive LOOP … --json --no-eject', mine, base),
    row('dd write + dd read | cmp (baseline)', base),
    phase('dd if=IMG of=LOOP bs=4M oflag=direct conv=fsync', write, rate(size, write)),
    phase('dd if=LOOP iflag=direct bs=4M | cmp - IMG', read, rate(size, read)),
    'zflash by phase (median of each, from JSON progress events as they arrive)',
    phase('start-up: 2 Node processes, imports, drive checks', ph('startup')),
    phase('preparing: probe the image, compute the ESP patch', ph('preparing')),
    phase(
      'writing: read + patch + hash + write (1 MiB..end)',
      ph('writing'),
      `${rate(size, ph('writing'))}; dd write ${sec(write)} incl. fsync`,
    ),
    phase('finishing: first MiB, fsync', ph('finishing')),
    phase(
      'verifying: direct-I/O read back + hash',
      ph('verifying'),
      `${rate(size, ph('verifying'))}; dd read | cmp ${sec(read)}`,
    ),
    phase('wrap-up: payload read back through FAT, close, exit', ph('wrapup')),
    phase('exit: CLI after the result line', ph('exit')),
    phase(
      'streaming (writing + finishing + verifying)',
      streaming,
      `${ratio(streaming, base.median)} of the baseline`,
    ),
    phase(
      'fixed cost (everything else)',
      fixed,
      `${((100 * fixed) / mine.median).toFixed(0)} % of ours`,
    ),
  ];
}

async function main(): Promise<void> {
  const root = repoRoot();
  const zflash = join(root, 'bin', 'zflash.js');
  if (!existsSync(join(root, 'dist', 'app', 'helper', 'entry.js'))) {
    throw new Error('bench: dist/ is not built; run `npm run bench:flash` (it builds first)');
  }
  requireLoop();
  const node = process.execPath;
  const tmp = tempDir('zflash-bench-flash-');
  let loop: Loop | null = null;
  const cleanup = () => {
    for (const c of running) c.kill('SIGTERM');
    loop?.detach();
    loop = null;
    tmp.cleanup();
  };
  // Children get Ctrl-C too; stop them, detach our loop device and remove the GiBs of temp files.
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // 1. Two 1 GiB NixOS-layout images: zero filler (what buildNixosIso makes fast) and random
    // filler (no side gains from zero pages: a host that skips zero writes, a zero-page read).
    const t0 = performance.now();
    const images = [
      {
        name: 'zero filler',
        path: buildNixosIso(join(tmp.path, 'nixos-zero.iso'), { zeroFillerBytes: FILLER_BYTES }),
      },
      {
        name: 'random filler',
        path: buildNixosIso(join(tmp.path, 'nixos-random.iso'), { fillerBytes: FILLER_BYTES }),
      },
    ];
    const size = statSync(images[0]!.path).size;
    for (const img of images) {
      if (statSync(img.path).size !== size) throw new Error('bench: the two images differ in size');
    }
    const espOffset = espOffsetBySfdisk(images[0]!.path).offset;
    if (espOffsetBySfdisk(images[1]!.path).offset !== espOffset) {
      throw new Error('bench: the two images have their ESP at different offsets');
    }
    const key = join(tmp.path, 'id_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench@zflash', '-f', key]);

    // 2. A loop device over a file in the temp dir (on disk, unless TMPDIR is a tmpfs).
    const backing = join(tmp.path, 'stick.img');
    run('truncate', ['-s', String(BACKING_BYTES), backing]);
    loop = attachLoop(backing);
    const device = loop.device;
    const setupMs = performance.now() - t0;

    const zflashArgs = (image: string) => [
      zflash,
      'flash',
      image,
      '--drive',
      device,
      '--host',
      HOST,
      '--ssh-key',
      `${key}.pub`,
      '--yes',
      '--json',
      '--no-eject',
    ];

    // 3. Blocks: loop direct I/O on (reads and writes reach the disk, like a stick) with each
    // image, then off (the loop goes through the page cache: shows our CPU-side pipeline).
    const plan = [
      { image: images[0]!, directIo: true },
      { image: images[1]!, directIo: true },
      { image: images[1]!, directIo: false },
    ];
    const blocks: Block[] = [];
    const t1 = performance.now();
    for (const p of plan) {
      const dio = setDirectIo(device, p.directIo);
      const title = `${p.image.name}, loop direct I/O ${dio ? 'on' : 'off'}${
        p.directIo && !dio ? ' (the backing file system refused direct I/O)' : ''
      }`;
      const block: Block = { title, directIo: dio, base: [], ours: [] };
      const args = zflashArgs(p.image.path);
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        const a = async () => {
          const r = await baseline(p.image.path, device, size);
          if (i >= WARMUP) block.base.push(r);
        };
        const b = async () => {
          const r = await ours(node, args, size, espOffset, device);
          if (i >= WARMUP) block.ours.push(r);
        };
        // Alternate which goes first, so drift (and whoever last filled the cache) is shared.
        if (i % 2) await b().then(a);
        else await a().then(b);
      }
      blocks.push(block);
    }
    const benchMs = performance.now() - t1;

    // 4. Report.
    const worst = (bs: Block[]) =>
      Math.max(
        ...bs.map((b) => median(b.ours.map((r) => r.total)) / median(b.base.map((r) => r.total))),
      );
    const physical = blocks.filter((b) => b.directIo);
    const worstRatio = worst(physical.length ? physical : blocks);
    const all = blocks.flatMap((b) => b.ours);
    const peak = {
      cli: Math.max(...all.map((r) => r.memory.cli)),
      helper: Math.max(...all.map((r) => r.memory.helper)),
      treeNow: Math.max(...all.map((r) => r.memory.treeNow)),
    };
    const peakSum = Math.max(...all.map((r) => r.memory.cli + r.memory.helper));
    const mibOf = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
    const out = [
      `zflash flash benchmark (issue #4), Node ${process.version}, ${process.platform}/${process.arch}`,
      `image  ${(size / GiB).toFixed(3)} GiB NixOS-layout isohybrid (buildNixosIso), ESP at offset ${espOffset}; zero and random filler`,
      `device ${device} over a ${(BACKING_BYTES / GiB).toFixed(3)} GiB file on ${whereIs(tmp.path)}`,
      `setup  ${sec(setupMs)} (build both images, key, loop device); runs ${sec(benchMs)}: ${WARMUP} warm-up + ${ROUNDS} rounds per block, order alternating`,
      '',
      ...blocks.flatMap((b) => [...report(b, size), '']),
      `peak memory of the zflash process tree (max over ${all.length} runs, VmHWM polled every ${POLL_MS} ms):`,
      `  CLI ${mibOf(peak.cli)}, helper ${mibOf(peak.helper)}; CLI + helper ${mibOf(peakSum)} (both peaks at once, an upper bound); largest tree RSS seen in one poll ${mibOf(peak.treeNow)}`,
      '',
      `target: ratio <= ${TARGET_RATIO.toFixed(1)}: ${worstRatio <= TARGET_RATIO ? 'MET' : 'NOT MET'} (worst median ratio ${ratio(worstRatio, 1)} over the ${
        physical.length ? 'loop direct I/O' : 'buffered loop (no direct I/O available)'
      } blocks; buffered loop ${
        blocks.length > physical.length && physical.length
          ? ratio(worst(blocks.filter((b) => !b.directIo)), 1)
          : 'not run'
      })`,
      `target: peak memory < ${TARGET_PEAK_MIB} MB: ${
        (peakSum * 1024) / 1e6 < TARGET_PEAK_MIB ? 'MET' : 'NOT MET'
      } (CLI + helper ${((peakSum * 1024) / 1e6).toFixed(0)} MB)`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
