/**
 * The drive scanner, the system context, the helper's recheck and the watcher on real loop
 * devices, partitions and ext4 mounts: these need root (losetup, mount). Moved here from the
 * unit tests next to the code (app/drives/*.test.ts), which run without root
 * (`npm run test:unit`); every assertion is the same.
 */
import { copyFile, link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { loadDrivelist } from '../app/native.js';
import { diskChain } from '../app/drives/linux-block.js';
import { recheckDrive } from '../app/drives/recheck.js';
import { drivelistList, scanDrives } from '../app/drives/scanner.js';
import { readSystemContext } from '../app/drives/system-context.js';
import type { AssessedDrive } from '../app/drives/types.js';
import { watchDrives } from '../app/drives/watch.js';
import { eventLog } from './event-log.js';
import {
  attachLoop,
  attachSparseLoop,
  requireLoop,
  run,
  systemDisks,
  type Loop,
} from './fixtures.js';

const MiB = 1024 * 1024;

const codes = (a: AssessedDrive | undefined): string[] =>
  a?.verdict.reasons.map((r) => r.code) ?? ['<missing>'];

describe('recheckDrive (the helper, right before it opens the drive)', () => {
  let dir: string;
  let loop: Loop | undefined;
  let parted: Loop | undefined;

  beforeAll(async () => {
    requireLoop();
    dir = await mkdtemp(join(tmpdir(), 'zflash-recheck-'));
    loop = attachSparseLoop(dir, 64 * MiB);
    parted = attachSparseLoop(dir, 16 * MiB, { name: 'parted.img', partitions: true });
    run('sfdisk', ['--quiet', parted.device], { input: 'label: dos\n,,83\n' });
    try {
      run('partx', ['-u', parted.device]);
    } catch {
      run('partx', ['-a', parted!.device]);
    }
  });
  afterAll(async () => {
    await loop?.detach();
    await parted?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves a symlink to the loop device and judges the real device', async () => {
    const link = join(dir, 'by-id-link');
    await symlink(loop!.device, link);
    const r = await recheckDrive(link, { allowLoop: true, imageSize: 32 * MiB });
    expect(r.requestedPath).toBe(link);
    expect(r.drive.device).toBe(loop!.device);
    expect(r.drive.raw).toBe(loop!.device);
    expect(r.deviceNumber).toMatch(/^7:\d+$/);
    expect(r.verdict).toEqual({ status: 'eligible', reasons: [] });
  });

  it('refuses it as too small against a bigger image', async () => {
    const r = await recheckDrive(loop!.device, { allowLoop: true, imageSize: 65 * MiB });
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_TOO_SMALL']);
  });

  it('accepts a PolicyContext read earlier, and re-reads the system facts', async () => {
    const ctx = await readSystemContext({ allowLoop: true, imageSize: 1 * MiB });
    const r = await recheckDrive(loop!.device, ctx);
    expect(r.verdict.status).toBe('eligible');
  });

  it('refuses a loop device when loop devices are not allowed', async () => {
    const r = await recheckDrive(loop!.device, { allowLoop: false });
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_LOOP_NOT_ALLOWED']);
  });

  it('refuses a drive that is not the one the operator chose any more', async () => {
    const r = await recheckDrive(loop!.device, {
      allowLoop: true,
      expected: { size: 16 * 1000 * 1000 * 1000, description: 'SanDisk Ultra' },
    });
    expect(r.verdict.status).toBe('refused');
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_CHANGED']);
    expect(r.verdict.reasons[0]?.message).toContain('size and description changed');
  });

  it('accepts the same drive when only its mount part of the description changed', async () => {
    const r = await recheckDrive(loop!.device, {
      allowLoop: true,
      expected: { size: 64 * MiB, description: `Loop device (${loop!.backingFile})` },
    });
    expect(r.verdict.status).toBe('eligible');
  });

  it('refuses a partition, naming the whole drive as the thing to choose', async () => {
    const r = await recheckDrive(`${parted!.device}p1`, { allowLoop: true });
    expect(r.verdict.reasons.map((x) => x.code)).toEqual(['DRIVE_PARTITION']);
  });

  it('refuses the system disk (the disk under /, found with findmnt and lsblk)', async () => {
    for (const disk of systemDisks()) {
      const r = await recheckDrive(disk);
      expect(r.verdict.status, disk).toBe('refused');
      expect(r.verdict.reasons.map((x) => x.code)).toContain('DRIVE_SYSTEM');
    }
  });
});

describe('scanDrives with a real loop device', () => {
  let dir: string;
  let loop: Loop | undefined;

  beforeAll(async () => {
    requireLoop();
    dir = await mkdtemp(join(tmpdir(), 'zflash-scan-'));
    loop = attachSparseLoop(dir, 64 * MiB);
  });
  afterAll(async () => {
    await loop?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists loop devices only with ZFLASH_ALLOW_LOOP=1', async () => {
    const hidden = await scanDrives({ allowLoop: false });
    expect(hidden.some((a) => a.drive.device === loop!.device)).toBe(false);
    expect(hidden.some((a) => a.drive.isLoop)).toBe(false);
    const shown = await scanDrives({ allowLoop: true });
    const mine = shown.find((a) => a.drive.device === loop!.device);
    expect(mine?.drive).toMatchObject({
      raw: loop!.device,
      size: 64 * MiB,
      busType: 'LOOP',
      isLoop: true,
      isReadOnly: false,
      mountpoints: [],
      description: `Loop device (${loop!.backingFile})`,
    });
  });

  it('takes the loop permission from its caller only, never from the environment', async () => {
    const saved = process.env['ZFLASH_ALLOW_LOOP'];
    process.env['ZFLASH_ALLOW_LOOP'] = '1';
    try {
      const scan = await scanDrives({});
      expect(scan.some((a) => a.drive.device === loop!.device)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env['ZFLASH_ALLOW_LOOP'];
      else process.env['ZFLASH_ALLOW_LOOP'] = saved;
    }
  });

  it('offers it when the image fits and refuses it as too small when it does not', async () => {
    const fits = await scanDrives({ allowLoop: true, imageSize: 32 * MiB });
    expect(fits.find((a) => a.drive.device === loop!.device)?.verdict).toEqual({
      status: 'eligible',
      reasons: [],
    });
    const tooBig = await scanDrives({ allowLoop: true, imageSize: 128 * MiB });
    const v = tooBig.find((a) => a.drive.device === loop!.device)?.verdict;
    expect(v?.status).toBe('refused');
    expect(v?.reasons.map((r) => r.code)).toEqual(['DRIVE_TOO_SMALL']);
  });
});

describe('the Linux drive list: lsblk without loop devices, read by drivelist', () => {
  let dir: string;
  let loop: Loop | undefined;
  const realLsblk = run('sh', ['-c', 'command -v lsblk']).trim();
  /** A drive list minus the by-path link drivelist adds afterwards (nothing here reads it). */
  const withoutDevicePath = (drives: readonly object[]) =>
    drives.map((d) => Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'devicePath')));

  beforeAll(async () => {
    requireLoop();
    dir = await mkdtemp(join(tmpdir(), 'zflash-lsblk-'));
    loop = attachSparseLoop(dir, 16 * MiB);
  });
  afterAll(async () => {
    await loop?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  /** Puts an `lsblk` first on PATH that logs its arguments, then runs `body` and restores PATH. */
  async function withShim<T>(script: string, body: (log: () => string[]) => Promise<T>) {
    const bin = join(dir, `bin-${Math.random().toString(36).slice(2)}`);
    await mkdir(bin);
    const logFile = join(bin, 'calls.log');
    await writeFile(
      join(bin, 'lsblk'),
      `#!/bin/sh\necho "$*" >> ${logFile}\n${script}\nexec ${realLsblk} "$@"\n`,
    );
    await chmod(join(bin, 'lsblk'), 0o755);
    const saved = process.env['PATH'];
    process.env['PATH'] = `${bin}:${saved ?? ''}`;
    try {
      return await body(() => {
        try {
          return readFileSync(logFile, 'utf8').trim().split('\n');
        } catch {
          return [];
        }
      });
    } finally {
      process.env['PATH'] = saved;
    }
  }

  it('lists exactly what drivelist lists, without asking lsblk about loop devices', async () => {
    await withShim('', async (calls) => {
      const ours = await drivelistList('linux');
      expect(calls()).toEqual(['--bytes --all --json --paths --output-all --exclude 7']);
      expect(ours.some((d) => d.device.startsWith('/dev/loop'))).toBe(false);
      expect(withoutDevicePath(ours)).toEqual(withoutDevicePath(await loadDrivelist().list()));
    });
  });

  it("falls back to drivelist's own lsblk when that lsblk refuses the options", async () => {
    await withShim(
      'case "$*" in *--exclude*) echo "lsblk: unknown option" >&2; exit 1;; esac',
      async (calls) => {
        const drives = await drivelistList('linux');
        expect(calls()[0]).toContain('--exclude 7');
        expect(calls().slice(1)).toContain('--bytes --all --json --paths --output-all');
        expect(withoutDevicePath(drives)).toEqual(withoutDevicePath(await loadDrivelist().list()));
      },
    );
  });
});

describe('mapping a mounted partition to its whole disk (real partitioned loop device)', () => {
  let dir: string;
  let loop: Loop | undefined;
  let mountDir: string;
  let mounted = false;

  beforeAll(async () => {
    requireLoop();
    dir = await mkdtemp(join(tmpdir(), 'zflash-part-'));
    mountDir = join(dir, 'mnt');
    await mkdir(mountDir);
    loop = attachSparseLoop(dir, 32 * 1024 * 1024, { partitions: true });
    run('sfdisk', ['--quiet', loop.device], { input: 'label: dos\n,,83\n' });
    // -P at attach saw an empty table; tell the kernel about the new partition.
    try {
      run('partx', ['-u', loop.device]);
    } catch {
      run('partx', ['-a', loop!.device]);
    }
    run('mkfs.ext4', ['-q', '-F', `${loop.device}p1`]);
    run('mount', [`${loop.device}p1`, mountDir]);
    mounted = true;
  });

  afterAll(async () => {
    try {
      if (mounted) run('umount', [mountDir]);
    } finally {
      await loop?.detach();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('walks loopNp1 up to loopN through sysfs', async () => {
    const name = loop!.device.slice('/dev/'.length);
    expect(await diskChain(`${name}p1`)).toEqual([`${name}p1`, name]);
  });

  it('sees the mount and an image stored on it as uses of the whole loop device', async () => {
    const image = join(mountDir, 'nixos.iso');
    await writeFile(image, Buffer.alloc(1024));
    const ctx = await readSystemContext({ imagePath: image, allowLoop: true });
    expect(ctx.uses).toContainEqual({
      kind: 'mount',
      disk: loop!.device,
      source: `${loop!.device}p1`,
      target: mountDir,
    });
    expect(ctx.uses).toContainEqual({ kind: 'image', disk: loop!.device, path: image });

    const scan = await scanDrives({ imagePath: image, allowLoop: true });
    const mine = scan.find((a) => a.drive.device === loop!.device);
    expect(mine?.drive.mountpoints).toEqual([mountDir]);
    // Mounted in a temp folder, not where removable media go: in use, and holding the image.
    expect(codes(mine)).toEqual(['DRIVE_MOUNTED', 'DRIVE_HOLDS_IMAGE']);
    expect(mine?.verdict.reasons[0]?.message).toContain(mountDir);
  });
});

describe('loop devices traced to their backing files', () => {
  let dir: string;
  const loops: Loop[] = [];
  let mounted: string | null = null;
  beforeAll(async () => {
    requireLoop();
    dir = await mkdtemp(join(tmpdir(), 'zflash-backing-'));
  });
  afterAll(async () => {
    try {
      if (mounted) run('umount', [mounted]);
    } finally {
      for (const l of loops.reverse()) l.detach();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses the loop device whose backing file is the image, by any path to it', async () => {
    const loop = attachSparseLoop(dir, 16 * 1024 * 1024, { name: 'image.img' });
    loops.push(loop);
    const hard = join(dir, 'hard-link.img');
    const soft = join(dir, 'soft-link.img');
    await link(loop.backingFile, hard);
    await symlink(loop.backingFile, soft);
    for (const image of [loop.backingFile, hard, soft]) {
      const scan = await scanDrives({ imagePath: image, allowLoop: true });
      const mine = scan.find((a) => a.drive.device === loop.device);
      expect(codes(mine), image).toEqual(['DRIVE_HOLDS_IMAGE']);
      expect(mine?.verdict.reasons[0]?.message).toContain('backed by the image');
    }
    // A copy is another file: writing the loop device does not touch it.
    const copy = join(dir, 'copy.img');
    await copyFile(loop.backingFile, copy);
    const scan = await scanDrives({ imagePath: copy, allowLoop: true });
    expect(codes(scan.find((a) => a.drive.device === loop.device))).toEqual([]);
  });

  it('gives a loop device over a block device that device’s uses', async () => {
    const lower = attachSparseLoop(dir, 16 * 1024 * 1024, { name: 'lower.img' });
    loops.push(lower);
    const upper = attachLoop(lower.device);
    loops.push(upper);
    mounted = join(dir, 'lower-mnt');
    await mkdir(mounted);
    run('mkfs.ext4', ['-q', '-F', lower.device]);
    run('mount', [lower.device, mounted]);
    const scan = await scanDrives({ allowLoop: true });
    const verdict = scan.find((a) => a.drive.device === upper.device)?.verdict;
    expect(verdict?.reasons.map((r) => r.code)).toEqual(['DRIVE_MOUNTED']);
    expect(verdict?.reasons[0]?.message).toContain(mounted);
  });
});

describe('watchDrives with a real loop device', () => {
  let dir: string;
  let loop: Loop | undefined;
  beforeAll(async () => {
    requireLoop();
    dir = await mkdtemp(join(tmpdir(), 'zflash-watch-'));
  });
  afterAll(async () => {
    await loop?.detach();
    await rm(dir, { recursive: true, force: true });
  });

  it('emits attach when a loop device is attached and detach when it is detached', async () => {
    const controller = new AbortController();
    const log = eventLog();
    const done = watchDrives({
      allowLoop: true,
      intervalMs: 100,
      signal: controller.signal,
      onEvent: log.onEvent,
    });
    try {
      // The first scan reports what is already there (the system disk at least).
      const [system] = systemDisks();
      await log.next(
        (e) => e.type === 'attach' && e.drive.drive.device === system,
        10_000,
        'initial scan',
      );
      loop = attachSparseLoop(dir, 16 * 1024 * 1024);
      const device = loop.device;
      const attached = await log.next(
        (e) => e.type === 'attach' && e.drive.drive.device === device,
        10_000,
        `attach of ${device}`,
      );
      expect(attached.type === 'attach' && attached.drive.verdict.status).toBe('eligible');
      await loop.detach();
      await log.next(
        (e) => e.type === 'detach' && e.drive.drive.device === device,
        10_000,
        `detach of ${device}`,
      );
    } finally {
      controller.abort();
      await done;
    }
    expect(log.events.filter((e) => e.type === 'scan-error')).toEqual([]);
  });
});
