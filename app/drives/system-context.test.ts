// Partitions, mounts and loop devices traced to their backing files need root:
// test/drives-live.test.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { devNumberOf, parseMountinfo, parseSwaps, parseUdisksTargets } from './linux-block.js';
import { disksUnder, systemDisks } from '../../test/fixtures.js';
import { scanDrives } from './scanner.js';
import { readSystemContext } from './system-context.js';
import type { AssessedDrive } from './types.js';

const codes = (a: AssessedDrive | undefined): string[] =>
  a?.verdict.reasons.map((r) => r.code) ?? ['<missing>'];

describe('kernel table parsing', () => {
  it('parses mountinfo, optional fields and octal escapes included', () => {
    const text = [
      '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      '90 27 0:45 /@home /home rw master:2 - btrfs /dev/nvme0n1p2 rw,subvol=/@home',
      '91 27 7:3 / /mnt/my\\040stick rw - ext4 /dev/loop3p1 rw',
      'garbage',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { id: 27, parentId: 1, devNumber: '254:0', target: '/', fstype: 'ext4', source: '/dev/vda' },
      {
        id: 90,
        parentId: 27,
        devNumber: '0:45',
        target: '/home',
        fstype: 'btrfs',
        source: '/dev/nvme0n1p2',
      },
      {
        id: 91,
        parentId: 27,
        devNumber: '7:3',
        target: '/mnt/my stick',
        fstype: 'ext4',
        source: '/dev/loop3p1',
      },
    ]);
  });

  it('finds the mount points udisks made in libmount’s utab', () => {
    const utab = [
      'SRC=/dev/sdb1 TARGET=/run/media/alice/STICK ROOT=/ OPTS=uhelper=udisks2',
      'SRC=/dev/sdc1 TARGET=/mnt/auto/My\\040Disk ROOT=/ OPTS=x-gvfs-show,uhelper=udisks2',
      'SRC=/dev/sdd1 TARGET=/srv/data ROOT=/ OPTS=x-systemd.automount',
      'ID=42 SRC=/dev/sde1 TARGET=/mnt/udisks2ish ROOT=/ OPTS=uhelper=udisks2x',
      '',
    ].join('\n');
    expect(parseUdisksTargets(utab)).toEqual(['/run/media/alice/STICK', '/mnt/auto/My Disk']);
    expect(parseUdisksTargets('')).toEqual([]);
  });

  it('parses /proc/swaps', () => {
    const text =
      'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' +
      '/dev/nvme0n1p3                          partition\t16777212\t0\t\t-2\n' +
      '/swap\\040file                              file\t\t1048572\t\t0\t\t-3\n';
    expect(parseSwaps(text)).toEqual([
      { source: '/dev/nvme0n1p3', type: 'partition' },
      { source: '/swap file', type: 'file' },
    ]);
    expect(parseSwaps('Filename\tType\tSize\tUsed\tPriority\n')).toEqual([]);
  });

  it('splits glibc dev_t numbers, large minors included', () => {
    expect(devNumberOf(0xfe00n)).toBe('254:0');
    expect(devNumberOf(0x0703n)).toBe('7:3');
    expect(devNumberOf((259n << 8n) | 1n)).toBe('259:1');
    // minor 300 needs the high minor bits: (300 & 0xff) | ((300 & ~0xff) << 12)
    expect(devNumberOf((8n << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n))).toBe('8:300');
  });
});

describe('readSystemContext and scanDrives on this machine', () => {
  let dir: string;
  // Derived from the running system with findmnt/lsblk, not from the code under test.
  const system = systemDisks();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zflash-ctx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the kernel tables: / is on the system disk(s)', async () => {
    const ctx = await readSystemContext();
    expect(ctx.source).toBe('procfs');
    for (const disk of system) {
      expect(
        ctx.uses.some((u) => u.kind === 'mount' && u.disk === disk && u.target === '/'),
        disk,
      ).toBe(true);
    }
  });

  it('refuses the system disk as such, and zram (if any) as virtual (real drivelist)', async () => {
    const scan = await scanDrives();
    for (const disk of system) {
      const found = scan.find((a) => a.drive.device === disk);
      expect(found?.verdict.status, disk).toBe('refused');
      expect(codes(found)).toContain('DRIVE_SYSTEM');
    }
    for (const zram of scan.filter((a) => /^\/dev\/zram\d+$/.test(a.drive.device))) {
      expect(zram.verdict.status).toBe('refused');
      expect(codes(zram)).toContain('DRIVE_VIRTUAL');
    }
  });

  it('knows which disk holds an image in a temp folder and takes its size from it', async () => {
    const image = join(dir, 'nixos.iso');
    await writeFile(image, Buffer.alloc(4096));
    const holders = disksUnder(image);
    const ctx = await readSystemContext({ imagePath: image });
    expect(ctx.imageSize).toBe(4096);
    const imageDisks = ctx.uses.filter((u) => u.kind === 'image').map((u) => u.disk);
    // A tmpfs /tmp holds it on no disk at all; then no drive is refused for it.
    for (const disk of holders) expect(imageDisks).toContain(disk);
    if (holders.length === 0) expect(imageDisks).toEqual([]);
    const scan = await scanDrives({ imagePath: image });
    for (const disk of holders) {
      expect(codes(scan.find((a) => a.drive.device === disk))).toContain('DRIVE_HOLDS_IMAGE');
    }
  });

  it('reports a missing image with its code, kind and a hint', async () => {
    const err = await readSystemContext({ imagePath: join(dir, 'missing.iso') }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ZflashError);
    expect(err).toMatchObject({ code: 'ZFLASH_IMAGE_NOT_FOUND', kind: 'input' });
    expect((err as ZflashError).hint).toMatch(/path of the image/);
  });
});
