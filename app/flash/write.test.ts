import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { run, tempDir } from '../../test/fixtures.js';
import type { ZflashError } from '../errors.js';
import { probeImage } from '../image/image-source.js';
import { openFileDestination, type Destination } from './destination.js';
import { ProgressThrottle, type FlashProgress } from './progress.js';
import { applyPatch, BLOCK_BYTES, HEAD_BYTES, writeImage, type IoTuning } from './write.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const MiB = 1024 * 1024;
let n = 0;
const fresh = (name: string) => `${tmp.path}/${name}-${n++}`;

/** The image with the patch applied: what the target must hold afterwards. */
function expected(image: Buffer, patch: { offset: number; data: Buffer }[]): Buffer {
  const out = Buffer.from(image);
  applyPatch(out, 0, out.length, patch);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<ZflashError> {
  try {
    await p;
  } catch (err) {
    return err as ZflashError;
  }
  throw new Error('expected a rejection');
}

const isZeros = (b: Buffer) => b.every((x) => x === 0);

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
  it('emits one event per interval, no more and no fewer, with speed and ETA', () => {
    let t = 1000;
    const seen: FlashProgress[] = [];
    const p = new ProgressThrottle(
      (e) => seen.push(e),
      250,
      () => t,
    );
    p.start('writing', 1000);
    // An update every 10 ms for one second, one byte per ms.
    for (let ms = 10; ms <= 1000; ms += 10) {
      t = 1000 + ms;
      p.update(ms, 1000);
    }
    // The start, then exactly one event per 250 ms: at 250, 500, 750 and 1000 ms.
    expect(seen.map((e) => e.bytes)).toEqual([0, 250, 500, 750, 1000]);
    expect(seen[2]).toEqual({ phase: 'writing', bytes: 500, total: 1000, speed: 1000, eta: 0.5 });
    expect(seen.at(-1)).toMatchObject({ speed: 1000, eta: 0 });
  });

  it('forces an event when asked, and a new phase restarts the clock and the speed', () => {
    let t = 0;
    const seen: FlashProgress[] = [];
    const p = new ProgressThrottle(
      (e) => seen.push(e),
      250,
      () => t,
    );
    p.start('writing', 100);
    t = 10;
    p.update(10, 100);
    p.update(100, 100, true);
    t = 2000;
    p.start('verifying', 100);
    t = 2100;
    p.update(50, 100);
    t = 2250;
    p.update(75, 100);
    expect(seen.map((e) => [e.phase, e.bytes])).toEqual([
      ['writing', 0],
      ['writing', 100],
      ['verifying', 0],
      ['verifying', 75],
    ]);
    expect(seen.at(-1)).toMatchObject({ speed: 300, eta: 0.1 });
  });
});

describe('writeImage on a file target', () => {
  const tunings: IoTuning[] = [
    { blockBytes: MiB, depth: 1 },
    { blockBytes: 2 * MiB, depth: 3 },
    { blockBytes: 4 * MiB, depth: 4 },
  ];
  const sizes = [9 * MiB + 512, 8 * MiB, MiB, 700 * 1024 + 3];

  it.each(tunings)(
    'writes the patched stream, the first MiB last, and verifies it (%o)',
    async (io) => {
      for (const size of sizes) {
        const src = fresh('src.img');
        const image = randomBytes(size);
        writeFileSync(src, image);
        const patch = [
          { offset: Math.min(5 * MiB + 7, size - 8), data: Buffer.from('zeta') },
          { offset: 10, data: Buffer.from('head') },
          // across a block boundary
          { offset: MiB - 2, data: Buffer.from('edge') },
        ].filter((e) => e.offset + e.data.length <= size);
        const writes: number[] = [];
        const file = await openFileDestination(fresh('out.img'), { overwrite: false });
        const dest: Destination = {
          ...file,
          write: (b, l, o) => (writes.push(o), file.write(b, l, o)),
        };
        const r = await writeImage({ image: await probeImage(src), patch, destination: dest, io });
        await file.close();
        expect({ size, r }).toMatchObject({ size, r: { bytesWritten: size, verified: true } });
        expect(readFileSync(file.path).equals(expected(image, patch))).toBe(true);
        // The first MiB is the last write, and nothing before it touched the first MiB.
        expect(writes.at(-1)).toBe(0);
        expect(Math.min(...writes.slice(0, -1), Infinity)).toBeGreaterThanOrEqual(HEAD_BYTES);
      }
    },
  );

  it('writes a compressed image through the same loop, identical to the raw one', async () => {
    const src = fresh('src.img');
    const image = randomBytes(6 * MiB + 1024);
    writeFileSync(src, image);
    run('zstd', ['-q', '-1', src, '-o', `${src}.zst`]);
    const patch = [{ offset: 3 * MiB - 1, data: Buffer.from('across') }];
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const r = await writeImage({
      image: await probeImage(`${src}.zst`),
      patch,
      destination: file,
      io: { blockBytes: MiB, depth: 3 },
    });
    await file.close();
    expect(r).toMatchObject({ bytesWritten: image.length, verified: true });
    expect(readFileSync(file.path).equals(expected(image, patch))).toBe(true);
  });

  // A stick that returns wrong data cannot be made from a file, so this one test
  // wraps a real file target and flips one byte on the way back.
  it('names the exact offset of a verification mismatch, and wipes the first MiB again', async () => {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(5 * BLOCK_BYTES));
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const bad = 3 * BLOCK_BYTES + 12345;
    const dest: Destination = {
      ...file,
      async read(buf, length, offset) {
        const got = await file.read(buf, length, offset);
        if (offset <= bad && bad < offset + got)
          buf[bad - offset] = (buf[bad - offset] ?? 0) ^ 0xff;
        return got;
      },
    };
    const err = await rejection(
      writeImage({ image: await probeImage(src), patch: [], destination: dest }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_VERIFY_MISMATCH',
      kind: 'io',
      details: { offset: bad, state: 'wiped-again' },
    });
    expect(isZeros(readFileSync(file.path).subarray(0, HEAD_BYTES))).toBe(true);
  });

  it('reports the lowest failing offset when several writes in flight fail', async () => {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(12 * MiB));
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const failAt = 6 * MiB;
    const dest: Destination = {
      ...file,
      async write(buf, length, offset) {
        if (offset >= failAt) {
          // The later ones fail first: the report must still name the lowest.
          await new Promise((r) => setTimeout(r, (20 * MiB - offset) / MiB));
          throw Object.assign(new Error('EIO'), { code: 'EIO' });
        }
        return file.write(buf, length, offset);
      },
    };
    const err = await rejection(
      writeImage({
        image: await probeImage(src),
        patch: [],
        destination: dest,
        io: { blockBytes: MiB, depth: 4 },
      }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_WRITE_FAILED',
      details: { offset: failAt, errno: 'EIO', state: 'no-partition-table' },
    });
  });

  it('refuses an image larger than the drive before writing anything', async () => {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(3 * MiB));
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const writes: number[] = [];
    const dest: Destination = {
      ...file,
      kind: 'drive',
      capacity: 2 * MiB,
      write: (b, l, o) => (writes.push(o), file.write(b, l, o)),
    };
    const err = await rejection(
      writeImage({ image: await probeImage(src), patch: [], destination: dest }),
    );
    await file.close();
    expect(err).toMatchObject({ code: 'ZFLASH_DRIVE_TOO_SMALL', details: { state: 'untouched' } });
    expect(writes).toEqual([]);
  });
});

/**
 * A file target that logs every operation, whether it was still running when writeImage
 * settled, and aborts the flash when the k-th operation starts.
 */
function recording(file: Destination, abortAt: number, ac: AbortController) {
  const log: { op: string; offset: number; zeros: boolean; afterAbort: boolean }[] = [];
  let inFlight = 0;
  const track = async <T>(op: string, offset: number, zeros: boolean, go: () => Promise<T>) => {
    log.push({ op, offset, zeros, afterAbort: ac.signal.aborted });
    if (log.length === abortAt) ac.abort();
    inFlight++;
    try {
      // Let the other operations run meanwhile, as a slow device would.
      await new Promise((r) => setImmediate(r));
      return await go();
    } finally {
      inFlight--;
    }
  };
  const dest: Destination = {
    ...file,
    write: (b, l, o) => track('write', o, isZeros(b.subarray(0, l)), () => file.write(b, l, o)),
    read: (b, l, o) => track('read', o, false, () => file.read(b, l, o)),
    sync: () => track('sync', -1, false, () => file.sync()),
  };
  return { dest, log, inFlight: () => inFlight };
}

describe('cancelling at every step', () => {
  it.each([
    { compressed: false, io: { blockBytes: MiB, depth: 3 } },
    { compressed: true, io: { blockBytes: 2 * MiB, depth: 2 } },
  ])(
    'an abort at any operation (%o) ends with the cancelled error, no I/O left running, no finished-looking target',
    async ({ compressed, io }) => {
      const src = fresh('src.img');
      const image = randomBytes(7 * MiB + 4096);
      writeFileSync(src, image);
      if (compressed) run('zstd', ['-q', '-1', src, '-o', `${src}.zst`]);
      const info = await probeImage(compressed ? `${src}.zst` : src);
      // How many operations a whole flash takes.
      const dry = recording(
        await openFileDestination(fresh('count.img'), { overwrite: false }),
        Infinity,
        new AbortController(),
      );
      await writeImage({ image: info, patch: [], destination: dry.dest, io });
      const ops = dry.log.length;
      expect(ops).toBeGreaterThan(5);

      for (let k = 1; k <= ops; k++) {
        const ac = new AbortController();
        const file = await openFileDestination(fresh('out.img'), { overwrite: false });
        const rec = recording(file, k, ac);
        const err = await rejection(
          writeImage({ image: info, patch: [], destination: rec.dest, signal: ac.signal, io }),
        );
        const inFlightAtRejection = rec.inFlight();
        const opsAtRejection = rec.log.length;
        await new Promise((r) => setTimeout(r, 20));
        await file.close();
        const headWritten = rec.log.some((e) => e.op === 'write' && e.offset === 0 && !e.zeros);
        const first = readFileSync(file.path).subarray(0, HEAD_BYTES);
        expect({ k, code: err.code, exitCode: err.exitCode }).toEqual({
          k,
          code: 'ZFLASH_CANCELLED',
          exitCode: 130,
        });
        expect({ k, inFlightAtRejection, later: rec.log.length - opsAtRejection }).toEqual({
          k,
          inFlightAtRejection: 0,
          later: 0,
        });
        // After the abort, nothing but wiping the first MiB again (and reading it back).
        const after = rec.log.filter((e) => e.afterAbort);
        expect({
          k,
          after: after.every((e) => e.offset <= 0 && (e.op !== 'write' || e.zeros)),
        }).toEqual({ k, after: true });
        expect({ k, state: err.details?.state }).toEqual({
          k,
          state: headWritten ? 'wiped-again' : 'no-partition-table',
        });
        expect({ k, zeros: isZeros(first) }).toEqual({ k, zeros: true });
      }
    },
  );

  it('an abort from the progress callback at each phase says what it left', async () => {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(6 * MiB));
    const info = await probeImage(src);
    const cases = [
      { phase: null, state: 'untouched' },
      { phase: 'writing', state: 'no-partition-table' },
      { phase: 'finishing', state: 'no-partition-table' },
      { phase: 'verifying', state: 'wiped-again' },
    ] as const;
    for (const c of cases) {
      const ac = new AbortController();
      if (c.phase === null) ac.abort();
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      const err = await rejection(
        writeImage({
          image: info,
          patch: [],
          destination: file,
          signal: ac.signal,
          onProgress: (p) => {
            if (p.phase === c.phase) ac.abort();
          },
        }),
      );
      await file.close();
      expect({ phase: c.phase, code: err.code, state: err.details?.state }).toEqual({
        phase: c.phase,
        code: 'ZFLASH_CANCELLED',
        state: c.state,
      });
      expect(isZeros(readFileSync(file.path).subarray(0, HEAD_BYTES))).toBe(true);
    }
  });
});

describe('what each failure is called (destinations that fail on purpose)', () => {
  const eio = () => Object.assign(new Error('EIO'), { code: 'EIO' });
  const errno = (code: string) => Object.assign(new Error(code), { code });

  /** A source of `size` random bytes and a file destination that acts as asked. */
  async function setup(size: number) {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(size));
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    return { image: await probeImage(src), file };
  }

  it('refuses block sizes that are not whole MiB and depths outside 1..64', async () => {
    const { image, file } = await setup(MiB);
    for (const [io, message] of [
      [{ blockBytes: MiB / 2 }, `blockBytes must be a whole number of MiB, not ${MiB / 2}`],
      [{ blockBytes: MiB + 512 }, `blockBytes must be a whole number of MiB, not ${MiB + 512}`],
      [{ blockBytes: 1.5 }, 'blockBytes must be a whole number of MiB, not 1.5'],
      [{ depth: 0 }, 'depth must be 1..64, not 0'],
      [{ depth: 65 }, 'depth must be 1..64, not 65'],
      [{ depth: 2.5 }, 'depth must be 1..64, not 2.5'],
    ] as const) {
      await expect(
        writeImage({ image, patch: [], destination: file, io }),
        JSON.stringify(io),
      ).rejects.toThrow(new RangeError(message));
    }
    const r = await writeImage({
      image,
      patch: [],
      destination: file,
      io: { depth: 64, blockBytes: MiB },
    });
    expect(r.bytesWritten).toBe(MiB);
    await file.close();
  });

  it('a full disk under an image file: ZFLASH_TARGET_FULL (ENOSPC and EFBIG), else WRITE_FAILED', async () => {
    for (const code of ['ENOSPC', 'EFBIG', 'EIO']) {
      const { image, file } = await setup(8 * MiB);
      const dest: Destination = {
        ...file,
        write: (b, l, o) => (o >= 4 * MiB ? Promise.reject(errno(code)) : file.write(b, l, o)),
      };
      const err = await rejection(
        writeImage({ image, patch: [], destination: dest, io: { blockBytes: MiB, depth: 1 } }),
      );
      await file.close();
      if (code === 'EIO') {
        expect(err).toMatchObject({
          code: 'ZFLASH_WRITE_FAILED',
          message: `Writing to ${file.path} failed at offset ${4 * MiB} (4.2 MB): EIO.`,
          hint: 'The drive may be failing or write-protected; try another stick or port.',
          details: { offset: 4 * MiB, errno: 'EIO' },
        });
      } else {
        expect(err, code).toMatchObject({
          code: 'ZFLASH_TARGET_FULL',
          kind: 'target',
          message: `The disk holding ${file.path} ran out of space at 4.2 MB.`,
          hint: 'Free some space or write the image file elsewhere.',
          details: { offset: 4 * MiB },
        });
      }
    }
  });

  /** A "drive" over a file: the drive-only paths, with `capacity` bytes and a path of our own. */
  function asDrive(file: Destination, capacity: number, path = file.path): Destination {
    return { ...file, kind: 'drive', capacity, path };
  }

  it('a drive that says "no space" below its capacity is a fake-capacity stick', async () => {
    const { image, file } = await setup(12 * MiB);
    const drive = asDrive(file, 32 * MiB);
    const dest: Destination = {
      ...drive,
      write: (b, l, o) =>
        o >= 6 * MiB && o < 31 * MiB ? Promise.reject(errno('ENOSPC')) : file.write(b, l, o),
    };
    const err = await rejection(
      writeImage({ image, patch: [], destination: dest, io: { blockBytes: MiB, depth: 1 } }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_FAKE_CAPACITY',
      message: `The stick stopped taking data at 6.3 MB although it reports 33.6 MB: it holds less than it claims (a fake-capacity stick) or is failing there.`,
      hint: 'Use another stick; this one loses data past that point.',
      details: { offset: 6 * MiB, claimed: 32 * MiB, errno: 'ENOSPC' },
    });
  });

  it('an I/O error high up, where a block below still takes data: fake capacity; low down, or when that fails too: a write failure', async () => {
    for (const [failAt, probeWorks, code] of [
      [8 * MiB, true, 'ZFLASH_FAKE_CAPACITY'],
      [8 * MiB, false, 'ZFLASH_WRITE_FAILED'],
      [4 * MiB, true, 'ZFLASH_FAKE_CAPACITY'],
      [3 * MiB, true, 'ZFLASH_WRITE_FAILED'],
    ] as const) {
      const { image, file } = await setup(12 * MiB);
      const probes: number[] = [];
      let failed = false;
      const dest: Destination = {
        ...asDrive(file, 32 * MiB),
        async write(b, l, o) {
          if (failed && l === 4096) {
            probes.push(o);
            if (!probeWorks) throw eio();
            return file.write(b, l, o);
          }
          if (o === failAt) {
            failed = true;
            throw eio();
          }
          return file.write(b, l, o);
        },
      };
      const err = await rejection(
        writeImage({ image, patch: [], destination: dest, io: { blockBytes: MiB, depth: 1 } }),
      );
      await file.close();
      expect(err.code, `${failAt} ${probeWorks}`).toBe(code);
      if (failAt >= 4 * MiB) {
        // The probe rewrites the block-aligned half-way point, which took data already.
        expect(probes[0]).toBe(Math.floor(failAt / 2 / BLOCK_BYTES) * BLOCK_BYTES);
      } else expect(probes).toEqual([]);
    }
  });

  it('a drive that is gone: ZFLASH_DRIVE_VANISHED, while writing and while verifying', async () => {
    const gone = `${tmp.path}/no-such-drive`;
    {
      const { image, file } = await setup(8 * MiB);
      const dest: Destination = {
        ...asDrive(file, 32 * MiB, gone),
        // Wiping the last MiB (at 31 MiB) still works: it goes at 2 MiB, mid-image.
        write: (b, l, o) =>
          o >= 2 * MiB && o < 16 * MiB ? Promise.reject(eio()) : file.write(b, l, o),
      };
      const err = await rejection(
        writeImage({ image, patch: [], destination: dest, io: { blockBytes: MiB, depth: 1 } }),
      );
      expect(err).toMatchObject({
        code: 'ZFLASH_DRIVE_VANISHED',
        message: `The drive ${gone} disappeared while writing at 2.1 MB.`,
        hint: 'Keep the stick plugged in; replug it and flash again.',
        details: { offset: 2 * MiB },
      });
      await file.close();
    }
    for (const path of [gone, undefined]) {
      const { image, file } = await setup(8 * MiB);
      const dest: Destination = {
        ...asDrive(file, 32 * MiB, path),
        read: (b, l, o) => (o >= 3 * MiB ? Promise.reject(eio()) : file.read(b, l, o)),
      };
      const err = await rejection(
        writeImage({ image, patch: [], destination: dest, io: { blockBytes: MiB, depth: 1 } }),
      );
      await file.close();
      if (path) {
        expect(err).toMatchObject({
          code: 'ZFLASH_DRIVE_VANISHED',
          message: `The drive ${gone} disappeared during verification. Its first MiB was wiped again, so it cannot pass for a finished stick.`,
          details: { offset: 3 * MiB, state: 'wiped-again' },
        });
      } else {
        expect(err).toMatchObject({
          code: 'ZFLASH_READ_FAILED',
          message: `Reading ${file.path} back failed at offset ${3 * MiB}. Its first MiB was wiped again, so it cannot pass for a finished stick.`,
          hint: 'The stick may be failing; try another one.',
          details: { offset: 3 * MiB, errno: 'EIO', state: 'wiped-again' },
        });
      }
    }
  });
});

describe('what a drive is left with (a drive over a file, so every byte can be read)', () => {
  const asDrive = (file: Destination, capacity: number): Destination => ({
    ...file,
    kind: 'drive',
    capacity,
  });
  /** A file destination standing in for a drive of `capacity` bytes. */
  async function filled(capacity: number) {
    const path = fresh('drive.img');
    writeFileSync(path, Buffer.alloc(capacity, 0xa5));
    return openFileDestination(path, { overwrite: true });
  }
  async function source(size: number) {
    const src = fresh('src.img');
    writeFileSync(src, randomBytes(size));
    return probeImage(src);
  }

  it('wipes the last MiB too when the image ends before it, and not when it reaches into it', async () => {
    for (const [capacity, size, tailWiped] of [
      [8 * MiB + 1024, 3 * MiB, true],
      [8 * MiB, 7 * MiB, true],
      [8 * MiB, 7 * MiB + 1, false],
      [2 * MiB - 512, MiB, false],
    ] as const) {
      const file = await filled(capacity);
      await writeImage({
        image: await source(size),
        patch: [],
        destination: asDrive(file, capacity),
      });
      await file.close();
      // The file under it was emptied when opened: what was written is all that is there.
      const out = readFileSync(file.path);
      if (tailWiped) {
        expect(out.length, `${capacity}/${size}`).toBe(capacity);
        expect(isZeros(out.subarray(capacity - MiB)), `${capacity}/${size}`).toBe(true);
      } else {
        expect(out.length, `${capacity}/${size}`).toBe(Math.ceil(size / 512) * 512);
      }
    }
  });

  it('a cancel says, for a stick, what it left and what to do', async () => {
    const image = await source(6 * MiB);
    const early = await filled(16 * MiB);
    const ac = new AbortController();
    ac.abort();
    const untouched = await rejection(
      writeImage({ image, patch: [], destination: asDrive(early, 16 * MiB), signal: ac.signal }),
    );
    await early.close();
    expect(untouched).toMatchObject({
      code: 'ZFLASH_CANCELLED',
      message: `The flash was cancelled before anything was written to ${early.path}.`,
      hint: 'Nothing was written; start again when ready.',
      details: { state: 'untouched' },
    });
    const mid = await filled(16 * MiB);
    const ac2 = new AbortController();
    const err = await rejection(
      writeImage({
        image,
        patch: [],
        destination: asDrive(mid, 16 * MiB),
        signal: ac2.signal,
        io: { blockBytes: MiB, depth: 1 },
        onProgress: (p) => {
          if (p.phase === 'writing' && p.bytes >= 2 * MiB) ac2.abort();
        },
      }),
    );
    await mid.close();
    expect(err).toMatchObject({
      message: `The flash was cancelled while writing: ${mid.path} was left without a partition table, so it cannot be mistaken for a finished stick.`,
      hint: 'Do not use this stick as it is: flash it again.',
      details: { state: 'no-partition-table' },
    });
  });

  it('when wiping the first MiB again fails, reads it back and says which state it found', async () => {
    const image = await source(4 * MiB);
    const cases = [
      [
        'head',
        'complete-but-unverified',
        /holds the whole image with its partition table, unverified\.$/,
      ],
      ['zeros', 'wiped-again', /its first MiB was wiped again/],
      ['fails', 'unknown', /could not be read back, so the state of .* is unknown\.$/],
    ] as const;
    for (const [readBack, state, message] of cases) {
      const file = await filled(16 * MiB);
      let headWrites = 0;
      const ac = new AbortController();
      const dest: Destination = {
        ...asDrive(file, 16 * MiB),
        async write(b, l, o) {
          // The wipe, then the head; the third write at 0 is wiping again: it fails.
          if (o === 0 && ++headWrites === 3) throw Object.assign(new Error('EIO'), { code: 'EIO' });
          return file.write(b, l, o);
        },
        async read(b, l, o) {
          if (headWrites < 3 || o !== 0) return file.read(b, l, o);
          if (readBack === 'fails') throw Object.assign(new Error('EIO'), { code: 'EIO' });
          if (readBack === 'zeros') {
            b.fill(0, 0, l);
            return l;
          }
          return file.read(b, l, o);
        },
      };
      const err = await rejection(
        writeImage({
          image,
          patch: [],
          destination: dest,
          signal: ac.signal,
          io: { blockBytes: MiB, depth: 1 },
          onProgress: (p) => {
            if (p.phase === 'verifying') ac.abort();
          },
        }),
      );
      await file.close();
      expect(err.code, readBack).toBe('ZFLASH_CANCELLED');
      expect(err.details, readBack).toEqual({ state, errno: 'EIO' });
      expect(err.message, readBack).toMatch(message);
    }
  });
});
