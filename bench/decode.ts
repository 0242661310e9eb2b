/**
 * Issue #8: how fast do we decode compressed images (.zst, .bz2, .xz, .gz) through
 * `openImageStream`, next to the reference command-line decoders doing the same in the same run?
 *
 * One image of realistic, partly compressible data (default 256 MiB: incompressible stretches
 * like a squashfs store, text-like stretches, and zeros, in 1 MiB pieces) is compressed with the
 * tools' usual settings. Then, per format, `probeImage` + `openImageStream` read to the end
 * in-process (chunks dropped) and the tool (`zstd -dc`, `bzcat`, `xzcat`, `zcat`, output to
 * /dev/null) take turns: 1 warm-up and 3 timed rounds each, order alternating, medians
 * compared. Printed, never asserted.
 *
 * Run with `npm run bench:decode` (builds app/ and bench/ into dist/ first);
 * `npm run bench:decode -- --mib 64` for a quicker, smaller run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openImageStream, probeImage } from '../app/image/image-source.js';
import { nodeZstdDecompress } from '../app/image/zstd.js';
import { tempDir } from '../test/fixtures.js';
import { MiB, ratio, stats } from './common.js';

const ROUNDS = 3;
const WARMUP = 1;
const TARGET_BZIP2 = 2.0;

interface Format {
  readonly ext: string;
  readonly name: string;
  /** How the file is made from the image (output next to it, image kept). */
  readonly compress: readonly string[];
  /** The reference decoder, the file appended. */
  readonly tool: readonly string[];
  readonly ours: string;
}

const FORMATS: readonly Format[] = [
  {
    ext: 'zst',
    name: 'zstd',
    compress: ['zstd', '-q', '-k', '-T0'],
    tool: ['zstd', '-dc'],
    ours: nodeZstdDecompress() ? "libzstd via Node's zlib" : 'libzstd via zstd-napi',
  },
  {
    ext: 'bz2',
    name: 'bzip2',
    compress: ['bzip2', '-k'],
    tool: ['bzcat'],
    ours: 'libbzip2 (WebAssembly), block by block',
  },
  {
    ext: 'xz',
    name: 'xz',
    compress: ['xz', '-k', '-T0'],
    tool: ['xzcat'],
    ours: 'liblzma via lzma-native',
  },
  { ext: 'gz', name: 'gzip', compress: ['gzip', '-k'], tool: ['zcat'], ours: "Node's zlib" },
];

/** xorshift32: the same "random" choices on every machine. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/**
 * The image: per MiB, 45 % incompressible (AES-CTR keystream, like the compressed squashfs
 * that is most of a NixOS image), 30 % text-like (words from a 4096-word vocabulary: configs,
 * scripts, docs), 25 % zeros (free space). Deterministic.
 */
function writeImage(path: string, mib: number): void {
  const rand = prng(0x5eed);
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const vocab = Array.from({ length: 4096 }, () => {
    const n = 2 + Math.floor(rand() * 9);
    let w = '';
    for (let i = 0; i < n; i++) w += letters[Math.floor(rand() ** 2 * letters.length)];
    return Buffer.from(`${w}${rand() < 0.15 ? '\n' : ' '}`);
  });
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      const kind = rand();
      let piece: Buffer;
      if (kind < 0.45) {
        piece = cipher.update(Buffer.alloc(MiB));
      } else if (kind < 0.75) {
        piece = Buffer.alloc(MiB);
        let at = 0;
        while (at < MiB) {
          const w = vocab[Math.floor(rand() ** 3 * vocab.length)] ?? vocab[0]!;
          at += w.copy(piece, at);
        }
      } else {
        piece = Buffer.alloc(MiB);
      }
      writeSync(fd, piece);
    }
  } finally {
    closeSync(fd);
  }
}

function timedTool(cmd: readonly string[], file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const [bin = '', ...args] = cmd;
    const child = spawn(bin, [...args, file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(performance.now() - t0);
      else reject(new Error(`${cmd.join(' ')} ${file} exited ${code}: ${stderr}`));
    });
  });
}

async function timedOurs(file: string, size: number): Promise<number> {
  const t0 = performance.now();
  const info = await probeImage(file);
  let n = 0;
  for await (const chunk of openImageStream(info) as AsyncIterable<Buffer>) n += chunk.length;
  if (n !== size) throw new Error(`bench: ${file} decoded to ${n} bytes, not ${size}`);
  return performance.now() - t0;
}

const mibps = (bytes: number, ms: number) => `${((bytes / MiB / ms) * 1000).toFixed(1)} MiB/s`;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const at = process.argv.indexOf('--mib');
  const mib = at > 0 ? Number(process.argv[at + 1]) : 256;
  if (!Number.isInteger(mib) || mib < 1) throw new Error('bench: --mib takes a whole number');
  const tmp = tempDir('zflash-bench-decode-');
  const onSignal = (sig: NodeJS.Signals) => {
    tmp.cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const t0 = performance.now();
    const image = join(tmp.path, 'image.img');
    writeImage(image, mib);
    const size = statSync(image).size;
    for (const f of FORMATS) {
      const [bin = '', ...args] = f.compress;
      const r = spawnSync(bin, [...args, image], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`bench: ${f.compress.join(' ')} failed: ${r.stderr}`);
    }
    const setupMs = performance.now() - t0;

    const lines: string[] = [];
    let bzip2Ratio = NaN;
    for (const f of FORMATS) {
      const file = `${image}.${f.ext}`;
      const ours: number[] = [];
      const tool: number[] = [];
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        const a = async () => {
          const ms = await timedTool(f.tool, file);
          if (i >= WARMUP) tool.push(ms);
        };
        const b = async () => {
          const ms = await timedOurs(file, size);
          if (i >= WARMUP) ours.push(ms);
        };
        // Alternate which goes first, so drift (and the page cache) is shared.
        if (i % 2) await b().then(a);
        else await a().then(b);
      }
      const o = stats(ours);
      const t = stats(tool);
      if (f.ext === 'bz2') bzip2Ratio = o.median / t.median;
      const csize = statSync(file).size;
      lines.push(
        `${f.name.padEnd(6)} ${(csize / MiB).toFixed(1).padStart(6)} MiB (${ratio(size, csize)})  ours ${mibps(size, o.median).padStart(12)}  ${f.tool.join(' ').padEnd(9)} ${mibps(size, t.median).padStart(12)}  time ratio ${ratio(o.median, t.median)}   [${f.ours}]`,
      );
    }
    const out = [
      `decode benchmark (issue #8), Node ${process.version}, ${process.platform}/${process.arch}`,
      `image  ${mib} MiB: per MiB 45 % incompressible, 30 % text-like, 25 % zeros; compressed with ${FORMATS.map((f) => f.compress.join(' ')).join(', ')}`,
      `setup  ${sec(setupMs)}; ${WARMUP} warm-up + ${ROUNDS} rounds per format, order alternating; medians`,
      `ours = probeImage + openImageStream read to the end in-process; tool = the command, output to /dev/null`,
      '',
      ...lines,
      '',
      `target: bzip2 within ${TARGET_BZIP2.toFixed(1)}× of bzcat: ${bzip2Ratio <= TARGET_BZIP2 ? 'MET' : 'NOT MET'} (${ratio(bzip2Ratio, 1)})`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    tmp.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
