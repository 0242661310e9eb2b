/**
 * Where the overlaid image goes: a drive (etcher-sdk's BlockDevice: unmounts first, opens
 * with O_DIRECT + O_EXCL on Linux and O_EXLOCK on macOS/Windows, aligned I/O) or an image
 * file for VMs (`--target FILE`). Reads for verification go through the same handle, so on
 * a drive they bypass the page cache (Etcher #1523: a verify that read the cache passed
 * instantly on a bad card).
 */
import { constants as fsc } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
// The one module, not the package index: the index pulls in all of etcher-sdk (usb, scanners,
// decompressors), ~240 ms and ~30 MiB of the helper's start-up (bench/flash.ts measured it).
import { BlockDevice } from 'etcher-sdk/build/source-destination/block-device.js';
import { fsError } from '../disk/device.js';
import { devNumberOf } from '../drives/index.js';
import { targetError } from '../errors.js';

const require = createRequire(import.meta.url);
const directIo = require('@ronomon/direct-io') as {
  getAlignedBuffer(size: number, alignment: number): Buffer;
};

export const ALIGNMENT = 4096;

/** A buffer whose memory address is aligned, as O_DIRECT requires. */
export function alignedBuffer(size: number): Buffer {
  return directIo.getAlignedBuffer(Math.ceil(size / ALIGNMENT) * ALIGNMENT, ALIGNMENT);
}

export interface Destination {
  readonly kind: 'drive' | 'file';
  readonly path: string;
  /** Bytes the destination can hold (a file target grows: Infinity). */
  readonly capacity: number;
  write(buf: Buffer, length: number, offset: number): Promise<void>;
  read(buf: Buffer, length: number, offset: number): Promise<number>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

class SyncableBlockDevice extends BlockDevice {
  async sync(): Promise<void> {
    await this.fileHandle.sync();
  }
  async rdev(): Promise<bigint> {
    return (await this.fileHandle.stat({ bigint: true })).rdev;
  }
}

export interface DriveTarget {
  readonly device: string;
  readonly raw: string;
  readonly size: number;
  readonly description?: string;
  readonly blockSize?: number;
  /** `MAJ:MIN` the drive policy judged; the opened handle must be that very device. */
  readonly deviceNumber?: string | null;
}

export async function openDriveDestination(drive: DriveTarget): Promise<Destination> {
  const bd = new SyncableBlockDevice({
    drive: {
      device: drive.device,
      raw: drive.raw,
      devicePath: null,
      size: drive.size,
      description: drive.description ?? drive.device,
      mountpoints: [],
      isSystem: false,
      isReadOnly: false,
      isRemovable: true,
      isVirtual: false,
      isUSB: null,
      isCard: null,
      isSCSI: null,
      isUAS: null,
      blockSize: drive.blockSize ?? 512,
      logicalBlockSize: drive.blockSize ?? 512,
      busType: 'UNKNOWN',
      busVersion: null,
      enumerator: 'zflash',
      error: null,
      partitionTableType: null,
    } as never,
    write: true,
    direct: true,
    unmountOnSuccess: false,
  });
  try {
    await bd.open();
  } catch (err) {
    throw fsError(err, drive.device, 'open for writing');
  }
  // Time of check vs time of use: the node we opened must be the one the policy judged.
  if (
    drive.deviceNumber &&
    process.platform === 'linux' &&
    devNumberOf(await bd.rdev()) !== drive.deviceNumber
  ) {
    await bd.close();
    throw targetError(
      'ZFLASH_DRIVE_CHANGED',
      `${drive.device} changed between the safety check and opening it.`,
      'Replug the stick, check the drive list again, and flash again.',
      { device: drive.device },
    );
  }
  return {
    kind: 'drive',
    path: drive.device,
    capacity: drive.size,
    async write(buf, length, offset) {
      let done = 0;
      while (done < length) {
        const { bytesWritten } = await bd.write(buf, done, length - done, offset + done);
        if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
        done += bytesWritten;
      }
    },
    async read(buf, length, offset) {
      const { bytesRead } = await bd.read(buf, 0, length, offset);
      return bytesRead;
    },
    sync: () => bd.sync(),
    close: () => bd.close(),
  };
}

/** An image file target; refuses to replace an existing file unless `overwrite`. */
export async function openFileDestination(path: string, overwrite: boolean): Promise<Destination> {
  const exists = await stat(path).then(
    (s) => s,
    () => null,
  );
  if (exists && !exists.isFile()) {
    throw targetError(
      'ZFLASH_TARGET_NOT_A_FILE',
      `${path} exists and is not a regular file.`,
      'Use --drive for drives, or give a new file name.',
    );
  }
  if (exists && !overwrite) {
    throw targetError(
      'ZFLASH_TARGET_EXISTS',
      `${path} already exists; Zeta Flash will not overwrite it silently.`,
      'Give a new file name, or add --force to replace it.',
      { path },
    );
  }
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC, 0o644);
  } catch (err) {
    throw fsError(err, path, 'open for writing');
  }
  return {
    kind: 'file',
    path,
    capacity: Number.POSITIVE_INFINITY,
    async write(buf, length, offset) {
      let done = 0;
      while (done < length) {
        const { bytesWritten } = await fh.write(buf, done, length - done, offset + done);
        done += bytesWritten;
      }
    },
    async read(buf, length, offset) {
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return bytesRead;
    },
    sync: () => fh.sync(),
    close: () => fh.close(),
  };
}
