/**
 * Where the overlaid image goes: a whole drive, or an image file for VMs (`--target FILE`).
 *
 * A drive is opened here, not through etcher-sdk's BlockDevice, because its open() (1)
 * unmounts through mountutils, which matches mounts by device-name prefix and falls back to
 * a lazy unmount (flashing /dev/sda detached a busy /dev/sdaa1), (2) runs diskpart `clean` on
 * Windows on its own, and (3) retries an EBUSY from O_EXCL up to 150 times with growing
 * delays (etcher-sdk errors.js retryOnTransientError: about 19 minutes) instead of saying the
 * drive is in use. What it gave us besides — O_DIRECT + O_EXCL (Linux) / O_EXLOCK (macOS,
 * Windows), F_NOCACHE (macOS), aligned buffers and read-modify-write for unaligned ranges — is
 * kept below with the same library underneath (@ronomon/direct-io). Unmounting is ours
 * (app/drives/unmount.ts): only the judged drive's own filesystems, never lazily.
 *
 * Reads for verification go through the same handle, so on a drive they bypass the page cache
 * (Etcher #1523: a verify that read the cache passed instantly on a bad card).
 */
import { constants as fsc } from 'node:fs';
import { lstat, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fsError } from '../disk/device.js';
import { devNumberOf } from '../drives/linux-block.js';
import { unmountDrive, type UnmountOptions } from '../drives/unmount.js';
import { targetError, type ZflashError } from '../errors.js';
import { loadDirectIo } from '../native.js';

export const ALIGNMENT = 4096;

/** A buffer whose memory address is aligned, as O_DIRECT requires. */
export function alignedBuffer(size: number): Buffer {
  return loadDirectIo().getAlignedBuffer(Math.ceil(size / ALIGNMENT) * ALIGNMENT, ALIGNMENT);
}

export interface Destination {
  readonly kind: 'drive' | 'file';
  readonly path: string;
  /** Bytes the destination can hold (a file target grows: Infinity). */
  readonly capacity: number;
  /** Mount points unmounted before the drive was opened (Linux); empty for files. */
  readonly unmounted: readonly string[];
  /** On a drive, `buf` must come from alignedBuffer(); unaligned ranges are read-modify-written. */
  write(buf: Buffer, length: number, offset: number): Promise<void>;
  read(buf: Buffer, length: number, offset: number): Promise<number>;
  sync(): Promise<void>;
  /** Closes the handle; calling it again does nothing. */
  close(): Promise<void>;
  /**
   * After a cancel or a failure: closes, and removes the target file if this destination
   * created it and the path still names that very file (same device and inode). Never removes
   * a file it did not create (an overwritten one stays, truncated) and never touches a drive.
   * Resolves true when a file was removed.
   */
  discard(): Promise<boolean>;
}

export interface DriveTarget {
  readonly device: string;
  readonly raw: string;
  readonly size: number;
  readonly description?: string;
  /** Logical block size: O_DIRECT offsets and lengths are multiples of it. */
  readonly blockSize?: number;
  /**
   * `MAJ:MIN` the drive policy judged (recheckDrive's `deviceNumber`; required on Linux): only
   * that disk's filesystems are unmounted, and the opened handle must be that very device.
   */
  readonly deviceNumber: string | null;
}

export type OpenDriveOptions = UnmountOptions;

/** Open flags for writing a whole drive: unbuffered, and exclusive against mounts and other writers. */
export function driveOpenFlags(platform: NodeJS.Platform): number {
  switch (platform) {
    case 'linux':
      // O_EXCL on a block device fails with EBUSY while any partition is mounted or claimed
      // (a mount, a device-mapper or md holder), and keeps anyone from mounting it meanwhile.
      return fsc.O_RDWR | loadDirectIo().O_DIRECT | fsc.O_EXCL;
    case 'darwin':
      return fsc.O_RDWR | loadDirectIo().O_EXLOCK;
    case 'win32':
      return fsc.O_RDWR | loadDirectIo().O_DIRECT | loadDirectIo().O_EXLOCK;
    default:
      return fsc.O_RDWR;
  }
}

function driveChangedError(device: string): ZflashError {
  return targetError(
    'ZFLASH_DRIVE_CHANGED',
    `${device} changed between the safety check and opening it.`,
    'Replug the stick, check the drive list again, and flash again.',
    { device },
  );
}

async function writeFully(
  fh: FileHandle,
  buf: Buffer,
  length: number,
  offset: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, done, length - done, offset + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    done += bytesWritten;
  }
}

export async function openDriveDestination(
  drive: DriveTarget,
  opts: OpenDriveOptions = {},
): Promise<Destination> {
  const platform = opts.platform ?? process.platform;
  // Before anything is opened for writing: the judged drive's filesystems, and only those.
  const { unmounted } = await unmountDrive(
    { device: drive.device, deviceNumber: drive.deviceNumber },
    opts,
  );
  let fh: FileHandle;
  try {
    fh = await open(drive.raw, driveOpenFlags(platform));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBUSY') {
      throw targetError(
        'ZFLASH_DRIVE_BUSY',
        `Nothing was written: ${drive.device} is in use by something else (a filesystem mounted elsewhere, an encrypted or LVM volume opened on it, or another program writing it).`,
        'Close or unmount what uses it (`lsblk` shows what sits on it), then flash again.',
        { device: drive.device },
      );
    }
    throw fsError(err, drive.device, 'open for writing');
  }
  try {
    // Time of check vs time of use: the node opened must be the one the policy judged.
    if (platform === 'linux') {
      const st = await fh.stat({ bigint: true });
      if (!st.isBlockDevice() || devNumberOf(st.rdev) !== drive.deviceNumber) {
        throw driveChangedError(drive.device);
      }
    }
    if (platform === 'darwin') {
      await new Promise<void>((res, rej) =>
        loadDirectIo().setF_NOCACHE(fh.fd, 1, (err) => (err ? rej(err) : res())),
      );
    }
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }

  const align = Math.max(512, drive.blockSize ?? 512);
  const isAligned = (offset: number, length: number) =>
    offset % align === 0 && length % align === 0;
  const span = (offset: number, length: number) => {
    const start = Math.floor(offset / align) * align;
    const end = Math.ceil((offset + length) / align) * align;
    return {
      start,
      size: end - start,
      bounce: alignedBuffer(end - start).subarray(0, end - start),
    };
  };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  return {
    kind: 'drive',
    path: drive.device,
    capacity: drive.size,
    unmounted,
    async write(buf, length, offset) {
      if (isAligned(offset, length)) return writeFully(fh, buf, length, offset);
      const { start, size, bounce } = span(offset, length);
      const { bytesRead } = await fh.read(bounce, 0, size, start);
      if (bytesRead < size) throw Object.assign(new Error('short read'), { code: 'EIO' });
      buf.copy(bounce, offset - start, 0, length);
      await writeFully(fh, bounce, size, start);
    },
    async read(buf, length, offset) {
      if (isAligned(offset, length)) return (await fh.read(buf, 0, length, offset)).bytesRead;
      const { start, size, bounce } = span(offset, length);
      const { bytesRead } = await fh.read(bounce, 0, size, start);
      const got = Math.max(0, Math.min(length, bytesRead - (offset - start)));
      bounce.copy(buf, 0, offset - start, offset - start + got);
      return got;
    },
    sync: () => fh.sync(),
    close,
    async discard() {
      await close().catch(() => undefined);
      return false;
    },
  };
}

// ---- image file targets ---------------------------------------------------------------------

export interface FileTargetOptions {
  /** Replace an existing regular file (`--force`). */
  readonly overwrite: boolean;
  /** The image being written: a target that is the same file (any path to it) is refused. */
  readonly imagePath?: string | null;
}

export interface FileTargetCheck {
  /** The absolute path that will be written. */
  readonly path: string;
  /** A regular file is there already (and `overwrite` allows replacing it). */
  readonly exists: boolean;
}

const sameInode = (
  a: { dev: bigint; ino: bigint },
  b: { dev: bigint; ino: bigint } | null,
): boolean => b !== null && a.dev === b.dev && a.ino === b.ino;

async function imageIdentity(imagePath: string | null | undefined) {
  if (!imagePath) return null;
  return stat(imagePath, { bigint: true }).catch(() => null);
}

const notAFile = (path: string, what: string) =>
  targetError(
    'ZFLASH_TARGET_NOT_A_FILE',
    `${path} is ${what}, not an image file.`,
    'Give the path of a new file (in an existing folder), or use --drive for drives.',
    { path },
  );
const isImage = (path: string) =>
  targetError(
    'ZFLASH_TARGET_IS_IMAGE',
    `${path} is the image being written: writing it would destroy the image.`,
    'Give another file name for the copy.',
    { path },
  );
const isLink = (path: string, hard: boolean) =>
  targetError(
    'ZFLASH_TARGET_LINK',
    hard
      ? `${path} has other names (hard links): writing it would change the file behind them too.`
      : `${path} is a symbolic link; Zeta Flash does not write through links.`,
    'Give the path of a new file, or remove the link first.',
    { path },
  );
const exists = (path: string) =>
  targetError(
    'ZFLASH_TARGET_EXISTS',
    `${path} already exists; Zeta Flash will not overwrite it silently.`,
    'Give a new file name, or add --force to replace it.',
    { path },
  );
const folderMissing = (path: string, folder: string, what = 'does not exist') =>
  targetError(
    'ZFLASH_TARGET_FOLDER_MISSING',
    `Cannot write ${path}: the folder ${folder} ${what}.`,
    'Create the folder first, or give a path in an existing folder.',
    { path, folder },
  );

/**
 * The pre-flight check for `--target FILE`, before any work starts (the flash planner calls
 * it first; openFileDestination repeats it and then re-checks the opened handle itself): the
 * folder exists, the path is not a link, not a folder or device, not the image (same device
 * and inode: the same path, a symlink or a hard link to it), and an existing file is only
 * replaced with `overwrite`.
 */
export async function checkFileTarget(
  target: string,
  opts: FileTargetOptions,
): Promise<FileTargetCheck> {
  const path = resolve(target);
  if (target.endsWith('/')) throw notAFile(path, 'a folder');
  const folder = dirname(path);
  const dir = await stat(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw folderMissing(path, folder);
    throw fsError(err, folder, 'open');
  });
  if (!dir.isDirectory()) throw folderMissing(path, folder, 'is not a folder');
  const st = await lstat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw fsError(err, path, 'open');
  });
  if (!st) return { path, exists: false };
  const image = await imageIdentity(opts.imagePath);
  if (st.isSymbolicLink()) {
    const behind = await stat(path, { bigint: true }).catch(() => null);
    if (behind && sameInode(behind, image)) throw isImage(path);
    throw isLink(path, false);
  }
  if (st.isDirectory()) throw notAFile(path, 'a folder');
  if (!st.isFile()) throw notAFile(path, 'a device or special file');
  if (sameInode(st, image)) throw isImage(path);
  if (!opts.overwrite) throw exists(path);
  if (st.nlink > 1n) throw isLink(path, true);
  return { path, exists: true };
}

/**
 * Opens an image file target for writing without following a link planted at its path:
 * a new file is created with O_CREAT|O_EXCL|O_NOFOLLOW (no window between check and open) and
 * mode 0600 (the node manifest can carry the Wi-Fi passphrase and the password hash); with
 * `overwrite`, an existing file is opened O_NOFOLLOW without O_CREAT, checked through the
 * handle (a regular file with one name, not the image), set to 0600 and truncated through the
 * handle, never by path.
 */
export async function openFileDestination(
  target: string,
  opts: FileTargetOptions,
): Promise<Destination> {
  const { path } = await checkFileTarget(target, opts);
  const image = await imageIdentity(opts.imagePath);
  let fh: FileHandle;
  let created = false;
  try {
    fh = await open(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    created = true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw folderMissing(path, dirname(path));
    if (code !== 'EEXIST') throw fsError(err, path, 'open for writing');
    const now = await lstat(path).catch(() => null);
    if (now?.isSymbolicLink()) throw isLink(path, false);
    if (!opts.overwrite) throw exists(path);
    try {
      // O_NONBLOCK: a FIFO swapped in since the check must not hang the open.
      fh = await open(path, fsc.O_RDWR | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code === 'ELOOP') throw isLink(path, false);
      throw fsError(err2, path, 'open for writing');
    }
  }
  let id: { dev: bigint; ino: bigint };
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) throw notAFile(path, 'a device or special file');
    if (sameInode(st, image)) throw isImage(path);
    if (!created) {
      if (st.nlink > 1n) throw isLink(path, true);
      await fh.chmod(0o600).catch((err: unknown) => {
        throw fsError(err, path, 'open for writing');
      });
      await fh.truncate(0);
    }
    id = { dev: st.dev, ino: st.ino };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  return {
    kind: 'file',
    path,
    capacity: Number.POSITIVE_INFINITY,
    unmounted: [],
    write: (buf, length, offset) => writeFully(fh, buf, length, offset),
    async read(buf, length, offset) {
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return bytesRead;
    },
    sync: () => fh.sync(),
    close,
    async discard() {
      await close().catch(() => undefined);
      if (!created) return false;
      const now = await lstat(path, { bigint: true }).catch(() => null);
      if (!now?.isFile() || !sameInode(now, id)) return false;
      await unlink(path);
      return true;
    },
  };
}
