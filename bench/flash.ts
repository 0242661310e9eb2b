/**
 * Issues #4 and #8: how long does `zflash flash` take to write and verify a NixOS installer
 * image on a block device, next to the tools that do the same job, in the same run?
 *
 * Contenders, each a whole process timed spawn → exit, interleaved round by round on the same
 * image and the same loop device:
 * - zflash: `node bin/zflash.js flash IMAGE --drive LOOP … --yes --json --no-eject` (CLI, the
 *   helper it starts, ESP patch, write, first MiB last, read-back verify, payload check);
 * - etcher-sdk: `decompressThenFlash` with verify on (bench/etcher-flash.ts), Etcher's engine;
 * - bmaptool: `bmaptool copy --bmap IMAGE.bmap IMAGE LOOP` (checks the image's checksums as it
 *   reads it; it does not read the device back);
 * - dd + cmp: `dd oflag=direct conv=fsync`, then `dd iflag=direct | cmp - IMAGE`;
 * - the raw I/O limit: the same dd write, then `dd iflag=direct of=/dev/null`: what the device
 *   takes to be written and read once, with one request in flight and no comparison at all.
 *
 * Also: where zflash's time goes (JSON progress events, timestamped on arrival), Etcher's two
 * phases, and the peak memory of the zflash process tree (VmHWM of the CLI and the helper).
 * Printed, never asserted (DESIGN.md: bench/ is not part of `npm test`).
 *
 * Run with `npm run bench:flash` as root (builds app/ and bench/ into dist/ first). Options:
 * `-- --size-mib 512 --rounds 3 --gzip --compare DIR`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  buildNixosIso,
  espOffsetBySfdisk,
  mtype,
  requireLoop,
  run,
  tempDir,
} from '../test/fixtures.js';
import {
  attachBenchLoop,
  commandExists,
  median,
  memorySampler,
  MiB,
  numberArg,
  POLL_MS,
  rate,
  ratio,
  repoRoot,
  sec,
  stats,
  stopChildren,
  timed,
  type BenchLoop,
  type Memory,
  type Stats,
  whereIs,
} from './common.js';

/** Image size: 512 MiB by default (issue #8 measured 500 MiB). */
const SIZE_MIB = numberArg('size-mib', 512);
/** Timed rounds per block (one run of every contender each, order rotating). */
const ROUNDS = numberArg('rounds', 3);
/** Uncounted rounds first in each block (the first also allocates the backing file). */
const WARMUP = 1;
/** The ISO tree around the filler is ~4 MiB, so the image comes out at about SIZE_MIB. */
const FILLER_BYTES = (SIZE_MIB - 4) * MiB;
/** The loop device is a bit larger than the image, like a stick (zflash wipes its last MiB). */
const BACKING_BYTES = (SIZE_MIB + 128) * MiB;
const TARGET_VS_ETCHER = 1.0;
const TARGET_VS_RAW = 1.25;
const TARGET_STARTUP_MS = 300;
const TARGET_PEAK_MB = 200;
// Benchmark flashes are not nodes: they must not land in (or be refused by) the operator's
// roster, which would stop the second round with a taken name. Children inherit this.
process.env['ZFLASH_ROSTER'] = 'off';
const HOST = 'bench-node';

// --- the contenders -------------------------------------------------------------------------

type Name = 'zflash' | 'other' | 'etcher' | 'bmaptool' | 'ddcmp' | 'raw';

/**
 * `--compare DIR`: another built checkout of zflash (its bin/zflash.js and dist/) runs as one
 * more contender, so two versions of the engine are compared in the same rounds.
 */
/** `--gzip`: one more block, the random image compressed with `gzip -1` (etcher-sdk reads it too). */
const GZIP = process.argv.includes('--gzip');
const COMPARE = (() => {
  const i = process.argv.indexOf('--compare');
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
})();

interface Run {
  readonly total: number;
  /** Named parts of the run, ms. */
  readonly parts: Readonly<Record<string, number>>;
  readonly memory?: Memory;
}

const ddWrite = (image: string, device: string) =>
  timed('dd', [
    `if=${image}`,
    `of=${device}`,
    'bs=4M',
    'oflag=direct',
    'conv=fsync',
    'status=none',
  ]);

/**
 * count_bytes: exactly the image's bytes (an ISO is whole 2 KiB sectors, so the last, short
 * read is still a multiple of the sector size that O_DIRECT needs).
 */
const ddRead = (device: string, size: number, sink: string) =>
  timed('bash', [
    '-o',
    'pipefail',
    '-c',
    `dd if='${device}' iflag=direct,count_bytes bs=4M count=${size} status=none ${sink}`,
  ]);

async function ddCmp(image: string, device: string, size: number): Promise<Run> {
  const w = await ddWrite(image, device);
  const r = await ddRead(device, size, `| cmp - '${image}'`);
  return { total: w.ms + r.ms, parts: { write: w.ms, read: r.ms } };
}

async function rawLimit(image: string, device: string, size: number): Promise<Run> {
  const w = await ddWrite(image, device);
  const r = await ddRead(device, size, 'of=/dev/null');
  return { total: w.ms + r.ms, parts: { write: w.ms, read: r.ms } };
}

async function bmaptool(image: string, device: string): Promise<Run> {
  const r = await timed('bmaptool', ['-q', 'copy', '--bmap', `${image}.bmap`, image, device]);
  return { total: r.ms, parts: {} };
}

interface Line {
  type: string;
  phase?: string;
  bytes?: number;
  verified?: boolean;
  bytesWritten?: number;
  failures?: string[];
}

/** `size`: the bytes it must report written, or null for a compressed image (it counts those otherwise). */
async function etcher(
  script: string,
  image: string,
  device: string,
  size: number | null,
): Promise<Run> {
  const t0 = performance.now();
  const at = new Map<string, number>();
  let result: Line | null = null;
  let sampler: { stop: () => Memory } | null = null;
  const done = await timed(
    process.execPath,
    [script, image, device, String(BACKING_BYTES)],
    {
      onLine: (line, when) => {
        const e = JSON.parse(line) as Line;
        if (e.type === 'phase' && e.phase && !at.has(e.phase)) at.set(e.phase, when);
        if (e.type === 'result') {
          result = e;
          at.set('result', when);
        }
        if (e.type === 'durable') at.set('durable', when);
      },
    },
    (child) => {
      if (child.pid) sampler = memorySampler(child.pid);
    },
  );
  const memory = (sampler as { stop: () => Memory } | null)?.stop();
  const r = result as Line | null;
  if (!r || (size !== null && r.bytesWritten !== size) || r.failures?.length) {
    throw new Error(`bench: etcher-sdk did not report a clean write: ${JSON.stringify(r)}`);
  }
  const t = (p: string) => {
    const v = at.get(p);
    if (v === undefined) throw new Error(`bench: no '${p}' line from etcher-flash`);
    return v;
  };
  return {
    total: done.ms,
    ...(memory ? { memory } : {}),
    parts: {
      startup: t('flashing') - t0,
      flashing: t('verifying') - t('flashing'),
      verifying: t('result') - t('verifying'),
      fsync: t('durable') - t('result'),
      exit: t0 + done.ms - t('durable'),
      // As shipped: its own work, up to its result line, plus the exit (no fsync).
      asShipped: done.ms - (t('durable') - t('result')),
    },
  };
}

/** The whole `zflash flash` command; phases from the arrival times of its JSON lines. */
async function zflash(
  args: readonly string[],
  size: number,
  espOffset: number,
  device: string,
): Promise<Run> {
  const t0 = performance.now();
  const firstOf = new Map<string, number>();
  let verified = -1;
  let resultAt = -1;
  let result: Line | null = null;
  let sampler: { stop: () => Memory } | null = null;
  const done = await timed(
    process.execPath,
    args,
    {
      env: { ...process.env, ZFLASH_ALLOW_LOOP: '1' },
      onLine: (line, at) => {
        const e = JSON.parse(line) as Line;
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
      if (child.pid) sampler = memorySampler(child.pid, '/entry.js');
    },
  );
  const memory = (sampler as { stop: () => Memory } | null)?.stop();
  const r = result as Line | null;
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
  return {
    total: done.ms,
    ...(memory ? { memory } : {}),
    parts: {
      startup: at('preparing') - t0,
      preparing: at('writing') - at('preparing'),
      writing: at('finishing') - at('writing'),
      finishing: at('verifying') - at('finishing'),
      verifying: verified - at('verifying'),
      wrapup: resultAt - verified,
      exit: t0 + done.ms - resultAt,
    },
  };
}

// --- report ---------------------------------------------------------------------------------

const LABEL = 60;

interface Block {
  readonly title: string;
  readonly directIo: boolean;
  /** A compressed image: shown, but the targets are about raw images. */
  readonly compressed: boolean;
  readonly runs: Map<Name, Run[]>;
}

const totals = (b: Block, n: Name): Stats => stats((b.runs.get(n) ?? []).map((r) => r.total));
const part = (b: Block, n: Name, p: string): number =>
  median((b.runs.get(n) ?? []).map((r) => r.parts[p] ?? NaN));
/** etcher-sdk without the fsync that bench/etcher-flash.ts adds after its result. */
const shipped = (b: Block): Stats =>
  stats((b.runs.get('etcher') ?? []).map((r) => r.parts.asShipped ?? NaN));
const streaming = (r: Run) =>
  (r.parts.writing ?? NaN) + (r.parts.finishing ?? NaN) + (r.parts.verifying ?? NaN);

const ROWS: readonly [Name, string][] = [
  ['zflash', 'zflash flash IMG --drive LOOP … --json --no-eject'],
  ...(COMPARE ? [['other', `the same, built in ${COMPARE}`] as [Name, string]] : []),
  ['etcher', 'etcher-sdk decompressThenFlash, verify on, then fsync'],
  ['bmaptool', 'bmaptool copy --bmap IMG.bmap IMG LOOP (no read-back)'],
  ['ddcmp', 'dd write oflag=direct + dd read iflag=direct | cmp'],
  ['raw', 'raw I/O limit: dd write + dd read iflag=direct > /dev/null'],
];

const mibOf = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** Peak memory of zflash (and etcher-sdk) in one block. */
function peakLine(b: Block): string {
  const mem = (b.runs.get('zflash') ?? []).map(
    (r) => r.memory ?? { root: 0, child: 0, treeNow: 0 },
  );
  const etcherPeak = Math.max(0, ...(b.runs.get('etcher') ?? []).map((r) => r.memory?.root ?? 0));
  return `  peak VmHWM: zflash CLI ${mibOf(Math.max(...mem.map((m) => m.root)))}, helper ${mibOf(Math.max(...mem.map((m) => m.child)))}, sum ${mibOf(Math.max(...mem.map((m) => m.root + m.child)))}; etcher-sdk ${mibOf(etcherPeak)}`;
}

function report(b: Block, size: number): string[] {
  const ours = totals(b, 'zflash');
  const line = (label: string, s: Stats, extra: string) =>
    [
      label.padEnd(LABEL),
      sec(s.median).padStart(8),
      `${sec(s.min)}–${sec(s.max)}`.padStart(16),
      String(s.runs).padStart(4),
      extra.padStart(14),
    ].join('');
  const phase = (label: string, ms: number, note = '') =>
    `  ${label.padEnd(LABEL - 2)}${sec(ms).padStart(8)}  ${note}`.trimEnd();
  const zRuns = b.runs.get('zflash') ?? [];
  const stream = median(zRuns.map(streaming));
  const raw = totals(b, 'raw');
  const rawW = part(b, 'raw', 'write');
  const rawR = part(b, 'raw', 'read');
  const fixed = ours.median - stream;
  return [
    `${b.title}`,
    [
      ''.padEnd(LABEL),
      'median'.padStart(8),
      'range'.padStart(16),
      'N'.padStart(4),
      'zflash ÷ row'.padStart(14),
    ].join(''),
    ...ROWS.filter(([n]) => b.runs.has(n)).flatMap(([n, label]) => [
      line(label, totals(b, n), n === 'zflash' ? '' : ratio(ours.median, totals(b, n).median)),
      ...(n === 'etcher'
        ? [
            line(
              '  the same as shipped: no fsync (its data not yet durable)',
              shipped(b),
              ratio(ours.median, shipped(b).median),
            ),
          ]
        : []),
    ]),
    'zflash by phase (median of each, from JSON progress events as they arrive)',
    phase('start-up: 2 Node processes, imports, drive checks', part(b, 'zflash', 'startup')),
    phase('preparing: probe the image, compute the ESP patch', part(b, 'zflash', 'preparing')),
    phase(
      'writing: read + patch + hash + write (1 MiB..end)',
      part(b, 'zflash', 'writing'),
      `${rate(size, part(b, 'zflash', 'writing'))}; raw dd write ${sec(rawW)} ${rate(size, rawW)} incl. fsync`,
    ),
    phase('finishing: first MiB, fsync', part(b, 'zflash', 'finishing')),
    phase(
      'verifying: direct-I/O read back + hash',
      part(b, 'zflash', 'verifying'),
      `${rate(size, part(b, 'zflash', 'verifying'))}; raw dd read ${sec(rawR)} ${rate(size, rawR)}`,
    ),
    phase('wrap-up: payload read back through FAT, close, exit', part(b, 'zflash', 'wrapup')),
    phase('exit: CLI after the result line', part(b, 'zflash', 'exit')),
    phase(
      'streaming (writing + finishing + verifying)',
      stream,
      `${ratio(stream, raw.median)} of the raw I/O limit`,
    ),
    phase(
      'fixed cost (everything else)',
      fixed,
      `${((100 * fixed) / ours.median).toFixed(0)} % of zflash`,
    ),
    ...(COMPARE
      ? [
          phase(
            `the build in ${COMPARE}: start-up`,
            part(b, 'other', 'startup'),
            `then writing ${rate(size, part(b, 'other', 'writing'))}, verifying ${rate(size, part(b, 'other', 'verifying'))}; streaming ${ratio(median((b.runs.get('other') ?? []).map(streaming)), raw.median)} of the raw limit`,
          ),
        ]
      : []),
    peakLine(b),
    'etcher-sdk by phase (median of each, from its state changes)',
    phase('start-up: Node, imports, open, until flashing', part(b, 'etcher', 'startup')),
    phase('flashing', part(b, 'etcher', 'flashing'), rate(size, part(b, 'etcher', 'flashing'))),
    phase('verifying', part(b, 'etcher', 'verifying'), rate(size, part(b, 'etcher', 'verifying'))),
    phase('fsync (added here: etcher-sdk has none)', part(b, 'etcher', 'fsync')),
    phase('exit', part(b, 'etcher', 'exit')),
  ];
}

async function main(): Promise<void> {
  const root = repoRoot();
  const bin = join(root, 'bin', 'zflash.js');
  const etcherScript = join(root, 'dist', 'bench', 'etcher-flash.js');
  if (!existsSync(join(root, 'dist', 'app', 'helper', 'entry.js')) || !existsSync(etcherScript)) {
    throw new Error('bench: dist/ is not built; run `npm run bench:flash` (it builds first)');
  }
  requireLoop();
  for (const tool of ['dd', 'cmp', 'bmaptool', 'losetup']) {
    if (!commandExists(tool)) {
      throw new Error(
        `bench: ${tool} is missing${tool === 'bmaptool' ? ' (apt-get install bmap-tools)' : ''}`,
      );
    }
  }
  const tmp = tempDir('zflash-bench-flash-');
  let loop: BenchLoop | null = null;
  const cleanup = () => {
    stopChildren();
    loop?.detach();
    loop = null;
    tmp.cleanup();
  };
  // Children get Ctrl-C too; stop them, detach our loop device and remove the temp files.
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // 1. Two NixOS-layout images: random filler (no side gains from zeros: a host that skips
    // zero writes, a zero-page read) and zero filler (what the tests use), each with a bmap.
    const t0 = performance.now();
    const images = {
      random: buildNixosIso(join(tmp.path, 'nixos-random.iso'), { fillerBytes: FILLER_BYTES }),
      zero: buildNixosIso(join(tmp.path, 'nixos-zero.iso'), { zeroFillerBytes: FILLER_BYTES }),
    };
    const size = statSync(images.random).size;
    if (statSync(images.zero).size !== size) throw new Error('bench: the images differ in size');
    const espOffset = espOffsetBySfdisk(images.random).offset;
    if (espOffsetBySfdisk(images.zero).offset !== espOffset) {
      throw new Error('bench: the two images have their ESP at different offsets');
    }
    for (const img of Object.values(images)) {
      run('bmaptool', ['-q', 'create', '-o', `${img}.bmap`, img]);
    }
    const key = join(tmp.path, 'id_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench@zflash', '-f', key]);

    // 2. A loop device over a file in the temp dir (on disk, unless TMPDIR is a tmpfs).
    const backing = join(tmp.path, 'stick.img');
    run('truncate', ['-s', String(BACKING_BYTES), backing]);
    loop = attachBenchLoop(backing);
    const device = loop.device;
    const setupMs = performance.now() - t0;
    const zflashArgs = (image: string, zflashBin = bin) => [
      zflashBin,
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

    // 3. Blocks: loop direct I/O on (reads and writes reach the disk, as on a stick) with
    // each image, then off (the loop goes through the page cache: the CPU side of each tool).
    const plan: { name: string; image: string; raw: string; directIo: boolean }[] = [
      { name: 'random filler', image: images.random, raw: images.random, directIo: true },
      { name: 'zero filler', image: images.zero, raw: images.zero, directIo: true },
      { name: 'random filler', image: images.random, raw: images.random, directIo: false },
    ];
    if (GZIP) {
      // Both engines decompress gzip; dd+cmp cannot, the raw limit stays the raw image's.
      run('gzip', ['-1', '-k', images.random]);
      run('bmaptool', ['-q', 'create', '-o', `${images.random}.gz.bmap`, images.random]);
      plan.push({
        name: 'random filler, gzip -1',
        image: `${images.random}.gz`,
        raw: images.random,
        directIo: true,
      });
    }
    const blocks: Block[] = [];
    const t1 = performance.now();
    for (const p of plan) {
      const dio = loop.setDirectIo(p.directIo);
      const title = `${p.name}, loop direct I/O ${dio ? 'on' : 'off'}${
        p.directIo && !dio ? ' (the backing file system refused direct I/O)' : ''
      }`;
      const block: Block = {
        title,
        directIo: dio,
        compressed: p.image !== p.raw,
        runs: new Map(),
      };
      const contenders: [Name, () => Promise<Run>][] = [
        ['zflash', () => zflash(zflashArgs(p.image), size, espOffset, device)],
        ...(COMPARE
          ? [
              [
                'other',
                () =>
                  zflash(
                    zflashArgs(p.image, join(COMPARE, 'bin', 'zflash.js')),
                    size,
                    espOffset,
                    device,
                  ),
              ] as [Name, () => Promise<Run>],
            ]
          : []),
        ['etcher', () => etcher(etcherScript, p.image, device, p.image === p.raw ? size : null)],
        ['bmaptool', () => bmaptool(p.image, device)],
        ...(p.image === p.raw
          ? [['ddcmp', () => ddCmp(p.image, device, size)] as [Name, () => Promise<Run>]]
          : []),
        ['raw', () => rawLimit(p.raw, device, size)],
      ];
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        // Rotate who goes first, so drift (and whoever last filled a cache) is shared.
        for (let k = 0; k < contenders.length; k++) {
          const [name, go] = contenders[(i + k) % contenders.length]!;
          const r = await go();
          if (i >= WARMUP) block.runs.set(name, [...(block.runs.get(name) ?? []), r]);
        }
      }
      blocks.push(block);
    }
    const benchMs = performance.now() - t1;

    // 4. Report. Targets are judged on the raw images' direct-I/O blocks (the device really is
    // hit; issue #8 measured a raw image); the other blocks are shown beside them.
    const physical = blocks.filter((b) => b.directIo && !b.compressed);
    const judged = physical.length ? physical : blocks;
    const worstOf = (bs: Block[], f: (b: Block) => number) => Math.max(...bs.map(f));
    const etcherRatio = (b: Block) => totals(b, 'zflash').median / totals(b, 'etcher').median;
    const rawRatio = (b: Block) =>
      median((b.runs.get('zflash') ?? []).map(streaming)) / totals(b, 'raw').median;
    const vsEtcher = worstOf(judged, etcherRatio);
    const vsShipped = worstOf(judged, (b) => totals(b, 'zflash').median / shipped(b).median);
    const vsRaw = worstOf(judged, rawRatio);
    const startup = worstOf(judged, (b) => part(b, 'zflash', 'startup'));
    const others = blocks.filter((b) => !judged.includes(b));
    const all = blocks.flatMap((b) => b.runs.get('zflash') ?? []);
    const mem = all.map((r) => r.memory ?? { root: 0, child: 0, treeNow: 0 });
    const peakCli = Math.max(...mem.map((m) => m.root));
    const peakHelper = Math.max(...mem.map((m) => m.child));
    const peakSum = Math.max(...mem.map((m) => m.root + m.child));
    const peakTree = Math.max(...mem.map((m) => m.treeNow));
    const etcherPeak = Math.max(
      ...blocks.flatMap((b) => (b.runs.get('etcher') ?? []).map((r) => r.memory?.root ?? 0)),
    );
    const mb = (kib: number) => (kib * 1024) / 1e6;
    const met = (ok: boolean) => (ok ? 'MET' : 'NOT MET');
    const uname = spawnSync('uname', ['-r']).stdout.toString().trim();
    const out = [
      `zflash flash benchmark (issues #4, #8), Node ${process.version}, ${process.platform}/${process.arch}, kernel ${uname}`,
      `image  ${(size / MiB).toFixed(1)} MiB NixOS-layout isohybrid (buildNixosIso), ESP at offset ${espOffset}; random and zero filler`,
      `device ${device} over a ${(BACKING_BYTES / MiB).toFixed(0)} MiB file on ${whereIs(tmp.path)}`,
      `setup  ${sec(setupMs)} (images, bmaps, key, loop device); runs ${sec(benchMs)}: ${WARMUP} warm-up + ${ROUNDS} rounds per block, order rotating`,
      '',
      ...blocks.flatMap((b) => [...report(b, size), '']),
      `peak memory of the zflash process tree (max over ${all.length} runs, VmHWM polled every ${POLL_MS} ms):`,
      `  CLI ${mibOf(peakCli)}, helper ${mibOf(peakHelper)}; CLI + helper ${mibOf(peakSum)} (both peaks at once, an upper bound); largest tree RSS in one poll ${mibOf(peakTree)}`,
      `  etcher-sdk process ${mibOf(etcherPeak)}`,
      '',
      `target: whole command <= ${TARGET_VS_ETCHER.toFixed(2)}× etcher-sdk made as durable (its write, then fsync): ${met(vsEtcher <= TARGET_VS_ETCHER)} (worst block ${ratio(vsEtcher, 1)})`,
      `  against etcher-sdk as shipped (no fsync): ${met(vsShipped <= TARGET_VS_ETCHER)} (worst block ${ratio(vsShipped, 1)})`,
      `target: streaming <= ${TARGET_VS_RAW.toFixed(2)}× the raw I/O limit: ${met(vsRaw <= TARGET_VS_RAW)} (worst block ${ratio(vsRaw, 1)})`,
      `target: start-up <= ${sec(TARGET_STARTUP_MS)}: ${met(startup <= TARGET_STARTUP_MS)} (worst block median ${sec(startup)})`,
      `target: peak memory CLI + helper < ${TARGET_PEAK_MB} MB, every block: ${met(mb(peakSum) < TARGET_PEAK_MB)} (${mb(peakSum).toFixed(0)} MB)`,
      `  (the first three judged on: ${judged.map((b) => b.title).join('; ')})`,
      ...others.map(
        (b) =>
          `  not judged, ${b.title}: ${ratio(etcherRatio(b), 1)} etcher-sdk, streaming ${ratio(rawRatio(b), 1)} the raw limit`,
      ),
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
