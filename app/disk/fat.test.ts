import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ZflashError } from '../errors.js';
import { FatTable, FatVolume, parseGeometry } from './fat.js';
import { MemoryDevice, OverlayDevice } from './device.js';
import {
  buildEsp,
  fsckClean,
  mdirNames,
  mtype,
  tempDir,
  run,
  type FatBits,
} from '../../test/fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const KEYS =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5 op@laptop\n';
const payload = (host: string) => [
  { name: 'zeta-authorized-keys.pub', data: Buffer.from(KEYS) },
  { name: 'zeta-hostname.txt', data: Buffer.from(`${host}\n`) },
  {
    name: 'zeta-node.json',
    data: Buffer.from(JSON.stringify({ schema: 1, hostname: host, pad: 'x'.repeat(5000) })),
  },
];

async function openImage(path: string) {
  const dev = new MemoryDevice(readFileSync(path));
  return { dev, vol: await FatVolume.open(dev) };
}

describe.each<FatBits>([12, 16, 32])('FAT%i', (bits) => {
  const files = {
    'EFI/BOOT/BOOTX64.EFI': randomBytes(bits === 12 ? 700_000 : 2_000_000),
    'EFI/BOOT/grub.cfg': 'configfile /EFI/BOOT/grub.cfg\n',
    'readme.txt': 'keep me\n',
  };

  it('reads geometry, label, serial and files like mtools does', async () => {
    const img = buildEsp(`${tmp.path}/read${bits}.img`, { fat: bits, files });
    const { vol } = await openImage(img);
    expect(vol.fatType).toBe(bits);
    expect(vol.label).toBe('EFIBOOT');
    expect(vol.serial).toBe('1234-5678');
    expect((await vol.readFile('readme.txt'))?.toString()).toBe('keep me\n');
    expect(await vol.readFile('missing.txt')).toBeNull();
    expect(
      vol
        .listRoot()
        .map((e) => e.name)
        .sort(),
    ).toEqual(['EFI', 'readme.txt']);
    // minfo/mdir agree on free space: "N bytes free".
    const mdir = run('mdir', ['-i', img, '::/']);
    const free = Number(/([\d ]+) bytes free/.exec(mdir)?.[1]?.replace(/ /g, ''));
    expect(vol.freeBytes).toBe(free);
  });

  it('creates the payload with long names; mtools reads it back and fsck.fat -n is clean', async () => {
    const img = buildEsp(`${tmp.path}/write${bits}.img`, { fat: bits, files });
    const before = readFileSync(img);
    const { dev, vol } = await openImage(img);
    await vol.writeRootFiles(payload('node-1'));
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(mdirNames(img, 0).sort()).toEqual(
      [
        'EFI',
        'readme.txt',
        'zeta-authorized-keys.pub',
        'zeta-hostname.txt',
        'zeta-node.json',
      ].sort(),
    );
    expect(mtype(img, 0, 'zeta-authorized-keys.pub')).toBe(KEYS);
    expect(mtype(img, 0, 'zeta-hostname.txt')).toBe('node-1\n');
    expect(run('mtype', ['-i', img, '::/EFI/BOOT/BOOTX64.EFI']).length).toBeGreaterThan(0);
    expect(readFileSync(img).subarray(0, 512).equals(before.subarray(0, 512))).toBe(true);
    // Both FAT copies identical (what "FATs differ" would flag) — checked directly too.
    expect(await (await FatVolume.open(new MemoryDevice(readFileSync(img)))).fatsIdentical()).toBe(
      true,
    );
  });

  it('replaces the payload on re-inject without growing or touching other files', async () => {
    const img = buildEsp(`${tmp.path}/re${bits}.img`, { fat: bits, files });
    const { dev, vol } = await openImage(img);
    await vol.writeRootFiles(payload('node-1'));
    const freeAfterFirst = vol.freeBytes;
    await vol.writeRootFiles(payload('node-2'));
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(mtype(img, 0, 'zeta-hostname.txt')).toBe('node-2\n');
    expect(mdirNames(img, 0).filter((n) => n.startsWith('zeta-'))).toHaveLength(3);
    expect(vol.freeBytes).toBe(freeAfterFirst);
    expect(mtype(img, 0, 'readme.txt')).toBe('keep me\n');
    const reopened = await FatVolume.open(new MemoryDevice(readFileSync(img)));
    expect((await reopened.readFile('zeta-node.json'))?.toString()).toContain(
      '"hostname":"node-2"',
    );
  });

  it('replaces a file that mcopy wrote (8.3 alias and LFN made by another tool)', async () => {
    const img = buildEsp(`${tmp.path}/mc${bits}.img`, {
      fat: bits,
      files: { ...files, 'zeta-hostname.txt': 'old-name\n' },
    });
    const { dev, vol } = await openImage(img);
    await vol.writeRootFiles(payload('fresh'));
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(mtype(img, 0, 'zeta-hostname.txt')).toBe('fresh\n');
    expect(mdirNames(img, 0).filter((n) => n === 'zeta-hostname.txt')).toHaveLength(1);
  });
});

describe('refusals leave the filesystem untouched', () => {
  it('refuses when the data does not fit, before writing anything', async () => {
    const img = buildEsp(`${tmp.path}/full.img`, {
      fat: 12,
      sizeKiB: 1024,
      files: { 'big.bin': randomBytes(950_000) },
    });
    const original = readFileSync(img);
    const base = new MemoryDevice(Buffer.from(original));
    const overlay = new OverlayDevice(base);
    const vol = await FatVolume.open(overlay);
    await expect(
      vol.writeRootFiles([{ name: 'zeta-node.json', data: randomBytes(200_000) }]),
    ).rejects.toMatchObject({
      code: 'ZFLASH_ESP_FULL',
      kind: 'target',
    });
    expect(overlay.extents()).toHaveLength(0);
    expect(base.buffer.equals(original)).toBe(true);
  });

  it('refuses when a FAT12 root directory has no slots left', async () => {
    const img = `${tmp.path}/rootfull.img`;
    // mkfs.vfat -r 16: a root of 16 entries, filled with 15 short names + the label.
    run('mkfs.vfat', [
      '--invariant',
      '-i',
      '12345678',
      '-n',
      'EFIBOOT',
      '-r',
      '16',
      '-C',
      img,
      '1024',
    ]);
    for (let i = 0; i < 14; i++) {
      writeFileSync(`${tmp.path}/F${i}.TXT`, 'x');
      run('mcopy', ['-i', img, `${tmp.path}/F${i}.TXT`, `::/F${i}.TXT`]);
    }
    const overlay = new OverlayDevice(new MemoryDevice(readFileSync(img)));
    const vol = await FatVolume.open(overlay);
    // One slot is left; the first file needs three (two long-name slots and its 8.3 entry).
    await expect(vol.writeRootFiles(payload('n'))).rejects.toMatchObject({
      code: 'ZFLASH_ESP_ROOT_FULL',
      message:
        "The EFI partition's root directory has no room for 3 more entries (FAT12 roots hold a fixed 16).",
      hint: 'Use an unmodified installer image; this one has too many files in the root of its EFI partition.',
      details: { slotsNeeded: 3, rootEntries: 16 },
    });
    expect(overlay.extents()).toHaveLength(0);
  });

  it('reports a cluster chain that loops as a damaged ESP', async () => {
    const img = buildEsp(`${tmp.path}/loop.img`, {
      fat: 12,
      files: { 'a.bin': randomBytes(10_000) },
    });
    const buf = readFileSync(img);
    const vol0 = await FatVolume.open(new MemoryDevice(Buffer.from(buf)));
    const first = vol0.findInRoot('a.bin')?.firstCluster ?? 0;
    // Point the file's first cluster at itself in FAT #1 (12-bit entry).
    const off = 512 + first + (first >> 1);
    const v = buf.readUInt16LE(off);
    buf.writeUInt16LE(first & 1 ? (v & 0xf) | (first << 4) : (v & 0xf000) | first, off);
    const vol = await FatVolume.open(new MemoryDevice(buf));
    await expect(vol.readFile('a.bin')).rejects.toMatchObject({
      code: 'ZFLASH_ESP_CORRUPT',
      message: "The EFI System Partition's FAT filesystem is damaged: a cluster chain loops.",
      details: { first },
    });
  });

  it('makes differing FAT copies identical again (a stick written by the fatfs package)', async () => {
    const img = buildEsp(`${tmp.path}/differ.img`, {
      fat: 12,
      files: { 'a.bin': randomBytes(10_000) },
    });
    const buf = readFileSync(img);
    const vol0 = await FatVolume.open(new MemoryDevice(Buffer.from(buf)));
    const g = vol0.geometry;
    // Simulate fatfs: free the file in FAT #1 only.
    buf.fill(0, 512 + 3, 512 + 3 + 16);
    writeFileSync(img, buf);
    expect(() => fsckClean(img)).toThrow(/FATs differ/);
    const dev = new MemoryDevice(buf);
    const vol = await FatVolume.open(dev);
    expect(await vol.fatsIdentical()).toBe(false);
    await vol.writeRootFiles(payload('n'));
    expect(await vol.fatsIdentical()).toBe(true);
    expect(g.numFats).toBe(2);
  });
});

/**
 * fsck.fat -n -v -l as the judge of volumes mtools cannot read: its exit code, every remark
 * (lines that are neither its own progress and listing nor the boot sector dump), the paths it
 * lists, and its "N files, used/total clusters" summary.
 */
function fsckListing(img: string) {
  const r = spawnSync('fsck.fat', ['-n', '-v', '-l', img]);
  const out = `${r.stdout.toString()}${r.stderr.toString()}`;
  const lines = out.split('\n');
  const dump = lines.indexOf('Boot sector contents:');
  const dumpEnd = lines.findIndex((l) => /sectors total$/.test(l));
  const remarks = lines.filter(
    (l, i) =>
      l.trim() &&
      !(i >= dump && i <= dumpEnd) &&
      !/^fsck\.fat \d/.test(l) &&
      !/^Checking /.test(l) &&
      !/: \d+ files, \d+\/\d+ clusters$/.test(l),
  );
  const paths = lines
    .map((l) => /^Checking file (\/\S*)/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined && p !== '/');
  const summary = /: (\d+) files, (\d+)\/(\d+) clusters$/m.exec(out);
  const dataClusters = Number(/^\s*(\d+) data clusters/m.exec(out)?.[1]);
  return {
    status: r.status,
    out,
    remarks,
    paths,
    usedClusters: Number(summary?.[2]),
    totalClusters: Number(summary?.[3]),
    dataClusters,
  };
}

describe.each([
  // 16 MiB, 512-byte clusters: ~32 000 clusters, a FAT16 count.
  { name: '512-byte sectors, FAT16-sized count', sizeKiB: 16 * 1024, args: ['-S', '512'] },
  // 3 MiB, 1 KiB clusters: under 4085 clusters, a FAT12 count.
  {
    name: '512-byte sectors, FAT12-sized count',
    sizeKiB: 3 * 1024,
    args: ['-S', '512', '-s', '2'],
  },
  // 64 MiB on 4 KiB logical sectors: 16 320 clusters of 4 KiB.
  { name: '4096-byte sectors', sizeKiB: 64 * 1024, args: ['-S', '4096'] },
])('FAT32 below 65 525 clusters, as mkfs.vfat -F 32 makes it ($name)', ({ sizeKiB, args }) => {
  const make = (name: string) => {
    const img = `${tmp.path}/${name}`;
    run('mkfs.vfat', [
      '--invariant',
      '-i',
      '12345678',
      '-n',
      'EFIBOOT',
      '-F',
      '32',
      ...args,
      '-C',
      img,
      String(sizeKiB),
    ]);
    return img;
  };
  const tag = `${sizeKiB}-${args.join('')}`;

  it('is read as FAT32, as the kernel, dosfstools and EDK2 read it', async () => {
    const img = make(`small32-read-${tag}.img`);
    const judge = fsckListing(img);
    const { vol } = await openImage(img);
    expect(vol.fatType).toBe(32);
    expect(vol.geometry.clusterCount).toBe(judge.dataClusters);
    expect(vol.geometry.clusterCount).toBeLessThan(65525);
    expect(vol.label).toBe('EFIBOOT');
    expect(vol.serial).toBe('1234-5678');
    expect(vol.freeBytes).toBe(
      (judge.totalClusters - judge.usedClusters) * vol.geometry.clusterSize,
    );
  });

  it('takes the payload and a re-inject: fsck.fat clean, FATs equal, FSInfo right', async () => {
    const img = make(`small32-write-${tag}.img`);
    const pristine = fsckListing(img);
    expect(pristine.status).toBe(0);
    const { dev, vol } = await openImage(img);
    await vol.writeRootFiles(payload('node-1'), { now: new Date(2025, 0, 2, 3, 4, 6) });
    // Ten more long names: 30 more slots, so a root of one 512-byte cluster must grow.
    const extra = Array.from({ length: 10 }, (_, i) => ({
      name: `extra-file-number-${i}.txt`,
      data: Buffer.from(`extra ${i}\n`),
    }));
    await vol.writeRootFiles(extra);
    await vol.writeRootFiles(payload('node-2'));
    writeFileSync(img, dev.buffer);

    const judge = fsckListing(img);
    // fsck.fat has nothing to say beyond what it says of mkfs.vfat's own output (on these
    // volumes: that FAT32 with so few clusters "may lead to problems on some systems").
    expect({ status: judge.status, remarks: judge.remarks }).toEqual({
      status: 0,
      remarks: pristine.remarks,
    });
    expect(judge.paths.sort()).toEqual(
      [
        '/EFIBOOT',
        '/zeta-authorized-keys.pub',
        '/zeta-hostname.txt',
        '/zeta-node.json',
        ...extra.map((f) => `/${f.name}`),
      ].sort(),
    );

    const back = await FatVolume.open(new MemoryDevice(readFileSync(img)));
    expect(back.fatType).toBe(32);
    expect((await back.readFile('zeta-hostname.txt'))?.toString()).toBe('node-2\n');
    expect((await back.readFile('zeta-authorized-keys.pub'))?.toString()).toBe(KEYS);
    expect((await back.readFile('zeta-node.json'))?.toString()).toContain('"hostname":"node-2"');
    expect((await back.readFile('extra-file-number-9.txt'))?.toString()).toBe('extra 9\n');
    expect(await back.fatsIdentical()).toBe(true);

    // FSInfo's free count is what fsck.fat and our reader count.
    const g = back.geometry;
    const info = readFileSync(img).subarray(g.fsInfoSector * g.bytesPerSector);
    expect(info.readUInt32LE(0)).toBe(0x41615252);
    expect(info.readUInt32LE(488)).toBe(judge.totalClusters - judge.usedClusters);
    expect(info.readUInt32LE(488)).toBe(back.freeBytes / g.clusterSize);
  });
});

describe('FAT type decision', () => {
  /** A boot sector with the given fields; everything else as mkfs.vfat writes it. */
  const bootSector = (f: { fat16: number; fat32: number; total: number; rootEntries: number }) => {
    const bs = Buffer.alloc(512);
    bs[0] = 0xeb;
    bs.writeUInt16LE(512, 11);
    bs[13] = 1;
    bs.writeUInt16LE(4, 14);
    bs[16] = 2;
    bs.writeUInt16LE(f.rootEntries, 17);
    bs.writeUInt16LE(f.fat16, 22);
    bs.writeUInt32LE(f.total, 32);
    bs.writeUInt32LE(f.fat32, 36);
    bs.writeUInt32LE(2, 44);
    bs.writeUInt16LE(1, 48);
    return bs;
  };

  it('follows the 16-bit FAT size field, not the cluster count alone', () => {
    const fat32 = parseGeometry(
      bootSector({ fat16: 0, fat32: 64, total: 8000, rootEntries: 0 }),
      8000 * 512,
    );
    expect({ type: fat32.fatType, clusters: fat32.clusterCount }).toEqual({
      type: 32,
      clusters: 7868,
    });
    // A FAT32 root is a cluster chain: a root entry count left in its boot sector is no fixed root.
    const stray = parseGeometry(
      bootSector({ fat16: 0, fat32: 64, total: 8000, rootEntries: 16 }),
      8000 * 512,
    );
    expect({ type: stray.fatType, rootEntries: stray.rootEntries }).toEqual({
      type: 32,
      rootEntries: 0,
    });
    const fat12 = parseGeometry(
      bootSector({ fat16: 12, fat32: 0, total: 4000, rootEntries: 512 }),
      4000 * 512,
    );
    expect(fat12.fatType).toBe(12);
    const fat16 = parseGeometry(
      bootSector({ fat16: 64, fat32: 0, total: 8000, rootEntries: 512 }),
      8000 * 512,
    );
    expect(fat16.fatType).toBe(16);
  });

  it('refuses a 16-bit FAT with more clusters than FAT16 can address', () => {
    const total = 70_000;
    expect(() =>
      // 600 sectors of FAT would hold 4-byte entries for all 68 764 clusters: only the type
      // rule refuses it.
      parseGeometry(bootSector({ fat16: 600, fat32: 0, total, rootEntries: 512 }), total * 512),
    ).toThrow(
      expect.objectContaining({
        code: 'ZFLASH_ESP_CORRUPT',
        message: expect.stringMatching(/68764 clusters, more than FAT16 can address/),
        details: { clusterCount: 68764 },
      }),
    );
  });
  it('draws the FAT12/16 line and the FAT16 limit where Linux and dosfstools do', () => {
    // fs/fat: FAT12 up to MAX_FAT12 = 4084 clusters; a 16-bit FAT up to MAX_FAT16 = 65 524.
    // 4 reserved sectors, two FATs, a 512-entry root (32 sectors), one sector per cluster.
    const geo = (fat16: number, clusters: number) => {
      const total = 4 + 2 * fat16 + 32 + clusters;
      return parseGeometry(bootSector({ fat16, fat32: 0, total, rootEntries: 512 }), total * 512);
    };
    expect(geo(16, 4084)).toMatchObject({ fatType: 12, clusterCount: 4084 });
    expect(geo(16, 4085)).toMatchObject({ fatType: 16, clusterCount: 4085 });
    expect(geo(256, 65524)).toMatchObject({ fatType: 16, clusterCount: 65524 });
    expect(() => geo(256, 65525)).toThrow(/65525 clusters, more than FAT16 can address/);
  });

  it('accepts a FAT exactly as large as its clusters need, and refuses one entry less', () => {
    // 16 sectors of FAT16 hold 4096 entries: clusters 2..4095, so 4094 clusters.
    const fat16 = (clusters: number) => {
      const total = 4 + 2 * 16 + 32 + clusters;
      return () =>
        parseGeometry(bootSector({ fat16: 16, fat32: 0, total, rootEntries: 512 }), total * 512);
    };
    expect(fat16(4094)()).toMatchObject({ fatType: 16, clusterCount: 4094 });
    expect(fat16(4095)).toThrow(/its FAT is smaller than its cluster count needs/);
    // 64 sectors of FAT32 hold 8192 entries: 8190 clusters.
    const fat32 = (clusters: number) => {
      const total = 4 + 2 * 64 + clusters;
      return () =>
        parseGeometry(bootSector({ fat16: 0, fat32: 64, total, rootEntries: 0 }), total * 512);
    };
    expect(fat32(8190)()).toMatchObject({ fatType: 32, clusterCount: 8190 });
    expect(fat32(8191)).toThrow(/its FAT is smaller than its cluster count needs/);
  });
});

describe('plan and commit', () => {
  it('plans without writing; the commit writes exactly the planned sectors', async () => {
    const img = buildEsp(`${tmp.path}/plan.img`, { fat: 12, files: { 'readme.txt': 'x\n' } });
    const original = readFileSync(img);
    const overlay = new OverlayDevice(new MemoryDevice(Buffer.from(original)));
    const vol = await FatVolume.open(overlay);
    const plan = await vol.planRootFiles(payload('p'));
    expect(overlay.extents()).toHaveLength(0);
    expect(plan.writes.length).toBeGreaterThan(0);
    const bps = vol.geometry.bytesPerSector;
    for (const w of plan.writes) {
      expect(w.offset % bps).toBe(0);
      expect(w.data.length % bps).toBe(0);
      // Each planned run differs from the original in its first and last sector.
      const before = original.subarray(w.offset, w.offset + w.data.length);
      expect(w.data.subarray(0, bps).equals(before.subarray(0, bps))).toBe(false);
      expect(w.data.subarray(-bps).equals(before.subarray(-bps))).toBe(false);
    }
    await vol.commitPlan(plan);
    const written = Buffer.from(original);
    for (const w of plan.writes) w.data.copy(written, w.offset);
    const after = await overlay.read(0, overlay.size);
    expect(after.equals(written)).toBe(true);
    writeFileSync(img, after);
    fsckClean(img);
  });

  it('re-planning the same payload at the same time changes nothing', async () => {
    const img = buildEsp(`${tmp.path}/same.img`, { fat: 16, files: { 'readme.txt': 'x\n' } });
    const { vol } = await openImage(img);
    const now = new Date(2025, 5, 6, 7, 8, 10);
    await vol.writeRootFiles(payload('same'), { now });
    expect((await vol.planRootFiles(payload('same'), { now })).writes).toEqual([]);
  });

  it('refuses a plan made before another commit', async () => {
    const img = buildEsp(`${tmp.path}/stale.img`, { fat: 12 });
    const base = new MemoryDevice(readFileSync(img));
    const vol = await FatVolume.open(base);
    const stale = await vol.planRootFiles(payload('a'));
    await vol.writeRootFiles(payload('b'));
    const snapshot = Buffer.from(base.buffer);
    await expect(vol.commitPlan(stale)).rejects.toMatchObject({ code: 'ZFLASH_INTERNAL' });
    expect(base.buffer.equals(snapshot)).toBe(true);
    expect((await vol.readFile('zeta-hostname.txt'))?.toString()).toBe('b\n');
  });
});

describe('every check, against mkfs.vfat, mtools and fsck.fat', () => {
  /** A fresh 3 MiB FAT12 ESP as nixpkgs makes it, as bytes. */
  const fresh = (name: string, files: Record<string, Buffer | string> = {}) =>
    readFileSync(buildEsp(`${tmp.path}/${name}.img`, { fat: 12, files }));
  const opening = async (buf: Buffer) =>
    FatVolume.open(new MemoryDevice(buf)).then(
      () => null,
      (e: unknown) => e as ZflashError,
    );

  it('refuses a boot sector that is not FAT, field by field, and accepts both jump opcodes', async () => {
    const base = fresh('bs');
    const broken: [string, (b: Buffer) => void][] = [
      ['jump', (b) => (b[0] = 0x00)],
      ['bytes per sector', (b) => b.writeUInt16LE(513, 11)],
      ['bytes per sector 256', (b) => b.writeUInt16LE(256, 11)],
      ['no sectors per cluster', (b) => (b[13] = 0)],
      ['sectors per cluster not a power of two', (b) => (b[13] = 3)],
      ['no reserved sector', (b) => b.writeUInt16LE(0, 14)],
      ['no FAT', (b) => (b[16] = 0)],
    ];
    for (const [what, edit] of broken) {
      const b = Buffer.from(base);
      edit(b);
      const err = await opening(b);
      expect(err?.code, what).toBe('ZFLASH_ESP_NOT_FAT');
      expect(err?.message, what).toBe('The EFI System Partition does not hold a FAT filesystem.');
      expect(err?.hint, what).toBe(
        'Use an unmodified NixOS installer image; this partition is not readable as FAT.',
      );
    }
    const e9 = Buffer.from(base);
    e9[0] = 0xe9;
    expect(await opening(e9)).toBeNull();
    const oneFat = Buffer.from(base);
    oneFat[16] = 1;
    expect(await opening(oneFat)).toBeNull();
  });

  it('refuses impossible layouts, a truncated partition and a FAT too small, with their details', async () => {
    const base = fresh('layout');
    const g = parseGeometry(base, base.length);
    const noFat = Buffer.from(base);
    noFat.writeUInt16LE(0, 22);
    noFat.writeUInt32LE(0, 36);
    let err = await opening(noFat);
    expect(err?.code).toBe('ZFLASH_ESP_CORRUPT');
    expect(err?.message).toBe(
      "The EFI System Partition's FAT filesystem is damaged: its boot sector describes an impossible layout.",
    );
    expect(err?.details).toEqual({ sectorsPerFat: 0, totalSectors: 6144 });
    expect(err?.hint).toBe(
      'Flash the stick again from the original image, or use an unmodified image file.',
    );
    // Exactly as many sectors as come before the data: no data area at all.
    const firstData = g.dataOffset / 512;
    const noData = Buffer.from(base);
    noData.writeUInt16LE(firstData, 19);
    err = await opening(noData);
    expect(err?.details).toEqual({ sectorsPerFat: g.sectorsPerFat, totalSectors: firstData });
    const oneData = Buffer.from(base);
    oneData.writeUInt16LE(firstData + 4, 19);
    expect(await opening(oneData)).toBeNull();
    // The partition ends one sector before the filesystem does.
    err = await opening(base.subarray(0, base.length - 512));
    expect(err?.code).toBe('ZFLASH_IMAGE_TRUNCATED');
    expect(err?.message).toBe(
      `The FAT filesystem claims ${base.length} bytes but its partition holds only ${base.length - 512}.`,
    );
    expect(err?.hint).toBe('The image looks truncated; download it again.');
    // 5 sectors of FAT12 hold 1706 entries; the volume has 1531 clusters: 1 sector cannot.
    const smallFat = Buffer.from(base);
    smallFat.writeUInt16LE(1, 22);
    smallFat.writeUInt16LE(6144 - 8, 19);
    err = await opening(smallFat);
    expect(err?.message).toBe(
      "The EFI System Partition's FAT filesystem is damaged: its FAT is smaller than its cluster count needs.",
    );
    // A partition of one sector holding the boot sector: truncated, not unreadable.
    err = await opening(base.subarray(0, 512));
    expect(err?.code).toBe('ZFLASH_IMAGE_TRUNCATED');
    err = await opening(base.subarray(0, 511));
    expect(err?.message).toContain('the partition is too small to hold a boot sector.');
  });

  it('reads the geometry minfo reads, for FAT12, FAT16 and FAT32', () => {
    for (const bits of [12, 16, 32] as const) {
      const img = buildEsp(`${tmp.path}/geo${bits}.img`, { fat: bits });
      const buf = readFileSync(img);
      const info = run('minfo', ['-i', img, '::']);
      const num = (re: RegExp) => Number(re.exec(info)?.[1]);
      const bps = num(/sector size: (\d+) bytes/);
      const spc = num(/cluster size: (\d+) sectors/);
      const reserved = num(/reserved \(boot\) sectors: (\d+)/);
      const fats = num(/fats: (\d+)/);
      const spf = bits === 32 ? num(/Big fatlen=(\d+)/) : num(/sectors per fat: (\d+)/);
      const slots = bits === 32 ? 0 : num(/max available root directory slots: (\d+)/);
      const g = parseGeometry(buf, buf.length);
      const rootSectors = (slots * 32) / bps;
      expect(g, `FAT${bits}`).toEqual({
        fatType: bits,
        bytesPerSector: bps,
        sectorsPerCluster: spc,
        clusterSize: bps * spc,
        reservedSectors: reserved,
        numFats: fats,
        sectorsPerFat: spf,
        rootEntries: slots,
        rootDirOffset: (reserved + fats * spf) * bps,
        dataOffset: (reserved + fats * spf + rootSectors) * bps,
        clusterCount: Math.floor((buf.length / bps - reserved - fats * spf - rootSectors) / spc),
        rootCluster: bits === 32 ? num(/rootCluster=(\d+)/) : 0,
        fsInfoSector: bits === 32 ? num(/infoSector location=(\d+)/) : 0,
        totalBytes: buf.length,
      });
    }
  });

  it('shows 8.3 names as mtools does: case bits, the 0x05 lead byte, and mixed case', async () => {
    const buf = fresh('names', {
      'lower.TXT': 'a',
      'UPPER.txt': 'b',
      'MiXed.txt': 'c',
      NOEXT: 'd',
    });
    const vol = await FatVolume.open(new MemoryDevice(buf));
    const byShort = new Map(vol.listRoot().map((e) => [e.shortName, e]));
    expect(byShort.get('LOWER   TXT')?.name).toBe('lower.TXT');
    expect(byShort.get('UPPER   TXT')?.name).toBe('UPPER.txt');
    expect(byShort.get('NOEXT      ')?.name).toBe('NOEXT');
    expect(byShort.get('NOEXT      ')?.slotCount).toBe(1);
    // Mixed case needs a long name: its slots and the name it carries.
    const mixed = vol.listRoot().find((e) => e.name === 'MiXed.txt');
    expect(mixed?.slotCount).toBe(2);
    // A first byte of 0x05 stands for 0xE5 (a deleted mark otherwise).
    const root = vol.geometry.rootDirOffset;
    const slot = vol.listRoot().find((e) => e.name === 'NOEXT')!.slot;
    buf[root + slot * 32] = 0x05;
    const again = await FatVolume.open(new MemoryDevice(buf));
    expect(again.listRoot().map((e) => e.name)).toContain('\u00e5OEXT');
  });

  it('gives long names numeric-tail aliases mtools accepts, a plain 8.3 name one slot', async () => {
    const buf = fresh('alias');
    const dev = new MemoryDevice(buf);
    const vol = await FatVolume.open(dev);
    await vol.writeRootFiles(
      [
        { name: 'zeta-authorized-keys.pub', data: Buffer.from('a') },
        { name: 'zeta-another-file.pub', data: Buffer.from('b') },
        { name: 'my file.v2.txt', data: Buffer.from('c') },
        { name: 'README.TXT', data: Buffer.from('d') },
        { name: '+++', data: Buffer.from('e') },
      ],
      { now: new Date(2024, 4, 17, 13, 45, 58) },
    );
    const img = `${tmp.path}/alias-out.img`;
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    const entries = new Map(vol.listRoot().map((e) => [e.name, e]));
    expect(entries.get('zeta-authorized-keys.pub')?.shortName).toBe('ZETA-A~1PUB');
    expect(entries.get('zeta-another-file.pub')?.shortName).toBe('ZETA-A~2PUB');
    expect(entries.get('my file.v2.txt')?.shortName).toBe('MYFILE~1TXT');
    expect(entries.get('+++')?.shortName).toBe('___~1      ');
    expect(entries.get('README.TXT')).toMatchObject({ shortName: 'README  TXT', slotCount: 1 });
    expect(entries.get('zeta-authorized-keys.pub')?.slotCount).toBe(3);
    expect(mtype(img, 0, 'my file.v2.txt')).toBe('c');
    // The date and time mdir shows (FAT keeps seconds in 2 s steps).
    const line = run('mdir', ['-i', img, '::/README.TXT']);
    expect(line).toMatch(/README\s+TXT\s+1 2024-05-17\s+13:45/);
    const raw = vol.listRoot().find((e) => e.name === 'README.TXT')!;
    const e = buf.subarray(
      vol.geometry.rootDirOffset + raw.slot * 32,
      vol.geometry.rootDirOffset + raw.slot * 32 + 32,
    );
    const date = ((2024 - 1980) << 9) | (5 << 5) | 17;
    const time = (13 << 11) | (45 << 5) | 29;
    expect([e.readUInt16LE(14), e.readUInt16LE(16), e.readUInt16LE(18)]).toEqual([
      time,
      date,
      date,
    ]);
    expect([e.readUInt16LE(22), e.readUInt16LE(24), e[11]]).toEqual([time, date, 0x20]);
  });

  it('clamps dates to what FAT can hold (1980–2107)', async () => {
    for (const [year, want] of [
      [1975, 0],
      [2200, 127],
    ] as const) {
      const dev = new MemoryDevice(fresh(`date${year}`));
      const vol = await FatVolume.open(dev);
      await vol.writeRootFiles([{ name: 'A.TXT', data: Buffer.from('x') }], {
        now: new Date(year, 0, 1, 0, 0, 0),
      });
      const slot = vol.listRoot().find((x) => x.name === 'A.TXT')!.slot;
      const date = dev.buffer.readUInt16LE(vol.geometry.rootDirOffset + slot * 32 + 16);
      expect(date >> 9, String(year)).toBe(want);
    }
  });

  it('refuses names FAT cannot hold, and a name given twice', async () => {
    const vol = await FatVolume.open(new MemoryDevice(fresh('badnames')));
    for (const name of ['', 'a'.repeat(256), 'a/b', 'a\\b', 'a\u0001', '.x', 'x.', ' x', 'x ']) {
      const err = await vol.planRootFiles([{ name, data: Buffer.from('x') }]).then(
        () => null,
        (e: unknown) => e as ZflashError,
      );
      expect(err?.code, JSON.stringify(name)).toBe('ZFLASH_FAT_BAD_NAME');
      expect(err?.message).toBe(`"${name}" cannot be a FAT file name.`);
    }
    expect(
      (await vol.planRootFiles([{ name: 'a'.repeat(255), data: Buffer.from('x') }])).writes.length,
    ).toBeGreaterThan(0);
    const twice = await vol
      .planRootFiles([
        { name: 'Same.txt', data: Buffer.from('1') },
        { name: 'same.TXT', data: Buffer.from('2') },
      ])
      .catch((e: unknown) => e as ZflashError);
    expect(twice).toMatchObject({
      code: 'ZFLASH_FAT_BAD_NAME',
      message: '"same.TXT" is listed twice.',
    });
  });

  it('will not replace a folder or a read-only file of the same name', async () => {
    const img = buildEsp(`${tmp.path}/taken.img`, {
      fat: 12,
      files: { 'zeta-node.json/inside.txt': 'x', 'zeta-hostname.txt': 'old\n' },
    });
    run('mattrib', ['-i', img, '+r', '::/zeta-hostname.txt']);
    const vol = await FatVolume.open(new MemoryDevice(readFileSync(img)));
    const refuse = (name: string) =>
      vol.planRootFiles([{ name, data: Buffer.from('x') }]).catch((e: unknown) => e as ZflashError);
    expect(await refuse('zeta-node.json')).toMatchObject({
      code: 'ZFLASH_ESP_NAME_TAKEN',
      message: 'The EFI partition already has a folder named zeta-node.json.',
      hint: 'Use an unmodified installer image; Zeta Flash will not overwrite it.',
    });
    expect(await refuse('ZETA-HOSTNAME.TXT')).toMatchObject({
      code: 'ZFLASH_ESP_NAME_TAKEN',
      message: 'The EFI partition already has a read-only file named zeta-hostname.txt.',
    });
  });

  it('says how much is free and how much is needed when the payload does not fit', async () => {
    const img = buildEsp(`${tmp.path}/nospace.img`, { fat: 12 });
    const vol = await FatVolume.open(new MemoryDevice(readFileSync(img)));
    const free = vol.freeBytes;
    expect(free).toBe(
      Number(/([\d ]+) bytes free/.exec(run('mdir', ['-i', img, '::/']))?.[1]?.replace(/ /g, '')),
    );
    const err = await vol
      .planRootFiles([
        { name: 'a.bin', data: Buffer.alloc(free - 2047) },
        { name: 'b.bin', data: Buffer.alloc(2048) },
      ])
      .catch((e: unknown) => e as ZflashError);
    expect(err).toMatchObject({
      code: 'ZFLASH_ESP_FULL',
      message: `The EFI partition has ${free} bytes free after removing the old node files, but the new ones need ${free + 2048}.`,
      details: { neededBytes: free + 2048, freeBytes: free },
      hint: 'Remove Wi-Fi or extra keys to make the payload smaller, or use an installer image with a larger EFI partition.',
    });
    // Exactly what is free fits.
    const plan = await vol.planRootFiles([{ name: 'a.bin', data: Buffer.alloc(free) }]);
    expect(plan.writes.length).toBeGreaterThan(0);
  });

  it('reports chains that leave the volume, run into a free cluster, or end too soon', async () => {
    const base = fresh('chains', { 'DATA.BIN': randomBytes(5000) });
    const vol0 = await FatVolume.open(new MemoryDevice(Buffer.from(base)));
    const entry = vol0.listRoot().find((e) => e.name === 'DATA.BIN')!;
    const g = vol0.geometry;
    const max = g.clusterCount + 1;
    /** Sets FAT12 entry `c` to `v` in both copies of `buf`. */
    const setFat = (buf: Buffer, c: number, v: number) => {
      for (let copy = 0; copy < g.numFats; copy++) {
        const off = (g.reservedSectors + copy * g.sectorsPerFat) * 512 + Math.floor((c * 3) / 2);
        const w = buf.readUInt16LE(off);
        buf.writeUInt16LE(c & 1 ? (w & 0x000f) | (v << 4) : (w & 0xf000) | v, off);
      }
    };
    const read = async (buf: Buffer) =>
      (await FatVolume.open(new MemoryDevice(buf)))
        .readFile('DATA.BIN')
        .catch((e: unknown) => e as ZflashError);
    const out = Buffer.from(base);
    setFat(out, entry.firstCluster, max + 1);
    expect(await read(out)).toMatchObject({
      code: 'ZFLASH_ESP_CORRUPT',
      message: `The EFI System Partition's FAT filesystem is damaged: a cluster chain points to cluster ${max + 1}, outside 2..${max}.`,
      details: { cluster: max + 1 },
    });
    const low = Buffer.from(base);
    setFat(low, entry.firstCluster, 1);
    expect((await read(low)) as ZflashError).toMatchObject({ details: { cluster: 1 } });
    const free = Buffer.from(base);
    setFat(free, entry.firstCluster + 1, 0);
    expect(await read(free)).toMatchObject({
      message: `The EFI System Partition's FAT filesystem is damaged: a cluster chain runs into free cluster ${entry.firstCluster + 1}.`,
      details: { cluster: entry.firstCluster + 1 },
    });
    const short = Buffer.from(base);
    setFat(short, entry.firstCluster, 0xfff);
    expect(await read(short)).toMatchObject({
      message:
        "The EFI System Partition's FAT filesystem is damaged: the file DATA.BIN is shorter on disk than its directory entry says.",
      details: { name: 'DATA.BIN' },
    });
    // The last cluster of the volume is a valid one.
    const last = Buffer.from(base);
    setFat(last, entry.firstCluster + 2, max);
    setFat(last, max, 0xff8);
    const data = await read(last);
    expect(Buffer.isBuffer(data)).toBe(true);
  });

  it('a commit that fails part-way leaves the volume refusing further plans', async () => {
    const dev = new MemoryDevice(fresh('failing'));
    const vol = await FatVolume.open(dev);
    const plan = await vol.planRootFiles([{ name: 'A.TXT', data: Buffer.from('x') }]);
    const failing = dev as { write: (o: number, d: Uint8Array) => Promise<void> };
    const write = failing.write.bind(dev);
    failing.write = () => Promise.reject(new Error('EIO'));
    await expect(vol.commitPlan(plan)).rejects.toThrow('EIO');
    failing.write = write;
    const err = await vol
      .planRootFiles([{ name: 'B.TXT', data: Buffer.from('y') }])
      .catch((e: unknown) => e as ZflashError);
    expect(err).toMatchObject({
      code: 'ZFLASH_INTERNAL',
      kind: 'bug',
      message: 'An earlier write to this FAT filesystem failed part-way; it must be opened again.',
      hint: 'This is a bug in Zeta Flash; report it.',
    });
    await expect(vol.commitPlan(plan)).rejects.toMatchObject({ code: 'ZFLASH_INTERNAL' });
  });
});

describe('long names and labels as mtools reads them, also when damaged', () => {
  const long = 'a-long-file-name.txt';
  async function withLong(name: string) {
    const img = buildEsp(`${tmp.path}/${name}.img`, {
      fat: 12,
      files: { [long]: 'x', 'abcdefghij.tx': 'y', 'after.txt': 'z' },
    });
    const buf = readFileSync(img);
    const vol = await FatVolume.open(new MemoryDevice(buf));
    return { img, buf, vol, root: vol.geometry.rootDirOffset };
  }
  const names = async (buf: Buffer) =>
    (await FatVolume.open(new MemoryDevice(buf))).listRoot().map((e) => e.name);

  it('reads long names of exactly 13 characters and of two slots', async () => {
    const { vol } = await withLong('lfn');
    const entry = vol.listRoot().find((e) => e.name === long)!;
    expect(entry.slotCount).toBe(3);
    expect(vol.listRoot().find((e) => e.name === 'abcdefghij.tx')?.slotCount).toBe(2);
    expect(vol.listRoot().map((e) => e.name)).toEqual([long, 'abcdefghij.tx', 'after.txt']);
  });

  it('falls back to the 8.3 name when the long name is damaged, as mdir does', async () => {
    const { img, buf, vol, root } = await withLong('lfnbad');
    const entry = vol.listRoot().find((e) => e.name === long)!;
    const alias = entry.shortName;
    const shown = `${alias.slice(0, 8).trimEnd()}.${alias.slice(8).trimEnd()}`;
    // 1. A checksum that does not match the 8.3 entry.
    const sum = Buffer.from(buf);
    sum[root + entry.slot * 32 + 13] = (sum[root + entry.slot * 32 + 13] ?? 0) ^ 0xff;
    expect(await names(sum)).toContain(shown);
    writeFileSync(img, sum);
    expect(run('mdir', ['-b', '-i', img, '::/'])).toContain(`::/${shown}`);
    // 2. Its first slot deleted: the rest is an orphan.
    const del = Buffer.from(buf);
    del[root + entry.slot * 32] = 0xe5;
    expect(await names(del)).toEqual([shown, 'abcdefghij.tx', 'after.txt']);
    // 3. Slots out of order (the second one says it is the first of another sequence).
    const order = Buffer.from(buf);
    order[root + (entry.slot + 1) * 32] = 0x03;
    expect(await names(order)).toEqual([shown, 'abcdefghij.tx', 'after.txt']);
    // 4. A volume label between the long name and its 8.3 entry breaks the sequence.
    const lbl = Buffer.from(buf);
    lbl[root + (entry.slot + 2) * 32 - 32 + 11] = 0x08;
    expect((await names(lbl)).includes(long)).toBe(false);
  });

  it('shows the 8.3 name when a middle slot belongs elsewhere or the last slot is missing, as mdir does', async () => {
    const { img, buf, vol, root } = await withLong('lfnpart');
    const entry = vol.listRoot().find((e) => e.name === long)!;
    expect(entry.slotCount).toBe(3);
    const alias = entry.shortName;
    const shown = `${alias.slice(0, 8).trimEnd()}.${alias.slice(8).trimEnd()}`;
    const at = (k: number) => root + (entry.slot + k) * 32;
    // 5. The second slot (ordinal 1) carries another checksum: not part of this name.
    const mid = Buffer.from(buf);
    mid[at(1) + 13] = (mid[at(1) + 13] ?? 0) ^ 0xff;
    // 6. The 8.3 entry moved over the slot of ordinal 1: the sequence never reaches 1.
    const cut = Buffer.from(buf);
    buf.copy(cut, at(1), at(2), at(2) + 32);
    cut[at(2)] = 0xe5;
    for (const [what, damaged] of [
      ['middle checksum', mid],
      ['ordinal 1 missing', cut],
    ] as const) {
      expect(await names(damaged), what).toEqual([shown, 'abcdefghij.tx', 'after.txt']);
      writeFileSync(img, damaged);
      expect(run('mdir', ['-b', '-i', img, '::/']), what).toContain(`::/${shown}\n`);
    }
  });

  it('shows the 8.3 name when something comes between a long name and its 8.3 entry, or the 8.3 entry changed, as mdir does', async () => {
    const { img, buf, vol, root } = await withLong('lfnbetween');
    const entry = vol.listRoot().find((e) => e.name === long)!;
    const alias = entry.shortName;
    const shown = `${alias.slice(0, 8).trimEnd()}.${alias.slice(8).trimEnd()}`;
    const slots = vol.geometry.rootEntries;
    const sfnAt = entry.slot + entry.slotCount - 1;
    const slotOf = (b: Buffer, i: number) =>
      Buffer.from(b.subarray(root + i * 32, root + i * 32 + 32));
    /** `buf` with `e` inserted at slot `at`, the entries from there on moved down one slot. */
    const inserted = (at: number, e: Buffer) => {
      const out = Buffer.from(buf);
      out.copy(out, root + (at + 1) * 32, root + at * 32, root + (slots - 1) * 32);
      e.copy(out, root + at * 32);
      return out;
    };
    const deleted = slotOf(buf, sfnAt);
    deleted[0] = 0xe5;
    const labelSlot = [...Array(slots).keys()].find((i) => buf[root + i * 32 + 11] === 0x08)!;
    const rest = ['abcdefghij.tx', 'after.txt'];
    const cases: [string, Buffer, string[]][] = [
      ['a deleted entry before the 8.3 entry', inserted(sfnAt, deleted), [shown, ...rest]],
      [
        'a volume label before the 8.3 entry',
        inserted(sfnAt, slotOf(buf, labelSlot)),
        [shown, ...rest],
      ],
      // The slot of ordinal 1 twice: the second one stands where the 8.3 entry is due. Linux
      // starts a new sequence there (fs/fat/dir.c `fat_parse_long`), which has no first slot,
      // and fsck.fat calls the long name an orphan; mdir alone still shows it.
      ['ordinal 1 twice', inserted(sfnAt, slotOf(buf, sfnAt - 1)), [shown, ...rest]],
      // A second 8.3 entry with the same name right after the first: the long name went to the first.
      ['the 8.3 entry twice', inserted(sfnAt + 1, slotOf(buf, sfnAt)), [long, shown, ...rest]],
    ];
    // The 8.3 entry renamed by a tool that knows no long names: its checksum no longer matches.
    const renamed = Buffer.from(buf);
    renamed[root + sfnAt * 32] = 'Q'.charCodeAt(0);
    cases.push(['the 8.3 entry renamed', renamed, [`Q${shown.slice(1)}`, ...rest]]);
    // A long name whose first character is NUL: empty, so none (mdir shows the 8.3 name alone).
    const empty = Buffer.from(buf);
    empty.writeUInt16LE(0, root + (sfnAt - 1) * 32 + 1);
    cases.push(['an empty long name', empty, [shown, ...rest]]);
    for (const [what, damaged, expected] of cases) {
      const entries = (await FatVolume.open(new MemoryDevice(damaged))).listRoot();
      expect(
        entries.map((e) => e.name),
        what,
      ).toEqual(expected);
      // Slots that are not its long name are not the entry's: replacing it leaves them alone.
      if (expected[0] !== long && what !== 'an empty long name') {
        expect(entries[0]?.slotCount, what).toBe(1);
      }
      writeFileSync(img, damaged);
      if (what === 'an empty long name') {
        // mdir -b lists nothing for it; its long listing shows the 8.3 name and no long one.
        const line = run('mdir', ['-i', img, '::/'])
          .split('\n')
          .find((l) => l.startsWith(`${alias.slice(0, 8)} ${alias.slice(8)}`));
        expect(line).toMatch(/\d\d:\d\d\s*$/);
        continue;
      }
      if (what === 'ordinal 1 twice') {
        const fsck = spawnSync('fsck.fat', ['-n', img]).stdout.toString();
        expect(fsck).toContain(`Orphaned long file name part "${long}"`);
        continue;
      }
      const mdir = run('mdir', ['-b', '-i', img, '::/']);
      expect(mdir, what).toContain(`::/${expected[0]}\n`);
      if (expected[0] !== long) expect(mdir, what).not.toContain(`::/${long}\n`);
    }
  });

  it('takes the label from the root directory first, then from the boot sector', async () => {
    const img = buildEsp(`${tmp.path}/label.img`, { fat: 12 });
    const buf = readFileSync(img);
    buf.write('BOOTLBL    ', 43, 'latin1');
    const vol = await FatVolume.open(new MemoryDevice(buf));
    expect(vol.label).toBe('EFIBOOT');
    const root = vol.geometry.rootDirOffset;
    const labelSlot = [...Array(16).keys()].find((i) => buf[root + i * 32 + 11] === 0x08)!;
    buf[root + labelSlot * 32] = 0xe5;
    expect((await FatVolume.open(new MemoryDevice(buf))).label).toBe('BOOTLBL');
    buf[root + labelSlot * 32] = 0x00;
    expect((await FatVolume.open(new MemoryDevice(buf))).label).toBe('BOOTLBL');
    const f32 = readFileSync(buildEsp(`${tmp.path}/label32.img`, { fat: 32 }));
    f32.write('BOOT32     ', 71, 'latin1');
    const v32 = await FatVolume.open(new MemoryDevice(f32));
    expect(v32.label).toBe('EFIBOOT');
    expect(v32.serial).toBe('1234-5678');
    // The serial as minfo shows it: eight upper-case hex digits, leading zeros kept.
    buf.writeUInt32LE(0x0a1b2c3d, 39);
    writeFileSync(img, buf);
    expect(run('minfo', ['-i', img, '::'])).toContain('serial number: 0A1B2C3D');
    expect((await FatVolume.open(new MemoryDevice(buf))).serial).toBe('0A1B-2C3D');
    const r32 = v32.geometry.dataOffset;
    for (let i = 0; i < 16; i++) if (f32[r32 + i * 32 + 11] === 0x08) f32[r32 + i * 32] = 0xe5;
    expect((await FatVolume.open(new MemoryDevice(f32))).label).toBe('BOOT32');
  });
});

describe('FSInfo (FAT32)', () => {
  it('keeps the next-free hint past what it took, and leaves an FSInfo without its signatures alone', async () => {
    const img = buildEsp(`${tmp.path}/fsinfo.img`, { fat: 32 });
    const buf = readFileSync(img);
    const vol = await FatVolume.open(new MemoryDevice(buf));
    const g = vol.geometry;
    const at = g.fsInfoSector * g.bytesPerSector;
    const dev = new MemoryDevice(Buffer.from(buf));
    const v = await FatVolume.open(dev);
    await v.writeRootFiles([{ name: 'A.BIN', data: Buffer.alloc(3 * g.clusterSize) }]);
    const entry = v.listRoot().find((e) => e.name === 'A.BIN')!;
    // Three clusters from the first free one, one chain: the hint is the one after them.
    expect(dev.buffer.readUInt32LE(at + 492)).toBe(entry.firstCluster + 3);
    expect(dev.buffer.readUInt32LE(at + 488)).toBe(v.freeBytes / g.clusterSize);
    for (const off of [0, 484]) {
      const bad = Buffer.from(buf);
      bad.writeUInt32LE(0, at + off);
      const before = Buffer.from(bad.subarray(at, at + 512));
      const d = new MemoryDevice(bad);
      await (await FatVolume.open(d)).writeRootFiles([{ name: 'B.BIN', data: Buffer.from('x') }]);
      expect(d.buffer.subarray(at, at + 512).equals(before), String(off)).toBe(true);
    }
  });
});

describe('edges a real ESP reaches: high clusters, full volumes, holes, other tools', () => {
  const bytesOf = (img: string) => new MemoryDevice(readFileSync(img));
  /** A file's bytes as mcopy copies it out. */
  const mcopyOut = (img: string, name: string) => {
    const out = `${tmp.path}/out-${name}`;
    run('mcopy', ['-n', '-i', img, `::/${name}`, out]);
    return readFileSync(out);
  };

  it('a FAT32 file past cluster 65 535 keeps the high word of its first cluster, both ways', async () => {
    // 40 MiB of 512-byte clusters (~81 000): a 34 MB file written by mcopy pushes what comes
    // after it above cluster 65 535, where the 8.3 entry's high word (offset 20) matters.
    const img = buildEsp(`${tmp.path}/high32.img`, {
      fat: 32,
      files: { 'fill.bin': Buffer.alloc(34_000_000, 1), 'late.txt': 'late\n' },
    });
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    const late = vol.findInRoot('late.txt')!;
    expect(late.firstCluster).toBeGreaterThan(0xffff);
    expect((await vol.readFile('late.txt'))?.toString()).toBe('late\n');
    await vol.writeRootFiles(payload('high'));
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(vol.findInRoot('zeta-node.json')!.firstCluster).toBeGreaterThan(0xffff);
    expect(mtype(img, 0, 'zeta-hostname.txt')).toBe('high\n');
    expect(mtype(img, 0, 'zeta-node.json')).toContain('"hostname":"high"');
    const back = await FatVolume.open(bytesOf(img));
    expect((await back.readFile('zeta-authorized-keys.pub'))?.toString()).toBe(KEYS);
  });

  it('FAT32 FSInfo hint: past one cluster, unchanged by an empty file, the last cluster, then 0xFFFFFFFF', async () => {
    // A 3 MiB FAT32 (as mkfs.vfat -F 32 makes it: fsck.fat judges it, mtools cannot).
    const img = `${tmp.path}/fsinfo-full.img`;
    run('mkfs.vfat', [
      ...['--invariant', '-i', '12345678', '-n', 'EFIBOOT', '-F', '32', '-S', '512', '-s', '2'],
      ...['-C', img, '3072'],
    ]);
    const pristine = fsckListing(img);
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    const g = vol.geometry;
    const at = g.fsInfoSector * g.bytesPerSector;
    const fsinfo = () => [dev.buffer.readUInt32LE(at + 488), dev.buffer.readUInt32LE(at + 492)];
    // One cluster (the one after the root): the hint moves past it.
    await vol.writeRootFiles([{ name: 'ONE.BIN', data: Buffer.from('1') }]);
    const [free] = fsinfo();
    expect(fsinfo()).toEqual([free, g.rootCluster + 2]);
    // An empty file takes a directory slot and no cluster: the hint stays where it was.
    await vol.writeRootFiles([{ name: 'EMPTY.TXT', data: Buffer.alloc(0) }]);
    expect(fsinfo()).toEqual([free, g.rootCluster + 2]);
    // All but the last cluster of the volume: the hint is that last cluster.
    const last = g.clusterCount + 1;
    await vol.writeRootFiles([
      { name: 'MOST.BIN', data: Buffer.alloc(vol.freeBytes - g.clusterSize, 7) },
    ]);
    expect(fsinfo()).toEqual([1, last]);
    // The last one too: no free cluster left to hint at.
    await vol.writeRootFiles([{ name: 'ALL.BIN', data: Buffer.alloc(vol.freeBytes, 7) }]);
    expect(vol.freeBytes).toBe(0);
    expect(vol.findInRoot('ALL.BIN')?.firstCluster).toBe(last);
    expect(fsinfo()).toEqual([0, 0xffffffff]);
    writeFileSync(img, dev.buffer);
    const judge = fsckListing(img);
    expect({ status: judge.status, remarks: judge.remarks }).toEqual({
      status: 0,
      remarks: pristine.remarks,
    });
    expect(judge.usedClusters).toBe(judge.totalClusters);
  });

  it('a FAT12 file that takes every cluster is read, and replaced, without being taken for a loop', async () => {
    const img = buildEsp(`${tmp.path}/allclusters.img`, { fat: 12 });
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    const data = randomBytes(vol.freeBytes);
    await vol.writeRootFiles([{ name: 'all.bin', data }]);
    expect(vol.freeBytes).toBe(0);
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    const back = await FatVolume.open(bytesOf(img));
    expect((await back.readFile('all.bin'))?.equals(data)).toBe(true);
    await back.writeRootFiles([{ name: 'all.bin', data: Buffer.from('small\n') }]);
    expect((await back.readFile('all.bin'))?.toString()).toBe('small\n');
  });

  it('reads a fragmented file mcopy wrote, and writes one into the holes mdel left', async () => {
    const img = buildEsp(`${tmp.path}/holes.img`, { fat: 12 });
    const cs = (await FatVolume.open(bytesOf(img))).geometry.clusterSize;
    for (const n of ['a', 'b', 'c', 'd']) {
      writeFileSync(`${tmp.path}/${n}.bin`, randomBytes(cs));
      run('mcopy', ['-i', img, `${tmp.path}/${n}.bin`, `::/${n}.bin`]);
    }
    run('mdel', ['-i', img, '::/a.bin', '::/c.bin']);
    // Clusters a b c d, then a and c deleted: mcopy puts e.bin in a's hole, c's hole and
    // past d (2, 4, 6, 7); with b and d deleted too, ours lands in 3, 5, 8, 9.
    const e = randomBytes(3 * cs + 100);
    writeFileSync(`${tmp.path}/e.bin`, e);
    run('mcopy', ['-i', img, `${tmp.path}/e.bin`, '::/e.bin']);
    run('mdel', ['-i', img, '::/b.bin', '::/d.bin']);
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    expect((await vol.readFile('e.bin'))?.equals(e)).toBe(true);
    // Ours: first fit into the holes b.bin and d.bin left, then past e.bin.
    const f = randomBytes(4 * cs);
    await vol.writeRootFiles([{ name: 'f.bin', data: f }]);
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(mcopyOut(img, 'f.bin').equals(f)).toBe(true);
    const back = await FatVolume.open(bytesOf(img));
    expect((await back.readFile('f.bin'))?.equals(f)).toBe(true);
    expect((await back.readFile('e.bin'))?.equals(e)).toBe(true);
  });

  it('writes long-name slots and 8.3 aliases byte for byte as mcopy does', async () => {
    // 24, 13 and 26 characters (no terminator when the name fills its slots), names just
    // past 8.3, and one that is plain 8.3 (no long name at all).
    const names = [
      'zeta-authorized-keys.pub',
      'thirteen-char',
      'twenty-six-characters-name',
      'ABCDEFGHI.TXT',
      'ABCD.TXTX',
      'A.B.C',
      'ABCDEFGH.TXT',
      'NOEXTNAM',
    ];
    const theirs = buildEsp(`${tmp.path}/lfn-mcopy.img`, {
      fat: 12,
      files: Object.fromEntries(names.map((n) => [n, 'x\n'])),
    });
    const ours = buildEsp(`${tmp.path}/lfn-ours.img`, { fat: 12 });
    const dev = bytesOf(ours);
    await (
      await FatVolume.open(dev)
    ).writeRootFiles(names.map((name) => ({ name, data: Buffer.from('x\n') })));
    writeFileSync(ours, dev.buffer);
    fsckClean(ours);
    expect(mdirNames(ours, 0).sort()).toEqual([...names].sort());
    const slots = async (img: string) => {
      const buf = readFileSync(img);
      const vol = await FatVolume.open(new MemoryDevice(buf));
      const root = vol.geometry.rootDirOffset;
      return Object.fromEntries(
        vol.listRoot().map((e) => {
          const raw = buf.subarray(root + e.slot * 32, root + (e.slot + e.slotCount) * 32);
          // Every long-name slot whole; of the 8.3 entry its name, attributes and case bits.
          return [e.name, raw.subarray(0, raw.length - 32 + 13).toString('hex')];
        }),
      );
    };
    const want = await slots(theirs);
    expect(Object.keys(want).sort()).toEqual([...names].sort());
    expect(await slots(ours)).toEqual(want);
  });

  it('takes the label from its root entry even after long-name slots (mlabel on a used root)', async () => {
    const img = `${tmp.path}/label-late.img`;
    run('mkfs.vfat', ['--invariant', '-i', '12345678', '-C', img, '3072']);
    writeFileSync(`${tmp.path}/long-named-file.txt`, 'x');
    run('mcopy', ['-i', img, `${tmp.path}/long-named-file.txt`, '::/long-named-file.txt']);
    run('mlabel', ['-i', img, '::LATELBL']);
    expect(run('mlabel', ['-s', '-i', img, '::'])).toContain('LATELBL');
    // mlabel wrote the boot sector's copy too; make it differ, so only the root entry says LATELBL.
    const dev = bytesOf(img);
    dev.buffer.write('BOOTLBL    ', 43, 'latin1');
    const vol = await FatVolume.open(dev);
    expect(vol.label).toBe('LATELBL');
    expect(vol.listRoot().map((e) => e.name)).toEqual(['long-named-file.txt']);
  });

  it('reads empty files and folders as mtools shows them, and replaces an empty file', async () => {
    const img = buildEsp(`${tmp.path}/empty.img`, {
      fat: 16,
      files: { 'EFI/BOOT/grub.cfg': 'x', 'empty.txt': '' },
    });
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    expect(vol.findInRoot('empty.txt')?.firstCluster).toBe(0);
    expect((await vol.readFile('empty.txt'))?.length).toBe(0);
    expect(await vol.readFile('EFI')).toBeNull();
    await vol.writeRootFiles([
      { name: 'empty.txt', data: Buffer.from('now full\n') },
      { name: 'zeta-empty.txt', data: Buffer.alloc(0) },
    ]);
    await vol.writeRootFiles([{ name: 'zeta-empty.txt', data: Buffer.from('y\n') }]);
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(mtype(img, 0, 'empty.txt')).toBe('now full\n');
    expect(mtype(img, 0, 'zeta-empty.txt')).toBe('y\n');
  });

  it('ends chains at every end mark, 0xFF8 / 0xFFF8 / 0x0FFFFFF8 as well as all ones', async () => {
    for (const [bits, mark] of [
      [16, 0xfff8],
      [32, 0x0ffffff8],
    ] as const) {
      const img = buildEsp(`${tmp.path}/endmark${bits}.img`, {
        fat: bits,
        files: { 'one.txt': 'one\n' },
      });
      const buf = readFileSync(img);
      const g = parseGeometry(buf, buf.length);
      const c = (await FatVolume.open(new MemoryDevice(buf))).findInRoot('one.txt')!.firstCluster;
      for (let copy = 0; copy < g.numFats; copy++) {
        const off = (g.reservedSectors + copy * g.sectorsPerFat) * g.bytesPerSector;
        if (bits === 16) buf.writeUInt16LE(mark, off + c * 2);
        else buf.writeUInt32LE(mark, off + c * 4);
      }
      writeFileSync(img, buf);
      expect(mtype(img, 0, 'one.txt')).toBe('one\n');
      const vol = await FatVolume.open(new MemoryDevice(buf));
      expect((await vol.readFile('one.txt'))?.toString(), `FAT${bits}`).toBe('one\n');
    }
  });

  it('keeps the four reserved bits of FAT32 entries it changes', async () => {
    const img = buildEsp(`${tmp.path}/reserved32.img`, { fat: 32 });
    const buf = readFileSync(img);
    const g = parseGeometry(buf, buf.length);
    const vol0 = await FatVolume.open(new MemoryDevice(Buffer.from(buf)));
    // The next clusters a write takes: free, but with the reserved bits set (in both copies).
    const firstFree = g.rootCluster + 1;
    for (let copy = 0; copy < g.numFats; copy++) {
      const off = (g.reservedSectors + copy * g.sectorsPerFat) * g.bytesPerSector;
      for (let c = firstFree; c < firstFree + 3; c++) buf.writeUInt32LE(0xf0000000, off + c * 4);
    }
    const dev = new MemoryDevice(buf);
    const vol = await FatVolume.open(dev);
    expect(vol.freeBytes).toBe(vol0.freeBytes);
    await vol.writeRootFiles([{ name: 'TWO.BIN', data: Buffer.alloc(2 * g.clusterSize, 3) }]);
    const entry = vol.findInRoot('TWO.BIN')!;
    expect(entry.firstCluster).toBe(firstFree);
    const fat = dev.buffer.subarray(g.reservedSectors * g.bytesPerSector);
    expect([fat.readUInt32LE(firstFree * 4), fat.readUInt32LE((firstFree + 1) * 4)]).toEqual([
      (0xf0000000 | (firstFree + 1)) >>> 0,
      0xffffffff,
    ]);
    writeFileSync(img, dev.buffer);
    expect(mcopyOut(img, 'TWO.BIN').equals(Buffer.alloc(2 * g.clusterSize, 3))).toBe(true);
  });

  it('rewrites a second FAT copy that differs where the write changes nothing', async () => {
    const img = buildEsp(`${tmp.path}/fat2.img`, { fat: 12 });
    const buf = readFileSync(img);
    const g = parseGeometry(buf, buf.length);
    // Cluster 1500 marked used in the second copy only: its last FAT sector.
    const c = 1500;
    const off = (g.reservedSectors + g.sectorsPerFat) * g.bytesPerSector + c + (c >> 1);
    const v = buf.readUInt16LE(off);
    buf.writeUInt16LE(c & 1 ? (v & 0xf) | (0xfff << 4) : (v & 0xf000) | 0xfff, off);
    writeFileSync(img, buf);
    expect(() => fsckClean(img)).toThrow(/FATs differ/);
    const dev = new MemoryDevice(buf);
    const vol = await FatVolume.open(dev);
    await vol.writeRootFiles(payload('n'));
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(await (await FatVolume.open(bytesOf(img))).fatsIdentical()).toBe(true);
  });

  it('grows a FAT32 root into a cluster that held deleted data, writing only sectors that change', async () => {
    // 4 KiB clusters (8 sectors, 128 slots): the free cluster after the root holds 1000 bytes
    // a deleted file left, so its first two sectors hold old data and the other six are zero.
    const img = `${tmp.path}/grow32.img`;
    run('mkfs.vfat', [
      '--invariant',
      '-i',
      '12345678',
      '-n',
      'EFIBOOT',
      '-F',
      '32',
      '-S',
      '512',
      '-s',
      '8',
      '-C',
      img,
      String(4 * 1024),
    ]);
    // (mtools cannot write a FAT32 of so few clusters: the old data is put there directly.)
    const original = readFileSync(img);
    const pristine = fsckListing(img);
    const g0 = parseGeometry(original, original.length);
    randomBytes(1000).copy(original, g0.dataOffset + (g0.rootCluster + 1 - 2) * g0.clusterSize);
    const overlay = new OverlayDevice(new MemoryDevice(Buffer.from(original)));
    const vol = await FatVolume.open(overlay);
    // 45 names of three slots each and the label: 136 slots, more than one cluster holds.
    // Empty files take no cluster, so the root grows into the old file's cluster.
    const files = Array.from({ length: 45 }, (_, i) => ({
      name: `a-long-file-name-${String(i).padStart(2, '0')}.txt`,
      data: Buffer.alloc(0),
    }));
    const plan = await vol.planRootFiles(files);
    expect(plan.rootClusters).toEqual([vol.geometry.rootCluster, vol.geometry.rootCluster + 1]);
    const bps = vol.geometry.bytesPerSector;
    for (const w of plan.writes) {
      for (let s = 0; s < w.data.length; s += bps) {
        const before = original.subarray(w.offset + s, w.offset + s + bps);
        expect(w.data.subarray(s, s + bps).equals(before), `sector at ${w.offset + s}`).toBe(false);
      }
    }
    await vol.commitPlan(plan);
    writeFileSync(img, await overlay.read(0, overlay.size));
    const judge = fsckListing(img);
    expect({ status: judge.status, remarks: judge.remarks }).toEqual({
      status: 0,
      remarks: pristine.remarks,
    });
    expect(judge.paths.sort()).toEqual(['/EFIBOOT', ...files.map((f) => `/${f.name}`)].sort());
    const back = await FatVolume.open(bytesOf(img));
    expect(back.listRoot().map((e) => e.name)).toEqual(files.map((f) => f.name));
  });

  it('replacing a file leaves the entry after it alone', async () => {
    const img = buildEsp(`${tmp.path}/next-entry.img`, {
      fat: 12,
      files: { 'zeta-hostname.txt': 'old\n', 'keep.txt': 'keep\n' },
    });
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    const before = vol.listRoot().map((e) => e.name);
    expect(before.indexOf('keep.txt')).toBe(before.indexOf('zeta-hostname.txt') + 1);
    await vol.writeRootFiles([{ name: 'zeta-hostname.txt', data: Buffer.from('new\n') }]);
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(mdirNames(img, 0).sort()).toEqual(['keep.txt', 'zeta-hostname.txt']);
    expect(mtype(img, 0, 'keep.txt')).toBe('keep\n');
    expect(mtype(img, 0, 'zeta-hostname.txt')).toBe('new\n');
  });

  it('refuses a plan made on another volume, writing nothing', async () => {
    const img = buildEsp(`${tmp.path}/othervol.img`, { fat: 12 });
    const a = await FatVolume.open(bytesOf(img));
    const dev = bytesOf(img);
    const b = await FatVolume.open(dev);
    const plan = await a.planRootFiles(payload('a'));
    const before = Buffer.from(dev.buffer);
    // Said as the bug it is, not as a damaged stick.
    await expect(b.commitPlan(plan)).rejects.toMatchObject({
      kind: 'bug',
      code: 'ZFLASH_INTERNAL',
      message: 'A FAT write plan was committed after the filesystem had changed since it was made.',
      hint: 'This is a bug in Zeta Flash; report it.',
    });
    expect(dev.buffer.equals(before)).toBe(true);
  });

  it('numbers aliases past ~9 as Windows does, and fsck.fat finds no duplicate', async () => {
    const img = buildEsp(`${tmp.path}/tails.img`, { fat: 12 });
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    const files = Array.from({ length: 11 }, (_, i) => ({
      name: `zeta-file-${i}.txt`,
      data: Buffer.from(`${i}\n`),
    }));
    await vol.writeRootFiles(files);
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    const short = new Map(vol.listRoot().map((e) => [e.name, e.shortName]));
    expect(short.get('zeta-file-8.txt')).toBe('ZETA-F~9TXT');
    expect(short.get('zeta-file-9.txt')).toBe('ZETA-~10TXT');
    expect(short.get('zeta-file-10.txt')).toBe('ZETA-~11TXT');
    expect(mtype(img, 0, 'zeta-file-10.txt')).toBe('10\n');
  });
});

describe('chains, names and directory slots at their edges', () => {
  const bytesOf = (img: string) => new MemoryDevice(readFileSync(img));
  /** The first FAT of `buf` as a table whose `set` writes into `buf`. */
  const firstFat = (buf: Buffer, vol: FatVolume) => {
    const g = vol.geometry;
    const start = g.reservedSectors * g.bytesPerSector;
    return new FatTable(g.fatType, buf.subarray(start, start + g.sectorsPerFat * g.bytesPerSector));
  };
  /** Every FAT copy of `buf` made equal to the first, as a tool that edits the FAT leaves them. */
  const copyFats = (buf: Buffer, vol: FatVolume) => {
    const g = vol.geometry;
    const len = g.sectorsPerFat * g.bytesPerSector;
    const start = g.reservedSectors * g.bytesPerSector;
    for (let i = 1; i < g.numFats; i++) buf.copy(buf, start + i * len, start, start + len);
  };
  const clusterAt = (vol: FatVolume, c: number) =>
    vol.geometry.dataOffset + (c - 2) * vol.geometry.clusterSize;

  it('follows a chain through cluster numbers that are end marks only on a narrower FAT', async () => {
    // 0xFF8 and up end a FAT12 chain, 0xFFF8 and up a FAT16 one: on FAT16 cluster 4090 and on
    // FAT32 cluster 65 530 are ordinary clusters a file can continue in.
    for (const [bits, high] of [
      [16, 4090],
      [32, 65530],
    ] as const) {
      const data = randomBytes(9000);
      const img = buildEsp(`${tmp.path}/through${bits}.img`, {
        fat: bits,
        files: { 'two.bin': data },
      });
      const buf = readFileSync(img);
      const vol0 = await FatVolume.open(new MemoryDevice(Buffer.from(buf)));
      expect(vol0.geometry.clusterCount).toBeGreaterThan(high);
      const fat = firstFat(buf, vol0);
      const first = vol0.findInRoot('two.bin')!.firstCluster;
      const second = fat.get(first);
      expect(fat.get(high)).toBe(0);
      // Move the file's second cluster to `high`.
      const size = vol0.geometry.clusterSize;
      buf.copy(buf, clusterAt(vol0, high), clusterAt(vol0, second), clusterAt(vol0, second) + size);
      fat.set(high, fat.get(second));
      fat.set(second, 0);
      fat.set(first, high);
      copyFats(buf, vol0);
      writeFileSync(img, buf);
      fsckClean(img);
      const vol = await FatVolume.open(new MemoryDevice(buf));
      expect((await vol.readFile('two.bin'))?.equals(data), `FAT${bits}`).toBe(true);
    }
  });

  it('reads a file whose clusters run backwards, and ignores the high word on FAT12', async () => {
    const data = randomBytes(5 * 2048);
    const img = buildEsp(`${tmp.path}/backwards.img`, { fat: 12, files: { 'back.bin': data } });
    const buf = readFileSync(img);
    const vol0 = await FatVolume.open(new MemoryDevice(Buffer.from(buf)));
    const size = vol0.geometry.clusterSize;
    const entry = vol0.findInRoot('back.bin')!;
    const first = entry.firstCluster;
    const n = data.length / size;
    expect(n).toBeGreaterThanOrEqual(3);
    // Cluster k of the file moves to first + n - 1 - k: a chain of consecutive numbers, descending.
    const fat = firstFat(buf, vol0);
    for (let k = 0; k < n; k++) {
      const c = first + n - 1 - k;
      data.copy(buf, clusterAt(vol0, c), k * size, (k + 1) * size);
      fat.set(c, k === n - 1 ? fat.endOfChain : c - 1);
    }
    copyFats(buf, vol0);
    const sfn = vol0.geometry.rootDirOffset + (entry.slot + entry.slotCount - 1) * 32;
    buf.writeUInt16LE(first + n - 1, sfn + 26);
    writeFileSync(img, buf);
    fsckClean(img);
    run('mcopy', ['-n', '-i', img, '::/back.bin', `${tmp.path}/back.out`]);
    expect(readFileSync(`${tmp.path}/back.out`).equals(data)).toBe(true);
    expect(
      (await FatVolume.open(new MemoryDevice(buf)).then((v) => v.readFile('back.bin')))?.equals(
        data,
      ),
    ).toBe(true);
    // Offset 20 holds the high word of the first cluster on FAT32 only; FAT12 ignores it.
    buf.writeUInt16LE(1, sfn + 20);
    writeFileSync(img, buf);
    run('mcopy', ['-n', '-i', img, '::/back.bin', `${tmp.path}/back.out`]);
    expect(readFileSync(`${tmp.path}/back.out`).equals(data)).toBe(true);
    const vol = await FatVolume.open(new MemoryDevice(buf));
    expect(vol.findInRoot('back.bin')?.firstCluster).toBe(first + n - 1);
    expect((await vol.readFile('back.bin'))?.equals(data)).toBe(true);
  });

  it('shows 8.3 names with a short extension as mtools does', async () => {
    const img = buildEsp(`${tmp.path}/shortext.img`, {
      fat: 12,
      files: { 'NOTES.MD': 'n', 'A.B': 'a' },
    });
    const vol = await FatVolume.open(bytesOf(img));
    expect(vol.listRoot().map((e) => e.name)).toEqual(['NOTES.MD', 'A.B']);
    expect(mdirNames(img, 0)).toEqual(['NOTES.MD', 'A.B']);
  });

  it('gives a name with a lower-case extension a long name, and long extensions distinct aliases', async () => {
    const img = buildEsp(`${tmp.path}/aliases2.img`, { fat: 12 });
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    await vol.writeRootFiles([
      { name: 'KEYS.pub', data: Buffer.from('k') },
      // Both extensions cut to JSO: the aliases must still differ.
      { name: 'zeta-node.json', data: Buffer.from('1') },
      { name: 'zeta-node.jsonl', data: Buffer.from('2') },
    ]);
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    const entries = new Map(vol.listRoot().map((e) => [e.name, e]));
    expect(entries.get('KEYS.pub')).toMatchObject({ shortName: 'KEYS~1  PUB', slotCount: 2 });
    expect(entries.get('zeta-node.json')?.shortName).toBe('ZETA-N~1JSO');
    expect(entries.get('zeta-node.jsonl')?.shortName).toBe('ZETA-N~2JSO');
    expect(mdirNames(img, 0)).toEqual(['KEYS.pub', 'zeta-node.json', 'zeta-node.jsonl']);
    expect(mtype(img, 0, 'zeta-node.jsonl')).toBe('2');
  });

  it('gives a new long name an alias no file already on the volume has', async () => {
    const img = buildEsp(`${tmp.path}/alias-in-use.img`, {
      fat: 12,
      files: { 'zeta-authorized-keys-old.pub': 'old' },
    });
    const dev = bytesOf(img);
    const vol = await FatVolume.open(dev);
    expect(vol.findInRoot('zeta-authorized-keys-old.pub')?.shortName).toBe('ZETA-A~1PUB');
    await vol.writeRootFiles([{ name: 'zeta-authorized-keys.pub', data: Buffer.from(KEYS) }]);
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(vol.findInRoot('zeta-authorized-keys.pub')?.shortName).toBe('ZETA-A~2PUB');
    expect(mtype(img, 0, 'zeta-authorized-keys-old.pub')).toBe('old');
  });

  it('writes into an empty root from its first slot', async () => {
    // No label entry: slot 0 is the first free one.
    const img = buildEsp(`${tmp.path}/nolabel.img`, { fat: 12 });
    const buf = readFileSync(img);
    const g = parseGeometry(buf, buf.length);
    buf.fill(0, g.rootDirOffset, g.rootDirOffset + 32);
    buf.write('NO NAME    ', 43, 'latin1');
    const dev = new MemoryDevice(buf);
    const vol = await FatVolume.open(dev);
    expect(vol.listRoot()).toEqual([]);
    await vol.writeRootFiles(payload('first'));
    expect(vol.listRoot()[0]).toMatchObject({ name: 'zeta-authorized-keys.pub', slot: 0 });
    writeFileSync(img, dev.buffer);
    fsckClean(img);
    expect(mtype(img, 0, 'zeta-hostname.txt')).toBe('first\n');
  });

  it('refuses to grow a full FAT32 root when no cluster is free, even for an empty file', async () => {
    const img = buildEsp(`${tmp.path}/fullroot32.img`, { fat: 32 });
    const buf = readFileSync(img);
    const vol0 = await FatVolume.open(new MemoryDevice(Buffer.from(buf)));
    const g = vol0.geometry;
    // Fill the one-cluster root with 8.3 entries after the label, and take every free cluster.
    const root = clusterAt(vol0, g.rootCluster);
    for (let i = 1; i < g.clusterSize / 32; i++) {
      const e = buf.subarray(root + i * 32, root + i * 32 + 32);
      e.fill(0);
      e.write(`F${i}`.padEnd(8) + 'TXT', 0, 'latin1');
      e[11] = 0x20;
    }
    const fat = firstFat(buf, vol0);
    for (let c = 2; c < g.clusterCount + 2; c++) if (fat.get(c) === 0) fat.set(c, fat.endOfChain);
    const vol = await FatVolume.open(new MemoryDevice(buf));
    expect(vol.freeBytes).toBe(0);
    await expect(
      vol.planRootFiles([{ name: 'EMPTY.TXT', data: Buffer.alloc(0) }]),
    ).rejects.toMatchObject({ code: 'ZFLASH_ESP_FULL' });
  });
});
