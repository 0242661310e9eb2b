import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryDevice } from './device.js';
import { openEsp } from './esp.js';
import { ESP_GPT_TYPE, findEsp, readPartitionTable } from './partition-table.js';
import {
  buildEsp,
  buildGptDisk,
  buildNixosIso,
  espOffsetBySfdisk,
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
