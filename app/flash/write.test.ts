import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { probeImage } from '../image/image-source.js';
import { openFileDestination, type Destination } from './destination.js';
import { ProgressThrottle, type FlashProgress } from './progress.js';
import { applyPatch, BLOCK_BYTES, writeImage } from './write.js';
import { tempDir } from '../../test/fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const MiB = 1024 * 1024;

describe('applyPatch', () => {
  it('copies exactly the parts of each extent that fall in the block', () => {
    const block = Buffer.alloc(16);
    applyPatch(block, 100, 16, [
      { offset: 90, data: Buffer.alloc(12, 1) }, // 90..102 → block 0..2
      { offset: 110, data: Buffer.alloc(4, 2) }, // 110..114 → block 10..14
      { offset: 115, data: Buffer.alloc(10, 3) }, // 115..125 → block 15
      { offset: 200, data: Buffer.alloc(4, 4) }, // outside
    ]);
    expect([...block]).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 3]);
  });
});

describe('ProgressThrottle', () => {
  it('emits at most one update per interval, with speed and ETA', () => {
    let t = 0;
    const seen: FlashProgress[] = [];
    const p = new ProgressThrottle(
      (e) => seen.push(e),
      250,
      () => t,
    );
    p.start('writing', 1000);
    for (t = 1; t <= 1000; t += 10) p.update(t, 1000);
    // start + one per 250 ms over a 1 s run
    expect(seen.length).toBeLessThanOrEqual(6);
    const last = seen.at(-1) as FlashProgress;
    expect(last.phase).toBe('writing');
    expect(last.speed).toBeGreaterThan(0);
    expect(last.eta).not.toBeNull();
  });
});

describe('writeImage on a file target', () => {
  it('writes the patched stream, the first MiB last, and verifies it', async () => {
    const src = `${tmp.path}/src.img`;
    const image = randomBytes(9 * MiB + 512);
    writeFileSync(src, image);
    const patch = [
      { offset: 5 * MiB + 7, data: Buffer.from('zeta') },
      { offset: 10, data: Buffer.from('head') },
    ];
    const order: number[] = [];
    const file = await openFileDestination(`${tmp.path}/out.img`, { overwrite: false });
    const dest: Destination = { ...file, write: (b, l, o) => (order.push(o), file.write(b, l, o)) };
    const r = await writeImage({ image: await probeImage(src), patch, destination: dest });
    await file.close();
    expect(r).toMatchObject({ bytesWritten: image.length, verified: true });
    const expected = Buffer.from(image);
    applyPatch(expected, 0, expected.length, patch);
    expect(readFileSync(`${tmp.path}/out.img`).equals(expected)).toBe(true);
    expect(order.at(-1)).toBe(0);
    expect(Math.min(...order.slice(0, -1))).toBeGreaterThanOrEqual(MiB);
  });

  // A stick that returns wrong data cannot be made from a loop device, so this one test
  // wraps a real file target and flips one byte on the way back.
  it('names the exact offset of a verification mismatch', async () => {
    const src = `${tmp.path}/src2.img`;
    writeFileSync(src, randomBytes(3 * BLOCK_BYTES));
    const file = await openFileDestination(`${tmp.path}/out2.img`, { overwrite: false });
    const bad = BLOCK_BYTES + 12345;
    const dest: Destination = {
      ...file,
      async read(buf, length, offset) {
        const n = await file.read(buf, length, offset);
        if (offset <= bad && bad < offset + n) buf[bad - offset] = (buf[bad - offset] ?? 0) ^ 0xff;
        return n;
      },
    };
    await expect(
      writeImage({ image: await probeImage(src), patch: [], destination: dest }),
    ).rejects.toMatchObject({
      code: 'ZFLASH_VERIFY_MISMATCH',
      kind: 'io',
      details: { offset: bad },
    });
    await file.close();
  });

  it('stops promptly when cancelled and reports cancelled, not failed', async () => {
    const src = `${tmp.path}/src3.img`;
    writeFileSync(src, randomBytes(6 * BLOCK_BYTES));
    const file = await openFileDestination(`${tmp.path}/out3.img`, { overwrite: false });
    const ac = new AbortController();
    const dest: Destination = {
      ...file,
      write: (b, l, o) => (o > BLOCK_BYTES && ac.abort(), file.write(b, l, o)),
    };
    await expect(
      writeImage({ image: await probeImage(src), patch: [], destination: dest, signal: ac.signal }),
    ).rejects.toMatchObject({
      code: 'ZFLASH_CANCELLED',
      exitCode: 130,
    });
    await file.close();
    // The first MiB (partition tables) was never written.
    expect(
      readFileSync(`${tmp.path}/out3.img`)
        .subarray(0, MiB)
        .every((b) => b === 0),
    ).toBe(true);
  });
});
