/**
 * FAT12/16/32: read the root directory and files, and create or replace files in the
 * root with long names — keeping every FAT copy identical.
 *
 * Our own code, not a library, because of the media: the NixOS ESP is FAT12 (mkfs.vfat at
 * ~110% of its contents, DESIGN.md), and the `fatfs` npm package updates only the first
 * FAT copy, after which `fsck.fat -n` reports "FATs differ". Raspberry Pi Imager's FAT
 * code has no FAT12 at all. This module is small because it only ever touches the root
 * directory. A change is a plan (`planRootFiles`: computed on copies, every refusal — no
 * space, no directory slots, corrupt chains — happens there, nothing is written) and a commit
 * (`commitPlan`: writes the planned sectors, only those that differ from the device).
 */
import { ZflashError, targetError } from '../errors.js';
import type { ByteDevice, Extent } from './device.js';

export type FatType = 12 | 16 | 32;

export interface FatGeometry {
  readonly fatType: FatType;
  readonly bytesPerSector: number;
  readonly sectorsPerCluster: number;
  readonly clusterSize: number;
  readonly reservedSectors: number;
  readonly numFats: number;
  readonly sectorsPerFat: number;
  readonly rootEntries: number; // FAT12/16 fixed root; 0 on FAT32
  readonly rootDirOffset: number; // bytes, FAT12/16
  readonly dataOffset: number; // bytes, cluster 2
  readonly clusterCount: number;
  readonly rootCluster: number; // FAT32
  readonly fsInfoSector: number; // FAT32, 0 if none
  readonly totalBytes: number;
}

export interface FatDirEntry {
  /** The long name when there is a valid one, else the 8.3 name as the OS shows it. */
  readonly name: string;
  readonly shortName: string;
  readonly attributes: number;
  readonly isDirectory: boolean;
  readonly size: number;
  readonly firstCluster: number;
  /** Index of the first slot (first LFN slot, or the 8.3 slot) and the number of slots. */
  readonly slot: number;
  readonly slotCount: number;
}

export interface NewFile {
  readonly name: string;
  readonly data: Uint8Array;
}

const ATTR_READ_ONLY = 0x01;
const ATTR_VOLUME_ID = 0x08;
const ATTR_DIRECTORY = 0x10;
const ATTR_ARCHIVE = 0x20;
const ATTR_LFN = 0x0f;
const DELETED = 0xe5;
const SLOT = 32;

function corrupt(message: string, details?: Record<string, unknown>) {
  return targetError(
    'ZFLASH_ESP_CORRUPT',
    `The EFI System Partition's FAT filesystem is damaged: ${message}`,
    'Flash the stick again from the original image, or use an unmodified image file.',
    details,
  );
}

/**
 * FAT32 is the volume whose 16-bit FAT size field (BPB_FATSz16) is 0 and 32-bit one is not,
 * whatever its cluster count; below that, 12 or 16 bits by cluster count. This is what the
 * readers that boot and check our sticks do: Linux `fat_fill_super` (fs/fat/inode.c: "if
 * (!sbi->fat_length && bpb.fat32_length)" → fat_bits = 32, else 16 when total_clusters >
 * MAX_FAT12 = 4084), dosfstools `read_boot` (src/boot.c, same test; it only warns that such a
 * FAT32 has fewer than 65 525 clusters) and EDK2's FAT driver (FatPkg/EnhancedFatDxe/Init.c
 * `FatOpenDevice`: SectorsPerFat == 0 → Fat32). Microsoft's specification
 * decides by cluster count alone, and so does mtools — which is why `mkfs.vfat -F 32` on a
 * small or 4K-sector disk (fewer than 65 525 clusters) reads as FAT16 there and cannot be
 * written by mtools. A 16-bit FAT with 65 525 clusters or more is refused by both the kernel
 * ("count of clusters too big") and dosfstools ("Too many clusters for FAT16").
 */
export function fatTypeOf(fat16Size: number, fat32Size: number, clusterCount: number): FatType {
  if (fat16Size === 0 && fat32Size !== 0) return 32;
  if (clusterCount >= 65525) {
    throw corrupt(
      `its boot sector gives a 16-bit FAT size but ${clusterCount} clusters, more than FAT16 can address.`,
      { clusterCount },
    );
  }
  return clusterCount < 4085 ? 12 : 16;
}

export function parseGeometry(bs: Buffer, partitionSize: number): FatGeometry {
  const bytesPerSector = bs.readUInt16LE(11);
  const sectorsPerCluster = bs[13] ?? 0;
  const reservedSectors = bs.readUInt16LE(14);
  const numFats = bs[16] ?? 0;
  const rootEntries = bs.readUInt16LE(17);
  const total16 = bs.readUInt16LE(19);
  const fat16Size = bs.readUInt16LE(22);
  const total32 = bs.readUInt32LE(32);
  const fat32Size = bs.readUInt32LE(36);
  const valid =
    (bs[0] === 0xeb || bs[0] === 0xe9) &&
    [512, 1024, 2048, 4096].includes(bytesPerSector) &&
    sectorsPerCluster > 0 &&
    (sectorsPerCluster & (sectorsPerCluster - 1)) === 0 &&
    reservedSectors > 0 &&
    numFats >= 1;
  if (!valid) {
    throw targetError(
      'ZFLASH_ESP_NOT_FAT',
      'The EFI System Partition does not hold a FAT filesystem.',
      'Use an unmodified NixOS installer image; this partition is not readable as FAT.',
    );
  }
  const sectorsPerFat = fat16Size !== 0 ? fat16Size : fat32Size;
  const totalSectors = total16 !== 0 ? total16 : total32;
  const rootDirSectors = Math.ceil((rootEntries * SLOT) / bytesPerSector);
  const firstDataSector = reservedSectors + numFats * sectorsPerFat + rootDirSectors;
  if (sectorsPerFat === 0 || totalSectors <= firstDataSector) {
    throw corrupt('its boot sector describes an impossible layout.', {
      sectorsPerFat,
      totalSectors,
    });
  }
  const clusterCount = Math.floor((totalSectors - firstDataSector) / sectorsPerCluster);
  const fatType = fatTypeOf(fat16Size, fat32Size, clusterCount);
  if (totalSectors * bytesPerSector > partitionSize) {
    throw targetError(
      'ZFLASH_IMAGE_TRUNCATED',
      `The FAT filesystem claims ${totalSectors * bytesPerSector} bytes but its partition holds only ${partitionSize}.`,
      'The image looks truncated; download it again.',
    );
  }
  const fatBytesNeeded = Math.ceil(((clusterCount + 2) * fatType) / 8);
  if (sectorsPerFat * bytesPerSector < fatBytesNeeded) {
    throw corrupt('its FAT is smaller than its cluster count needs.');
  }
  return {
    fatType,
    bytesPerSector,
    sectorsPerCluster,
    clusterSize: bytesPerSector * sectorsPerCluster,
    reservedSectors,
    numFats,
    sectorsPerFat,
    rootEntries: fatType === 32 ? 0 : rootEntries,
    rootDirOffset: (reservedSectors + numFats * sectorsPerFat) * bytesPerSector,
    dataOffset: firstDataSector * bytesPerSector,
    clusterCount,
    rootCluster: fatType === 32 ? bs.readUInt32LE(44) : 0,
    fsInfoSector: fatType === 32 ? bs.readUInt16LE(48) : 0,
    totalBytes: totalSectors * bytesPerSector,
  };
}

/** The File Allocation Table as bytes, with typed get/set for each FAT width. */
export class FatTable {
  constructor(
    readonly type: FatType,
    readonly bytes: Buffer,
  ) {}
  get(n: number): number {
    switch (this.type) {
      case 12: {
        const v = this.bytes.readUInt16LE(n + (n >> 1));
        return n & 1 ? v >> 4 : v & 0xfff;
      }
      case 16:
        return this.bytes.readUInt16LE(n * 2);
      case 32:
        return this.bytes.readUInt32LE(n * 4) & 0x0fffffff;
    }
  }
  set(n: number, value: number): void {
    switch (this.type) {
      case 12: {
        const off = n + (n >> 1);
        const v = this.bytes.readUInt16LE(off);
        this.bytes.writeUInt16LE(n & 1 ? (v & 0x000f) | (value << 4) : (v & 0xf000) | value, off);
        return;
      }
      case 16:
        this.bytes.writeUInt16LE(value, n * 2);
        return;
      case 32: {
        // The top four bits are reserved and must be preserved.
        const v = this.bytes.readUInt32LE(n * 4);
        this.bytes.writeUInt32LE(((v & 0xf0000000) | (value & 0x0fffffff)) >>> 0, n * 4);
        return;
      }
    }
  }
  get endOfChain(): number {
    return this.type === 12 ? 0xfff : this.type === 16 ? 0xffff : 0x0fffffff;
  }
  isEnd(v: number): boolean {
    return v >= (this.type === 12 ? 0xff8 : this.type === 16 ? 0xfff8 : 0x0ffffff8);
  }
  clone(): FatTable {
    return new FatTable(this.type, Buffer.from(this.bytes));
  }
}

function lfnChecksum(shortName: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + (shortName[i] ?? 0)) & 0xff;
  return sum;
}

function shortNameDisplay(raw: Buffer, ntRes: number): string {
  let base = raw.toString('latin1', 0, 8).trimEnd();
  let ext = raw.toString('latin1', 8, 11).trimEnd();
  if (base.charCodeAt(0) === 0x05) base = '\u00e5' + base.slice(1);
  // Windows NT case bits: 0x08 base lowercase, 0x10 extension lowercase.
  if (ntRes & 0x08) base = base.toLowerCase();
  if (ntRes & 0x10) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}

const SFN_INVALID = /[^A-Z0-9!#$%&'()@^_`{}~\-\u0080-\u00ff]/g;
// Control characters are exactly what a long file name may not hold.
// eslint-disable-next-line no-control-regex
const LFN_INVALID = /[\\/:*?"<>|\u0000-\u001f]/;

/** `name` is stored as a plain upper-case 8.3 entry with no long name only if it already is one. */
function isPlainShortName(name: string): boolean {
  const m = /^([^.]{1,8})(?:\.([^.]{1,3}))?$/.exec(name);
  if (!m) return false;
  return (
    (m[1] ?? '').replace(SFN_INVALID, '') === m[1] &&
    (m[2] ?? '').replace(SFN_INVALID, '') === (m[2] ?? '')
  );
}

function encodeShort(base: string, ext: string): Buffer {
  return Buffer.from(base.padEnd(8, ' ') + ext.padEnd(3, ' '), 'latin1');
}

/** Windows-style numeric-tail 8.3 alias ("zeta-authorized-keys.pub" → "ZETA-A~1.PUB"). */
function makeShortAlias(longName: string, taken: ReadonlySet<string>): Buffer {
  const dot = longName.lastIndexOf('.');
  const rawBase = dot > 0 ? longName.slice(0, dot) : longName;
  const rawExt = dot > 0 ? longName.slice(dot + 1) : '';
  const clean = (s: string) => s.toUpperCase().replace(/[ .]/g, '').replace(SFN_INVALID, '_');
  const base = clean(rawBase) || '_';
  const ext = clean(rawExt).slice(0, 3);
  for (let n = 1; n < 1_000_000; n++) {
    const tail = `~${n}`;
    const candidate = encodeShort(base.slice(0, 8 - tail.length) + tail, ext);
    if (!taken.has(candidate.toString('latin1'))) return candidate;
  }
  throw corrupt('no free 8.3 alias is left in the root directory.');
}

function fatDateTime(d: Date): { date: number; time: number } {
  const year = Math.min(Math.max(d.getFullYear(), 1980), 2107);
  return {
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
  };
}

function lfnSlotsFor(name: string): number {
  return Math.ceil(name.length / 13);
}

export class FatVolume {
  private constructor(
    private readonly dev: ByteDevice,
    readonly geometry: FatGeometry,
    private readonly bootSector: Buffer,
    private fat: FatTable,
    /** Root directory bytes (whole fixed region, or the concatenated FAT32 chain). */
    private root: Buffer,
    private rootClusters: number[],
  ) {}

  /** Bumped by every commit, so a plan made before it is refused. */
  private generation = 0;
  /** Set while a commit is writing; stays set if it failed part-way. */
  private broken = false;

  static async open(dev: ByteDevice): Promise<FatVolume> {
    if (dev.size < 512) throw corrupt('the partition is too small to hold a boot sector.');
    const bs = await dev.read(0, 512);
    const g = parseGeometry(bs, dev.size);
    const fatBytes = await dev.read(
      g.reservedSectors * g.bytesPerSector,
      g.sectorsPerFat * g.bytesPerSector,
    );
    const fat = new FatTable(g.fatType, fatBytes);
    const vol = new FatVolume(dev, g, bs, fat, Buffer.alloc(0), []);
    if (g.fatType === 32) {
      vol.rootClusters = vol.chain(g.rootCluster);
      vol.root = await vol.readClusters(vol.rootClusters);
    } else {
      vol.root = await dev.read(g.rootDirOffset, g.rootEntries * SLOT);
    }
    return vol;
  }

  get fatType(): FatType {
    return this.geometry.fatType;
  }

  /** Volume label: the root directory's label entry (what `mlabel`/blkid show), else the boot sector's. */
  get label(): string {
    for (let i = 0; i < this.root.length / SLOT; i++) {
      const e = this.root.subarray(i * SLOT, (i + 1) * SLOT);
      if (e[0] === 0) break;
      if (e[0] === DELETED) continue;
      if (((e[11] ?? 0) & 0x3f) !== ATTR_LFN && ((e[11] ?? 0) & ATTR_VOLUME_ID) !== 0) {
        return e.toString('latin1', 0, 11).trimEnd();
      }
    }
    const off = this.fatType === 32 ? 71 : 43;
    return this.bootSector.toString('latin1', off, off + 11).trimEnd();
  }

  get serial(): string {
    const v = this.bootSector.readUInt32LE(this.fatType === 32 ? 67 : 39);
    const hex = v.toString(16).toUpperCase().padStart(8, '0');
    return `${hex.slice(0, 4)}-${hex.slice(4)}`;
  }

  freeClusters(fat: FatTable = this.fat): number {
    let free = 0;
    for (let c = 2; c < this.geometry.clusterCount + 2; c++) if (fat.get(c) === 0) free++;
    return free;
  }

  get freeBytes(): number {
    return this.freeClusters() * this.geometry.clusterSize;
  }

  /** Whether every FAT copy on the device equals the first (what fsck.fat checks). */
  async fatsIdentical(): Promise<boolean> {
    const g = this.geometry;
    const len = g.sectorsPerFat * g.bytesPerSector;
    for (let i = 1; i < g.numFats; i++) {
      const copy = await this.dev.read(
        (g.reservedSectors + i * g.sectorsPerFat) * g.bytesPerSector,
        len,
      );
      if (!copy.equals(this.fat.bytes)) return false;
    }
    return true;
  }

  private chain(first: number, fat: FatTable = this.fat): number[] {
    const out: number[] = [];
    const max = this.geometry.clusterCount + 1;
    let c = first;
    while (true) {
      if (c < 2 || c > max)
        throw corrupt(`a cluster chain points to cluster ${c}, outside 2..${max}.`, { cluster: c });
      out.push(c);
      if (out.length > this.geometry.clusterCount)
        throw corrupt('a cluster chain loops.', { first });
      const next = fat.get(c);
      if (fat.isEnd(next)) return out;
      if (next === 0) throw corrupt(`a cluster chain runs into free cluster ${c}.`, { cluster: c });
      c = next;
    }
  }

  private clusterOffset(c: number): number {
    return this.geometry.dataOffset + (c - 2) * this.geometry.clusterSize;
  }

  private async readClusters(clusters: readonly number[]): Promise<Buffer> {
    const size = this.geometry.clusterSize;
    const out = Buffer.alloc(clusters.length * size);
    // Coalesce runs of consecutive clusters into one read each.
    for (let i = 0; i < clusters.length;) {
      let j = i + 1;
      while (j < clusters.length && clusters[j] === (clusters[j - 1] ?? 0) + 1) j++;
      const first = clusters[i] ?? 2;
      (await this.dev.read(this.clusterOffset(first), (j - i) * size)).copy(out, i * size);
      i = j;
    }
    return out;
  }

  /** Live entries of the root directory (volume label and deleted slots excluded). */
  listRoot(root: Buffer = this.root): FatDirEntry[] {
    const out: FatDirEntry[] = [];
    let lfnParts: string[] = [];
    let lfnStart = -1;
    let lfnSum = -1;
    let lfnExpect = 0;
    const slots = root.length / SLOT;
    for (let i = 0; i < slots; i++) {
      const e = root.subarray(i * SLOT, (i + 1) * SLOT);
      const first = e[0] ?? 0;
      if (first === 0) break;
      if (first === DELETED) {
        lfnParts = [];
        continue;
      }
      const attr = e[11] ?? 0;
      if ((attr & 0x3f) === ATTR_LFN) {
        const ord = first & 0x1f;
        if (first & 0x40) {
          lfnParts = [];
          lfnStart = i;
          lfnSum = e[13] ?? -1;
        } else if (ord !== lfnExpect || e[13] !== lfnSum) {
          lfnParts = [];
          continue;
        }
        const chars = Buffer.concat([
          e.subarray(1, 11),
          e.subarray(14, 26),
          e.subarray(28, 32),
        ]).toString('utf16le');
        lfnParts[ord - 1] = chars;
        lfnExpect = ord - 1;
        continue;
      }
      if (attr & ATTR_VOLUME_ID) {
        lfnParts = [];
        continue;
      }
      const shortRaw = e.subarray(0, 11);
      let name = shortNameDisplay(shortRaw, e[12] ?? 0);
      let slot = i;
      if (lfnParts.length > 0 && lfnExpect === 0 && lfnSum === lfnChecksum(shortRaw)) {
        const long = lfnParts.join('');
        const end = long.indexOf('\0');
        name = (end >= 0 ? long.slice(0, end) : long) || name; // an empty long name is none, as in mdir
        slot = lfnStart;
      }
      lfnParts = [];
      const firstCluster =
        (this.fatType === 32 ? e.readUInt16LE(20) * 0x10000 : 0) + e.readUInt16LE(26);
      out.push({
        name,
        shortName: shortRaw.toString('latin1'),
        attributes: attr,
        isDirectory: (attr & ATTR_DIRECTORY) !== 0,
        size: e.readUInt32LE(28),
        firstCluster,
        slot,
        slotCount: i - slot + 1,
      });
    }
    return out;
  }

  findInRoot(name: string): FatDirEntry | undefined {
    const want = name.toLowerCase();
    return this.listRoot().find((e) => e.name.toLowerCase() === want);
  }

  /** The contents of a file in the root directory, or null when there is none. */
  async readFile(name: string): Promise<Buffer | null> {
    const entry = this.findInRoot(name);
    if (!entry || entry.isDirectory) return null;
    if (entry.size === 0) return Buffer.alloc(0);
    const clusters = this.chain(entry.firstCluster);
    if (clusters.length * this.geometry.clusterSize < entry.size) {
      throw corrupt(`the file ${name} is shorter on disk than its directory entry says.`, { name });
    }
    return (await this.readClusters(clusters)).subarray(0, entry.size);
  }

  /**
   * Plans creating or replacing `files` in the root directory: every change is computed on
   * copies of the FAT and the directory, every refusal (bad name, a folder or read-only file in
   * the way, no space, no directory slots, a damaged chain) happens here, and nothing is
   * written. The plan lists the sectors that differ from what is on the device now, in the
   * order `commitPlan` writes them.
   */
  async planRootFiles(files: readonly NewFile[], options: { now?: Date } = {}): Promise<FatPlan> {
    this.assertUsable();
    const g = this.geometry;
    const now = options.now ?? new Date();
    checkNames(files);

    const fat = this.fat.clone();
    let root = Buffer.from(this.root);
    const rootClusters = [...this.rootClusters];
    const existing = this.listRoot(root);

    // 1. Remove the entries being replaced and free their clusters (in the copies).
    for (const f of files) {
      const old = existing.find((e) => e.name.toLowerCase() === f.name.toLowerCase());
      if (!old) continue;
      if (old.isDirectory || old.attributes & ATTR_READ_ONLY) {
        throw targetError(
          'ZFLASH_ESP_NAME_TAKEN',
          `The EFI partition already has ${old.isDirectory ? 'a folder' : 'a read-only file'} named ${old.name}.`,
          'Use an unmodified installer image; Zeta Flash will not overwrite it.',
        );
      }
      if (old.firstCluster !== 0) for (const c of this.chain(old.firstCluster, fat)) fat.set(c, 0);
      for (let s = old.slot; s < old.slot + old.slotCount; s++) root[s * SLOT] = DELETED;
    }

    // 2. Clusters: first fit, lowest numbers first, so a re-inject reuses what it freed.
    let nextFree = 2;
    let allocated = false;
    const takeCluster = (): number => {
      for (let c = nextFree; c < g.clusterCount + 2; c++) {
        if (fat.get(c) === 0) {
          nextFree = c + 1;
          allocated = true;
          return c;
        }
      }
      return -1;
    };
    const neededBytes = files.reduce(
      (n, f) => n + Math.ceil(f.data.length / g.clusterSize) * g.clusterSize,
      0,
    );
    // Counted before any cluster is taken: the sentence speaks of the space there was.
    const freeBytes = this.freeClusters(fat) * g.clusterSize;
    const noSpace = () =>
      targetError(
        'ZFLASH_ESP_FULL',
        `The EFI partition has ${freeBytes} bytes free after removing the old node files, but the new ones need ${neededBytes}.`,
        'Remove Wi-Fi or extra keys to make the payload smaller, or use an installer image with a larger EFI partition.',
        { neededBytes, freeBytes },
      );

    const taken = new Set(this.listRoot(root).map((e) => e.shortName));
    const { date, time } = fatDateTime(now);
    const data: { cluster: number; bytes: Buffer }[] = [];
    const newRootClusters = new Set<number>();

    for (const f of files) {
      // 3. Directory slots: the first run of free slots that fits; a FAT32 root grows by a
      // cluster when none does, a FAT12/16 root is fixed.
      const plain = isPlainShortName(f.name);
      const slotsNeeded = plain ? 1 : lfnSlotsFor(f.name) + 1;
      let at = freeRun(root, slotsNeeded);
      while (at < 0) {
        if (g.fatType !== 32) {
          throw targetError(
            'ZFLASH_ESP_ROOT_FULL',
            `The EFI partition's root directory has no room for ${slotsNeeded} more entries (FAT${g.fatType} roots hold a fixed ${g.rootEntries}).`,
            'Use an unmodified installer image; this one has too many files in the root of its EFI partition.',
            { slotsNeeded, rootEntries: g.rootEntries },
          );
        }
        const c = takeCluster();
        if (c < 0) throw noSpace();
        fat.set(rootClusters[rootClusters.length - 1] ?? g.rootCluster, c);
        fat.set(c, fat.endOfChain);
        rootClusters.push(c);
        newRootClusters.add(c);
        root = Buffer.concat([root, Buffer.alloc(g.clusterSize)]);
        at = freeRun(root, slotsNeeded);
      }

      // 4. Data clusters, zero-padded to whole clusters.
      const count = Math.ceil(f.data.length / g.clusterSize);
      const clusters: number[] = [];
      for (let i = 0; i < count; i++) {
        const c = takeCluster();
        if (c < 0) throw noSpace();
        if (clusters.length > 0) fat.set(clusters[clusters.length - 1] ?? 0, c);
        fat.set(c, fat.endOfChain);
        clusters.push(c);
        const chunk = Buffer.alloc(g.clusterSize);
        chunk.set(f.data.subarray(i * g.clusterSize, (i + 1) * g.clusterSize));
        data.push({ cluster: c, bytes: chunk });
      }

      // 5. Directory entries.
      const short = plain ? plainShortName(f.name) : makeShortAlias(f.name, taken);
      taken.add(short.toString('latin1'));
      writeEntries(root, at, f.name, plain, short, {
        firstCluster: clusters[0] ?? 0,
        size: f.data.length,
        fat32: g.fatType === 32,
        date,
        time,
      });
    }

    // 6. The sectors that change, compared with what the device holds now, in write order:
    // data, directory, every FAT copy, FSInfo. A sector equal on the device is not written,
    // so a re-inject of the same payload writes (almost) nothing and no other byte changes.
    const writes: Extent[] = [];
    for (const run of clusterRuns(data.map((d) => d.cluster))) {
      const next = Buffer.concat(data.slice(run.index, run.index + run.count).map((d) => d.bytes));
      const offset = this.clusterOffset(run.first);
      writes.push(...this.changedSectors(offset, await this.dev.read(offset, next.length), next));
    }
    if (g.fatType === 32) {
      for (let i = 0; i < rootClusters.length; i++) {
        const c = rootClusters[i] ?? 0;
        const next = root.subarray(i * g.clusterSize, (i + 1) * g.clusterSize);
        const offset = this.clusterOffset(c);
        const prev = newRootClusters.has(c)
          ? await this.dev.read(offset, g.clusterSize)
          : this.root.subarray(i * g.clusterSize, (i + 1) * g.clusterSize);
        writes.push(...this.changedSectors(offset, prev, next));
      }
    } else {
      writes.push(...this.changedSectors(g.rootDirOffset, this.root, root));
    }
    for (let copy = 0; copy < g.numFats; copy++) {
      const base = (g.reservedSectors + copy * g.sectorsPerFat) * g.bytesPerSector;
      // Each copy is compared with what is really on disk, so all copies end identical
      // even when an earlier tool (the `fatfs` package) left them different.
      const current = copy === 0 ? this.fat.bytes : await this.dev.read(base, fat.bytes.length);
      writes.push(...this.changedSectors(base, current, fat.bytes));
    }
    if (g.fatType === 32 && g.fsInfoSector > 0 && g.fsInfoSector < g.reservedSectors) {
      const offset = g.fsInfoSector * g.bytesPerSector;
      const info = await this.dev.read(offset, g.bytesPerSector);
      // FSInfo (Microsoft FAT spec): lead signature at 0, structure signature at 484, free
      // cluster count at 488, next-free hint at 492. fsck.fat checks the count.
      if (info.readUInt32LE(0) === 0x41615252 && info.readUInt32LE(484) === 0x61417272) {
        const next = Buffer.from(info);
        next.writeUInt32LE(this.freeClusters(fat), 488);
        if (allocated)
          next.writeUInt32LE(nextFree < g.clusterCount + 2 ? nextFree : 0xffffffff, 492);
        writes.push(...this.changedSectors(offset, info, next));
      }
    }
    return { volume: this, generation: this.generation, writes, fat, root, rootClusters };
  }

  /**
   * Writes a plan made by `planRootFiles` on this volume, in its order. Refuses a plan made
   * before another commit (its sectors were computed against bytes that have since changed).
   */
  async commitPlan(plan: FatPlan): Promise<void> {
    if (plan.volume !== this || plan.generation !== this.generation) {
      throw new ZflashError(
        'bug',
        'ZFLASH_INTERNAL',
        'A FAT write plan was committed after the filesystem had changed since it was made.',
        'This is a bug in Zeta Flash; report it.',
      );
    }
    this.assertUsable();
    // Until every sector is written the state in memory is neither the old nor the new one:
    // a failed commit leaves the volume refusing further plans (reopen it to go on).
    this.generation += 1;
    this.broken = true;
    for (const w of plan.writes) await this.dev.write(w.offset, w.data);
    this.fat = plan.fat;
    this.root = plan.root;
    this.rootClusters = [...plan.rootClusters];
    this.broken = false;
  }

  /** Creates or replaces files in the root directory: plan (all refusals), then commit. */
  async writeRootFiles(files: readonly NewFile[], options: { now?: Date } = {}): Promise<void> {
    await this.commitPlan(await this.planRootFiles(files, options));
  }

  private assertUsable(): void {
    if (this.broken) {
      throw new ZflashError(
        'bug',
        'ZFLASH_INTERNAL',
        'An earlier write to this FAT filesystem failed part-way; it must be opened again.',
        'This is a bug in Zeta Flash; report it.',
      );
    }
  }

  /** The sectors of `next` that differ from `prev`, as runs (all of `next` when they all differ). */
  private changedSectors(base: number, prev: Buffer, next: Buffer): Extent[] {
    const bps = this.geometry.bytesPerSector;
    const same = (off: number) =>
      next.subarray(off, off + bps).equals(prev.subarray(off, off + bps));
    const out: Extent[] = [];
    for (let off = 0; off < next.length;) {
      if (same(off)) {
        off += bps;
        continue;
      }
      let end = off + bps;
      while (end < next.length && !same(end)) end += bps;
      out.push({ offset: base + off, data: Buffer.from(next.subarray(off, end)) });
      off = end;
    }
    return out;
  }
}

/**
 * What `planRootFiles` computed: the sector runs to write, in order, and the FAT and root
 * directory as they will be once written. Holds no device handle of its own.
 */
export interface FatPlan {
  readonly volume: FatVolume;
  readonly generation: number;
  readonly writes: readonly Extent[];
  readonly fat: FatTable;
  readonly root: Buffer;
  readonly rootClusters: readonly number[];
}

function checkNames(files: readonly NewFile[]): void {
  const names = new Set<string>();
  for (const f of files) {
    if (!f.name || f.name.length > 255 || LFN_INVALID.test(f.name) || /^[. ]|[. ]$/.test(f.name)) {
      throw targetError(
        'ZFLASH_FAT_BAD_NAME',
        `"${f.name}" cannot be a FAT file name.`,
        'This is a bug in Zeta Flash; report it.',
      );
    }
    if (names.has(f.name.toLowerCase())) {
      throw targetError(
        'ZFLASH_FAT_BAD_NAME',
        `"${f.name}" is listed twice.`,
        'This is a bug in Zeta Flash; report it.',
      );
    }
    names.add(f.name.toLowerCase());
  }
}

/** Index of the first run of `count` free (never used or deleted) slots, or -1. */
function freeRun(buf: Buffer, count: number): number {
  let run = 0;
  for (let i = 0; i < buf.length / SLOT; i++) {
    const b = buf[i * SLOT];
    if (b === 0 || b === DELETED) {
      run++;
      if (run === count) return i - count + 1;
    } else run = 0;
  }
  return -1;
}

/** Consecutive cluster numbers grouped, so each run is read and compared in one go. */
function clusterRuns(
  clusters: readonly number[],
): { first: number; index: number; count: number }[] {
  const runs: { first: number; index: number; count: number }[] = [];
  for (let i = 0; i < clusters.length;) {
    let j = i + 1;
    while (j < clusters.length && clusters[j] === (clusters[j - 1] ?? 0) + 1) j++;
    runs.push({ first: clusters[i] ?? 2, index: i, count: j - i });
    i = j;
  }
  return runs;
}

function plainShortName(name: string): Buffer {
  const dot = name.indexOf('.');
  return dot < 0 ? encodeShort(name, '') : encodeShort(name.slice(0, dot), name.slice(dot + 1));
}

/** Writes the LFN slots (unless `plain`) and the 8.3 entry of one file at slot `at`. */
function writeEntries(
  root: Buffer,
  at: number,
  name: string,
  plain: boolean,
  short: Buffer,
  e: { firstCluster: number; size: number; fat32: boolean; date: number; time: number },
): void {
  const sfn = Buffer.alloc(SLOT);
  short.copy(sfn, 0);
  sfn[11] = ATTR_ARCHIVE;
  sfn.writeUInt16LE(e.time, 14);
  sfn.writeUInt16LE(e.date, 16);
  sfn.writeUInt16LE(e.date, 18);
  sfn.writeUInt16LE(e.fat32 ? e.firstCluster >>> 16 : 0, 20);
  sfn.writeUInt16LE(e.time, 22);
  sfn.writeUInt16LE(e.date, 24);
  sfn.writeUInt16LE(e.firstCluster & 0xffff, 26);
  sfn.writeUInt32LE(e.size, 28);
  let slot = at;
  if (!plain) {
    const n = lfnSlotsFor(name);
    const sum = lfnChecksum(short);
    const units = Buffer.alloc(n * 26, 0xff);
    units.write(name, 0, 'utf16le');
    if (name.length < n * 13) units.writeUInt16LE(0, name.length * 2);
    for (let k = n; k >= 1; k--) {
      const lfn = Buffer.alloc(SLOT);
      lfn[0] = k | (k === n ? 0x40 : 0);
      const part = units.subarray((k - 1) * 26, k * 26);
      part.copy(lfn, 1, 0, 10);
      lfn[11] = ATTR_LFN;
      lfn[13] = sum;
      part.copy(lfn, 14, 10, 22);
      part.copy(lfn, 28, 22, 26);
      lfn.copy(root, slot * SLOT);
      slot++;
    }
  }
  sfn.copy(root, slot * SLOT);
}
