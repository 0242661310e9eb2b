import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { FatVolume } from './fat.js';
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
