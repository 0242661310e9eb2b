/**
 * writeImage on real loop block devices (etcher-sdk's BlockDevice, O_DIRECT): what a flash
 * that is cancelled or fails at each step leaves on the stick, judged by reading the device
 * afterwards through a fresh O_DIRECT handle (not the page cache, not our own handle).
 */
import {
  constants as fsc,
  closeSync,
  openSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
  fsyncSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachLoop, requireLoop, tempDir, type Loop } from './fixtures.js';
import { devNumberOf } from '../app/drives/linux-block.js';
import type { ZflashError } from '../app/errors.js';
import { probeImage } from '../app/image/image-source.js';
import { alignedBuffer, openDriveDestination, type Destination } from '../app/flash/destination.js';
import type { FlashProgress } from '../app/flash/progress.js';
import { HEAD_BYTES, writeImage } from '../app/flash/write.js';

const MiB = 1024 * 1024;
const DRIVE_MIB = 40;
const tmp = tempDir();
const loops: Loop[] = [];
let src: string;
let image: Buffer;

beforeAll(() => {
  requireLoop();
  // Random from the first byte: the image's first MiB is told apart from zeros and from 0xa5.
  image = randomBytes(24 * MiB + 2048);
  src = `${tmp.path}/image.img`;
  writeFileSync(src, image);
});

afterAll(() => {
  for (const l of loops) l.detach();
  tmp.cleanup();
});

let n = 0;
/** A loop device over a new file full of 0xa5 (so "untouched" is checkable). */
function drive(): { loop: Loop; file: string } {
  const file = `${tmp.path}/drive-${n++}.img`;
  writeFileSync(file, Buffer.alloc(DRIVE_MIB * MiB, 0xa5));
  const loop = attachLoop(file);
  loops.push(loop);
  return { loop, file };
}

/** Bytes of the device, read with O_DIRECT through a handle of our own. */
function readDevice(device: string, length: number, offset = 0): Buffer {
  const buf = alignedBuffer(length);
  const fd = openSync(device, fsc.O_RDONLY | fsc.O_DIRECT);
  try {
    let done = 0;
    while (done < length) {
      const got = readSync(fd, buf, done, length - done, offset + done);
      if (got <= 0) break;
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return Buffer.from(buf.subarray(0, length));
}

async function flash(
  loop: Loop,
  opts: {
    signal?: AbortSignal;
    onProgress?: (p: FlashProgress) => void;
    wrap?: (d: Destination) => Destination;
    image?: string;
  } = {},
): Promise<ZflashError | null> {
  const real = await openDriveDestination({
    device: loop.device,
    raw: loop.device,
    size: DRIVE_MIB * MiB,
    deviceNumber: devNumberOf(statSync(loop.device, { bigint: true }).rdev),
  });
  try {
    await writeImage({
      image: await probeImage(opts.image ?? src),
      patch: [],
      destination: opts.wrap ? opts.wrap(real) : real,
      io: { blockBytes: 2 * MiB, depth: 3 },
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    return null;
  } catch (err) {
    return err as ZflashError;
  } finally {
    await real.close();
  }
}

const head = () => image.subarray(0, HEAD_BYTES);
const zeros = (b: Buffer) => b.every((x) => x === 0);

describe('cancelled on a real block device, the stick never looks finished', () => {
  it('before anything is written: untouched, and said so', async () => {
    const { loop } = drive();
    const err = await flash(loop, { signal: AbortSignal.abort() });
    expect(err).toMatchObject({ code: 'ZFLASH_CANCELLED', details: { state: 'untouched' } });
    expect(err?.message).toMatch(/before anything was written/);
    expect(readDevice(loop.device, DRIVE_MIB * MiB).every((b) => b === 0xa5)).toBe(true);
  });

  it.each(['writing', 'finishing'] as const)(
    'at the start of %s: no partition table (the first MiB is zeros)',
    async (phase) => {
      const { loop } = drive();
      const ac = new AbortController();
      const err = await flash(loop, {
        signal: ac.signal,
        onProgress: (p) => p.phase === phase && ac.abort(),
      });
      expect(err).toMatchObject({
        code: 'ZFLASH_CANCELLED',
        exitCode: 130,
        details: { state: 'no-partition-table' },
      });
      expect(err?.message).toMatch(/without a partition table/);
      expect(zeros(readDevice(loop.device, HEAD_BYTES))).toBe(true);
    },
  );

  it('while the first MiB is being written, and during verification: wiped again', async () => {
    for (const when of ['head', 'verify-start', 'verify-mid'] as const) {
      const { loop } = drive();
      const ac = new AbortController();
      const err = await flash(loop, {
        signal: ac.signal,
        onProgress: (p) => when === 'verify-start' && p.phase === 'verifying' && ac.abort(),
        wrap: (d) => ({
          ...d,
          write(buf, length, offset) {
            if (when === 'head' && offset === 0 && !zeros(buf.subarray(0, length))) ac.abort();
            return d.write(buf, length, offset);
          },
          read(buf, length, offset) {
            if (when === 'verify-mid' && offset >= 12 * MiB) ac.abort();
            return d.read(buf, length, offset);
          },
        }),
      });
      expect({ when, err }).toMatchObject({
        when,
        err: { code: 'ZFLASH_CANCELLED', details: { state: 'wiped-again' } },
      });
      expect(err?.message).toMatch(/wiped again/);
      const onDisk = readDevice(loop.device, image.length);
      expect({ when, zeros: zeros(onDisk.subarray(0, HEAD_BYTES)) }).toEqual({ when, zeros: true });
      // The rest of the image is all there: only its tables are gone.
      expect({
        when,
        rest: onDisk.subarray(HEAD_BYTES).equals(image.subarray(HEAD_BYTES)),
      }).toEqual({
        when,
        rest: true,
      });
    }
  });

  it('when wiping again fails: says the stick holds the whole image, unverified', async () => {
    const { loop } = drive();
    const ac = new AbortController();
    let headDone = false;
    const err = await flash(loop, {
      signal: ac.signal,
      onProgress: (p) => p.phase === 'verifying' && ac.abort(),
      wrap: (d) => ({
        ...d,
        async write(buf, length, offset) {
          if (offset === 0 && headDone) throw Object.assign(new Error('EIO'), { code: 'EIO' });
          await d.write(buf, length, offset);
          if (offset === 0 && !zeros(buf.subarray(0, length))) headDone = true;
        },
      }),
    });
    expect(err).toMatchObject({
      code: 'ZFLASH_CANCELLED',
      details: { state: 'complete-but-unverified', errno: 'EIO' },
    });
    expect(err?.message).toMatch(/holds the whole image with its partition table, unverified/);
    expect(readDevice(loop.device, HEAD_BYTES).equals(head())).toBe(true);
  });

  it('when wiping again fails and the stick cannot be read: says its state is unknown', async () => {
    const { loop } = drive();
    const ac = new AbortController();
    let headDone = false;
    const eio = () => Object.assign(new Error('EIO'), { code: 'EIO' });
    const err = await flash(loop, {
      signal: ac.signal,
      onProgress: (p) => p.phase === 'verifying' && ac.abort(),
      wrap: (d) => ({
        ...d,
        async write(buf, length, offset) {
          if (offset === 0 && headDone) throw eio();
          await d.write(buf, length, offset);
          if (offset === 0 && !zeros(buf.subarray(0, length))) headDone = true;
        },
        async read() {
          throw eio();
        },
      }),
    });
    expect(err).toMatchObject({ code: 'ZFLASH_CANCELLED', details: { state: 'unknown' } });
    expect(err?.message).toMatch(/unknown/);
  });
});

describe('a verification failure on a real block device', () => {
  it('names the exact offset, and wipes the first MiB so the stick cannot pass for a good one', async () => {
    const { loop, file } = drive();
    const bad = 13 * MiB + 4321;
    // The medium changes behind the device once the write is done: what a failing stick does.
    const err = await flash(loop, {
      onProgress: (p) => {
        if (p.phase !== 'verifying' || p.bytes !== 0) return;
        const fd = openSync(file, 'r+');
        try {
          writeSync(fd, Buffer.from([(image[bad] ?? 0) ^ 0x5a]), 0, 1, bad);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      },
    });
    expect(err).toMatchObject({
      code: 'ZFLASH_VERIFY_MISMATCH',
      kind: 'io',
      details: { offset: bad, state: 'wiped-again' },
    });
    expect(zeros(readDevice(loop.device, HEAD_BYTES))).toBe(true);
  });

  it('an image that does not end on a sector: written and read back in whole sectors, the rest of the last one zeros', async () => {
    // O_DIRECT takes whole sectors only: a write or read of the image's last 700 bytes fails.
    const odd = image.subarray(0, 5 * MiB + 700);
    const path = `${tmp.path}/odd.img`;
    writeFileSync(path, odd);
    const { loop } = drive();
    expect(await flash(loop, { image: path })).toBeNull();
    const onDisk = readDevice(loop.device, 5 * MiB + 1024);
    expect(onDisk.subarray(0, odd.length).equals(odd)).toBe(true);
    expect(zeros(onDisk.subarray(odd.length))).toBe(true);
  });

  it('a complete flash leaves exactly the image (and zeros over the last MiB)', async () => {
    const { loop } = drive();
    expect(await flash(loop)).toBeNull();
    expect(readDevice(loop.device, image.length).equals(image)).toBe(true);
    expect(zeros(readDevice(loop.device, MiB, (DRIVE_MIB - 1) * MiB))).toBe(true);
  });
});
