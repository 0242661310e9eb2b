/**
 * Fixture images built with the same tools and flags nixpkgs uses, plus the independent
 * judges (mtools, fsck.fat) and loop block devices. Shared by every test that needs media.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  truncateSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
  mkdirSync,
  readFileSync,
  openSync,
  readSync,
  closeSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { devNumberOf } from '../app/drives/linux-block.js';
import { ZflashError } from '../app/errors.js';

export const ISOHDPFX = '/usr/lib/ISOLINUX/isohdpfx.bin';
/** The built command, as a user runs it (npm test builds first). */
export const ZFLASH_BIN = new URL('../bin/zflash.js', import.meta.url).pathname;

/** Runs `zflash ARGS` in its own process with extra environment. */
export function zflash(args: readonly string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [ZFLASH_BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const MiB = 1024 * 1024;

export function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: string | Buffer } = {},
): string {
  const r = spawnSync(cmd, args, { input: opts.input, maxBuffer: 64 * MiB });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString()}${r.stdout?.toString()}`,
    );
  }
  return r.stdout.toString();
}

/** A temp dir removed by the returned cleanup (call it from afterAll/afterEach). */
export function tempDir(prefix = 'zflash-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export type FatBits = 12 | 16 | 32;

export interface EspSpec {
  readonly fat?: FatBits;
  /** Size in KiB; default chosen so the FAT type comes out as asked. */
  readonly sizeKiB?: number;
  /** Files to put in, path on the ESP → content. Parent folders are created. */
  readonly files?: Readonly<Record<string, Buffer | string>>;
}

/** mkfs.vfat exactly as nixpkgs' make-iso9660-image / sd-image do: invariant, fixed serial, EFIBOOT. */
export function buildEsp(path: string, spec: EspSpec = {}): string {
  const fat = spec.fat ?? 12;
  const sizeKiB = spec.sizeKiB ?? (fat === 12 ? 3072 : fat === 16 ? 16 * 1024 : 40 * 1024);
  const args = ['--invariant', '-i', '12345678', '-n', 'EFIBOOT'];
  if (spec.fat) args.push('-F', String(fat));
  if (fat === 32) args.push('-s', '1', '-S', '512');
  run('mkfs.vfat', [...args, '-C', path, String(sizeKiB)]);
  const work = mkdtempSync(join(tmpdir(), 'zflash-espfiles-'));
  try {
    const dirs = new Set<string>();
    for (const [p, content] of Object.entries(spec.files ?? {})) {
      const parts = p.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
      const local = join(work, p.replaceAll('/', '__'));
      writeFileSync(local, content);
    }
    for (const d of [...dirs].sort((a, b) => a.length - b.length))
      run('mmd', ['-i', path, `::/${d}`]);
    for (const p of Object.keys(spec.files ?? {})) {
      run('mcopy', ['-i', path, join(work, p.replaceAll('/', '__')), `::/${p}`]);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return path;
}

/** The ESP contents of a NixOS installer: a bootloader and grub config, made up but of the right size. */
export function nixosEspFiles(efiBytes = 1_200_000): Record<string, Buffer | string> {
  return {
    'EFI/BOOT/BOOTX64.EFI': randomBytes(efiBytes),
    'EFI/BOOT/grub.cfg':
      'search --set=root --file /EFI/nixos-installer-image\nconfigfile /EFI/BOOT/grub.cfg\n',
    'EFI/nixos-installer-image': '',
  };
}

export interface IsoSpec {
  /** Bytes of random filler in the ISO9660 tree (stands in for the squashfs store). */
  readonly fillerBytes?: number;
  /** Use a sparse zero file of this size as filler instead (fast for GiB-sized images). */
  readonly zeroFillerBytes?: number;
  readonly esp?: EspSpec;
  /** The volume ID (default nixos-minimal-25.11-x86_64, as nixpkgs names its minimal ISO). */
  readonly volumeId?: string;
  /** Extra files at the root of the ISO 9660 tree (name → content), e.g. zeta-installer.json. */
  readonly rootFiles?: Readonly<Record<string, Buffer | string>>;
  /** Leave out nix-store.squashfs (and version.txt): an isohybrid that is not NixOS. */
  readonly noNixStore?: boolean;
  /**
   * xorriso's naming flags exactly as nixpkgs' make-iso9660-image.sh passes them
   * (`-iso-level 3 -full-iso9660-filenames -joliet -r`) instead of `-R -J`.
   */
  readonly nixpkgsNaming?: boolean;
}

/**
 * An isohybrid ISO built like nixpkgs' make-iso9660-image.sh: xorriso with
 * -isohybrid-mbr isohdpfx.bin -eltorito-alt-boot -e boot/efi.img -no-emul-boot
 * -isohybrid-gpt-basdat. The ESP (boot/efi.img) is sized at ~110% of its contents rounded
 * up to a MiB, which makes it FAT12 with a little free space — like the real one.
 */
export function buildNixosIso(path: string, spec: IsoSpec = {}): string {
  const work = mkdtempSync(join(tmpdir(), 'zflash-isotree-'));
  try {
    mkdirSync(join(work, 'boot'), { recursive: true });
    const espFiles = spec.esp?.files ?? nixosEspFiles();
    const content = Object.values(espFiles).reduce((n, c) => n + Buffer.byteLength(c), 0);
    const sizeKiB = spec.esp?.sizeKiB ?? Math.ceil((content * 1.1) / MiB + 1) * 1024;
    buildEsp(join(work, 'boot', 'efi.img'), { ...spec.esp, sizeKiB, files: espFiles });
    for (const [name, content] of Object.entries(spec.rootFiles ?? {}))
      writeFileSync(join(work, name), content);
    if (spec.noNixStore) {
      // nothing: a plain isohybrid with an ESP
    } else if (spec.zeroFillerBytes) {
      const f = join(work, 'nix-store.squashfs');
      writeFileSync(f, '');
      execFileSync('truncate', ['-s', String(spec.zeroFillerBytes), f]);
    } else {
      writeFileSync(join(work, 'nix-store.squashfs'), randomBytes(spec.fillerBytes ?? 2 * MiB));
    }
    if (!spec.noNixStore) writeFileSync(join(work, 'version.txt'), 'nixos-25.11-zeta-test\n');
    run('xorriso', [
      '-as',
      'mkisofs',
      '-o',
      path,
      ...(spec.nixpkgsNaming
        ? ['-iso-level', '3', '-full-iso9660-filenames', '-joliet', '-r']
        : ['-R', '-J']),
      '-V',
      spec.volumeId ?? 'nixos-minimal-25.11-x86_64',
      '-isohybrid-mbr',
      ISOHDPFX,
      '-eltorito-alt-boot',
      '-e',
      'boot/efi.img',
      '-no-emul-boot',
      '-isohybrid-gpt-basdat',
      work,
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return path;
}

/** A GPT disk (sgdisk) whose first partition is an ESP of the given FAT type, then a Linux partition. */
export function buildGptDisk(
  path: string,
  opts: { fat?: FatBits; espMiB?: number; diskMiB?: number; files?: EspSpec['files'] } = {},
): { path: string; espOffset: number; espSize: number } {
  const fat = opts.fat ?? 32;
  const espMiB = opts.espMiB ?? (fat === 32 ? 40 : 16);
  const diskMiB = opts.diskMiB ?? espMiB + 4;
  writeFileSync(path, '');
  execFileSync('truncate', ['-s', `${diskMiB}M`, path]);
  run('sgdisk', [
    '-n',
    `1:2048:+${espMiB}M`,
    '-t',
    '1:ef00',
    '-c',
    '1:ESP',
    '-n',
    '2:0:0',
    '-t',
    '2:8300',
    path,
  ]);
  const esp = `${path}.esp`;
  buildEsp(esp, {
    fat,
    sizeKiB: espMiB * 1024,
    files: opts.files ?? { 'EFI/BOOT/BOOTX64.EFI': randomBytes(300_000) },
  });
  run('dd', [
    `if=${esp}`,
    `of=${path}`,
    'bs=1M',
    `seek=${(2048 * 512) / MiB}`,
    'conv=notrunc',
    'status=none',
  ]);
  rmSync(esp);
  return { path, espOffset: 2048 * 512, espSize: espMiB * MiB };
}

/** The ESP's byte offset as sfdisk (an independent parser) reports it. */
export function espOffsetBySfdisk(image: string): { offset: number; size: number } {
  const j = JSON.parse(run('sfdisk', ['--json', image])) as {
    partitiontable: {
      sectorsize?: number;
      partitions: { start: number; size: number; type: string }[];
    };
  };
  const ss = j.partitiontable.sectorsize ?? 512;
  const p = j.partitiontable.partitions.find((x) =>
    ['ef', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'].includes(x.type),
  );
  if (!p) throw new Error(`sfdisk finds no ESP in ${image}`);
  return { offset: p.start * ss, size: p.size * ss };
}

/** Copies a byte range of a file or device into a new file (fsck.fat needs a file of its own). */
export function extractRange(src: string, offset: number, size: number, dest: string): string {
  const fd = openSync(src, 'r');
  try {
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, offset + done);
      if (n === 0) throw new Error(`short read of ${src}`);
      done += n;
    }
    writeFileSync(dest, buf);
  } finally {
    closeSync(fd);
  }
  return dest;
}

/**
 * `fsck.fat -n` on a file. Clean means exit 0 and nothing printed between its version line
 * and its "N files, x/y clusters" summary (any remark there is something it would fix).
 */
export function fsckClean(fatImage: string): string {
  const r = spawnSync('fsck.fat', ['-n', fatImage]);
  const out = `${r.stdout.toString()}${r.stderr.toString()}`;
  const remarks = out
    .split('\n')
    .filter(
      (l) => l.trim() && !/^fsck\.fat \d/.test(l) && !/: \d+ files, \d+\/\d+ clusters$/.test(l),
    );
  if (r.status !== 0 || remarks.length > 0) {
    throw new Error(`fsck.fat -n is not clean (exit ${r.status}):\n${out}`);
  }
  return out;
}

/** Reads a file from a FAT image at a byte offset with mtools' mtype. */
export function mtype(image: string, offset: number, name: string): string {
  return run('mtype', ['-i', `${image}@@${offset}`, `::/${name}`]);
}

export function mdirNames(image: string, offset: number): string[] {
  return run('mdir', ['-b', '-i', `${image}@@${offset}`, '::/'])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^::\//, '').replace(/\/$/, ''));
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export function fileSha256(path: string): string {
  return sha256(readFileSync(path));
}

/** Every byte of `a` and `b` outside [start, end) is equal. */
export function equalOutside(a: Buffer, b: Buffer, start: number, end: number): boolean {
  return (
    a.length === b.length &&
    a.subarray(0, start).equals(b.subarray(0, start)) &&
    a.subarray(end).equals(b.subarray(end))
  );
}

export interface Loop {
  /** `/dev/loopN` */
  readonly device: string;
  readonly backingFile: string;
  detach(): void;
}

/**
 * A loop block device over `file`, made by this test; detach() removes it (idempotent).
 * `partitions` (-P) makes the kernel scan its partition table (`/dev/loopNp1`).
 */
export function attachLoop(
  file: string,
  opts: { readOnly?: boolean; partitions?: boolean } = {},
): Loop {
  const flags = [...(opts.readOnly ? ['-r'] : []), ...(opts.partitions ? ['-P'] : [])];
  const device = run('losetup', ['-f', '--show', ...flags, file]).trim();
  let attached = true;
  return {
    device,
    backingFile: file,
    detach() {
      if (!attached) return;
      attached = false;
      // Only ever detach the device this test attached, and only while it still backs our file
      // (the kernel may have handed the same /dev/loopN to someone else since).
      const back = spawnSync('losetup', ['-n', '-O', 'BACK-FILE', device]).stdout.toString().trim();
      if (back.replace(/ \(deleted\)$/, '') === file) run('losetup', ['-d', device]);
    },
  };
}

/** A loop device over a new sparse file of `sizeBytes` in `dir` (named `name`, default disk.img). */
export function attachSparseLoop(
  dir: string,
  sizeBytes: number,
  opts: { name?: string; partitions?: boolean } = {},
): Loop {
  const file = join(dir, opts.name ?? 'disk.img');
  writeFileSync(file, '');
  truncateSync(file, sizeBytes);
  return attachLoop(file, { partitions: opts.partitions ?? false });
}

/** Loop tests never skip silently: without root they fail and say why. */
export function requireLoop(): void {
  if (process.getuid?.() !== 0)
    throw new Error('these tests attach loop devices and must run as root');
}

/** The marker a Zeta installer ISO carries at its root (docs/payload.md), with overrides. */
export function zetaInstallerMarker(overrides: Record<string, unknown> = {}): string {
  return `${JSON.stringify(
    {
      zetaInstaller: 1,
      version: '0.2.0',
      payloadSchemas: [1, 2],
      nixpkgs: { rev: 'a'.repeat(40) },
      system: 'x86_64-linux',
      ...overrides,
    },
    null,
    2,
  )}\n`;
}

/**
 * A Zeta installer ISO as nixos/installer/iso.nix builds it: nixpkgs' layout and xorriso
 * naming flags, a `zeta-…` volume ID and `zeta-installer.json` at the root. `marker: null`
 * leaves the file out; a string is written as is.
 */
export function buildZetaIso(
  path: string,
  spec: IsoSpec & { readonly marker?: string | null } = {},
): string {
  const { marker, ...iso } = spec;
  const m = marker === undefined ? zetaInstallerMarker() : marker;
  return buildNixosIso(path, {
    fillerBytes: 256 * 1024,
    volumeId: 'zeta-0.2.0-x86_64',
    nixpkgsNaming: true,
    ...iso,
    rootFiles: { ...(m === null ? {} : { 'zeta-installer.json': m }), ...iso.rootFiles },
  });
}

/**
 * A bare ISO 9660 image of `files` (root only) made by xorriso's native mode, where Rock Ridge
 * and Joliet can each be switched off: the reader's fallbacks get real images too.
 */
export function buildPlainIso(
  path: string,
  opts: {
    files: Readonly<Record<string, Buffer | string>>;
    volumeId?: string;
    rockRidge?: boolean;
    joliet?: boolean;
  },
): string {
  const work = mkdtempSync(join(tmpdir(), 'zflash-plainiso-'));
  try {
    for (const [name, content] of Object.entries(opts.files))
      writeFileSync(join(work, name), content);
    run('xorriso', [
      '-rockridge',
      opts.rockRidge === false ? 'off' : 'on',
      '-joliet',
      opts.joliet ? 'on' : 'off',
      '-compliance',
      'iso_9660_level=3:long_names',
      '-volid',
      opts.volumeId ?? 'PLAIN',
      '-outdev',
      path,
      '-map',
      work,
      '/',
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return path;
}

/** `zflash ARGS` in its own process without blocking this one (a server here must answer it). */
export function zflashAsync(
  args: readonly string[],
  env: Record<string, string> = {},
  opts: { signalAfter?: { stdoutMatch: RegExp; signal: NodeJS.Signals } } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ZFLASH_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (opts.signalAfter && !signalled && opts.signalAfter.stdoutMatch.test(stdout)) {
        signalled = true;
        child.kill(opts.signalAfter.signal);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}

/**
 * The whole disks the running system's `/` lives on, found with util-linux (findmnt, lsblk),
 * independently of the code under test: `['/dev/vda']` on a VM, `['/dev/nvme0n1']` on a
 * laptop, every disk under a LUKS/LVM root. Throws (never skips) when `/` is on no disk.
 */
export function systemDisks(): string[] {
  const disks = disksUnder('/');
  if (disks.length === 0) throw new Error('`/` is on no block device here (a container?)');
  return disks;
}

/** The whole disks holding `path` (its filesystem's device and everything under it), or []. */
export function disksUnder(path: string): string[] {
  const source = run('findmnt', ['-n', '-o', 'SOURCE', '-T', path])
    .trim()
    .replace(/\[.*\]$/, '');
  if (!source.startsWith('/dev/')) return [];
  return run('lsblk', ['-n', '-s', '-r', '-o', 'NAME,TYPE', source])
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter(([, type]) => type === 'disk')
    .map(([name]) => `/dev/${name}`);
}

function ownLoop(device: string, file: string): Loop {
  let attached = true;
  return {
    device,
    backingFile: file,
    detach() {
      if (!attached) return;
      attached = false;
      const back = spawnSync('losetup', ['-n', '-O', 'BACK-FILE', device]).stdout.toString().trim();
      if (back.replace(/ \(deleted\)$/, '') === file) run('losetup', ['-d', device]);
    },
  };
}

/** Whether /dev/loopN is attached to anything now. */
function loopAttached(n: number): boolean {
  try {
    readFileSync(`/sys/block/loop${n}/loop/backing_file`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Two loop devices whose names are a prefix pair, `/dev/loopN` and `/dev/loopN0` (like
 * `/dev/sda` and `/dev/sdaa`), over new files in `dir`. N is picked among free high numbers
 * (losetup creates the nodes) so suites using `losetup -f` do not race for them.
 */
export function attachPrefixLoops(
  dir: string,
  sizeBytes: number,
  opts: { partitions?: boolean } = {},
): { short: Loop; long: Loop } {
  for (let attempt = 0; attempt < 50; attempt++) {
    const n = 100 + Math.floor(Math.random() * 800);
    if (loopAttached(n) || loopAttached(n * 10)) continue;
    const files = [join(dir, `loop${n}.img`), join(dir, `loop${n}0.img`)] as const;
    for (const f of files) {
      writeFileSync(f, '');
      truncateSync(f, sizeBytes);
    }
    const flags = opts.partitions ? ['-P'] : [];
    const a = spawnSync('losetup', [...flags, `/dev/loop${n}`, files[0]]);
    if (a.status !== 0) continue;
    const short = ownLoop(`/dev/loop${n}`, files[0]);
    const b = spawnSync('losetup', [...flags, `/dev/loop${n}0`, files[1]]);
    if (b.status !== 0) {
      short.detach();
      continue;
    }
    return { short, long: ownLoop(`/dev/loop${n}0`, files[1]) };
  }
  throw new Error('found no free /dev/loopN + /dev/loopN0 pair in 50 tries');
}

/** Gives a loop device one Linux partition covering it (MBR) and tells the kernel; returns `…p1`. */
export function partitionLoop(loop: Loop): string {
  run('sfdisk', ['--quiet', loop.device], { input: 'label: dos\n,,83\n' });
  // Attached with -P, the kernel saw an empty table; tell it about the new partition.
  const u = spawnSync('partx', ['-u', loop.device]);
  if (u.status !== 0) run('partx', ['-a', loop.device]);
  return `${loop.device}p1`;
}

export interface Mount {
  readonly target: string;
  readonly device: string;
  /** Whether the kernel still lists `device` mounted at `target`. */
  isMounted(): boolean;
  /** Unmounts it if it is still ours there; removes the folder if this fixture made it. */
  cleanup(): void;
}

/** mkfs.ext4 on `device` and mounts it at `target` (created if missing). */
export function mountExt4(device: string, target: string): Mount {
  run('mkfs.ext4', ['-q', '-F', device]);
  let made = false;
  try {
    readdirSync(target);
  } catch {
    mkdirSync(target, { recursive: true });
    made = true;
  }
  run('mount', [device, target]);
  const isMounted = () =>
    spawnSync('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', target])
      .stdout.toString()
      .split('\n')
      .includes(device);
  return {
    target,
    device,
    isMounted,
    cleanup() {
      // Only ever what this fixture mounted: the same device at the same place.
      while (isMounted()) run('umount', [target]);
      if (made) rmSync(target, { recursive: true, force: true });
    },
  };
}

/**
 * `zflash ARGS` like `zflash()`, but killed after `timeoutMs` (a hang becomes a failure with
 * `code: null` and `signal: 'SIGKILL'` instead of blocking the whole test run).
 */
export function zflashWithin(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
) {
  const r = spawnSync(process.execPath, [ZFLASH_BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `MAJ:MIN` of a device node, as sysfs and the engine's unmount name it. */
export async function deviceNumber(device: string): Promise<string> {
  return devNumberOf((await stat(device, { bigint: true })).rdev);
}

/** The ZflashError a promise rejects with; throws when it resolves or rejects with anything else. */
export async function zflashFailure(p: Promise<unknown>): Promise<ZflashError> {
  const err = await p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!(err instanceof ZflashError)) throw new Error(`expected a ZflashError, got: ${String(err)}`);
  return err;
}
