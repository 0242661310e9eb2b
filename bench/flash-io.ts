/**
 * Issue #8: which block size and queue depth should the write + verify pipeline use? Runs
 * the engine's `writeImage` in this process against a loop device (direct I/O on, as on a
 * stick), for every combination of block size and depth, next to the raw I/O limit (dd write
 * `oflag=direct`, dd read `iflag=direct` to /dev/null: one request at a time) measured in the
 * same rounds. Prints MiB/s of the writing and verifying phases and their ratio to dd.
 * Printed, never asserted.
 *
 * Run with `npm run bench:flash-io` as root. Options: `-- --size-mib 512 --rounds 3
 * --blocks 1,2,4,8,16 --depths 1,2,4,8 --buffered`.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { devNumberOf } from '../app/drives/linux-block.js';
import { openDriveDestination } from '../app/flash/destination.js';
import type { FlashProgress } from '../app/flash/progress.js';
import { DEFAULT_IO, writeImage, type IoTuning } from '../app/flash/write.js';
import { probeImage } from '../app/image/image-source.js';
import { requireLoop, run, tempDir } from '../test/fixtures.js';
import {
  attachBenchLoop,
  median,
  MiB,
  numberArg,
  rate,
  sec,
  stopChildren,
  timed,
  whereIs,
  type BenchLoop,
} from './common.js';

const SIZE_MIB = numberArg('size-mib', 512);
const ROUNDS = numberArg('rounds', 3);
/** `--blocks 1,4,16 --depths 1,2,4`: the matrix to measure. */
function listArg(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = (process.argv[i + 1] ?? '').split(',').map(Number);
  if (!v.length || v.some((x) => !Number.isSafeInteger(x) || x <= 0)) {
    throw new Error(`bench: --${name} wants a list like 1,2,4`);
  }
  return v;
}
const BLOCKS_MIB = listArg('blocks', [1, 2, 4, 8, 16]);
const DEPTHS = listArg('depths', [1, 2, 4, 8]);

interface Sample {
  readonly write: number;
  readonly verify: number;
}

/** One in-process flash: ms from the first `writing` event to `verifying`, and of verifying. */
async function flashOnce(
  image: string,
  device: string,
  size: number,
  io: IoTuning,
): Promise<Sample> {
  const deviceNumber = devNumberOf(statSync(device, { bigint: true }).rdev);
  const dest = await openDriveDestination({ device, raw: device, size, deviceNumber });
  const at = new Map<string, number>();
  const onProgress = (p: FlashProgress) => {
    if (!at.has(p.phase)) at.set(p.phase, performance.now());
  };
  try {
    const r = await writeImage({
      image: await probeImage(image),
      patch: [],
      destination: dest,
      onProgress,
      io,
    });
    if (!r.verified || r.bytesWritten !== size) throw new Error('bench: not a verified write');
  } finally {
    await dest.close();
  }
  const end = performance.now();
  const t = (p: string) => at.get(p) ?? NaN;
  return { write: t('verifying') - t('writing'), verify: end - t('verifying') };
}

async function dd(image: string, device: string, size: number): Promise<Sample> {
  const w = await timed('dd', [
    `if=${image}`,
    `of=${device}`,
    'bs=4M',
    'oflag=direct',
    'conv=fsync',
    'status=none',
  ]);
  const r = await timed('dd', [
    `if=${device}`,
    'iflag=direct,count_bytes',
    'bs=4M',
    `count=${size}`,
    'of=/dev/null',
    'status=none',
  ]);
  return { write: w.ms, verify: r.ms };
}

async function main(): Promise<void> {
  requireLoop();
  const tmp = tempDir('zflash-bench-io-');
  let loop: BenchLoop | null = null;
  const cleanup = () => {
    stopChildren();
    loop?.detach();
    loop = null;
    tmp.cleanup();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const size = SIZE_MIB * MiB;
    const image = join(tmp.path, 'random.img');
    run('dd', ['if=/dev/urandom', `of=${image}`, 'bs=1M', `count=${SIZE_MIB}`, 'status=none']);
    const backing = join(tmp.path, 'stick.img');
    writeFileSync(backing, '');
    run('truncate', ['-s', String(size + 64 * MiB), backing]);
    loop = attachBenchLoop(backing);
    const device = loop.device;
    // `--buffered`: loop direct I/O off (the read-back comes from RAM: the CPU side).
    const dio = loop.setDirectIo(!process.argv.includes('--buffered'));

    const configs: IoTuning[] = BLOCKS_MIB.flatMap((b) =>
      DEPTHS.map((depth) => ({ blockBytes: b * MiB, depth })),
    );
    const samples = new Map<string, Sample[]>();
    /** Per run: its time ÷ the time of the dd run right before it (drift cancels out). */
    const paired = new Map<string, Sample[]>();
    const key = (io: IoTuning | null) => (io ? `${io.blockBytes / MiB}x${io.depth}` : 'dd');
    const push = (m: Map<string, Sample[]>, k: string, s: Sample) =>
      m.set(k, [...(m.get(k) ?? []), s]);
    // Warm-up (allocates the backing file), then rounds; dd runs right before every run of
    // ours, so each ratio compares runs seconds apart, not the start of the bench with its end.
    await dd(image, device, size);
    const t0 = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...configs].reverse() : configs;
      for (const io of order) {
        const base = await dd(image, device, size);
        const ours = await flashOnce(image, device, size, io);
        push(samples, 'dd', base);
        push(samples, key(io), ours);
        push(paired, key(io), {
          write: ours.write / base.write,
          verify: ours.verify / base.verify,
        });
        paired.set(`${key(io)}+`, [
          ...(paired.get(`${key(io)}+`) ?? []),
          { write: (ours.write + ours.verify) / (base.write + base.verify), verify: 0 },
        ]);
      }
    }
    const ms = performance.now() - t0;

    const base = samples.get('dd') ?? [];
    const ddW = median(base.map((s) => s.write));
    const ddR = median(base.map((s) => s.verify));
    const lines = [
      `writeImage block size × queue depth (issue #8), Node ${process.version}, ${SIZE_MIB} MiB random image`,
      `device ${device} (loop direct I/O ${dio ? 'on' : 'OFF'}) over a file on ${whereIs(tmp.path)}; ${ROUNDS} rounds, ${sec(ms)}`,
      `raw I/O limit (dd bs=4M, one request at a time), median of ${base.length}: write ${rate(size, ddW)} (incl. fsync), read ${rate(size, ddR)}`,
      '',
      `${'block × depth'.padEnd(16)}${'writing'.padStart(12)}${'÷ dd'.padStart(8)}${'verifying'.padStart(12)}${'÷ dd'.padStart(8)}${'both ÷ dd'.padStart(11)}  memory`,
    ];
    for (const io of configs) {
      const s = samples.get(key(io)) ?? [];
      const p = paired.get(key(io)) ?? [];
      const both = median((paired.get(`${key(io)}+`) ?? []).map((x) => x.write));
      const w = median(s.map((x) => x.write));
      const v = median(s.map((x) => x.verify));
      const x = (r: number) => `${r.toFixed(2)}×`;
      const mark = io.blockBytes === DEFAULT_IO.blockBytes && io.depth === DEFAULT_IO.depth;
      lines.push(
        [
          `${io.blockBytes / MiB} MiB × ${io.depth}${mark ? ' *' : ''}`.padEnd(16),
          rate(size, w).padStart(12),
          x(median(p.map((y) => y.write))).padStart(8),
          rate(size, v).padStart(12),
          x(median(p.map((y) => y.verify))).padStart(8),
          x(both).padStart(11),
          `  ${((2 * io.depth + 1) * io.blockBytes) / MiB} MiB`,
        ].join(''),
      );
    }
    lines.push(
      '',
      '* the default (DEFAULT_IO). Ratios: median over runs of (our time ÷ the time of the dd run just before it); below 1.00× is faster than dd.',
      `peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
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
