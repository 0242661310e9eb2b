/**
 * Streaming must not hold the image in memory: a 256 MiB image of zeros (the worst case: a few
 * KiB of zstd expand to all of it) is decoded by a slow reader while the stream's own buffer
 * and chunk sizes are watched. The resident set and the speed are measured in bench/image.ts.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_CHUNK_SIZE,
  openImageStream,
  probeImage,
  readImagePrefix,
} from './image-source.js';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
let dir: string;
let img: string;
let expectedHash: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-image-mem-'));
  img = join(dir, 'zero.img');
  writeFileSync(img, '');
  truncateSync(img, SIZE);
  execFileSync('zstd', ['-q', '-k', img]);
  execFileSync('xz', ['-k', '-0', '-T1', img]);
  execFileSync('gzip', ['-k', '-1', img]);
  execFileSync('bzip2', ['-k', img]);
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < SIZE / MiB; i++) hash.update(zeros);
  expectedHash = hash.digest('hex');
  // Load the decoders (native modules, JIT) before anything is measured.
  for (const ext of ['zst', 'xz', 'gz', 'bz2'])
    await readImagePrefix(await probeImage(`${img}.${ext}`), 8 * MiB);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('streaming memory', () => {
  it.each(['zst', 'xz', 'gz', 'bz2'])(
    '%s: 256 MiB of zeros decode without buffering the image',
    async (ext) => {
      const info = await probeImage(`${img}.${ext}`);
      const hash = createHash('sha256');
      let total = 0;
      let largestChunk = 0;
      let mostBuffered = 0;
      const stream = openImageStream(info);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        total += chunk.length;
        largestChunk = Math.max(largestChunk, chunk.length);
        // A slow reader (a long pause after the first chunk): a decoder that ignored
        // backpressure would fill the stream's buffer meanwhile.
        await new Promise((r) => setTimeout(r, total === chunk.length ? 500 : 1));
        mostBuffered = Math.max(mostBuffered, stream.readableLength);
      }
      expect(total).toBe(SIZE);
      expect(hash.digest('hex')).toBe(expectedHash);
      // Never more than two chunks' worth (4 MiB each) of the image at once, in a chunk or
      // waiting in the stream; buffering the image would show as 256 MiB.
      const bound = 2 * DEFAULT_CHUNK_SIZE;
      expect({
        ext,
        largestChunk: largestChunk <= bound,
        mostBuffered: mostBuffered <= bound,
      }).toEqual({ ext, largestChunk: true, mostBuffered: true });
    },
  );
});
