/** Finding and opening the ESP of an image, drive or overlay: the tables, then the FAT inside. */
import { RangeDevice, type ByteDevice } from './device.js';
import { FatVolume, type FatType } from './fat.js';
import {
  findEsp,
  readPartitionTable,
  type EspLocation,
  type PartitionTable,
} from './partition-table.js';

export interface OpenEsp {
  readonly table: PartitionTable;
  readonly location: EspLocation;
  readonly volume: FatVolume;
}

export async function openEsp(dev: ByteDevice): Promise<OpenEsp> {
  const table = await readPartitionTable(dev);
  const location = findEsp(table, dev.size);
  const volume = await FatVolume.open(new RangeDevice(dev, location.offset, location.size));
  return { table, location, volume };
}

/** The `esp` block of `zflash inspect --json` and of ImageInfo. */
export interface EspSummary {
  readonly partition: number;
  readonly source: EspLocation['source'];
  readonly offset: number;
  readonly size: number;
  readonly fatType: `FAT${FatType}`;
  readonly label: string;
  readonly serial: string;
  readonly freeBytes: number;
  readonly clusterSize: number;
  readonly fatsIdentical: boolean;
}

export async function summarizeEsp(esp: OpenEsp): Promise<EspSummary> {
  return {
    partition: esp.location.partition,
    source: esp.location.source,
    offset: esp.location.offset,
    size: esp.location.size,
    fatType: `FAT${esp.volume.fatType}`,
    label: esp.volume.label,
    serial: esp.volume.serial,
    freeBytes: esp.volume.freeBytes,
    clusterSize: esp.volume.geometry.clusterSize,
    fatsIdentical: await esp.volume.fatsIdentical(),
  };
}
