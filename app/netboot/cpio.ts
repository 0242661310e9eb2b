/**
 * The "newc" cpio format the Linux kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header per
 * entry ("070701" + 13 fields of 8 hex digits), the NUL-terminated name padded to 4 bytes,
 * the data padded to 4 bytes, and a final "TRAILER!!!" entry. Written here because no
 * maintained npm package writes newc, and the archive must be reproducible: every field that
 * would leak the build machine (mtime, uid, inode numbers, device) is fixed, so the same
 * identity always gives the same bytes.
 */

export interface CpioEntry {
  /** Path inside the archive, without a leading slash (`zeta/zeta-hostname.txt`). */
  readonly path: string;
  readonly kind: 'dir' | 'file';
  /** Permission bits (0o755, 0o644). */
  readonly mode: number;
  readonly data?: Buffer;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function entry(ino: number, mode: number, nlink: number, name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const header = Buffer.from(
    [
      '070701',
      hex8(ino),
      hex8(mode),
      hex8(0), // uid: root
      hex8(0), // gid: root
      hex8(nlink),
      hex8(0), // mtime: the epoch, for reproducible bytes
      hex8(data.length),
      hex8(0), // devmajor
      hex8(0), // devminor
      hex8(0), // rdevmajor
      hex8(0), // rdevminor
      hex8(nameBytes.length),
      hex8(0), // check: unused by newc
    ].join(''),
    'ascii',
  );
  return Buffer.concat([
    header,
    nameBytes,
    Buffer.alloc(pad4(header.length + nameBytes.length)),
    data,
    Buffer.alloc(pad4(data.length)),
  ]);
}

/** The archive's bytes. Parent directories must be listed before what they hold. */
export function newcArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    if (!/^[^/\0][^\0]*$/.test(e.path) || e.path.split('/').includes('..'))
      throw new Error(`cpio: bad path ${JSON.stringify(e.path)}`);
    const type = e.kind === 'dir' ? S_IFDIR : S_IFREG;
    parts.push(
      entry(
        ino++,
        type | (e.mode & 0o7777),
        e.kind === 'dir' ? 2 : 1,
        e.path,
        e.kind === 'dir' ? Buffer.alloc(0) : (e.data ?? Buffer.alloc(0)),
      ),
    );
  }
  parts.push(entry(0, 0, 1, 'TRAILER!!!', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
