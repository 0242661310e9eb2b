/**
 * One reader, N writers: the tee (block-source.ts) and writeImageMany (write-many.ts) on real
 * files and real compressed images. What must hold: every view gets exactly the image; the
 * image is read once however many views; the fastest view never runs more than the window
 * ahead of the slowest live one; a closed view holds no one back; a failure of the image
 * fails every stick, a failure of one stick fails only that stick.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { run, tempDir } from '../../test/fixtures.js';
import { probeImage } from '../image/image-source.js';
import { applyPatch, BlockTee, type BlockSource } from './block-source.js';
import { openFileDestination, type Destination } from './destination.js';
import { HEAD_BYTES } from './write.js';
import { writeImageMany } from './write-many.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const MiB = 1024 * 1024;
const KiB = 1024;
let n = 0;
const fresh = (name: string) => `${tmp.path}/${name}-${n++}`;

/** A source over `data` that counts what it delivers and can be held or made to fail. */
function memorySource(
  data: Buffer,
  o: { failAt?: number; gate?: (offset: number) => Promise<void> } = {},
) {
  const stats = { delivered: 0, fills: [] as number[], closed: false };
  const src: BlockSource = {
    async fill(buf, length, offset) {
      stats.fills.push(offset);
      await o.gate?.(offset);
      if (o.failAt !== undefined && offset + length > o.failAt) throw new Error('inner broke');
      const got = Math.max(0, Math.min(length, data.length - offset));
      data.copy(buf, 0, offset, offset + got);
      stats.delivered += got;
      return got;
    },
    async close() {
      stats.closed = true;
    },
  };
  return { src, stats };
}

/** Reads a whole view as a writer would: `depth` fills in flight, `bs` bytes each. */
async function drain(view: BlockSource, bs: number, depth = 2, limit = Infinity) {
  const parts: Buffer[] = [];
  let next = 0;
  const inflight: Promise<Buffer>[] = [];
  let ended = false;
  for (;;) {
    while (!ended && inflight.length < depth && next < limit) {
      const buf = Buffer.alloc(bs);
      const at = next;
      const want = Math.min(bs, limit - at);
      next += want;
      inflight.push(view.fill(buf, want, at).then((got) => buf.subarray(0, got)));
    }
    const p = inflight.shift();
    if (!p) break;
    const b = await p;
    if (b.length < bs) ended = true;
    parts.push(b);
  }
  await view.close();
  return Buffer.concat(parts);
}

const tick = () => new Promise((r) => setImmediate(r));
/** Resolves true if `p` settles within a few turns of the event loop. */
async function settles(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 20; i++) await tick();
  return done;
}

describe('BlockTee', () => {
  it('gives every view exactly the image and reads the inner source once', async () => {
    for (const size of [0, 1, 64 * KiB - 1, 64 * KiB, 640 * KiB + 3]) {
      const data = randomBytes(size);
      const { src, stats } = memorySource(data);
      const tee = new BlockTee(src, { views: 3, blockBytes: 64 * KiB, window: 4 });
      // Different fill sizes per view: the tee does not need the writers to agree on blocks.
      const got = await Promise.all([
        drain(tee.views[0] as BlockSource, 64 * KiB, 2),
        drain(tee.views[1] as BlockSource, 32 * KiB, 3),
        drain(tee.views[2] as BlockSource, 100 * KiB, 1, size),
      ]);
      for (const g of got) expect(g.equals(data)).toBe(true);
      expect(stats.delivered).toBe(size);
      expect(tee.bytesRead).toBe(size);
      // Every shared block was read once: the offsets asked of the inner source are distinct.
      expect(new Set(stats.fills).size).toBe(stats.fills.length);
      expect(stats.closed).toBe(true);
    }
  });

  it('holds the fastest view at the window until the slowest catches up', async () => {
    const bs = 4 * KiB;
    const data = randomBytes(20 * bs);
    const { src, stats } = memorySource(data);
    const tee = new BlockTee(src, { views: 2, blockBytes: bs, window: 3 });
    const [fast, slow] = tee.views as [BlockSource, BlockSource];
    const buf = () => Buffer.alloc(bs);
    // The fast view takes the three blocks of the window...
    for (let i = 0; i < 3; i++) expect(await fast.fill(buf(), bs, i * bs)).toBe(bs);
    // ...and waits for the fourth: the slow one still needs block 0.
    const fourth = fast.fill(buf(), bs, 3 * bs);
    expect(await settles(fourth)).toBe(false);
    expect(Math.max(...stats.fills)).toBe(2 * bs); // nothing read past the window
    expect(await slow.fill(buf(), bs, 0)).toBe(bs);
    expect(await settles(fourth)).toBe(true);
    await tee.close();
  });

  it('a closed view holds no one back; the last one closing closes the inner source', async () => {
    const bs = 4 * KiB;
    const data = randomBytes(50 * bs + 7);
    const { src, stats } = memorySource(data);
    const tee = new BlockTee(src, { views: 3, blockBytes: bs, window: 2 });
    const [a, b, c] = tee.views as [BlockSource, BlockSource, BlockSource];
    // b never reads and c stops after one block: both close, and a reads to the end.
    expect(await c.fill(Buffer.alloc(bs), bs, 0)).toBe(bs);
    await b.close();
    await c.close();
    expect((await drain(a, bs)).equals(data)).toBe(true);
    expect(stats.delivered).toBe(data.length);
    expect(stats.closed).toBe(true);
    await expect(b.fill(Buffer.alloc(bs), bs, 0)).rejects.toThrow(/closed/);
  });

  it('an inner failure fails every view that reaches it; what was read before is served', async () => {
    const bs = 4 * KiB;
    const data = randomBytes(10 * bs);
    const { src } = memorySource(data, { failAt: 5 * bs });
    const tee = new BlockTee(src, { views: 2, blockBytes: bs, window: 8 });
    const [a, b] = tee.views as [BlockSource, BlockSource];
    for (const v of [a, b]) {
      for (let i = 0; i < 5; i++) {
        const buf = Buffer.alloc(bs);
        expect(await v.fill(buf, bs, i * bs)).toBe(bs);
        expect(buf.equals(data.subarray(i * bs, (i + 1) * bs))).toBe(true);
      }
      await expect(v.fill(Buffer.alloc(bs), bs, 5 * bs)).rejects.toThrow('inner broke');
    }
    await tee.close();
  });

  it('refuses fills out of order and a window that cannot hold one fill', async () => {
    const { src } = memorySource(randomBytes(64 * KiB));
    expect(() => new BlockTee(src, { views: 1, blockBytes: 4 * KiB, window: 1 })).toThrow(
      RangeError,
    );
    const tee = new BlockTee(src, { views: 1, blockBytes: 4 * KiB, window: 2 });
    const v = tee.views[0] as BlockSource;
    await expect(v.fill(Buffer.alloc(4 * KiB), 4 * KiB, 4 * KiB)).rejects.toThrow(/in order/);
    await expect(v.fill(Buffer.alloc(12 * KiB), 12 * KiB, 0)).rejects.toThrow(RangeError);
    await tee.close();
  });
});

describe('writeImageMany on file targets', () => {
  const patches = (size: number) =>
    [0, 1, 2].map((i) => [
      { offset: 10, data: Buffer.from(`head-${i}`) },
      { offset: Math.min(3 * MiB - 2, size - 8), data: Buffer.from(`mid-${i}`) },
    ]);
  const expected = (image: Buffer, patch: { offset: number; data: Buffer }[]) => {
    const out = Buffer.from(image);
    applyPatch(out, 0, out.length, patch);
    return out;
  };

  it.each(['raw', 'zst'])(
    'writes each target its own patched image from one read of a %s image',
    async (kind) => {
      const src = fresh('src.img');
      const image = randomBytes(7 * MiB + 512);
      writeFileSync(src, image);
      if (kind === 'zst') run('zstd', ['-q', '-1', src, '-o', `${src}.zst`]);
      const info = await probeImage(kind === 'zst' ? `${src}.zst` : src);
      const ps = patches(image.length);
      const dests = await Promise.all(
        ps.map(() => openFileDestination(fresh('out.img'), { overwrite: false })),
      );
      const ended: number[] = [];
      const r = await writeImageMany({
        image: info,
        io: { blockBytes: MiB, depth: 2 },
        window: 3,
        targets: dests.map((d, i) => ({
          destination: d,
          patch: ps[i] ?? [],
          onEnd: () => ended.push(i),
        })),
      });
      for (const d of dests) await d.close();
      expect(r.outcomes.map((o) => o.ok)).toEqual([true, true, true]);
      expect(ended.sort()).toEqual([0, 1, 2]);
      dests.forEach((d, i) => {
        expect(readFileSync(d.path).equals(expected(image, ps[i] ?? []))).toBe(true);
      });
      // One read (or one decode) for three targets.
      expect(r.imageBytesRead).toBe(image.length);
    },
  );

  it('a target that fails is dropped with its own error; the others finish', async () => {
    const src = fresh('src.img');
    const image = randomBytes(9 * MiB);
    writeFileSync(src, image);
    const ps = patches(image.length);
    const files = await Promise.all(
      ps.map(() => openFileDestination(fresh('out.img'), { overwrite: false })),
    );
    // The middle one stops taking data at 4 MiB, like a stick that holds less than it claims.
    const broken: Destination = {
      ...(files[1] as Destination),
      async write(buf, length, offset) {
        if (offset >= 4 * MiB) throw Object.assign(new Error('EIO'), { code: 'EIO' });
        return (files[1] as Destination).write(buf, length, offset);
      },
    };
    const afterWrite: number[] = [];
    const r = await writeImageMany({
      image: await probeImage(src),
      io: { blockBytes: MiB, depth: 2 },
      window: 2,
      targets: files.map((f, i) => ({
        destination: i === 1 ? broken : f,
        patch: ps[i] ?? [],
        afterWrite: async () => void afterWrite.push(i),
      })),
    });
    for (const f of files) await f.close();
    expect(r.outcomes[0]?.ok).toBe(true);
    expect(r.outcomes[2]?.ok).toBe(true);
    expect(r.outcomes[1]).toMatchObject({
      ok: false,
      error: { code: 'ZFLASH_WRITE_FAILED', details: { state: 'no-partition-table' } },
    });
    expect(afterWrite.sort()).toEqual([0, 2]);
    expect(readFileSync(files[0]?.path ?? '').equals(expected(image, ps[0] ?? []))).toBe(true);
    expect(readFileSync(files[2]?.path ?? '').equals(expected(image, ps[2] ?? []))).toBe(true);
    // The failed one has no first MiB: it cannot pass for a finished image.
    expect(
      readFileSync(files[1]?.path ?? '')
        .subarray(0, HEAD_BYTES)
        .every((b) => b === 0),
    ).toBe(true);
  });

  it('an afterWrite failure (the payload check) fails only its own target', async () => {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(3 * MiB));
    const dests = await Promise.all(
      [0, 1].map(() => openFileDestination(fresh('out.img'), { overwrite: false })),
    );
    const r = await writeImageMany({
      image: await probeImage(src),
      targets: dests.map((d, i) => ({
        destination: d,
        patch: [],
        afterWrite: async () => {
          if (i === 0) throw new Error('payload differs');
        },
      })),
    });
    for (const d of dests) await d.close();
    expect(r.outcomes.map((o) => o.ok)).toEqual([false, true]);
  });

  it('a corrupt compressed image fails every target, each with the image error', async () => {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(8 * MiB));
    run('gzip', ['-k', '-1', src]);
    const gz = readFileSync(`${src}.gz`);
    gz.fill(0x42, Math.floor(gz.length / 2), Math.floor(gz.length / 2) + 64);
    writeFileSync(`${src}.gz`, gz);
    const dests = await Promise.all(
      [0, 1].map(() => openFileDestination(fresh('out.img'), { overwrite: false })),
    );
    const r = await writeImageMany({
      image: await probeImage(`${src}.gz`),
      targets: dests.map((d) => ({ destination: d, patch: [] })),
    });
    for (const d of dests) await d.close();
    for (const o of r.outcomes) expect(o).toMatchObject({ ok: false, error: { kind: 'target' } });
  });

  it('cancelling stops every target, each saying what it left', async () => {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(24 * MiB));
    const files = await Promise.all(
      [0, 1, 2].map(() => openFileDestination(fresh('out.img'), { overwrite: false })),
    );
    const controller = new AbortController();
    // Cancelled while the last target writes at 4 MiB: the window keeps the others within
    // 8 MiB of it, so none can have finished.
    const last: Destination = {
      ...(files[2] as Destination),
      async write(buf, length, offset) {
        if (offset >= 4 * MiB) controller.abort();
        return (files[2] as Destination).write(buf, length, offset);
      },
    };
    const r = await writeImageMany({
      image: await probeImage(src),
      io: { blockBytes: MiB, depth: 2 },
      signal: controller.signal,
      targets: files.map((f, i) => ({ destination: i === 2 ? last : f, patch: [] })),
    });
    for (const o of r.outcomes)
      expect(o).toMatchObject({
        ok: false,
        error: { code: 'ZFLASH_CANCELLED', details: { state: 'no-partition-table' } },
      });
    for (const f of files) {
      const head = Buffer.alloc(HEAD_BYTES);
      const got = await f.read(head, HEAD_BYTES, 0);
      expect(head.subarray(0, got).every((b) => b === 0)).toBe(true);
      await f.discard();
    }
  });
});
