/**
 * unmountDrive on Linux with real loop devices and ext4 mounts (needs root). The command
 * construction for macOS and Windows stays beside the code in app/drives/unmount.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { diskFamily } from '../app/drives/linux-block.js';
import { unmountDrive } from '../app/drives/unmount.js';
import {
  attachPrefixLoops,
  attachSparseLoop,
  mountExt4,
  partitionLoop,
  requireLoop,
  run,
  tempDir,
  type Loop,
  type Mount,
  deviceNumber as numberOf,
  zflashFailure as failure,
} from './fixtures.js';
const MiB = 1024 * 1024;

describe('unmountDrive on Linux (real loop devices and ext4 mounts)', () => {
  const tmp = tempDir('zflash-unmount-');
  const loops: Loop[] = [];
  const mounts: Mount[] = [];
  const tag = `zflash-test-${process.pid}-${Date.now()}`;

  beforeAll(() => requireLoop());
  afterEach(() => {
    for (const m of mounts.splice(0).reverse()) m.cleanup();
    for (const l of loops.splice(0)) l.detach();
  });
  afterAll(() => tmp.cleanup());

  it('leaves a busy filesystem of /dev/loopN0 alone when unmounting /dev/loopN', async () => {
    const { short, long } = attachPrefixLoops(tmp.path, 32 * MiB);
    loops.push(short, long);
    const other = mountExt4(long.device, `${tmp.path}/other`);
    mounts.push(other);
    writeFileSync(`${other.target}/keep.txt`, 'still here\n');
    const fd = openSync(`${other.target}/keep.txt`, 'r');
    try {
      const r = await unmountDrive({
        device: short.device,
        deviceNumber: await numberOf(short.device),
      });
      expect(r).toEqual({ unmounted: [] });
      expect(other.isMounted()).toBe(true);
      expect(readFileSync(`${other.target}/keep.txt`, 'utf8')).toBe('still here\n');
    } finally {
      closeSync(fd);
    }
  });

  it('unmounts its own partitions under /media, and only those', async () => {
    const { short, long } = attachPrefixLoops(tmp.path, 32 * MiB, { partitions: true });
    loops.push(short, long);
    const mine = mountExt4(partitionLoop(short), `/media/${tag}-a`);
    mounts.push(mine);
    const theirs = mountExt4(partitionLoop(long), `/media/${tag}-b`);
    mounts.push(theirs);
    const r = await unmountDrive({
      device: short.device,
      deviceNumber: await numberOf(short.device),
    });
    expect(r).toEqual({ unmounted: [mine.target] });
    expect(mine.isMounted()).toBe(false);
    expect(theirs.isMounted()).toBe(true);
  });

  /** A loop device with two ext4 partitions, mounted where the test says. */
  function twoPartitions(name: string): { loop: Loop; p1: string; p2: string } {
    const loop = attachSparseLoop(tmp.path, 48 * MiB, { name, partitions: true });
    loops.push(loop);
    run('sfdisk', ['--quiet', loop.device], { input: 'label: dos\n,20M,83\n,,83\n' });
    if (spawnSync('partx', ['-u', loop.device]).status !== 0) run('partx', ['-a', loop.device]);
    return { loop, p1: `${loop.device}p1`, p2: `${loop.device}p2` };
  }

  it('knows a disk’s family from sysfs: the disk and its partitions, not a longer-named disk', async () => {
    const { loop } = twoPartitions('family.img');
    const name = loop.device.slice('/dev/'.length);
    expect([...(await diskFamily(name))].sort()).toEqual([name, `${name}p1`, `${name}p2`]);
    const { short, long } = attachPrefixLoops(tmp.path, 8 * MiB);
    loops.push(short, long);
    expect([...(await diskFamily(short.device.slice(5)))]).toEqual([short.device.slice(5)]);
  });

  it('refuses a filesystem mounted outside the removable-media places, unmounting nothing', async () => {
    const { loop, p1, p2 } = twoPartitions('outside.img');
    const media = mountExt4(p1, `/media/${tag}-c`);
    const data = mountExt4(p2, `${tmp.path}/var-lib-data`);
    mounts.push(media, data);
    const err = await failure(
      unmountDrive({ device: loop.device, deviceNumber: await numberOf(loop.device) }),
    );
    expect(err.code).toBe('ZFLASH_DRIVE_MOUNTED');
    expect(err.kind).toBe('target');
    expect(err.message).toContain(data.target);
    expect(media.isMounted()).toBe(true);
    expect(data.isMounted()).toBe(true);
  });

  it('stops at a busy filesystem, naming its mount point, without a lazy unmount', async () => {
    const { loop, p1 } = twoPartitions('busy.img');
    const media = mountExt4(p1, `/media/${tag}-d`);
    mounts.push(media);
    writeFileSync(`${media.target}/open.txt`, 'in use\n');
    const fd = openSync(`${media.target}/open.txt`, 'r');
    try {
      const err = await failure(
        unmountDrive({ device: loop.device, deviceNumber: await numberOf(loop.device) }),
      );
      expect(err.code).toBe('ZFLASH_DRIVE_BUSY');
      expect(err.message).toContain(media.target);
      expect(err.details).toMatchObject({ mountpoint: media.target, source: p1 });
      // Still mounted, still reachable by path: not detached lazily.
      expect(media.isMounted()).toBe(true);
      expect(readFileSync(`${media.target}/open.txt`, 'utf8')).toBe('in use\n');
    } finally {
      closeSync(fd);
    }
  });

  it('refuses when something else is mounted inside one of its filesystems', async () => {
    const { loop, p1, p2 } = twoPartitions('nested.img');
    const outer = mountExt4(p1, `/media/${tag}-e`);
    const other = mountExt4(p2, `/media/${tag}-f`);
    mounts.push(outer, other);
    const inner = `${outer.target}/sub`;
    mkdirSync(inner);
    run('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'zflash-test-tmpfs', inner]);
    try {
      const err = await failure(
        unmountDrive({ device: loop.device, deviceNumber: await numberOf(loop.device) }),
      );
      expect(err.code).toBe('ZFLASH_DRIVE_BUSY');
      expect(err.message).toContain(`mounted inside it (${inner})`);
      // Checked before anything was unmounted.
      expect(outer.isMounted()).toBe(true);
      expect(other.isMounted()).toBe(true);
    } finally {
      run('umount', [inner]);
    }
  });

  it('refuses a number that names no disk, or a partition', async () => {
    const gone = await failure(
      unmountDrive({ device: '/dev/loop999999', deviceNumber: '7:999999' }),
    );
    expect(gone.code).toBe('ZFLASH_DRIVE_CHANGED');
    const missing = await failure(unmountDrive({ device: '/dev/sdz', deviceNumber: null }));
    expect(missing.code).toBe('ZFLASH_DRIVE_CHANGED');
    const { p1 } = twoPartitions('part.img');
    const part = await failure(unmountDrive({ device: p1, deviceNumber: await numberOf(p1) }));
    expect(part.code).toBe('ZFLASH_DRIVE_REFUSED');
  });
});
