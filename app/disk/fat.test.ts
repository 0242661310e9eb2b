import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { FatVolume, parseGeometry } from './fat.js';
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
    await expect(vol.writeRootFiles(payload('n'))).rejects.toMatchObject({
      code: 'ZFLASH_ESP_ROOT_FULL',
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
    await expect(vol.readFile('a.bin')).rejects.toMatchObject({ code: 'ZFLASH_ESP_CORRUPT' });
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
      }),
    );
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
