/**
 * MBR, GPT and the isohybrid mix NixOS ships, and where the ESP is.
 *
 * Written by hand because the npm parsers prefer the GPT and fail on the isohybrid ISO
 * (DESIGN.md: `partitioninfo` chokes on the overlapping "basic data" GPT entries that
 * xorriso's -isohybrid-gpt-basdat makes). On that ISO the ESP is the MBR entry of type
 * 0xEF and the GPT has no ESP-typed entry at all; images from other distributions carry
 * a GPT entry of type C12A7328-F81F-11D2-BA4B-00A0C93EC93B. The start moved between
 * nixpkgs builds (LBA 276, later 268): it is always read from the table.
 */
import { targetError } from '../errors.js';
import { theTarget, type ByteDevice, type DeviceKind } from './device.js';

export const SECTOR = 512;
export const ESP_GPT_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const ESP_MBR_TYPE = 0xef;
const GPT_PROTECTIVE = 0xee;

export interface MbrEntry {
  readonly number: number; // 1-4
  readonly type: number;
  readonly bootable: boolean;
  readonly start: number; // bytes
  readonly size: number; // bytes
}

export interface GptEntry {
  readonly number: number; // 1-based index in the entry array
  readonly typeGuid: string;
  readonly uniqueGuid: string;
  readonly name: string;
  readonly start: number; // bytes
  readonly size: number; // bytes
}

export type TableKind = 'mbr' | 'gpt' | 'hybrid' | 'none';

export interface PartitionTable {
  readonly kind: TableKind;
  readonly mbr: readonly MbrEntry[];
  readonly gpt: readonly GptEntry[];
  /** True when sector 0 is itself a FAT boot sector (a bare filesystem image, no table). */
  readonly superfloppy: boolean;
  /** Whose table this is, for messages ("in the image", "on the drive"). */
  readonly of?: DeviceKind;
}

export interface EspLocation {
  /** 1-based partition number in the table it came from; 0 for a bare FAT image. */
  readonly partition: number;
  readonly source: 'mbr' | 'gpt' | 'whole-device';
  readonly offset: number;
  readonly size: number;
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export function guidToString(b: Buffer): string {
  const hex = (x: Buffer) => x.toString('hex').toUpperCase();
  const le = (x: Buffer) => hex(Buffer.from(x).reverse());
  return [
    le(b.subarray(0, 4)),
    le(b.subarray(4, 6)),
    le(b.subarray(6, 8)),
    hex(b.subarray(8, 10)),
    hex(b.subarray(10, 16)),
  ].join('-');
}

function looksLikeFatBootSector(s: Buffer): boolean {
  const jump = s[0] === 0xeb || s[0] === 0xe9;
  const bps = s.readUInt16LE(11);
  const spc = s[13] ?? 0;
  const fats = s[16] ?? 0;
  return (
    jump &&
    [512, 1024, 2048, 4096].includes(bps) &&
    spc > 0 &&
    (spc & (spc - 1)) === 0 &&
    fats >= 1 &&
    fats <= 4 &&
    s.readUInt16LE(14) > 0
  );
}

async function readGpt(dev: ByteDevice): Promise<GptEntry[]> {
  if (dev.size < SECTOR * 3) return [];
  const hdr = await dev.read(SECTOR, SECTOR);
  if (hdr.toString('latin1', 0, 8) !== 'EFI PART') return [];
  const entriesLba = Number(hdr.readBigUInt64LE(72));
  const count = hdr.readUInt32LE(80);
  const entrySize = hdr.readUInt32LE(84);
  if (entrySize < 128 || entrySize > 4096 || count > 1024) {
    throw targetError(
      'ZFLASH_GPT_CORRUPT',
      'The GPT partition table header is damaged.',
      'Use a complete, unmodified image; if this is a drive, flash it again.',
      { count, entrySize },
    );
  }
  const bytes = count * entrySize;
  if (entriesLba * SECTOR + bytes > dev.size) return [];
  const table = await dev.read(entriesLba * SECTOR, bytes);
  const out: GptEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = table.subarray(i * entrySize, (i + 1) * entrySize);
    const typeGuid = guidToString(e.subarray(0, 16));
    if (typeGuid === '00000000-0000-0000-0000-000000000000') continue;
    const first = Number(e.readBigUInt64LE(32));
    const last = Number(e.readBigUInt64LE(40));
    if (last < first) continue;
    const name = e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
    out.push({
      number: i + 1,
      typeGuid,
      uniqueGuid: guidToString(e.subarray(16, 32)),
      name,
      start: first * SECTOR,
      size: (last - first + 1) * SECTOR,
    });
  }
  return out;
}

export async function readPartitionTable(dev: ByteDevice): Promise<PartitionTable> {
  if (dev.size < SECTOR) {
    throw targetError(
      'ZFLASH_IMAGE_TOO_SMALL',
      `${cap(theTarget(dev))} is only ${dev.size} bytes: too small to hold a partition table.`,
      dev.kind === 'drive'
        ? 'Choose a whole drive, not an empty card reader.'
        : 'Choose a complete disk image (an .iso or .img file).',
    );
  }
  const s0 = await dev.read(0, SECTOR);
  const signed = s0[510] === 0x55 && s0[511] === 0xaa;
  if (looksLikeFatBootSector(s0)) {
    return { kind: 'none', mbr: [], gpt: [], superfloppy: true, of: dev.kind ?? 'image' };
  }
  const mbr: MbrEntry[] = [];
  if (signed) {
    for (let i = 0; i < 4; i++) {
      const e = s0.subarray(446 + i * 16, 446 + (i + 1) * 16);
      const type = e[4] ?? 0;
      const start = e.readUInt32LE(8);
      const count = e.readUInt32LE(12);
      if (type === 0 && start === 0 && count === 0) continue;
      if (count === 0) continue;
      mbr.push({
        number: i + 1,
        type,
        bootable: e[0] === 0x80,
        start: start * SECTOR,
        size: count * SECTOR,
      });
    }
  }
  const gpt = await readGpt(dev);
  const protective = mbr.length > 0 && mbr.every((e) => e.type === GPT_PROTECTIVE);
  let kind: TableKind;
  if (gpt.length > 0 && (protective || mbr.length === 0)) kind = 'gpt';
  else if (gpt.length > 0) kind = 'hybrid';
  else if (mbr.length > 0) kind = 'mbr';
  else kind = 'none';
  return { kind, mbr, gpt, superfloppy: false, of: dev.kind ?? 'image' };
}

/**
 * The ESP: an MBR entry of type 0xEF wins (the isohybrid ISO, where the GPT only has
 * "basic data" entries), then a GPT entry with the ESP type GUID, then a bare FAT image.
 */
export function findEsp(table: PartitionTable, deviceSize: number): EspLocation {
  const candidates: EspLocation[] = [];
  for (const e of table.mbr) {
    if (e.type === ESP_MBR_TYPE)
      candidates.push({ partition: e.number, source: 'mbr', offset: e.start, size: e.size });
  }
  if (candidates.length === 0) {
    for (const e of table.gpt) {
      if (e.typeGuid === ESP_GPT_TYPE)
        candidates.push({ partition: e.number, source: 'gpt', offset: e.start, size: e.size });
    }
  }
  if (candidates.length === 0 && table.superfloppy) {
    candidates.push({ partition: 0, source: 'whole-device', offset: 0, size: deviceSize });
  }
  const esp = candidates[0];
  if (!esp) {
    throw targetError(
      'ZFLASH_NO_ESP',
      `There is no EFI System Partition ${table.of === 'drive' ? 'on the drive' : 'in the image'} (no MBR entry of type 0xEF and no GPT entry of the ESP type), so there is nowhere to put the node's identity.`,
      table.of === 'drive'
        ? 'Flash the stick from a NixOS installer image first, then inject.'
        : 'Use a NixOS installer image (the Zeta installer ISO); other images need an EFI partition.',
      {
        table: table.kind,
        mbr: table.mbr.map((e) => e.type),
        gpt: table.gpt.map((e) => e.typeGuid),
      },
    );
  }
  if (candidates.length > 1) {
    // Several ESPs would make "which one did the node read?" a guess: refuse plainly.
    throw targetError(
      'ZFLASH_MANY_ESPS',
      `${table.of === 'drive' ? 'The drive' : 'The image'} has ${candidates.length} EFI System Partitions; Zeta Flash cannot tell which one the node boots from.`,
      'Use an unmodified NixOS installer image.',
      { partitions: candidates.map((c) => c.partition) },
    );
  }
  if (esp.offset + esp.size > deviceSize) {
    throw targetError(
      'ZFLASH_IMAGE_TRUNCATED',
      table.of === 'drive'
        ? `The EFI System Partition ends at byte ${esp.offset + esp.size}, past the end of the drive (${deviceSize} bytes): the stick holds less than its table says.`
        : `The EFI System Partition ends at byte ${esp.offset + esp.size}, past the end of the image (${deviceSize} bytes): the image is truncated.`,
      table.of === 'drive'
        ? 'Flash the stick again from a complete image.'
        : 'Download the image again; the file is incomplete.',
      { espEnd: esp.offset + esp.size, size: deviceSize },
    );
  }
  return esp;
}
