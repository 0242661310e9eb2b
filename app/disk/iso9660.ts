/**
 * A small, bounded ISO 9660 reader: the volume ID and the files in the ROOT directory, with
 * their names as Rock Ridge (NM), Joliet or plain ISO 9660 records give them.
 *
 * Why our own: we need one small file at the root of an installer ISO (`zeta-installer.json`)
 * from an image file, a raw stick, or an in-memory prefix of a compressed image — without
 * mounting (macOS and Windows cannot mount a raw stick for us, Linux would need root) and
 * without a native tool on the user's machine. The npm ISO readers we looked at either walk
 * the whole tree, read from a path only, or do not bound what a damaged image can make them
 * read. This one reads the volume descriptors, one directory (the root) and one file, with a
 * hard limit on each, and never follows a pointer it has not range-checked.
 *
 * Facts it relies on (ECMA-119, SUSP 1.12, RRIP 1.12, Joliet): volume descriptors start at
 * 2048-byte sector 16, end with type 255; the root directory record is at offset 156 of the
 * primary (type 1) and of the Joliet supplementary (type 2, escape `%/@`, `%/C` or `%/E`)
 * descriptor; directory records never cross a logical sector, a zero length byte means "skip
 * to the next sector"; Rock Ridge names sit in NM entries of the system use area, which may
 * continue in a CE area; nixpkgs' make-iso9660-image.sh calls xorriso with `-r -joliet
 * -iso-level 3 -full-iso9660-filenames`, so its primary names are upper case with `_` for
 * `-` and a `;1` suffix, and its Rock Ridge / Joliet names are the real ones.
 */
import { targetError } from '../errors.js';
import type { ByteDevice } from './device.js';

const SECTOR = 2048;
const FIRST_DESCRIPTOR = 16 * SECTOR;
/** Real images carry 3–5 descriptors (primary, boot record, Joliet, terminator). */
const MAX_DESCRIPTORS = 32;
/** A NixOS root directory holds ~10 entries (a few KiB); 1 MiB is far beyond any real one. */
const MAX_ROOT_BYTES = 1024 * 1024;
/** Continuation areas chained from one record (xorriso uses at most one for long names). */
const MAX_CONTINUATIONS = 8;

export type IsoNameSource = 'rock-ridge' | 'joliet' | 'iso9660';

export interface IsoEntry {
  /** The name as the best available tree spells it (Rock Ridge, else Joliet, else ISO 9660). */
  readonly name: string;
  readonly directory: boolean;
  /** Byte offset of the file's data on the device. */
  readonly offset: number;
  readonly size: number;
  /** Several extents (a file larger than 4 GiB): not readable by `readIsoFile`. */
  readonly multiExtent: boolean;
}

export interface IsoVolume {
  /** The primary volume descriptor's volume ID, trailing blanks removed. */
  readonly volumeId: string;
  readonly blockSize: number;
  readonly nameSource: IsoNameSource;
  readonly root: readonly IsoEntry[];
}

function corrupt(what: string, details: Record<string, unknown> = {}) {
  return targetError(
    'ZFLASH_ISO_CORRUPT',
    `The image's ISO 9660 file system is damaged: ${what}.`,
    'The image is incomplete or corrupted (an interrupted download?). Download it again.',
    details,
  );
}

async function readChecked(
  dev: ByteDevice,
  offset: number,
  length: number,
  what: string,
): Promise<Buffer> {
  if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > dev.size) {
    throw corrupt(`the ${what} lies outside the ${dev.size}-byte image`, { offset, length });
  }
  return dev.read(offset, length);
}

/** The volume ID at 32 KiB, or null when `dev` holds no ISO 9660 volume. Reads one sector. */
export async function readIsoVolumeId(dev: ByteDevice): Promise<string | null> {
  if (dev.size < FIRST_DESCRIPTOR + SECTOR) return null;
  const pvd = await dev.read(FIRST_DESCRIPTOR, SECTOR);
  if (pvd[0] !== 1 || pvd.toString('latin1', 1, 6) !== 'CD001') return null;
  return pvd.toString('latin1', 40, 72).replace(/[\s\0]+$/, '');
}

interface Descriptors {
  readonly primary: Buffer;
  readonly joliet: Buffer | null;
}

async function readDescriptors(dev: ByteDevice): Promise<Descriptors | null> {
  let primary: Buffer | null = null;
  let joliet: Buffer | null = null;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const at = FIRST_DESCRIPTOR + i * SECTOR;
    if (at + SECTOR > dev.size) break;
    const d = await dev.read(at, SECTOR);
    if (d.toString('latin1', 1, 6) !== 'CD001') {
      if (i === 0) return null;
      break;
    }
    const type = d[0];
    if (type === 255) break;
    if (type === 1 && !primary) primary = d;
    if (
      type === 2 &&
      !joliet &&
      d[88] === 0x25 &&
      d[89] === 0x2f &&
      [0x40, 0x43, 0x45].includes(d[90] ?? 0)
    )
      joliet = d;
  }
  if (!primary) return null;
  return { primary, joliet };
}

interface RawRecord {
  readonly identifier: Buffer;
  readonly flags: number;
  readonly extent: number;
  readonly size: number;
  readonly systemUse: Buffer;
}

/** The records of one directory's data, "." and ".." included, bounded by `data`'s length. */
function parseRecords(data: Buffer): RawRecord[] {
  const out: RawRecord[] = [];
  let pos = 0;
  while (pos < data.length) {
    const len = data[pos] ?? 0;
    if (len === 0) {
      // Padding up to the next logical sector: records never cross one.
      pos = (Math.floor(pos / SECTOR) + 1) * SECTOR;
      continue;
    }
    if (len < 34 || pos + len > data.length) throw corrupt('a directory record is cut short');
    const rec = data.subarray(pos, pos + len);
    const nameLen = rec[32] ?? 0;
    if (33 + nameLen > len) throw corrupt('a file name runs past its directory record');
    const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    out.push({
      identifier: rec.subarray(33, 33 + nameLen),
      flags: rec[25] ?? 0,
      extent: rec.readUInt32LE(2),
      size: rec.readUInt32LE(10),
      systemUse: suStart < len ? rec.subarray(suStart) : Buffer.alloc(0),
    });
    pos += len;
  }
  return out;
}

const isSelfOrParent = (r: RawRecord) =>
  r.identifier.length === 1 && (r.identifier[0] === 0 || r.identifier[0] === 1);

/**
 * The Rock Ridge name from a record's system use area (following CE continuation areas a
 * bounded number of times), or null when it has none.
 */
async function rockRidgeName(
  dev: ByteDevice,
  su: Buffer,
  skip: number,
  blockSize: number,
): Promise<string | null> {
  const parts: Buffer[] = [];
  let found = false;
  let area = su.subarray(Math.min(skip, su.length));
  for (let hop = 0; hop <= MAX_CONTINUATIONS; hop++) {
    let next: { offset: number; length: number } | null = null;
    let pos = 0;
    while (pos + 4 <= area.length) {
      const sig = area.toString('latin1', pos, pos + 2);
      const len = area[pos + 2] ?? 0;
      if (len < 4 || pos + len > area.length) break;
      if (sig === 'NM' && len >= 5) {
        const flags = area[pos + 4] ?? 0;
        // CURRENT (2) and PARENT (4) name "." and ".."; never a root file's name.
        if ((flags & 6) === 0) {
          parts.push(area.subarray(pos + 5, pos + len));
          found = true;
        }
      } else if (sig === 'CE' && len >= 28) {
        next = {
          offset: area.readUInt32LE(pos + 4) * blockSize + area.readUInt32LE(pos + 12),
          length: area.readUInt32LE(pos + 20),
        };
      } else if (sig === 'ST') break;
      pos += len;
    }
    if (!next) break;
    if (next.length > SECTOR) throw corrupt('a Rock Ridge continuation area is too large');
    area = await readChecked(dev, next.offset, next.length, 'Rock Ridge continuation area');
  }
  return found ? Buffer.concat(parts).toString('utf8') : null;
}

/** "Skip" bytes before SUSP entries, from the root "." record's SP entry (0 without one). */
function suspSkip(self: RawRecord | undefined): { susp: boolean; skip: number } {
  const su = self?.systemUse;
  if (
    su &&
    su.length >= 7 &&
    su.toString('latin1', 0, 2) === 'SP' &&
    su[4] === 0xbe &&
    su[5] === 0xef
  )
    return { susp: true, skip: su[6] ?? 0 };
  return { susp: false, skip: 0 };
}

function rootRecordOf(descriptor: Buffer): { extent: number; size: number } {
  const rec = descriptor.subarray(156, 156 + 34);
  return { extent: rec.readUInt32LE(2), size: rec.readUInt32LE(10) };
}

async function readRootRecords(
  dev: ByteDevice,
  descriptor: Buffer,
  blockSize: number,
): Promise<RawRecord[]> {
  const { extent, size } = rootRecordOf(descriptor);
  if (size === 0 || size > MAX_ROOT_BYTES)
    throw corrupt(`its root directory claims ${size} bytes`, { size });
  return parseRecords(await readChecked(dev, extent * blockSize, size, 'root directory'));
}

function entryOf(r: RawRecord, name: string, blockSize: number): IsoEntry {
  return {
    name,
    directory: (r.flags & 0x02) !== 0,
    offset: r.extent * blockSize,
    size: r.size,
    multiExtent: (r.flags & 0x80) !== 0,
  };
}

/** A plain ISO 9660 identifier without its `;1` version and a trailing dot. */
const plainName = (id: Buffer) => id.toString('latin1').replace(/;\d+$/, '').replace(/\.$/, '');

/**
 * The volume ID and the root directory of `dev`, or null when it is not an ISO 9660 image.
 * A damaged volume throws ZFLASH_ISO_CORRUPT; nothing beyond the root directory is read.
 */
export async function readIsoVolume(dev: ByteDevice): Promise<IsoVolume | null> {
  const desc = await readDescriptors(dev);
  if (!desc) return null;
  const volumeId = desc.primary.toString('latin1', 40, 72).replace(/[\s\0]+$/, '');
  const blockSize = desc.primary.readUInt16LE(128);
  if (![512, 1024, 2048].includes(blockSize))
    throw corrupt(`its logical block size is ${blockSize}`, { blockSize });

  const primary = await readRootRecords(dev, desc.primary, blockSize);
  const { susp, skip } = suspSkip(primary.find(isSelfOrParent));
  if (susp) {
    const root: IsoEntry[] = [];
    let named = 0;
    for (const r of primary) {
      if (isSelfOrParent(r)) continue;
      const rr = await rockRidgeName(dev, r.systemUse, skip, blockSize);
      if (rr !== null) named++;
      root.push(entryOf(r, rr ?? plainName(r.identifier), blockSize));
    }
    if (named > 0 || root.length === 0)
      return { volumeId, blockSize, nameSource: 'rock-ridge', root };
  }
  if (desc.joliet) {
    const records = await readRootRecords(dev, desc.joliet, blockSize);
    const root = records
      .filter((r) => !isSelfOrParent(r))
      .map((r) => entryOf(r, ucs2be(r.identifier).replace(/;\d+$/, ''), blockSize));
    return { volumeId, blockSize, nameSource: 'joliet', root };
  }
  const root = primary
    .filter((r) => !isSelfOrParent(r))
    .map((r) => entryOf(r, plainName(r.identifier), blockSize));
  return { volumeId, blockSize, nameSource: 'iso9660', root };
}

function ucs2be(b: Buffer): string {
  const even = b.subarray(0, b.length - (b.length % 2));
  const le = Buffer.from(even);
  le.swap16();
  return le.toString('utf16le');
}

/**
 * The root entry called `name`. Rock Ridge and Joliet names compare exactly; plain ISO 9660
 * names (upper case, `_` for characters outside d-characters) compare the way xorriso maps.
 */
export function findRootEntry(volume: IsoVolume, name: string): IsoEntry | null {
  if (volume.nameSource !== 'iso9660') return volume.root.find((e) => e.name === name) ?? null;
  const want = name.toUpperCase().replace(/[^A-Z0-9_.]/g, '_');
  return volume.root.find((e) => e.name.toUpperCase() === want) ?? null;
}

/** A regular file's bytes, refusing anything larger than `maxBytes`. */
export async function readIsoFile(
  dev: ByteDevice,
  entry: IsoEntry,
  maxBytes: number,
): Promise<Buffer> {
  if (entry.directory) throw corrupt(`${entry.name} is a folder, not a file`);
  if (entry.multiExtent || entry.size > maxBytes) {
    throw targetError(
      'ZFLASH_ISO_CORRUPT',
      `${entry.name} in the image is ${entry.size} bytes, more than the ${maxBytes} expected.`,
      "The image is not what it claims to be; use an image from the project's releases.",
      { name: entry.name, size: entry.size, maxBytes },
    );
  }
  return readChecked(dev, entry.offset, entry.size, entry.name);
}
