/**
 * The ISO 9660 root reader on real xorriso images (the flags nixpkgs uses, and with Rock Ridge
 * and Joliet switched off in turn), then on images damaged on purpose: each must end in a
 * clear error or "not found", never a hang or an out-of-bounds read.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildEsp,
  buildNixosIso,
  buildPlainIso,
  buildZetaIso,
  run,
  tempDir,
  zetaInstallerMarker,
} from '../../test/fixtures.js';
import { MemoryDevice } from './device.js';
import { findRootEntry, readIsoFile, readIsoVolume, readIsoVolumeId } from './iso9660.js';

const tmp = tempDir();
const marker = zetaInstallerMarker();
let zetaIso: Buffer;

beforeAll(() => {
  zetaIso = readFileSync(buildZetaIso(`${tmp.path}/zeta.iso`));
});
afterAll(() => tmp.cleanup());

async function markerOf(buf: Buffer) {
  const dev = new MemoryDevice(buf);
  const vol = await readIsoVolume(dev);
  if (!vol) throw new Error('not an ISO');
  const entry = findRootEntry(vol, 'zeta-installer.json');
  return { vol, entry, text: entry ? (await readIsoFile(dev, entry, 65536)).toString() : null };
}

describe('readIsoVolume on real images', () => {
  it('reads the volume ID and the marker of an ISO made with nixpkgs’ xorriso flags (Rock Ridge names)', async () => {
    const { vol, text } = await markerOf(zetaIso);
    expect(vol.volumeId).toBe('zeta-0.2.0-x86_64');
    expect(vol.nameSource).toBe('rock-ridge');
    expect(text).toBe(marker);
    // xorriso, reading the same image, is the judge of what the root holds.
    const judged = run('xorriso', ['-indev', `${tmp.path}/zeta.iso`, '-ls', '/'])
      .split('\n')
      .filter((l) => /^'.*'$/.test(l))
      .map((l) => l.slice(1, -1))
      .sort();
    expect(judged).toContain('zeta-installer.json');
    expect(vol.root.map((e) => e.name).sort()).toEqual(judged);
    expect(vol.root.find((e) => e.name === 'boot')?.directory).toBe(true);
    expect(await readIsoVolumeId(new MemoryDevice(zetaIso))).toBe('zeta-0.2.0-x86_64');
  });

  it('finds the file by its Joliet name when there is no Rock Ridge', async () => {
    const p = buildPlainIso(`${tmp.path}/joliet.iso`, {
      files: { 'zeta-installer.json': marker, 'other-file.txt': 'x' },
      rockRidge: false,
      joliet: true,
    });
    const { vol, text } = await markerOf(readFileSync(p));
    expect(vol.nameSource).toBe('joliet');
    expect(text).toBe(marker);
  });

  it('falls back to the primary name (upper case, _ for -, no ;1) with neither extension', async () => {
    const p = buildPlainIso(`${tmp.path}/plain.iso`, {
      files: { 'zeta-installer.json': marker },
      rockRidge: false,
      joliet: false,
    });
    const { vol, entry, text } = await markerOf(readFileSync(p));
    expect(vol.nameSource).toBe('iso9660');
    expect(entry?.name).toBe('ZETA_INSTALLER.JSON');
    expect(text).toBe(marker);
  });

  it('reports "not found" for an ISO without the marker, and null for something that is no ISO', async () => {
    const nixos = readFileSync(buildNixosIso(`${tmp.path}/nixos.iso`, { fillerBytes: 4096 }));
    const { vol, entry } = await markerOf(nixos);
    expect(vol.volumeId).toBe('nixos-minimal-25.11-x86_64');
    expect(entry).toBeNull();
    const fat = readFileSync(buildEsp(`${tmp.path}/esp.img`));
    expect(await readIsoVolume(new MemoryDevice(fat))).toBeNull();
    expect(await readIsoVolume(new MemoryDevice(Buffer.alloc(1000)))).toBeNull();
  });

  it('refuses a marker larger than the caller allows instead of reading it', async () => {
    const dev = new MemoryDevice(zetaIso);
    const vol = await readIsoVolume(dev);
    const entry = vol && findRootEntry(vol, 'nix-store.squashfs');
    expect(entry).not.toBeNull();
    await expect(readIsoFile(dev, entry!, 1024)).rejects.toMatchObject({
      code: 'ZFLASH_ISO_CORRUPT',
    });
  });
});

/** Byte offset of the root directory record inside the primary volume descriptor. */
const ROOT_RECORD = 16 * 2048 + 156;

describe('readIsoVolume on damaged images', () => {
  it('a root directory pointing past the end is a clear error', async () => {
    const bad = Buffer.from(zetaIso);
    bad.writeUInt32LE(0x7fffff00, ROOT_RECORD + 2);
    await expect(readIsoVolume(new MemoryDevice(bad))).rejects.toMatchObject({
      code: 'ZFLASH_ISO_CORRUPT',
    });
  });

  it('a root directory claiming gigabytes is refused before anything is read', async () => {
    const bad = Buffer.from(zetaIso);
    bad.writeUInt32LE(0xffffffff, ROOT_RECORD + 10);
    await expect(readIsoVolume(new MemoryDevice(bad))).rejects.toMatchObject({
      code: 'ZFLASH_ISO_CORRUPT',
      message: expect.stringMatching(/root directory claims 4294967295 bytes/),
    });
  });

  it('an image cut off after the descriptors (an interrupted download) is a clear error', async () => {
    const extent = zetaIso.readUInt32LE(ROOT_RECORD + 2);
    const cut = zetaIso.subarray(0, extent * 2048 + 100);
    await expect(readIsoVolume(new MemoryDevice(Buffer.from(cut)))).rejects.toMatchObject({
      code: 'ZFLASH_ISO_CORRUPT',
    });
  });

  it('a directory record longer than its directory is refused', async () => {
    const bad = Buffer.from(zetaIso);
    const extent = bad.readUInt32LE(ROOT_RECORD + 2);
    const size = bad.readUInt32LE(ROOT_RECORD + 10);
    // The last record of the root directory, then make it claim to run past the end.
    let pos = extent * 2048;
    let last = pos;
    while (pos < extent * 2048 + size && bad[pos]) {
      last = pos;
      pos += bad[pos]!;
    }
    bad.writeUInt8(255, last);
    bad.writeUInt32LE(pos - extent * 2048 - 10, ROOT_RECORD + 10);
    await expect(readIsoVolume(new MemoryDevice(bad))).rejects.toMatchObject({
      code: 'ZFLASH_ISO_CORRUPT',
    });
  });

  it('a Rock Ridge continuation area that points at itself ends (bounded), without a hang', async () => {
    const bad = Buffer.from(zetaIso);
    const extent = bad.readUInt32LE(ROOT_RECORD + 2);
    const dirStart = extent * 2048;
    // Find the marker's record and overwrite the start of its system use area with a CE
    // entry whose continuation area is that same system use area.
    const at = bad.indexOf(Buffer.from('ZETA_INSTALLER.JSON;1'), dirStart);
    expect(at).toBeGreaterThan(dirStart);
    const rec = at - 33;
    const nameLen = bad[rec + 32]!;
    const su = rec + 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    const ce = Buffer.alloc(28);
    ce.write('CE', 0, 'latin1');
    ce[2] = 28;
    ce[3] = 1;
    ce.writeUInt32LE(Math.floor(su / 2048), 4);
    ce.writeUInt32LE(su % 2048, 12);
    ce.writeUInt32LE(28, 20);
    ce.copy(bad, su);
    const dev = new MemoryDevice(bad);
    const vol = await readIsoVolume(dev);
    // The name is no longer there under Rock Ridge; the primary name is what remains.
    expect(vol?.root.some((e) => e.name === 'ZETA_INSTALLER.JSON')).toBe(true);
  });

  it('a descriptor set with no terminator is read up to a fixed bound', async () => {
    const bad = Buffer.alloc(300 * 2048);
    zetaIso.copy(bad, 16 * 2048, 16 * 2048, 17 * 2048);
    // Every following sector claims to be one more descriptor, to the end of the image.
    for (let s = 17; s < 300; s++) {
      bad[s * 2048] = 3;
      bad.write('CD001', s * 2048 + 1, 'latin1');
    }
    // The root directory: one all-zero sector (padding only, no records).
    bad.writeUInt32LE(5, ROOT_RECORD + 2);
    bad.writeUInt32LE(2048, ROOT_RECORD + 10);
    let reads = 0;
    const dev = new MemoryDevice(bad);
    const counting = {
      size: dev.size,
      read: (o: number, l: number) => {
        reads++;
        return dev.read(o, l);
      },
      write: dev.write.bind(dev),
    };
    const vol = await readIsoVolume(counting);
    expect(vol?.root).toEqual([]);
    expect(reads).toBeLessThanOrEqual(34);
  });
});
