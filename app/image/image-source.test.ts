import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecompressStream } from 'zstd-napi';
import { ZflashError } from '../errors.js';
import { openImageStream, probeImage, readImagePrefix } from './image-source.js';
import type { ImageSourceInfo } from './image-types.js';
import { nodeZstdDecompress } from './zstd.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let dir: string;
let original: Buffer;
const paths: Record<string, string> = {};

/** Runs a real compressor; the fixtures are what users download, not hand-made bytes. */
const tool = (cmd: string, args: string[], cwd?: string): void => {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-image-'));
  // Random data (stored as raw blocks by zstd/deflate) plus zeros (RLE / long matches), so both
  // kinds of block are exercised.
  original = Buffer.concat([randomBytes(3 * MiB), Buffer.alloc(2 * MiB), randomBytes(MiB + 12345)]);
  const img = join(dir, 'nixos.img');
  writeFileSync(img, original);
  paths.raw = img;
  tool('xz', ['-k', '-T1', img]);
  paths.xz = `${img}.xz`;
  tool('gzip', ['-k', img]);
  paths.gz = `${img}.gz`;
  tool('bzip2', ['-k', img]);
  paths.bz2 = `${img}.bz2`;
  tool('zstd', ['-q', '-k', img]);
  paths.zst = `${img}.zst`;
  tool('zstd', ['-q', '--no-content-size', img, '-o', join(dir, 'nosize.img.zst')]);
  paths.zstNoSize = join(dir, 'nosize.img.zst');
  tool('zip', ['-q', 'nixos.img.zip', 'nixos.img'], dir);
  paths.zip = join(dir, 'nixos.img.zip');
  tool('zip', ['-q', '-0', 'stored.zip', 'nixos.img'], dir);
  paths.zipStored = join(dir, 'stored.zip');
  // Two frames back to back, the second behind a skippable frame (as pzstd writes them).
  const skippable = Buffer.alloc(8 + 5);
  skippable.writeUInt32LE(0x184d2a50, 0);
  skippable.writeUInt32LE(5, 4);
  writeFileSync(
    join(dir, 'multi.img.zst'),
    Buffer.concat([readFileSync(paths.zst), skippable, readFileSync(paths.zst)]),
  );
  paths.zstMulti = join(dir, 'multi.img.zst');
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function decodeFile(path: string): Promise<Buffer> {
  return readAll(openImageStream(await probeImage(path)));
}

async function expectZflash(
  promise: Promise<unknown>,
  code: string,
  kind = 'target',
): Promise<ZflashError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(ZflashError);
  const z = err as ZflashError;
  expect({ code: z.code, kind: z.kind }).toEqual({ code, kind });
  expect(z.hint.length).toBeGreaterThan(10);
  return z;
}

const formats = [
  ['raw', 'none'],
  ['xz', 'xz'],
  ['gz', 'gzip'],
  ['bz2', 'bzip2'],
  ['zst', 'zstd'],
  ['zstNoSize', 'zstd'],
  ['zstMulti', 'zstd'],
  ['zip', 'zip'],
  ['zipStored', 'zip'],
] as const;

describe('probeImage', () => {
  it('detects every format by its magic bytes', async () => {
    for (const [key, compression] of formats) {
      const info = await probeImage(paths[key]!);
      expect(info.compression, key).toBe(compression);
      expect(
        info.notices.filter((n) => n.code === 'ZFLASH_IMAGE_NAME_MISMATCH'),
        key,
      ).toEqual([]);
    }
  });

  it('reports exact sizes where the format records them', async () => {
    for (const key of ['raw', 'xz', 'zst', 'zip', 'zipStored'] as const) {
      const info = await probeImage(paths[key]!);
      expect({ key, size: info.size, exact: info.sizeIsExact }).toEqual({
        key,
        size: original.length,
        exact: true,
      });
    }
    const multi = await probeImage(paths.zstMulti!);
    expect({ size: multi.size, exact: multi.sizeIsExact }).toEqual({
      size: 2 * original.length,
      exact: true,
    });
  });

  it('estimates gzip and leaves bzip2 / zstd without content size unknown', async () => {
    const gz = await probeImage(paths.gz!);
    expect({ size: gz.size, exact: gz.sizeIsExact }).toEqual({
      size: original.length,
      exact: false,
    });
    expect(gz.notices.map((n) => n.code)).toContain('ZFLASH_IMAGE_SIZE_ESTIMATED');
    for (const key of ['bz2', 'zstNoSize'] as const) {
      const info = await probeImage(paths[key]!);
      expect({ key, size: info.size, exact: info.sizeIsExact }).toEqual({
        key,
        size: null,
        exact: false,
      });
      expect(info.notices.map((n) => n.code)).toContain('ZFLASH_IMAGE_SIZE_UNKNOWN');
    }
  });

  it('trusts content over name and says so', async () => {
    const gzAsIso = join(dir, 'really-gzip.iso');
    copyFileSync(paths.gz!, gzAsIso);
    const gz = await probeImage(gzAsIso);
    expect(gz.compression).toBe('gzip');
    expect(gz.notices.map((n) => n.code)).toContain('ZFLASH_IMAGE_NAME_MISMATCH');
    expect(sha256(await decodeFile(gzAsIso))).toBe(sha256(original));

    const rawAsZst = join(dir, 'really-raw.img.zst');
    copyFileSync(paths.raw!, rawAsZst);
    const raw = await probeImage(rawAsZst);
    expect(raw.compression).toBe('none');
    expect(raw.size).toBe(original.length);
    expect(raw.notices.find((n) => n.code === 'ZFLASH_IMAGE_NAME_MISMATCH')?.message).toMatch(
      /zstd.*uncompressed/,
    );
  });

  it('warns when zstd frames carry no checksum, and still decodes them', async () => {
    const path = join(dir, 'nocheck.img.zst');
    tool('zstd', ['-q', '--no-check', paths.raw!, '-o', path]);
    const info = await probeImage(path);
    expect(info.notices.map((n) => n.code)).toContain('ZFLASH_IMAGE_NO_CHECKSUM');
    expect(sha256(await readAll(openImageStream(info)))).toBe(sha256(original));
    expect((await probeImage(paths.zst!)).notices.map((n) => n.code)).not.toContain(
      'ZFLASH_IMAGE_NO_CHECKSUM',
    );
  });

  it('names the zip entry it picked', async () => {
    const info = await probeImage(paths.zip!);
    expect(info.compression === 'zip' && info.zipEntry.name).toBe('nixos.img');
  });

  it('reports missing, unreadable and empty files', async () => {
    await expectZflash(probeImage(join(dir, 'nope.iso')), 'ZFLASH_IMAGE_NOT_FOUND', 'input');
    await expectZflash(probeImage(dir), 'ZFLASH_IMAGE_UNREADABLE');
    const empty = join(dir, 'empty.iso');
    writeFileSync(empty, '');
    await expectZflash(probeImage(empty), 'ZFLASH_IMAGE_EMPTY');
  });

  it('refuses a zip with no image or several images', async () => {
    const sub = join(dir, 'zips');
    mkdirSync(sub);
    writeFileSync(join(sub, 'README.txt'), 'hello');
    writeFileSync(join(sub, 'a.img'), 'a');
    writeFileSync(join(sub, 'b.iso'), 'b');
    tool('zip', ['-q', 'none.zip', 'README.txt'], sub);
    tool('zip', ['-q', 'two.zip', 'a.img', 'b.iso', 'README.txt'], sub);
    tool('zip', ['-q', 'one.zip', 'a.img', 'README.txt'], sub);
    const none = await expectZflash(
      probeImage(join(sub, 'none.zip')),
      'ZFLASH_IMAGE_ZIP_AMBIGUOUS',
    );
    expect(none.message).toMatch(/no \.img, \.iso or \.raw/);
    const two = await expectZflash(probeImage(join(sub, 'two.zip')), 'ZFLASH_IMAGE_ZIP_AMBIGUOUS');
    expect(two.message).toMatch(/a\.img, b\.iso/);
    const one = await probeImage(join(sub, 'one.zip'));
    expect(one.compression === 'zip' && one.zipEntry.name).toBe('a.img');
    expect((await decodeFile(join(sub, 'one.zip'))).toString()).toBe('a');
  });
});

describe('openImageStream', () => {
  it.each(formats)('%s decodes byte-for-byte', async (key) => {
    const out = await decodeFile(paths[key]!);
    const expected = key === 'zstMulti' ? Buffer.concat([original, original]) : original;
    expect(out.length).toBe(expected.length);
    expect(sha256(out)).toBe(sha256(expected));
  });

  it('produces large chunks', async () => {
    for (const key of ['raw', 'gz', 'zst', 'zip'] as const) {
      const sizes: number[] = [];
      for await (const chunk of openImageStream(await probeImage(paths[key]!), {
        highWaterMark: MiB,
      }) as AsyncIterable<Buffer>) {
        sizes.push(chunk.length);
      }
      // All but the last chunk (and the odd one at an input boundary) are >= 1 MiB.
      const small = sizes.slice(0, -1).filter((s) => s < MiB);
      expect({ key, small: small.length <= sizes.length / 3 }).toEqual({ key, small: true });
    }
  });

  it('starts at an offset', async () => {
    const start = 3 * MiB + 77;
    for (const key of ['raw', 'zst', 'xz', 'zip'] as const) {
      const out = await readAll(openImageStream(await probeImage(paths[key]!), { start }));
      expect({ key, hash: sha256(out) }).toEqual({ key, hash: sha256(original.subarray(start)) });
    }
  });

  it('stops with a cancellation when the signal aborts', async () => {
    for (const key of ['raw', 'xz', 'gz', 'bz2', 'zst', 'zip'] as const) {
      const controller = new AbortController();
      const stream = openImageStream(await probeImage(paths[key]!), {
        signal: controller.signal,
        highWaterMark: 64 * 1024,
      });
      let chunks = 0;
      const result = (async () => {
        for await (const _chunk of stream as AsyncIterable<Buffer>) {
          chunks++;
          controller.abort();
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await expectZflash(result, 'ZFLASH_CANCELLED', 'cancelled');
      // Not one chunk more after the abort (how long it takes is measured in bench/image.ts).
      expect({ key, chunks, destroyed: stream.destroyed }).toEqual({
        key,
        chunks: 1,
        destroyed: true,
      });
    }
    const aborted = AbortSignal.abort();
    await expectZflash(
      readAll(openImageStream(await probeImage(paths.zst!), { signal: aborted })),
      'ZFLASH_CANCELLED',
      'cancelled',
    );
  });
});

describe('readImagePrefix', () => {
  it.each(formats)('%s gives the first bytes', async (key) => {
    const info = await probeImage(paths[key]!);
    const length = 4 * MiB + 3;
    const prefix = await readImagePrefix(info, length);
    expect(sha256(prefix)).toBe(sha256(original.subarray(0, length)));
  });

  it('fails when the image is shorter than asked', async () => {
    for (const key of ['raw', 'zst'] as const) {
      await expectZflash(
        readImagePrefix(await probeImage(paths[key]!), original.length + 1),
        'ZFLASH_IMAGE_TOO_SHORT',
      );
    }
  });

  it('honours an aborted signal', async () => {
    await expectZflash(
      readImagePrefix(await probeImage(paths.xz!), MiB, { signal: AbortSignal.abort() }),
      'ZFLASH_CANCELLED',
      'cancelled',
    );
  });
});

describe('damaged images', () => {
  const compressed = ['xz', 'gz', 'bz2', 'zst', 'zstNoSize', 'zip', 'zipStored'] as const;

  /** Probe and decode; whichever step notices the damage must say ZFLASH_IMAGE_CORRUPT. */
  const decodeDamaged = async (path: string): Promise<ZflashError> => {
    const work = (async () => {
      const info: ImageSourceInfo = await probeImage(path);
      await readAll(openImageStream(info));
    })();
    const z = await expectZflash(work, 'ZFLASH_IMAGE_CORRUPT');
    return z;
  };

  it.each(compressed)('%s with flipped bytes in the middle', async (key) => {
    const data = readFileSync(paths[key]!);
    const at = Math.floor(data.length / 2);
    for (let i = 0; i < 16; i++) data[at + i] = (data[at + i] ?? 0) ^ 0xa5;
    const path = join(dir, `flipped-${key}`);
    writeFileSync(path, data);
    const z = await decodeDamaged(path);
    expect(z.message).toMatch(/damaged/);
  });

  it.each(compressed)('%s truncated', async (key) => {
    const path = join(dir, `truncated-${key}`);
    copyFileSync(paths[key]!, path);
    const size = readFileSync(path).length;
    truncateSync(path, Math.floor(size * 0.7));
    await decodeDamaged(path);
  });

  it('names the format and roughly where', async () => {
    const data = readFileSync(paths.gz!);
    const at = Math.floor(data.length / 2);
    for (let i = 0; i < 64; i++) data[at + i] = (data[at + i] ?? 0) ^ 0xff;
    const path = join(dir, 'where.img.gz');
    writeFileSync(path, data);
    const z = await decodeDamaged(path);
    expect(z.message).toMatch(/gzip image .* is damaged: .*near byte \d+ of the file/);
    expect(z.details).toMatchObject({ compression: 'gzip' });
  });
});

describe('stopping early', () => {
  it.each(['raw', 'xz', 'gz', 'bz2', 'zst', 'zip'] as const)(
    '%s: destroying the stream ends it promptly without an error',
    async (key) => {
      const stream = openImageStream(await probeImage(paths[key]!), { highWaterMark: 64 * 1024 });
      const errors: unknown[] = [];
      stream.on('error', (e) => errors.push(e));
      await new Promise<void>((resolve) => stream.once('data', () => resolve()));
      let dataAfter = 0;
      stream.on('data', () => dataAfter++);
      stream.destroy();
      await new Promise((resolve) => stream.once('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Closed, nothing more delivered, no error (how long it takes: bench/image.ts).
      expect({ dataAfter, errors }).toEqual({ dataAfter: 0, errors: [] });
    },
  );
});

describe('zstd through libzstd', () => {
  /** A file of random data (stored as raw blocks: only the checksum sees a changed byte). */
  const rawBlocks = (): string => {
    const path = join(dir, 'raw-blocks.img');
    writeFileSync(path, randomBytes(2 * MiB));
    tool('zstd', ['-q', '-f', path]);
    return `${path}.zst`;
  };

  it('catches a changed byte in a raw block by the frame checksum, and says where', async () => {
    const data = readFileSync(rawBlocks());
    const at = Math.floor(data.length / 2);
    data[at] = (data[at] ?? 0) ^ 0x01;
    const path = join(dir, 'raw-flipped.img.zst');
    writeFileSync(path, data);
    // The zstd command agrees that the file is damaged.
    expect(() => execFileSync('zstd', ['-t', '-q', path], { stdio: 'ignore' })).toThrow();
    const z = await expectZflash(
      readAll(openImageStream(await probeImage(path))),
      'ZFLASH_IMAGE_CORRUPT',
    );
    expect(z.message).toMatch(/checksum/i);
    expect(z.message).toMatch(/near byte \d+ of the file, after [\d.]+ MiB of image data/);
    expect(z.details).toMatchObject({ compression: 'zstd' });
    // libzstd checks the checksum at the frame's end: named to within the 256 KiB it was fed.
    const { compressedOffset } = z.details as { compressedOffset: number };
    expect(compressedOffset).toBeGreaterThan(data.length - 256 * 1024 - 1);
  });

  it('runs the zlib-style decoder path (Node ≥ 22.15 zlib) with a libzstd Transform', async () => {
    // Node 20 has no zlib zstd: zstd-napi's own Transform stands in for it, so the piping,
    // chunking and error mapping of that path run here too.
    const createZstdDecompress = () => new DecompressStream();
    const multi = await readAll(
      openImageStream(await probeImage(paths.zstMulti!), { createZstdDecompress }),
    );
    expect(sha256(multi)).toBe(sha256(Buffer.concat([original, original])));
    const data = readFileSync(rawBlocks());
    const at = Math.floor(data.length / 2);
    data[at] = (data[at] ?? 0) ^ 0x01;
    const path = join(dir, 'raw-flipped-zlib.img.zst');
    writeFileSync(path, data);
    const z = await expectZflash(
      readAll(openImageStream(await probeImage(path), { createZstdDecompress })),
      'ZFLASH_IMAGE_CORRUPT',
    );
    expect(z.message).toMatch(/checksum/i);
  });

  it("uses Node's zlib zstd exactly when this Node has one", () => {
    const fake = { createZstdDecompress: () => new DecompressStream() };
    expect(nodeZstdDecompress({})).toBeNull();
    expect(typeof nodeZstdDecompress(fake)).toBe('function');
    const here = (zlib as { createZstdDecompress?: unknown }).createZstdDecompress;
    expect(nodeZstdDecompress() === null).toBe(typeof here !== 'function');
  });
});

describe('bzip2 through libbzip2, block by block', () => {
  /** Bit position of the last end-of-stream magic 0x177245385090 in a bzip2 file. */
  const eosBit = (data: Buffer): number => {
    const magic = 0x177245385090;
    for (let bit = data.length * 8 - 48 - 32; bit >= 0; bit--) {
      let v = 0;
      for (let i = 0; i < 48; i++) {
        const p = bit + i;
        v = v * 2 + (((data[p >> 3] ?? 0) >> (7 - (p & 7))) & 1);
      }
      if (v === magic) return bit;
    }
    throw new Error('no end-of-stream magic');
  };

  it('decodes several concatenated streams of small blocks (pbzip2, cat a.bz2 b.bz2)', async () => {
    const part = join(dir, 'part.img');
    const second = randomBytes(300_000);
    writeFileSync(part, second);
    tool('bzip2', ['-1', '-k', '-f', part]);
    const onePath = join(dir, 'one-level1.img');
    writeFileSync(onePath, original);
    tool('bzip2', ['-1', '-k', '-f', onePath]);
    const path = join(dir, 'streams.img.bz2');
    writeFileSync(
      path,
      Buffer.concat([readFileSync(`${onePath}.bz2`), readFileSync(`${part}.bz2`)]),
    );
    const out = await decodeFile(path);
    expect(sha256(out)).toBe(sha256(Buffer.concat([original, second])));
  });

  it('refuses a stream whose combined CRC does not match its blocks, as bzcat does', async () => {
    const data = readFileSync(paths.bz2!);
    // The 32-bit combined CRC follows the end-of-stream magic; flip its last bit.
    const p = eosBit(data) + 48 + 31;
    data[p >> 3] = (data[p >> 3] ?? 0) ^ (1 << (7 - (p & 7)));
    const path = join(dir, 'combined-crc.img.bz2');
    writeFileSync(path, data);
    expect(() => execFileSync('bzcat', [path], { stdio: 'ignore' })).toThrow();
    const z = await expectZflash(decodeFile(path), 'ZFLASH_IMAGE_CORRUPT');
    expect(z.message).toMatch(/combined CRC/);
  });

  it('names the block that does not decode', async () => {
    const data = readFileSync(paths.bz2!);
    const at = Math.floor(data.length / 2);
    data[at] = (data[at] ?? 0) ^ 0x10;
    const path = join(dir, 'block.img.bz2');
    writeFileSync(path, data);
    const z = await expectZflash(decodeFile(path), 'ZFLASH_IMAGE_CORRUPT');
    expect(z.message).toMatch(/bzip2 image .* is damaged: a block does not decode/);
    // The block holding the damage starts before it, and within one block's length (≤ 900 kB).
    const offset = (z.details as { compressedOffset: number }).compressedOffset;
    expect(offset).toBeLessThanOrEqual(at);
    expect(at - offset).toBeLessThan(1_000_000);
  });

  it('refuses data after the last stream', async () => {
    const path = join(dir, 'trailing.img.bz2');
    writeFileSync(path, Buffer.concat([readFileSync(paths.bz2!), Buffer.from('garbage!')]));
    const z = await expectZflash(decodeFile(path), 'ZFLASH_IMAGE_CORRUPT');
    expect(z.message).toMatch(/unexpected data follows the end of the bzip2 stream/);
  });
});
