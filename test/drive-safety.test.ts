/**
 * No write may touch anything but the chosen stick (issues 7 and 16). Each test tries, for
 * real, to make a write land somewhere else — another drive whose name extends the stick's
 * (`/dev/loopN` and `/dev/loopN0`, like `/dev/sda` and `/dev/sdaa`), a filesystem the computer
 * uses, the image itself, a file behind a symlink, a device swapped between check and open —
 * through the built `zflash` (and its helper) or the engine functions the helper calls.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { cliLines } from './json-lines.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recheckDrive } from '../app/drives/recheck.js';
import {
  checkFileTarget,
  openDriveDestination,
  openFileDestination,
  alignedBuffer,
} from '../app/flash/destination.js';
import {
  attachPrefixLoops,
  attachSparseLoop,
  buildNixosIso,
  espOffsetBySfdisk,
  fileSha256,
  mountExt4,
  mtype,
  partitionLoop,
  requireLoop,
  run,
  sha256,
  tempDir,
  zflashWithin,
  ZFLASH_BIN,
  type Loop,
  type Mount,
  deviceNumber as numberOf,
  zflashFailure as failure,
} from './fixtures.js';

const MiB = 1024 * 1024;
const tmp = tempDir('zflash-safety-');
const tag = `zflash-test-${process.pid}-${Date.now()}`;
const env = { ZFLASH_ALLOW_LOOP: '1' };
// A flash that hangs (etcher-sdk retried an EBUSY open for ~19 minutes) fails instead.
const zflash = (args: string[]) => zflashWithin(args, env, 90_000);
const loops: Loop[] = [];
const mounts: Mount[] = [];

let iso: string;
let key: string;

const flashArgs = (image: string, dev: string) => [
  'flash',
  image,
  '--drive',
  dev,
  '--host',
  'node-7',
  '--ssh-key',
  `${key}.pub`,
  '--yes',
];
const targetArgs = (image: string, target: string, ...more: string[]) => [
  'flash',
  image,
  '--target',
  target,
  '--host',
  'node-7',
  '--ssh-key',
  `${key}.pub`,
  ...more,
];

function readDevice(dev: string, length: number, offset = 0): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(dev, 'r');
  try {
    readSync(fd, out, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** The stick carries the image just flashed: the node's hostname file on its ESP. */
function flashedHostname(dev: string): string {
  return mtype(dev, espOffsetBySfdisk(iso).offset, 'zeta-hostname.txt');
}

function loop(name: string, mib: number, partitions = false): Loop {
  const l = attachSparseLoop(tmp.path, mib * MiB, { name, partitions });
  loops.push(l);
  return l;
}

function mount(device: string, target: string): Mount {
  const m = mountExt4(device, target);
  mounts.push(m);
  return m;
}

beforeAll(() => {
  requireLoop();
  iso = buildNixosIso(`${tmp.path}/nixos.iso`, { fillerBytes: 2 * MiB });
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
});

afterEach(() => {
  for (const m of mounts.splice(0).reverse()) m.cleanup();
});

afterAll(() => {
  for (const l of loops.splice(0).reverse()) l.detach();
  tmp.cleanup();
});

describe('another drive whose name extends the stick’s is never unmounted', () => {
  function busyNeighbour() {
    const { short, long } = attachPrefixLoops(tmp.path, 64 * MiB);
    loops.push(short, long);
    const other = mount(long.device, `${tmp.path}/neighbour-${long.device.slice(5)}`);
    writeFileSync(`${other.target}/work.txt`, 'unsaved work\n');
    const fd = openSync(`${other.target}/work.txt`, 'r');
    return { short, long, other, fd };
  }

  it('flashing /dev/loopN leaves the busy ext4 of /dev/loopN0 mounted, its data intact', () => {
    const { short, other, fd } = busyNeighbour();
    try {
      const r = zflash(flashArgs(iso, short.device));
      expect(r.stderr).not.toMatch(/error:/);
      expect(r.code).toBe(0);
      expect(flashedHostname(short.device)).toBe('node-7\n');
      expect(other.isMounted()).toBe(true);
      expect(readFileSync(`${other.target}/work.txt`, 'utf8')).toBe('unsaved work\n');
    } finally {
      closeSync(fd);
    }
  });

  it('opening /dev/loopN for writing (the helper’s path) does not unmount /dev/loopN0', async () => {
    const { short, other, fd } = busyNeighbour();
    try {
      const checked = await recheckDrive(short.device, { allowLoop: true });
      expect(checked.verdict.status).toBe('eligible');
      const dest = await openDriveDestination({
        device: checked.drive.device,
        raw: checked.drive.raw,
        size: checked.drive.size ?? 0,
        deviceNumber: checked.deviceNumber,
      });
      await dest.close();
      expect(dest.unmounted).toEqual([]);
      expect(other.isMounted()).toBe(true);
      expect(readFileSync(`${other.target}/work.txt`, 'utf8')).toBe('unsaved work\n');
    } finally {
      closeSync(fd);
    }
  });
});

describe('a drive with a mounted filesystem', () => {
  it('mounted in a data folder: refused (exit 3) and untouched; the reason and `zflash drives` name the mount point', () => {
    const stick = loop('data-mounted.img', 64, true);
    const data = mount(partitionLoop(stick), `${tmp.path}/var-lib-data`);
    const head = readDevice(stick.device, MiB);

    const listed = zflash(['drives', '--json']);
    expect(listed.code).toBe(0);
    const mine = cliLines(listed.stdout)
      .flatMap((l) => (l.type === 'drive' ? [l] : []))
      .find((d) => d.drive.device === stick.device);
    expect(mine?.drive.mountpoints).toEqual([data.target]);
    expect(mine?.verdict.status).toBe('refused');
    expect(mine?.verdict.reasons.map((r) => r.code)).toEqual(['DRIVE_MOUNTED']);
    expect(mine?.verdict.reasons[0]?.message).toContain(data.target);

    const r = zflash(flashArgs(iso, stick.device));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('code: ZFLASH_DRIVE_REFUSED');
    expect(r.stderr).toContain(data.target);
    expect(data.isMounted()).toBe(true);
    expect(readDevice(stick.device, MiB).equals(head)).toBe(true);
  });

  it('mounted under /media: unmounted by Zeta Flash, then written', () => {
    const stick = loop('media-mounted.img', 64, true);
    const media = mount(partitionLoop(stick), `/media/${tag}-stick`);
    const r = zflash(flashArgs(iso, stick.device));
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(media.isMounted()).toBe(false);
    expect(flashedHostname(stick.device)).toBe('node-7\n');
  });

  it('busy under /media: the flash fails before anything is written, naming the mount point', () => {
    const stick = loop('media-busy.img', 64, true);
    const media = mount(partitionLoop(stick), `/media/${tag}-busy`);
    writeFileSync(`${media.target}/open.txt`, 'open in an editor\n');
    const head = readDevice(stick.device, MiB);
    const fd = openSync(`${media.target}/open.txt`, 'r');
    try {
      const r = zflash(flashArgs(iso, stick.device));
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('code: ZFLASH_DRIVE_BUSY');
      expect(r.stderr).toContain(media.target);
      // Not detached lazily: still mounted and reachable by its path.
      expect(media.isMounted()).toBe(true);
      expect(readFileSync(`${media.target}/open.txt`, 'utf8')).toBe('open in an editor\n');
      expect(readDevice(stick.device, MiB).equals(head)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('a data mount that appears after the check is refused when the drive is opened', async () => {
    const stick = loop('late-mount.img', 64, true);
    const part = partitionLoop(stick);
    const checked = await recheckDrive(stick.device, { allowLoop: true });
    expect(checked.verdict.status).toBe('eligible');
    const data = mount(part, `${tmp.path}/late-data`);
    const err = await failure(
      openDriveDestination({
        device: stick.device,
        raw: stick.device,
        size: 64 * MiB,
        deviceNumber: checked.deviceNumber,
      }),
    );
    expect(err.code).toBe('ZFLASH_DRIVE_MOUNTED');
    expect(err.message).toContain(data.target);
    expect(data.isMounted()).toBe(true);
  });
});

describe('the image cannot destroy itself', () => {
  it('a loop device backed by the image is refused as holding it, by any path to the image', () => {
    const image = `${tmp.path}/self.iso`;
    writeFileSync(image, readFileSync(iso));
    const stick = run('losetup', ['-f', '--show', image]).trim();
    const self: Loop = {
      device: stick,
      backingFile: image,
      detach: () => {
        const back = run('losetup', ['-n', '-O', 'BACK-FILE', stick]).trim();
        if (back === image) run('losetup', ['-d', stick]);
      },
    };
    loops.push(self);
    const hard = `${tmp.path}/self-hard.iso`;
    const soft = `${tmp.path}/self-soft.iso`;
    linkSync(image, hard);
    symlinkSync(image, soft);
    const before = fileSha256(image);
    for (const path of [image, hard, soft]) {
      const r = zflash([...flashArgs(path, stick), '--json']);
      expect(r.code, path).toBe(3);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as {
        error?: { code: string; details?: { reasons?: string[] } };
      };
      expect(last.error?.code).toBe('ZFLASH_DRIVE_REFUSED');
      expect(last.error?.details?.reasons).toEqual(['DRIVE_HOLDS_IMAGE']);
      expect(fileSha256(image)).toBe(before);
    }
  });

  it('--target naming the image (same path, a symlink, a hard link) is refused even with --force', () => {
    const image = `${tmp.path}/keep.iso`;
    writeFileSync(image, readFileSync(iso));
    const hard = `${tmp.path}/keep-hard.iso`;
    const soft = `${tmp.path}/keep-soft.iso`;
    linkSync(image, hard);
    symlinkSync(image, soft);
    const before = fileSha256(image);
    for (const target of [image, hard, soft]) {
      const r = zflash(targetArgs(image, target, '--force'));
      expect(r.code, target).toBe(3);
      expect(r.stderr).toContain('code: ZFLASH_TARGET_IS_IMAGE');
      expect(statSync(image).size).toBe(readFileSync(iso).length);
      expect(fileSha256(image)).toBe(before);
    }
  });

  it('the engine refuses it before opening anything, and again on the opened handle', async () => {
    const image = `${tmp.path}/engine.iso`;
    writeFileSync(image, 'image bytes');
    const hard = `${tmp.path}/engine-hard.iso`;
    linkSync(image, hard);
    const pre = await failure(checkFileTarget(hard, { overwrite: true, imagePath: image }));
    expect(pre.code).toBe('ZFLASH_TARGET_IS_IMAGE');
    const open = await failure(openFileDestination(hard, { overwrite: true, imagePath: image }));
    expect(open.code).toBe('ZFLASH_TARGET_IS_IMAGE');
    expect(readFileSync(image, 'utf8')).toBe('image bytes');
  });
});

describe('--target FILE', () => {
  it('never follows a symlink planted at the target path, even with --force', () => {
    const victim = `${tmp.path}/victim.conf`;
    writeFileSync(victim, 'precious\n');
    const planted = `${tmp.path}/planted.img`;
    symlinkSync(victim, planted);
    for (const more of [[], ['--force']]) {
      const r = zflash(targetArgs(iso, planted, ...more));
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('code: ZFLASH_TARGET_LINK');
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    }
  });

  it('creates the file readable by its owner only (the manifest can carry secrets)', () => {
    const out = `${tmp.path}/private.img`;
    const r = zflash(targetArgs(iso, out));
    expect(r.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it('refuses, before any work, a missing folder, a folder, a device and an existing file', async () => {
    const missing = `${tmp.path}/no-such-folder/out.img`;
    const a = await failure(checkFileTarget(missing, { overwrite: false }));
    expect(a.code).toBe('ZFLASH_TARGET_FOLDER_MISSING');
    expect(a.message).toBe(
      `Cannot write ${missing}: the folder ${tmp.path}/no-such-folder does not exist.`,
    );
    const r = zflash(targetArgs(iso, missing));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`the folder ${tmp.path}/no-such-folder does not exist`);

    const folder = `${tmp.path}/a-folder`;
    mkdirSync(folder);
    expect((await failure(checkFileTarget(folder, { overwrite: true }))).code).toBe(
      'ZFLASH_TARGET_NOT_A_FILE',
    );
    expect((await failure(checkFileTarget('/dev/null', { overwrite: true }))).code).toBe(
      'ZFLASH_TARGET_NOT_A_FILE',
    );
    const existing = `${tmp.path}/existing.img`;
    writeFileSync(existing, 'old');
    expect((await failure(checkFileTarget(existing, { overwrite: false }))).code).toBe(
      'ZFLASH_TARGET_EXISTS',
    );
    expect(await checkFileTarget(existing, { overwrite: true })).toEqual({
      path: existing,
      exists: true,
    });
    expect(await checkFileTarget(`${tmp.path}/fresh.img`, { overwrite: false })).toEqual({
      path: `${tmp.path}/fresh.img`,
      exists: false,
    });
    // The same checks hold at open time.
    expect((await failure(openFileDestination(missing, { overwrite: true }))).code).toBe(
      'ZFLASH_TARGET_FOLDER_MISSING',
    );
    expect(readFileSync(existing, 'utf8')).toBe('old');
  });

  it('replaces an existing file through its handle, refusing one with other hard links', async () => {
    const shared = `${tmp.path}/shared.img`;
    writeFileSync(shared, 'someone else’s data');
    linkSync(shared, `${tmp.path}/shared-other-name`);
    const err = await failure(openFileDestination(shared, { overwrite: true }));
    expect(err.code).toBe('ZFLASH_TARGET_LINK');
    expect(readFileSync(shared, 'utf8')).toBe('someone else’s data');

    const old = `${tmp.path}/old.img`;
    writeFileSync(old, 'x'.repeat(8192), { mode: 0o644 });
    const dest = await openFileDestination(old, { overwrite: true });
    await dest.write(Buffer.from('new'), 3, 0);
    await dest.close();
    expect(readFileSync(old, 'utf8')).toBe('new');
    expect(statSync(old).mode & 0o777).toBe(0o600);
  });

  it('discard removes a file it created, never one it did not create or one swapped in', async () => {
    const created = `${tmp.path}/half.img`;
    const a = await openFileDestination(created, { overwrite: false });
    await a.write(Buffer.from('half written'), 12, 0);
    expect(await a.discard()).toBe(true);
    expect(existsSync(created)).toBe(false);

    const preexisting = `${tmp.path}/theirs.img`;
    writeFileSync(preexisting, 'theirs');
    const b = await openFileDestination(preexisting, { overwrite: true });
    expect(await b.discard()).toBe(false);
    expect(existsSync(preexisting)).toBe(true);

    const swapped = `${tmp.path}/swapped.img`;
    const c = await openFileDestination(swapped, { overwrite: false });
    writeFileSync(`${tmp.path}/replacement`, 'not ours');
    renameSync(`${tmp.path}/replacement`, swapped);
    expect(await c.discard()).toBe(false);
    expect(readFileSync(swapped, 'utf8')).toBe('not ours');
  });

  it('a cancelled --target write leaves no half-written file behind', async () => {
    // bzip2 decodes slowly in JS: a big one gives time to cancel mid-write.
    const big = buildNixosIso(`${tmp.path}/big.iso`, { fillerBytes: 24 * MiB });
    run('bzip2', ['-k', '-1', big]);
    const out = `${tmp.path}/cancelled.img`;
    const child = spawn(
      process.execPath,
      [ZFLASH_BIN, ...targetArgs(`${big}.bz2`, out, '--json')],
      { env: { ...process.env, ...env } },
    );
    let sent = false;
    createInterface({ input: child.stdout }).on('line', (l) => {
      const e = JSON.parse(l) as { type: string; phase?: string; bytes?: number };
      if (!sent && e.type === 'progress' && e.phase === 'writing' && (e.bytes ?? 0) > 8 * MiB) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(existsSync(out)).toBe(false);
  });
});

describe('the opened device is the one that was judged (issue 16)', () => {
  it('a drive judged by number, then handed another device’s path: refused, nothing written', async () => {
    const judged = loop('judged.img', 16);
    const other = loop('other.img', 16);
    writeFileSync(other.backingFile, Buffer.alloc(16 * MiB, 0xa5));
    const before = sha256(readFileSync(other.backingFile));
    const checked = await recheckDrive(judged.device, { allowLoop: true });
    expect(checked.deviceNumber).toBe(await numberOf(judged.device));
    const err = await failure(
      openDriveDestination({
        device: other.device,
        raw: other.device,
        size: 16 * MiB,
        deviceNumber: checked.deviceNumber,
      }),
    );
    expect(err.code).toBe('ZFLASH_DRIVE_CHANGED');
    expect(sha256(readFileSync(other.backingFile))).toBe(before);
  });

  it('a symlink swapped between the check and the open: refused', async () => {
    const judged = loop('link-judged.img', 16);
    const other = loop('link-other.img', 16);
    const link = `${tmp.path}/by-id-stick`;
    symlinkSync(judged.device, link);
    const checked = await recheckDrive(link, { allowLoop: true });
    expect(checked.verdict.status).toBe('eligible');
    // The same name now leads to another device.
    const next = `${link}.next`;
    symlinkSync(other.device, next);
    renameSync(next, link);
    const err = await failure(
      openDriveDestination({
        device: link,
        raw: link,
        size: 16 * MiB,
        deviceNumber: checked.deviceNumber,
      }),
    );
    expect(err.code).toBe('ZFLASH_DRIVE_CHANGED');
  });

  it('the judged device itself opens, and writes and reads through the aligned handle', async () => {
    const stick = loop('aligned.img', 16);
    const checked = await recheckDrive(stick.device, { allowLoop: true });
    const dest = await openDriveDestination({
      device: stick.device,
      raw: stick.device,
      size: 16 * MiB,
      blockSize: 512,
      deviceNumber: checked.deviceNumber,
    });
    try {
      const block = alignedBuffer(4096).fill(0x5a);
      await dest.write(block, 4096, 8192);
      // Unaligned: read-modify-write through a bounce buffer.
      await dest.write(Buffer.from('zeta'), 4, 8192 + 100);
      await dest.sync();
      const back = Buffer.alloc(8);
      expect(await dest.read(back, 8, 8192 + 98)).toBe(8);
      expect(back.toString('latin1')).toBe('ZZzetaZZ');
    } finally {
      await dest.close();
    }
    const onDisk = readDevice(stick.device, 4096, 8192);
    expect(onDisk.subarray(100, 104).toString()).toBe('zeta');
    expect(onDisk[99]).toBe(0x5a);
    expect(onDisk[104]).toBe(0x5a);
  });
});
