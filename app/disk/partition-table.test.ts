import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ZflashError } from '../errors.js';
import { MemoryDevice } from './device.js';
import { openEsp } from './esp.js';
import { ESP_GPT_TYPE, findEsp, readPartitionTable } from './partition-table.js';
import {
  buildEsp,
  buildGptDisk,
  buildNixosIso,
  espOffsetBySfdisk,
  run,
  tempDir,
} from '../../test/fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('locating the ESP', () => {
  it('finds the MBR 0xEF entry of an xorriso isohybrid ISO, where sfdisk finds it', async () => {
    const iso = buildNixosIso(`${tmp.path}/nixos.iso`);
    const dev = new MemoryDevice(readFileSync(iso));
    const table = await readPartitionTable(dev);
    expect(table.kind).toBe('hybrid');
    // The GPT has only overlapping "basic data" entries (-isohybrid-gpt-basdat), no ESP type.
    expect(table.gpt.length).toBeGreaterThan(0);
    expect(table.gpt.some((e) => e.typeGuid === ESP_GPT_TYPE)).toBe(false);
    const esp = findEsp(table, dev.size);
    expect(esp.source).toBe('mbr');
    expect(esp.partition).toBe(2);
    expect({ offset: esp.offset, size: esp.size }).toEqual(espOffsetBySfdisk(iso));
    const opened = await openEsp(dev);
    expect(opened.volume.fatType).toBe(12);
    expect(opened.volume.label).toBe('EFIBOOT');
  });

  it('finds a GPT ESP by its type GUID behind a protective MBR', async () => {
    const disk = buildGptDisk(`${tmp.path}/gpt.img`, { fat: 32 });
    const dev = new MemoryDevice(readFileSync(disk.path));
    const table = await readPartitionTable(dev);
    expect(table.kind).toBe('gpt');
    const esp = findEsp(table, dev.size);
    expect(esp).toMatchObject({
      source: 'gpt',
      partition: 1,
      offset: disk.espOffset,
      size: disk.espSize,
    });
    expect(espOffsetBySfdisk(disk.path)).toEqual({ offset: disk.espOffset, size: disk.espSize });
    expect((await openEsp(dev)).volume.fatType).toBe(32);
  });

  it('treats a bare FAT image (efi.img itself) as an ESP covering the whole file', async () => {
    const img = buildEsp(`${tmp.path}/efi.img`, { fat: 16 });
    const dev = new MemoryDevice(readFileSync(img));
    const esp = findEsp(await readPartitionTable(dev), dev.size);
    expect(esp).toMatchObject({ source: 'whole-device', offset: 0, partition: 0 });
  });

  it('refuses an image with no ESP, naming what it found', async () => {
    const buf = Buffer.alloc(4 * 1024 * 1024);
    buf[510] = 0x55;
    buf[511] = 0xaa;
    buf[446 + 4] = 0x83; // one Linux partition
    buf.writeUInt32LE(2048, 446 + 8);
    buf.writeUInt32LE(4096, 446 + 12);
    const dev = new MemoryDevice(buf);
    expect(() =>
      findEsp({ kind: 'mbr', mbr: [], gpt: [], superfloppy: false }, dev.size),
    ).toThrow();
    await expect(openEsp(dev)).rejects.toMatchObject({ code: 'ZFLASH_NO_ESP', kind: 'target' });
  });

  it('refuses a truncated image whose ESP runs past its end', async () => {
    const iso = readFileSync(buildNixosIso(`${tmp.path}/trunc.iso`));
    const esp = espOffsetBySfdisk(`${tmp.path}/trunc.iso`);
    const dev = new MemoryDevice(iso.subarray(0, esp.offset + esp.size / 2));
    await expect(openEsp(dev)).rejects.toMatchObject({ code: 'ZFLASH_IMAGE_TRUNCATED' });
  });
});

describe('reading tables as sfdisk reads them', () => {
  interface SfdiskPart {
    start: number;
    size: number;
    type: string;
    bootable?: boolean;
    uuid?: string;
    name?: string;
  }
  const sfdisk = (path: string) =>
    (
      JSON.parse(run('sfdisk', ['--json', path])) as {
        partitiontable: { partitions: SfdiskPart[] };
      }
    ).partitiontable.partitions;
  const blank = (name: string, mib: number) => {
    const p = `${tmp.path}/${name}`;
    writeFileSync(p, Buffer.alloc(mib * 1024 * 1024));
    return p;
  };
  const fail = (p: Promise<unknown> | (() => unknown)) =>
    (typeof p === 'function' ? Promise.resolve().then(p) : p).then(
      () => null,
      (e: unknown) => e as ZflashError,
    );

  it('an MBR: every entry, type, boot flag, start and size; empty slots left out', async () => {
    const path = blank('mbr.img', 8);
    run('sfdisk', ['--quiet', path], {
      input: 'label: dos\nstart=2048,size=2048,type=83\nstart=4096,size=4096,type=ef,bootable\n',
    });
    const table = await readPartitionTable(new MemoryDevice(readFileSync(path)));
    expect(table).toMatchObject({ kind: 'mbr', gpt: [], superfloppy: false, of: 'image' });
    expect(table.mbr).toEqual(
      sfdisk(path).map((p, i) => ({
        number: i + 1,
        type: parseInt(p.type, 16),
        bootable: p.bootable === true,
        start: p.start * 512,
        size: p.size * 512,
      })),
    );
    expect(findEsp(table, 8 * 1024 * 1024)).toEqual({
      partition: 2,
      source: 'mbr',
      offset: 4096 * 512,
      size: 4096 * 512,
    });
  });

  it('a GPT: numbers, type and unique GUIDs and names as sfdisk shows them', async () => {
    const path = blank('names.img', 8);
    run('sgdisk', [
      '-n',
      '1:2048:+1M',
      '-t',
      '1:ef00',
      '-c',
      '1:EFI system',
      '-n',
      '3:0:+1M',
      '-t',
      '3:8300',
      '-c',
      '3:data ü',
      path,
    ]);
    const table = await readPartitionTable(new MemoryDevice(readFileSync(path)));
    expect(table.kind).toBe('gpt');
    expect(table.mbr.map((e) => e.type)).toEqual([0xee]);
    const parts = sfdisk(path);
    expect(table.gpt).toEqual(
      parts.map((p, i) => ({
        number: i === 0 ? 1 : 3,
        typeGuid: p.type,
        uniqueGuid: p.uuid,
        name: p.name,
        start: p.start * 512,
        size: p.size * 512,
      })),
    );
  });

  it('refuses a device too small for a table, worded for an image or a drive', async () => {
    const image = await fail(readPartitionTable(new MemoryDevice(Buffer.alloc(511))));
    expect(image).toMatchObject({
      code: 'ZFLASH_IMAGE_TOO_SMALL',
      message: 'The image is only 511 bytes: too small to hold a partition table.',
      hint: 'Choose a complete disk image (an .iso or .img file).',
    });
    const drive = await fail(readPartitionTable(new MemoryDevice(Buffer.alloc(0), 'drive')));
    expect(drive).toMatchObject({
      message: 'The drive is only 0 bytes: too small to hold a partition table.',
      hint: 'Choose a whole drive, not an empty card reader.',
    });
    const sector = await readPartitionTable(new MemoryDevice(Buffer.alloc(512), 'drive'));
    expect(sector).toEqual({ kind: 'none', mbr: [], gpt: [], superfloppy: false, of: 'drive' });
  });

  it('refuses a damaged GPT header, and ignores entries past the end of the device', async () => {
    const path = blank('hdr.img', 4);
    run('sgdisk', ['-n', '1:2048:+1M', '-t', '1:ef00', path]);
    const good = readFileSync(path);
    for (const [what, off, value] of [
      ['entry size 127', 84, 127],
      ['entry size 4097', 84, 4097],
      ['1025 entries', 80, 1025],
    ] as const) {
      const b = Buffer.from(good);
      b.writeUInt32LE(value, 512 + off);
      const err = await fail(readPartitionTable(new MemoryDevice(b)));
      expect(err, what).toMatchObject({
        code: 'ZFLASH_GPT_CORRUPT',
        message: 'The GPT partition table header is damaged.',
        hint: 'Use a complete, unmodified image; if this is a drive, flash it again.',
      });
      expect(err?.details, what).toEqual({
        count: off === 80 ? value : 128,
        entrySize: off === 84 ? value : 128,
      });
    }
    for (const [off, value] of [
      [84, 128],
      [84, 4096],
      [80, 1024],
    ] as const) {
      const b = Buffer.from(good);
      b.writeUInt32LE(value, 512 + off);
      expect(await fail(readPartitionTable(new MemoryDevice(b)))).toBeNull();
    }
    // The entry array starts past the end: no GPT entries, the protective MBR only.
    const far = Buffer.from(good);
    far.writeBigUInt64LE(BigInt(far.length / 512), 512 + 72);
    expect((await readPartitionTable(new MemoryDevice(far))).gpt).toEqual([]);
    // An entry whose last sector comes before its first is no partition.
    const backwards = Buffer.from(good);
    const entries = Number(good.readBigUInt64LE(512 + 72)) * 512;
    backwards.writeBigUInt64LE(2047n, entries + 40);
    expect((await readPartitionTable(new MemoryDevice(backwards))).gpt).toEqual([]);
    // A one-sector partition is one.
    const one = Buffer.from(good);
    one.writeBigUInt64LE(2048n, entries + 40);
    expect((await readPartitionTable(new MemoryDevice(one))).gpt[0]?.size).toBe(512);
  });

  it('knows a bare FAT boot sector by every field, and nothing else for one', async () => {
    const fat = readFileSync(buildEsp(`${tmp.path}/bare.img`, { fat: 12 }));
    const kind = async (edit: (b: Buffer) => void) => {
      const b = Buffer.from(fat);
      edit(b);
      return (await readPartitionTable(new MemoryDevice(b))).superfloppy;
    };
    expect(await kind(() => undefined)).toBe(true);
    expect(await kind((b) => (b[0] = 0xe9))).toBe(true);
    expect(await kind((b) => (b[16] = 4))).toBe(true);
    for (const [what, edit] of [
      ['jump', (b: Buffer) => (b[0] = 0x90)],
      ['bytes per sector', (b: Buffer) => b.writeUInt16LE(768, 11)],
      ['no sectors per cluster', (b: Buffer) => (b[13] = 0)],
      ['6 sectors per cluster', (b: Buffer) => (b[13] = 6)],
      ['no FAT', (b: Buffer) => (b[16] = 0)],
      ['5 FATs', (b: Buffer) => (b[16] = 5)],
      ['no reserved sector', (b: Buffer) => b.writeUInt16LE(0, 14)],
    ] as const) {
      expect(await kind(edit), what).toBe(false);
    }
  });

  it('says what it found when there is no ESP, or several, or one past the end', () => {
    const entry = (number: number, type: number, start = 1024 * 1024) => ({
      number,
      type,
      bootable: false,
      start,
      size: 1024 * 1024,
    });
    const table = (of: 'image' | 'drive', mbr: ReturnType<typeof entry>[], gpt = []) => ({
      kind: 'mbr' as const,
      mbr,
      gpt,
      superfloppy: false,
      of,
    });
    const thrown = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as ZflashError;
      }
      return null;
    };
    const none = thrown(() => findEsp(table('image', [entry(1, 0x83)]), 8 * 1024 * 1024));
    expect(none).toMatchObject({
      code: 'ZFLASH_NO_ESP',
      message:
        "There is no EFI System Partition in the image (no MBR entry of type 0xEF and no GPT entry of the ESP type), so there is nowhere to put the node's identity.",
      hint: 'Use a NixOS installer image (the Zeta installer ISO); other images need an EFI partition.',
      details: { table: 'mbr', mbr: [0x83], gpt: [] },
    });
    const noneOnDrive = thrown(() => findEsp(table('drive', []), 8 * 1024 * 1024));
    expect(noneOnDrive?.message).toContain('on the drive');
    expect(noneOnDrive?.hint).toBe(
      'Flash the stick from a NixOS installer image first, then inject.',
    );
    const many = thrown(() =>
      findEsp(table('image', [entry(1, 0xef), entry(3, 0xef, 2 * 1024 * 1024)]), 8 * 1024 * 1024),
    );
    expect(many).toMatchObject({
      code: 'ZFLASH_MANY_ESPS',
      message:
        'The image has 2 EFI System Partitions; Zeta Flash cannot tell which one the node boots from.',
      hint: 'Use an unmodified NixOS installer image.',
      details: { partitions: [1, 3] },
    });
    expect(
      thrown(() => findEsp(table('drive', [entry(1, 0xef), entry(2, 0xef)]), 8 * 1024 * 1024))
        ?.message,
    ).toMatch(/^The drive has 2 EFI/);
    const mib = 1024 * 1024;
    // Ends exactly at the end: fine; one byte past it: truncated.
    expect(findEsp(table('image', [entry(1, 0xef)]), 2 * mib).size).toBe(mib);
    const past = thrown(() => findEsp(table('image', [entry(1, 0xef)]), 2 * mib - 1));
    expect(past).toMatchObject({
      code: 'ZFLASH_IMAGE_TRUNCATED',
      message: `The EFI System Partition ends at byte ${2 * mib}, past the end of the image (${2 * mib - 1} bytes): the image is truncated.`,
      hint: 'Download the image again; the file is incomplete.',
      details: { espEnd: 2 * mib, size: 2 * mib - 1 },
    });
    const pastDrive = thrown(() => findEsp(table('drive', [entry(1, 0xef)]), mib));
    expect(pastDrive).toMatchObject({
      message: `The EFI System Partition ends at byte ${2 * mib}, past the end of the drive (${mib} bytes): the stick holds less than its table says.`,
      hint: 'Flash the stick again from a complete image.',
    });
  });
});

describe('tables at the edges (mutants that survived)', () => {
  const sfdiskMbr = (path: string) =>
    (
      JSON.parse(run('sfdisk', ['--json', '--label', 'dos', path])) as {
        partitiontable: { partitions: { start: number; size: number; type: string }[] };
      }
    ).partitiontable.partitions;

  it('keeps the isohybrid entry of type 0 that starts at sector 0, as sfdisk lists it', async () => {
    const iso = buildNixosIso(`${tmp.path}/entries.iso`);
    const table = await readPartitionTable(new MemoryDevice(readFileSync(iso)));
    expect(table.mbr.map((e) => [e.type, e.start, e.size])).toEqual(
      sfdiskMbr(iso).map((p) => [parseInt(p.type, 16), p.start * 512, p.size * 512]),
    );
    expect(table.mbr[0]).toMatchObject({ number: 1, type: 0, start: 0 });
  });

  it('reads MBR entries only under the 55 AA signature', async () => {
    const buf = Buffer.alloc(64 * 512);
    buf[446 + 4] = 0xef;
    buf.writeUInt32LE(2048 / 512, 446 + 8);
    buf.writeUInt32LE(16, 446 + 12);
    for (const [sig, found] of [
      [[0x55, 0xaa], 1],
      [[0x55, 0x00], 0],
      [[0x00, 0xaa], 0],
    ] as const) {
      buf[510] = sig[0];
      buf[511] = sig[1];
      const t = await readPartitionTable(new MemoryDevice(buf));
      expect(t.mbr.length, sig.join(',')).toBe(found);
      expect(t.kind).toBe(found ? 'mbr' : 'none');
    }
  });

  it('a protective MBR beside a real entry is a hybrid, and an MBR ESP wins over a GPT one', async () => {
    const disk = buildGptDisk(`${tmp.path}/hybrid.img`, { fat: 16 });
    const buf = readFileSync(disk.path);
    // A second MBR entry, type 0xEF, over the same ESP: the MBR now describes it too.
    buf[446 + 16 + 4] = 0xef;
    buf.writeUInt32LE(disk.espOffset / 512, 446 + 16 + 8);
    buf.writeUInt32LE(disk.espSize / 512, 446 + 16 + 12);
    const table = await readPartitionTable(new MemoryDevice(buf));
    expect(table.kind).toBe('hybrid');
    expect(findEsp(table, buf.length)).toEqual({
      partition: 2,
      source: 'mbr',
      offset: disk.espOffset,
      size: disk.espSize,
    });
    // A bare FAT image claim does not add a candidate once a table has its ESP.
    expect(findEsp({ ...table, superfloppy: true }, buf.length).source).toBe('mbr');
  });

  it('names the GPT types it found when none is an ESP', async () => {
    const path = `${tmp.path}/no-esp-gpt.img`;
    writeFileSync(path, Buffer.alloc(4 * 1024 * 1024));
    run('sgdisk', ['-n', '1:2048:+1M', '-t', '1:8300', path]);
    const table = await readPartitionTable(new MemoryDevice(readFileSync(path)));
    let details: unknown;
    try {
      findEsp(table, 4 * 1024 * 1024);
    } catch (e) {
      details = (e as ZflashError).details;
    }
    expect(details).toEqual({
      table: 'gpt',
      mbr: [0xee],
      gpt: [
        (
          JSON.parse(run('sfdisk', ['--json', path])) as {
            partitiontable: { partitions: { type: string }[] };
          }
        ).partitiontable.partitions[0]?.type,
      ],
    });
  });

  it('reads GPT entries that end exactly at the end of the device', async () => {
    const path = `${tmp.path}/gpt-end.img`;
    writeFileSync(path, Buffer.alloc(4 * 1024 * 1024));
    run('sgdisk', ['-n', '1:2048:+1M', '-t', '1:ef00', path]);
    const buf = readFileSync(path);
    const end = 2 * 512 + 128 * 128;
    expect((await readPartitionTable(new MemoryDevice(buf.subarray(0, end)))).gpt).toHaveLength(1);
    expect((await readPartitionTable(new MemoryDevice(buf.subarray(0, end - 1)))).gpt).toEqual([]);
  });

  it('a bare FAT image: no table at all, and one FAT is enough', async () => {
    const fat = readFileSync(buildEsp(`${tmp.path}/bare1.img`, { fat: 12 }));
    expect(await readPartitionTable(new MemoryDevice(fat))).toEqual({
      kind: 'none',
      mbr: [],
      gpt: [],
      superfloppy: true,
      of: 'image',
    });
    fat[16] = 1;
    expect((await readPartitionTable(new MemoryDevice(fat, 'drive'))).of).toBe('drive');
    expect((await readPartitionTable(new MemoryDevice(fat))).superfloppy).toBe(true);
  });
});

describe('tables without the usual parts', () => {
  it('a GPT with no MBR at all is a GPT; an MBR entry of no sectors is no entry', async () => {
    const disk = buildGptDisk(`${tmp.path}/no-mbr.img`, { fat: 16 });
    const buf = readFileSync(disk.path);
    buf.fill(0, 0, 512);
    const table = await readPartitionTable(new MemoryDevice(buf));
    expect(table).toMatchObject({ kind: 'gpt', mbr: [] });
    expect(findEsp(table, buf.length).source).toBe('gpt');
    const mbr = Buffer.alloc(64 * 512);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    mbr[446 + 4] = 0x83;
    mbr.writeUInt32LE(2048, 446 + 8);
    mbr.writeUInt32LE(0, 446 + 12);
    expect((await readPartitionTable(new MemoryDevice(mbr))).mbr).toEqual([]);
  });
});

describe('a device that does not say what it is', () => {
  it('is taken for an image', async () => {
    const kindless = (buf: Buffer) => {
      const m = new MemoryDevice(buf);
      return { size: m.size, read: m.read.bind(m), write: m.write.bind(m) };
    };
    const fat = readFileSync(buildEsp(`${tmp.path}/kindless.img`, { fat: 12 }));
    expect((await readPartitionTable(kindless(fat))).of).toBe('image');
    const mbr = Buffer.alloc(64 * 512);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    expect((await readPartitionTable(kindless(mbr))).of).toBe('image');
  });
});
