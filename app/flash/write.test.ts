import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run, tempDir } from '../../test/fixtures.js';
import { ZflashError } from '../errors.js';
import { probeImage } from '../image/image-source.js';
import { openFileDestination, type Destination } from './destination.js';
import { ProgressThrottle, type FlashProgress } from './progress.js';
import { loadXxhash } from '../native.js';
import { applyPatch, BLOCK_BYTES, HEAD_BYTES, writeImage, type IoTuning } from './write.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const MiB = 1024 * 1024;
let n = 0;
const fresh = (name: string) => `${tmp.path}/${name}-${n++}`;

// Shared by the suites below.
const eio = () => Object.assign(new Error('EIO'), { code: 'EIO' });
/** A file destination standing in for a drive of `capacity` bytes. */
const asDrive = (file: Destination, capacity: number): Destination => ({
  ...file,
  kind: 'drive',
  capacity,
});
/**
 * How writeImage rejects with one block of 1 MiB in flight and no patch, writing `dest` (a
 * drive standing on `file`); `file` is closed before the error is returned.
 */
async function rejectedOneByOne(
  info: Awaited<ReturnType<typeof probeImage>>,
  dest: Destination,
  file: Destination,
) {
  const err = await rejection(
    writeImage({ image: info, patch: [], destination: dest, io: { blockBytes: MiB, depth: 1 } }),
  );
  await file.close();
  return err;
}
/** A random image of `size` bytes in a fresh file: its path, its bytes and its probe. */
async function randomImage(size: number) {
  const src = fresh('src.img');
  const image = randomBytes(size);
  writeFileSync(src, image);
  return { src, image, info: await probeImage(src) };
}

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
      [{ blockBytes: 0 }, 'blockBytes must be a whole number of MiB, not 0'],
      [{ blockBytes: 2 ** 60 }, `blockBytes must be a whole number of MiB, not ${2 ** 60}`],
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
          hint: 'Keep the stick plugged in; replug it and flash again.',
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
      [2 * MiB, MiB, true],
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

/** XXH128 (seed 0) of `data`, computed here: what `WriteResult.digest` must be. */
function xxh128(data: Buffer): string {
  const h = new (loadXxhash().XXHash128)(Buffer.alloc(8));
  h.update(data);
  return h.digest().toString('hex');
}

/** Random bytes that compress (gzip and bzip2 would otherwise store them as they are). */
function compressible(size: number): Buffer {
  const words =
    randomBytes(4096)
      .toString('hex')
      .match(/.{1,7}/g) ?? [];
  const out = Buffer.alloc(size);
  let at = 0;
  for (let i = 0; at < size; i = (i * 31 + 7) % words.length) {
    at += out.write(`${words[i]} `, at);
  }
  return out;
}

describe('images whose size is not known up front', () => {
  /** `image` as a bzip2 file: its size is known only once it is read. */
  async function bzip2(image: Buffer) {
    const src = fresh('src.img');
    writeFileSync(src, image);
    run('bzip2', ['-q', '-1', src]);
    const info = await probeImage(`${src}.bz2`);
    expect(info.size).toBeNull();
    return info;
  }

  it('writes the whole stream: the bytes, the count, the digest and the progress say so', async () => {
    // Fills are asked for ahead of the end: the ones past it come back empty.
    const image = compressible(5 * MiB + 100);
    const info = await bzip2(image);
    for (const io of [
      { blockBytes: MiB, depth: 3 },
      { blockBytes: 2 * MiB, depth: 1 },
    ]) {
      const seen: FlashProgress[] = [];
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      const r = await writeImage({
        image: info,
        patch: [],
        destination: file,
        io,
        onProgress: (p) => seen.push(p),
      });
      await file.close();
      expect(r).toEqual({ bytesWritten: image.length, digest: xxh128(image), verified: true });
      expect(readFileSync(file.path).equals(image)).toBe(true);
      const writing = seen.filter((p) => p.phase === 'writing');
      const verifying = seen.filter((p) => p.phase === 'verifying');
      expect(writing.every((p) => p.total === null)).toBe(true);
      expect(writing.at(-1)?.bytes).toBe(image.length);
      expect(verifying.at(0)).toMatchObject({ bytes: 0, total: image.length });
      expect(verifying.at(-1)).toMatchObject({ bytes: image.length, total: image.length });
    }
  });

  it('a gzip image whose size estimate is too low (several members) is written whole', async () => {
    const first = compressible(3 * MiB);
    const last = compressible(MiB + 512);
    const src = fresh('src.img');
    writeFileSync(`${src}.1`, first);
    writeFileSync(`${src}.2`, last);
    run('gzip', ['-1', `${src}.1`, `${src}.2`]);
    writeFileSync(
      `${src}.gz`,
      Buffer.concat([readFileSync(`${src}.1.gz`), readFileSync(`${src}.2.gz`)]),
    );
    const info = await probeImage(`${src}.gz`);
    // gzip records the size of its last member only.
    expect({ size: info.size, exact: info.sizeIsExact }).toEqual({
      size: last.length,
      exact: false,
    });
    const image = Buffer.concat([first, last]);
    const seen: FlashProgress[] = [];
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const r = await writeImage({
      image: info,
      patch: [],
      destination: file,
      io: { blockBytes: MiB, depth: 2 },
      onProgress: (p) => seen.push(p),
    });
    await file.close();
    expect(r).toEqual({ bytesWritten: image.length, digest: xxh128(image), verified: true });
    expect(readFileSync(file.path).equals(image)).toBe(true);
    expect(seen.find((p) => p.phase === 'writing')?.total).toBeNull();
  });

  it('a drive too small for it is found out while writing, and nothing goes past its end', async () => {
    const capacity = 4 * MiB;
    for (const [size, fits] of [
      [2 * MiB + 512, true],
      [capacity, true],
      [capacity + 512, false],
      [6 * MiB, false],
    ] as const) {
      const image = compressible(size);
      const info = await bzip2(image);
      const path = fresh('drive.img');
      writeFileSync(path, Buffer.alloc(capacity, 0xa5));
      const file = await openFileDestination(path, { overwrite: true });
      const result = writeImage({
        image: info,
        patch: [],
        destination: asDrive(file, capacity),
        io: { blockBytes: MiB, depth: 2 },
      });
      if (fits) {
        expect(await result).toMatchObject({ bytesWritten: size, verified: true });
        await file.close();
        const out = readFileSync(path);
        expect(out.subarray(0, size).equals(image)).toBe(true);
        // Its size unknown, the image might have reached the last MiB: wiped all the same.
        if (size < capacity) expect(isZeros(out.subarray(capacity - MiB))).toBe(true);
        continue;
      }
      const err = await rejection(result);
      await file.close();
      expect({ size, err }).toMatchObject({
        size,
        err: {
          code: 'ZFLASH_DRIVE_TOO_SMALL',
          kind: 'target',
          message: `The image is larger than ${path} (4.2 MB).`,
          hint: 'Use a larger stick.',
          details: { capacity, state: 'no-partition-table' },
        },
      });
      const out = readFileSync(path);
      // A drive over a file would grow past its capacity: it did not.
      expect({ size, length: out.length }).toEqual({ size, length: capacity });
      expect(isZeros(out.subarray(0, HEAD_BYTES))).toBe(true);
    }
  });

  it('an image that turns out empty is refused, and the target is left without a table', async () => {
    const info = await bzip2(Buffer.alloc(0));
    const path = fresh('drive.img');
    writeFileSync(path, Buffer.alloc(4 * MiB, 0xa5));
    const file = await openFileDestination(path, { overwrite: true });
    const err = await rejection(
      writeImage({ image: info, patch: [], destination: asDrive(file, 4 * MiB) }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_IMAGE_EMPTY',
      kind: 'target',
      message: 'The image is empty.',
      hint: 'Choose a complete image file.',
      details: { state: 'no-partition-table' },
    });
  });
});

/** `image` served from memory: each fill is ready at once (or after a turn of the loop). */
function memorySource(
  image: Buffer,
  o: { deferred?: boolean; fillsInFlight?: number[]; asked?: number[] } = {},
) {
  let inFlight = 0;
  return async () => ({
    async fill(buf: Buffer, length: number, offset: number) {
      o.asked?.push(offset);
      inFlight++;
      o.fillsInFlight?.push(inFlight);
      try {
        if (o.deferred) await new Promise((r) => setImmediate(r));
        const n = Math.max(0, Math.min(length, image.length - offset));
        image.copy(buf, 0, offset, offset + n);
        return n;
      } finally {
        inFlight--;
      }
    },
    async close() {},
  });
}

describe('the writes and reads in flight', () => {
  /** A file target whose writes and reads each take a turn of the event loop, counted. */
  function counted(file: Destination) {
    const seen = { writes: [] as number[], reads: [] as number[] };
    let writes = 0;
    let reads = 0;
    const dest: Destination = {
      ...file,
      async write(b, l, o) {
        seen.writes.push(++writes);
        try {
          await new Promise((r) => setImmediate(r));
          return await file.write(b, l, o);
        } finally {
          writes--;
        }
      },
      async read(b, l, o) {
        seen.reads.push(++reads);
        try {
          await new Promise((r) => setImmediate(r));
          return await file.read(b, l, o);
        } finally {
          reads--;
        }
      },
    };
    return { dest, seen };
  }

  it('keeps exactly `depth` writes, verify reads and image reads in flight, never more', async () => {
    const image = randomBytes(12 * MiB + 512);
    const src = fresh('src.img');
    writeFileSync(src, image);
    const info = await probeImage(src);
    for (const depth of [1, 2, 3]) {
      // Blocks ready at once: only the bookkeeping holds back a write.
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      const { dest, seen } = counted(file);
      const asked: number[] = [];
      let askedWhenFirstWriteDone = -1;
      const r = await writeImage({
        image: info,
        patch: [],
        destination: {
          ...dest,
          async write(b, l, o) {
            await dest.write(b, l, o);
            if (askedWhenFirstWriteDone < 0) askedWhenFirstWriteDone = asked.length;
          },
        },
        io: { blockBytes: MiB, depth },
        source: memorySource(image, { asked }),
      });
      // While the first `depth` writes are on their way, `depth` more blocks are read ahead
      // (after the first, held back): the image is read while the device works.
      expect({ depth, asked: askedWhenFirstWriteDone }).toEqual({ depth, asked: 2 * depth + 1 });
      await file.close();
      expect(r).toMatchObject({ bytesWritten: image.length, verified: true });
      expect(readFileSync(file.path).equals(image)).toBe(true);
      expect({ depth, writes: Math.max(...seen.writes), reads: Math.max(...seen.reads) }).toEqual({
        depth,
        writes: depth,
        reads: depth,
      });
      // Writes that finish at once: only the bookkeeping holds back a fill.
      const fillsInFlight: number[] = [];
      const other = await openFileDestination(fresh('out.img'), { overwrite: false });
      await writeImage({
        image: info,
        patch: [],
        destination: other,
        io: { blockBytes: MiB, depth },
        source: memorySource(image, { deferred: true, fillsInFlight }),
      });
      await other.close();
      expect(readFileSync(other.path).equals(image)).toBe(true);
      expect({ depth, fills: Math.max(...fillsInFlight) }).toEqual({ depth, fills: depth });
    }
  });

  it('stops writing once a write failed: the rest of the image is not written', async () => {
    const image = randomBytes(16 * MiB);
    const src = fresh('src.img');
    writeFileSync(src, image);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const offsets: number[] = [];
    const dest: Destination = {
      ...file,
      write: (b, l, o) => {
        offsets.push(o);
        return o === 4 * MiB
          ? Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' }))
          : file.write(b, l, o);
      },
    };
    const err = await rejection(
      writeImage({
        image: await probeImage(src),
        patch: [],
        destination: dest,
        io: { blockBytes: MiB, depth: 2 },
        source: memorySource(image),
      }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_WRITE_FAILED',
      details: { offset: 4 * MiB, errno: 'EIO', state: 'no-partition-table' },
    });
    // At most the writes already on their way when it failed (depth 2) came after it.
    expect(Math.max(...offsets)).toBeLessThan(8 * MiB);
    expect(readFileSync(file.path).length).toBeLessThan(8 * MiB);
  });

  it('a failure of the last writes, found only while waiting for them, is still a failure', async () => {
    const image = randomBytes(6 * MiB);
    const src = fresh('src.img');
    writeFileSync(src, image);
    const info = await probeImage(src);
    for (const verify of [false, true]) {
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      const dest: Destination = {
        ...file,
        async write(b, l, o) {
          await new Promise((r) => setImmediate(r));
          if (o === 5 * MiB) throw Object.assign(new Error('EIO'), { code: 'EIO' });
          return file.write(b, l, o);
        },
      };
      const err = await rejection(
        writeImage({
          image: info,
          patch: [],
          destination: dest,
          verify,
          io: { blockBytes: MiB, depth: 2 },
          source: memorySource(image),
        }),
      );
      await file.close();
      expect({ verify, err }).toMatchObject({
        verify,
        err: {
          code: 'ZFLASH_WRITE_FAILED',
          details: { offset: 5 * MiB, errno: 'EIO', state: 'no-partition-table' },
        },
      });
      expect(isZeros(readFileSync(file.path).subarray(0, HEAD_BYTES))).toBe(true);
    }
  });
});

describe('reading back short, and how a flash ends', () => {
  it('an image file cut short under the verification: a mismatch where its data stops', async () => {
    const { info } = await randomImage(5 * MiB + 4096);
    const cut = 3 * MiB + 1000;
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const err = await rejection(
      writeImage({
        image: info,
        patch: [],
        destination: file,
        io: { blockBytes: MiB, depth: 2 },
        onProgress: (p) => {
          if (p.phase === 'verifying' && p.bytes === 0) truncateSync(file.path, cut);
        },
      }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_VERIFY_MISMATCH',
      kind: 'io',
      message: `Verification failed: the stick returned different data at offset ${cut} (3.1 MB) than was written. Its first MiB was wiped again, so it cannot pass for a finished stick.`,
      hint: 'Flash again; if it fails again, use another stick.',
      details: { offset: cut, state: 'wiped-again' },
    });
  });

  it('a read that comes back short is a mismatch at the byte it stopped at, whatever the buffer holds', async () => {
    const { info } = await randomImage(6 * MiB);
    for (const kind of ['file', 'drive'] as const) {
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      const base = kind === 'drive' ? asDrive(file, 16 * MiB) : file;
      // Every byte is read, but only part of the last MiB is said to be.
      const dest: Destination = {
        ...base,
        async read(b, l, o) {
          const got = await file.read(b, l, o);
          return o === 5 * MiB ? got - 4096 : got;
        },
      };
      const err = await rejectedOneByOne(info, dest, file);
      expect({ kind, err }).toMatchObject({
        kind,
        err: { code: 'ZFLASH_VERIFY_MISMATCH', details: { offset: 6 * MiB - 4096 } },
      });
      expect(err.hint).toBe(
        kind === 'drive'
          ? 'The stick is failing or holds less than it claims (a fake-capacity stick). Use another stick.'
          : 'Flash again; if it fails again, use another stick.',
      );
    }
  });

  it('on a drive, the end of an image that is not whole sectors is padded with zeros', async () => {
    const { image, info } = await randomImage(3 * MiB + 100);
    const path = fresh('drive.img');
    const file = await openFileDestination(path, { overwrite: false });
    const r = await writeImage({
      image: info,
      patch: [],
      destination: asDrive(file, 8 * MiB),
      io: { blockBytes: MiB, depth: 1 },
    });
    await file.close();
    expect(r).toMatchObject({ bytesWritten: image.length, verified: true });
    const out = readFileSync(path);
    expect(out.subarray(0, image.length).equals(image)).toBe(true);
    // The rest of its last sector: zeros, not what the buffer held from an earlier block.
    expect(isZeros(out.subarray(image.length, 3 * MiB + 512))).toBe(true);
  });

  it('without verification: nothing is read back, and the result says it was not verified', async () => {
    const { image, info } = await randomImage(3 * MiB + 512);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const reads: number[] = [];
    const phases = new Set<string>();
    const r = await writeImage({
      image: info,
      patch: [],
      destination: { ...file, read: (b, l, o) => (reads.push(o), file.read(b, l, o)) },
      verify: false,
      onProgress: (p) => phases.add(p.phase),
    });
    await file.close();
    expect(r).toEqual({ bytesWritten: image.length, digest: xxh128(image), verified: false });
    expect(readFileSync(file.path).equals(image)).toBe(true);
    expect(reads).toEqual([]);
    expect([...phases]).toEqual(['writing', 'finishing']);
  });

  it('an image of exactly the drive size fits; a larger one is refused before anything is written', async () => {
    for (const [size, fits] of [
      [8 * MiB, true],
      [9 * MiB, false],
      [8 * MiB + 512, false],
    ] as const) {
      const { image, info } = await randomImage(size);
      const path = fresh('drive.img');
      writeFileSync(path, Buffer.alloc(8 * MiB, 0xa5));
      const file = await openFileDestination(path, { overwrite: true });
      const result = writeImage({ image: info, patch: [], destination: asDrive(file, 8 * MiB) });
      if (fits) {
        expect(await result).toMatchObject({ bytesWritten: size, verified: true });
        await file.close();
        expect(readFileSync(path).equals(image)).toBe(true);
        continue;
      }
      const err = await rejection(result);
      await file.close();
      expect(err).toMatchObject({
        code: 'ZFLASH_DRIVE_TOO_SMALL',
        kind: 'target',
        // One sector more reads in bytes: "needs 8.4 MB but holds only 8.4 MB" says nothing.
        message:
          size === 9 * MiB
            ? `The image needs 9.4 MB but ${path} holds only 8.4 MB.`
            : `The image needs 8,389,120 bytes but ${path} holds only 8,388,608 bytes.`,
        hint: 'Use a larger stick.',
        details: { needed: size, capacity: 8 * MiB, state: 'untouched' },
      });
      expect(readFileSync(path).length).toBe(0);
    }
  });

  it('an image file that shrank after it was chosen: too short, and left without a table', async () => {
    const { src, info } = await randomImage(6 * MiB);
    truncateSync(src, 4 * MiB + 512);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const err = await rejection(writeImage({ image: info, patch: [], destination: file }));
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_IMAGE_TOO_SHORT',
      details: { have: 4 * MiB + 512, wanted: 6 * MiB, state: 'no-partition-table' },
    });
    expect(err.message).toBe(
      `The image ${src} holds only ${4 * MiB + 512} bytes, fewer than the ${6 * MiB} bytes Zeta Flash needs to read from its start.`,
    );
    expect(isZeros(readFileSync(file.path).subarray(0, HEAD_BYTES))).toBe(true);
  });

  it('a failing image read: a plain error passes through as it is, ours says what the target was left with', async () => {
    const { info } = await randomImage(4 * MiB);
    const plain = new Error('the decoder broke');
    const ours = new ZflashError(
      'target',
      'ZFLASH_IMAGE_CORRUPT',
      'The image is damaged.',
      'Get it again.',
      {
        at: 2,
      },
    );
    for (const thrown of [plain, ours]) {
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      const err = await rejection(
        writeImage({
          image: info,
          patch: [],
          destination: file,
          io: { blockBytes: MiB, depth: 1 },
          source: async () => ({
            fill: async (buf, length, offset) => {
              if (offset >= 2 * MiB) throw thrown;
              return (buf.fill(7, 0, length), length);
            },
            close: async () => undefined,
          }),
        }),
      );
      await file.close();
      if (thrown === plain) expect(err).toBe(plain);
      else {
        expect(err).toMatchObject({
          code: 'ZFLASH_IMAGE_CORRUPT',
          message: 'The image is damaged.',
          details: { at: 2, state: 'no-partition-table' },
        });
        expect(err.cause).toBe(ours);
      }
    }
  });

  it('a failure after the head, when wiping it again fails too: the message and details say what is there', async () => {
    const { info } = await randomImage(4 * MiB);
    for (const [readBack, state, tail] of [
      [
        'head',
        'complete-but-unverified',
        ' Wiping its first MiB again failed (EIO): it still holds a partition table. Do not use it as it is.',
      ],
      [
        'zeros',
        'wiped-again',
        ' Its first MiB was wiped again, so it cannot pass for a finished stick.',
      ],
      [
        'fails',
        'unknown',
        ' Wiping its first MiB again failed (EIO) and it could not be read back: its state is unknown.',
      ],
    ] as const) {
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      let headWrites = 0;
      const dest: Destination = {
        ...asDrive(file, 16 * MiB),
        async write(b, l, o) {
          // The wipe, then the head; the third write at 0 is wiping again: it fails.
          if (o === 0 && ++headWrites === 3) throw eio();
          return file.write(b, l, o);
        },
        async read(b, l, o) {
          if (headWrites < 3) {
            // Verification: the block at 2 MiB comes back wrong.
            const got = await file.read(b, l, o);
            if (o === 2 * MiB) b[10] = (b[10] ?? 0) ^ 1;
            return got;
          }
          if (readBack === 'fails') throw eio();
          if (readBack === 'zeros') return (b.fill(0, 0, l), l);
          return file.read(b, l, o);
        },
      };
      const err = await rejectedOneByOne(info, dest, file);
      expect({ readBack, err }).toMatchObject({
        readBack,
        err: {
          code: 'ZFLASH_VERIFY_MISMATCH',
          message: `Verification failed: the stick returned different data at offset ${2 * MiB + 10} (2.1 MB) than was written.${tail}`,
          details: { offset: 2 * MiB + 10, state, wipeErrno: 'EIO' },
        },
      });
    }
  });

  it('a drive that fails at its very first write: its state is unknown, said without a wipe that never happened', async () => {
    const { info } = await randomImage(3 * MiB);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const writes: number[] = [];
    const err = await rejection(
      writeImage({
        image: info,
        patch: [],
        destination: {
          ...asDrive(file, 16 * MiB),
          write: (_b, _l, o) => (writes.push(o), Promise.reject(eio())),
        },
      }),
    );
    await file.close();
    expect(writes).toEqual([0]);
    expect(err).toMatchObject({
      code: 'ZFLASH_WRITE_FAILED',
      message: `Writing to ${file.path} failed at offset 0 (0 B): EIO. Its first MiB may hold anything: do not use it as it is.`,
      details: { offset: 0, errno: 'EIO', state: 'unknown' },
    });
    expect(err.details).not.toHaveProperty('wipeErrno');
    // Cancelled while that first write was under way: the same state, in a cancel's words.
    const ac = new AbortController();
    const other = await openFileDestination(fresh('out.img'), { overwrite: false });
    const cancelled = await rejection(
      writeImage({
        image: info,
        patch: [],
        signal: ac.signal,
        destination: {
          ...asDrive(other, 16 * MiB),
          write: () => (ac.abort(), Promise.reject(eio())),
        },
      }),
    );
    await other.close();
    expect(cancelled).toMatchObject({
      code: 'ZFLASH_CANCELLED',
      message: `The flash was cancelled as it began, and the first write to ${other.path} failed: what its first MiB holds is unknown.`,
      hint: 'Do not use this stick as it is: flash it again.',
      details: { state: 'unknown' },
    });
    expect(cancelled.details).not.toHaveProperty('errno');
  });
});

describe('what each step reports and leaves, one operation at a time', () => {
  it('with a clock that always moves on, every write and every read back is a progress event', async () => {
    const { image, info } = await randomImage(4 * MiB);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const seen: FlashProgress[] = [];
    // Not a timing: performance.now() moves a second per call, so the throttle lets all through.
    let t = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => (t += 1000));
    try {
      await writeImage({
        image: info,
        patch: [],
        destination: file,
        io: { blockBytes: MiB, depth: 1 },
        onProgress: (p) => seen.push(p),
      });
    } finally {
      clock.mockRestore();
    }
    await file.close();
    const n = image.length;
    expect(
      seen.map((p) => [p.phase, p.bytes / MiB, p.total === null ? null : p.total / MiB]),
    ).toEqual([
      ['writing', 0, 4],
      // The first MiB is held back but counted when its block is read; then each write.
      ['writing', 2, 4],
      ['writing', 3, 4],
      ['writing', 4, 4],
      ['writing', 4, 4],
      ['finishing', 0, null],
      ['verifying', 0, 4],
      ['verifying', 1, 4],
      ['verifying', 2, 4],
      ['verifying', 3, 4],
      ['verifying', 4, 4],
      ['verifying', 4, 4],
    ]);
    expect(seen.at(-1)?.bytes).toBe(n);
  });

  it('a failing write of the block that ends the first MiB names where that write began', async () => {
    const { info } = await randomImage(6 * MiB);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const err = await rejection(
      writeImage({
        image: info,
        patch: [],
        // 2 MiB blocks: the first MiB of the first block is held back, its second is written.
        io: { blockBytes: 2 * MiB, depth: 1 },
        destination: {
          ...file,
          write: (b, l, o) => (o === MiB ? Promise.reject(eio()) : file.write(b, l, o)),
        },
      }),
    );
    await file.close();
    expect(err).toMatchObject({ code: 'ZFLASH_WRITE_FAILED', details: { offset: MiB } });
  });

  it('a drive that says "no space" low down is a fake-capacity stick too', async () => {
    const { info } = await randomImage(6 * MiB);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const err = await rejection(
      writeImage({
        image: info,
        patch: [],
        io: { blockBytes: MiB, depth: 1 },
        destination: {
          ...asDrive(file, 32 * MiB),
          write: (b, l, o) =>
            o === 2 * MiB
              ? Promise.reject(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }))
              : file.write(b, l, o),
        },
      }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_FAKE_CAPACITY',
      details: { offset: 2 * MiB, errno: 'ENOSPC' },
    });
  });

  it('of two failing writes in flight, the lower one is reported even when it fails first', async () => {
    const { image, info } = await randomImage(8 * MiB);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const turns = (k: number) => {
      let p = Promise.resolve();
      for (let i = 0; i < k; i++) p = p.then(() => new Promise((r) => setImmediate(r)));
      return p;
    };
    const dest: Destination = {
      ...file,
      async write(b, l, o) {
        if (o === 4 * MiB) {
          await turns(1);
          throw eio();
        }
        if (o === 5 * MiB) {
          await turns(4);
          throw eio();
        }
        return file.write(b, l, o);
      },
    };
    const err = await rejection(
      writeImage({
        image: info,
        patch: [],
        destination: dest,
        io: { blockBytes: MiB, depth: 2 },
        source: memorySource(image),
      }),
    );
    await file.close();
    expect(err).toMatchObject({ code: 'ZFLASH_WRITE_FAILED', details: { offset: 4 * MiB } });
  });

  it('a drive whose flush fails: at the wipe, or after the first MiB, the flash fails and says what it left', async () => {
    const { info } = await randomImage(3 * MiB);
    for (const [failingSync, state] of [
      [1, 'unknown'],
      [2, 'wiped-again'],
    ] as const) {
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      let syncs = 0;
      const reads: number[] = [];
      const err = await rejection(
        writeImage({
          image: info,
          patch: [],
          destination: {
            ...asDrive(file, 16 * MiB),
            sync: () => (++syncs === failingSync ? Promise.reject(eio()) : file.sync()),
            read: (b, l, o) => (reads.push(o), file.read(b, l, o)),
          },
        }),
      );
      await file.close();
      expect({ failingSync, err }).toMatchObject({
        failingSync,
        err: { code: 'ZFLASH_WRITE_FAILED', details: { offset: 0, errno: 'EIO', state } },
      });
      // Never verified, never reported finished.
      expect(reads).toEqual([]);
      expect(isZeros(readFileSync(file.path).subarray(0, HEAD_BYTES))).toBe(true);
    }
  });

  it('a fake-capacity probe is believed only when its read, write and flush all work', async () => {
    const { info } = await randomImage(12 * MiB);
    for (const [probe, code] of [
      ['works', 'ZFLASH_FAKE_CAPACITY'],
      ['reads short', 'ZFLASH_WRITE_FAILED'],
      ['cannot flush', 'ZFLASH_WRITE_FAILED'],
    ] as const) {
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      let failed = false;
      const dest: Destination = {
        ...asDrive(file, 32 * MiB),
        async write(b, l, o) {
          if (o === 8 * MiB) {
            failed = true;
            throw eio();
          }
          return file.write(b, l, o);
        },
        async read(b, l, o) {
          const got = await file.read(b, l, o);
          return failed && probe === 'reads short' ? got - 512 : got;
        },
        sync: () => (failed && probe === 'cannot flush' ? Promise.reject(eio()) : file.sync()),
      };
      const err = await rejectedOneByOne(info, dest, file);
      expect({ probe, code: err.code, offset: err.details?.['offset'] }).toEqual({
        probe,
        code,
        offset: 8 * MiB,
      });
    }
  });

  it('a mismatch after a patched range is located in the patched stream, not the bare image', async () => {
    const { info } = await randomImage(5 * BLOCK_BYTES);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const bad = 3 * BLOCK_BYTES + 12345;
    const patch = [{ offset: 3 * BLOCK_BYTES + 100, data: randomBytes(64) }];
    const dest: Destination = {
      ...file,
      async read(buf, length, offset) {
        const got = await file.read(buf, length, offset);
        if (offset <= bad && bad < offset + got)
          buf[bad - offset] = (buf[bad - offset] ?? 0) ^ 0xff;
        return got;
      },
    };
    const err = await rejection(writeImage({ image: info, patch, destination: dest }));
    await file.close();
    expect(err).toMatchObject({ code: 'ZFLASH_VERIFY_MISMATCH', details: { offset: bad } });
  });

  it('a cancelled image file is called an image file, not a stick', async () => {
    const { info } = await randomImage(4 * MiB);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    const ac = new AbortController();
    const err = await rejection(
      writeImage({
        image: info,
        patch: [],
        destination: file,
        signal: ac.signal,
        onProgress: (p) => p.phase === 'finishing' && ac.abort(),
      }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_CANCELLED',
      message: `The flash was cancelled while writing: ${file.path} was left without a partition table, so it cannot be mistaken for a finished image file.`,
      hint: 'Do not use this image file as it is: flash it again.',
      details: { state: 'no-partition-table' },
    });
    expect(err.details).not.toHaveProperty('errno');
  });

  it('when wiping again fails and reading back returns nothing, the state is unknown', async () => {
    const { info } = await randomImage(4 * MiB);
    const file = await openFileDestination(fresh('out.img'), { overwrite: false });
    let headWrites = 0;
    const ac = new AbortController();
    const err = await rejection(
      writeImage({
        image: info,
        patch: [],
        signal: ac.signal,
        io: { blockBytes: MiB, depth: 1 },
        onProgress: (p) => p.phase === 'verifying' && ac.abort(),
        destination: {
          ...asDrive(file, 16 * MiB),
          async write(b, l, o) {
            if (o === 0 && ++headWrites === 3) throw eio();
            return file.write(b, l, o);
          },
          read: async (b, l, o) => (headWrites < 3 ? file.read(b, l, o) : (b.fill(0, 0, l), 0)),
        },
      }),
    );
    await file.close();
    expect(err).toMatchObject({
      code: 'ZFLASH_CANCELLED',
      details: { state: 'unknown', errno: 'EIO' },
    });
  });

  it('closes the source it opened, once, whether the flash succeeds or fails', async () => {
    const { image, info } = await randomImage(4 * MiB);
    for (const failing of [false, true]) {
      const file = await openFileDestination(fresh('out.img'), { overwrite: false });
      const open = memorySource(image);
      let closed = 0;
      const dest: Destination = failing ? { ...file, write: () => Promise.reject(eio()) } : file;
      const result = writeImage({
        image: info,
        patch: [],
        destination: dest,
        source: async () => {
          const s = await open();
          return { fill: s.fill, close: async () => void closed++ };
        },
      });
      if (failing) await rejection(result);
      else await result;
      await file.close();
      expect({ failing, closed }).toEqual({ failing, closed: 1 });
    }
  });
});
