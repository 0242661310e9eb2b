/**
 * What app/image's tests used to assert as times and memory (issue #16), measured instead:
 * - decoding: a 256 MiB image of zeros (the worst case for memory: a few KiB of zstd expand to
 *   all of it) through `openImageStream`, in a fresh Node process per run, next to the format's
 *   own command-line decoder (`zstd -dc`, `xz -dc`, `gzip -dc` into /dev/null) in the same
 *   rounds: MiB/s, the ratio, and the growth of the resident set (no forced GC);
 * - stopping: how long after an abort the stream rejects with ZFLASH_CANCELLED (the reader
 *   sleeps 50 ms per chunk, as the test does), and how long after destroy() it closes.
 * Printed, never asserted.
 *
 * Run with `npm run bench:image`. Options: `-- --size-mib 256 --rounds 3`.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openImageStream, probeImage, readImagePrefix } from '../app/image/image-source.js';
import { run, tempDir } from '../test/fixtures.js';
import { median, MiB, numberArg, rate, ratio, timed } from './common.js';

const SIZE_MIB = numberArg('size-mib', 256);
const ROUNDS = numberArg('rounds', 3);
const SELF = fileURLToPath(import.meta.url);

/** `--child decode PATH`: one decode in this fresh process; prints {ms, rssGrowth}. */
async function childDecode(path: string): Promise<void> {
  const info = await probeImage(path);
  // Load the decoder (native modules, JIT) before anything is measured.
  await readImagePrefix(info, 8 * MiB);
  const before = process.memoryUsage().rss;
  let peak = before;
  let total = 0;
  const t0 = performance.now();
  for await (const chunk of openImageStream(info) as AsyncIterable<Buffer>) {
    total += chunk.length;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ ms, total, rssGrowth: peak - before })}\n`);
}

/** ms from abort (after the first chunk) to the rejection, and from destroy() to 'close'. */
async function stopping(path: string): Promise<{ abort: number; destroy: number }> {
  const info = await probeImage(path);
  const controller = new AbortController();
  const stream = openImageStream(info, { signal: controller.signal, highWaterMark: 64 * 1024 });
  let abortedAt = 0;
  let abort = NaN;
  try {
    for await (const _chunk of stream as AsyncIterable<Buffer>) {
      abortedAt = performance.now();
      controller.abort();
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch {
    abort = performance.now() - abortedAt;
  }
  const s2 = openImageStream(info, { highWaterMark: 64 * 1024 });
  await new Promise<void>((resolve) => s2.once('data', () => resolve()));
  const t0 = performance.now();
  s2.destroy();
  await new Promise((resolve) => s2.once('close', resolve));
  return { abort, destroy: performance.now() - t0 };
}

async function main(): Promise<void> {
  const tmp = tempDir('zflash-bench-image-');
  try {
    const img = join(tmp.path, 'zero.img');
    writeFileSync(img, '');
    truncateSync(img, SIZE_MIB * MiB);
    run('zstd', ['-q', '-k', img]);
    run('xz', ['-k', '-0', '-T1', img]);
    run('gzip', ['-k', '-1', img]);
    run('bzip2', ['-k', '-1', img]);
    run('zip', ['-q', '-j', `${img}.zip`, img]);
    const formats = [
      { ext: 'zst', cli: ['zstd', '-dc'] },
      { ext: 'xz', cli: ['xz', '-dc'] },
      { ext: 'gz', cli: ['gzip', '-dc'] },
    ];
    const lines = [
      `image decoding and stopping (issue #16), Node ${process.version}, ${SIZE_MIB} MiB of zeros; ${ROUNDS} rounds, interleaved`,
      '',
      `${'format'.padEnd(8)}${'openImageStream'.padStart(18)}${'CLI decoder'.padStart(16)}${'ours ÷ CLI'.padStart(12)}${'RSS growth (max)'.padStart(19)}`,
    ];
    for (const f of formats) {
      const path = `${img}.${f.ext}`;
      const ours: number[] = [];
      const cli: number[] = [];
      const growth: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        let out = '';
        await timed(process.execPath, [SELF, '--child', 'decode', path], {
          onLine: (l) => (out = l),
        });
        const r = JSON.parse(out) as { ms: number; total: number; rssGrowth: number };
        if (r.total !== SIZE_MIB * MiB) throw new Error(`bench: ${f.ext} decoded ${r.total} bytes`);
        ours.push(r.ms);
        growth.push(r.rssGrowth);
        cli.push((await timed('bash', ['-c', `${f.cli.join(' ')} '${path}' > /dev/null`])).ms);
      }
      const o = median(ours);
      const c = median(cli);
      lines.push(
        [
          f.ext.padEnd(8),
          rate(SIZE_MIB * MiB, o).padStart(18),
          rate(SIZE_MIB * MiB, c).padStart(16),
          ratio(o, c).padStart(12),
          `${(Math.max(...growth) / MiB).toFixed(1)} MiB`.padStart(19),
        ].join(''),
      );
    }
    lines.push(
      '',
      "stopping (median ms): abort → ZFLASH_CANCELLED (includes the reader's 50 ms sleep after the chunk it aborted on); destroy() → close",
    );
    for (const ext of ['img', 'img.xz', 'img.gz', 'img.bz2', 'img.zst', 'img.zip']) {
      const path = join(tmp.path, `zero.${ext}`);
      const s: { abort: number; destroy: number }[] = [];
      for (let i = 0; i < ROUNDS; i++) s.push(await stopping(path));
      lines.push(
        `  ${ext.padEnd(10)} abort ${median(s.map((x) => x.abort))
          .toFixed(1)
          .padStart(7)} ms   destroy ${median(s.map((x) => x.destroy))
          .toFixed(1)
          .padStart(7)} ms`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    tmp.cleanup();
  }
}

const i = process.argv.indexOf('--child');
const job = i >= 0 ? childDecode(process.argv[i + 2] ?? '') : main();
job.catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
