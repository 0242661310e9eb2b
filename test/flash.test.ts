/**
 * `zflash flash` end to end on real loop block devices: the built command, the helper it
 * starts, etcher-sdk's block device underneath. Judged byte for byte against the image
 * with the ESP patch applied, by mtools and by fsck.fat; and through the faults a user
 * meets (fake-capacity stick, Ctrl-C, a killed parent, bad checksum, small drive, refused
 * drive, corrupted download).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeImagePatch } from '../app/flash/overlay.js';
import { cleanStaleJobDirs, runHelper } from '../app/helper/client.js';
import type { HelperEvent } from '../app/helper/protocol.js';
import { probeImage } from '../app/image/image-source.js';
import { readSshKeyFile, buildNodeIdentity } from '../app/node/index.js';
import { renderPayload } from '../app/payload/render.js';
import {
  attachLoop,
  buildNixosIso,
  espOffsetBySfdisk,
  extractRange,
  fsckClean,
  mtype,
  requireLoop,
  run,
  sha256,
  tempDir,
  type Loop,
  zflash as runZflash,
  ZFLASH_BIN as BIN,
} from './fixtures.js';

const HELPER = new URL('../dist/app/helper/entry.js', import.meta.url).pathname;
const MiB = 1024 * 1024;
const tmp = tempDir();
const loops: Loop[] = [];
const mounts: string[] = [];
const env = { ZFLASH_ALLOW_LOOP: '1' };
const zflash = (args: string[], extraEnv: Record<string, string> = env) =>
  runZflash(args, extraEnv);

let iso: string;
let key: string;

/** A loop device over a new file of `mib` MiB filled with a pattern (so "untouched" is checkable). */
function drive(name: string, mib: number, dir = tmp.path): { loop: Loop; file: string } {
  const file = `${dir}/${name}`;
  writeFileSync(file, Buffer.alloc(mib * MiB, 0xa5));
  const loop = attachLoop(file);
  loops.push(loop);
  return { loop, file };
}

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

/** The image with the ESP patch the helper computed (same identity, same createdAt). */
async function expectedBytes(
  image: string,
  createdAt: string,
  imageSha256: string | null = null,
): Promise<Buffer> {
  const { keys } = await readSshKeyFile(`${key}.pub`);
  const { identity } = buildNodeIdentity({ hostname: 'node-7', keys });
  const when = new Date(createdAt);
  const info = await probeImage(image);
  const patch = await computeImagePatch(
    info,
    renderPayload(identity, { createdAt: when, imageSha256 }),
    { now: when },
  );
  const raw =
    info.compression === 'none'
      ? readFileSync(image)
      : readFileSync(image.replace(/\.(xz|gz|zst|bz2)$/, ''));
  for (const e of patch.extents) e.data.copy(raw, e.offset);
  return raw;
}

function helperPids(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(HELPER)) pids.push(Number(d));
    } catch {
      // gone
    }
  }
  return pids;
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(() => {
  requireLoop();
  iso = buildNixosIso(`${tmp.path}/nixos.iso`, { fillerBytes: 12 * MiB });
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
});

afterAll(() => {
  for (const l of loops) l.detach();
  for (const m of mounts) spawnSync('umount', [m]);
  tmp.cleanup();
});

describe('flash to a real block device', () => {
  it('writes every byte of the overlaid image; mtools reads the payload; fsck.fat is clean', async () => {
    const { loop } = drive('d1.img', 64);
    const r = zflash([...flashArgs(iso, loop.device), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const phases = new Set(lines.filter((l) => l.type === 'progress').map((l) => l.phase));
    expect([...phases]).toEqual(
      expect.arrayContaining(['preparing', 'writing', 'finishing', 'verifying']),
    );
    const result = lines.at(-1);
    expect(result).toMatchObject({ type: 'result', verified: true, hostname: 'node-7' });

    const size = readFileSync(iso).length;
    const onDisk = readDevice(loop.device, size);
    const esp = espOffsetBySfdisk(iso);
    const manifest = JSON.parse(mtype(loop.device, esp.offset, 'zeta-node.json'));
    expect(sha256(onDisk)).toBe(sha256(await expectedBytes(iso, manifest.createdAt)));
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('node-7\n');
    fsckClean(extractRange(loop.device, esp.offset, esp.size, `${tmp.path}/d1.esp`));
    // The rest of the drive's last MiB was wiped (no stale backup GPT from an earlier use).
    expect(readDevice(loop.device, MiB, 63 * MiB).every((b) => b === 0)).toBe(true);
  });

  it.each(['xz', 'gz', 'zst'])(
    'writes a .%s image, decompressed on the fly, identical to the raw one',
    async (ext) => {
      const compressed = `${iso}.${ext}`;
      const tool =
        {
          xz: ['xz', '-k', '-T1', '-1'],
          gz: ['gzip', '-k', '-1'],
          zst: ['zstd', '-q', '-k', '-1'],
        }[ext] ?? [];
      spawnSync('rm', ['-f', compressed]);
      run(tool[0] ?? '', [...tool.slice(1), iso]);
      const { loop } = drive(`d-${ext}.img`, 64);
      const r = zflash(flashArgs(compressed, loop.device));
      expect(r.stderr).not.toMatch(/error:/);
      expect(r.code).toBe(0);
      const esp = espOffsetBySfdisk(iso);
      const manifest = JSON.parse(mtype(loop.device, esp.offset, 'zeta-node.json'));
      const size = readFileSync(iso).length;
      expect(sha256(readDevice(loop.device, size))).toBe(
        sha256(await expectedBytes(compressed, manifest.createdAt)),
      );
    },
  );

  it('writes an image file with --target, and refuses to overwrite it without --force', async () => {
    const out = `${tmp.path}/out.img`;
    const r = zflash([
      'flash',
      iso,
      '--target',
      out,
      '--host',
      'node-7',
      '--ssh-key',
      `${key}.pub`,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const esp = espOffsetBySfdisk(out);
    const manifest = JSON.parse(mtype(out, esp.offset, 'zeta-node.json'));
    expect(sha256(readFileSync(out))).toBe(sha256(await expectedBytes(iso, manifest.createdAt)));
    const again = zflash([
      'flash',
      iso,
      '--target',
      out,
      '--host',
      'node-7',
      '--ssh-key',
      `${key}.pub`,
    ]);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('code: ZFLASH_TARGET_EXISTS');
  });

  it('records the image checksum from a sidecar .sha256 in the manifest', () => {
    const digest = sha256(readFileSync(iso));
    writeFileSync(`${iso}.sha256`, `${digest}  nixos.iso\n`);
    try {
      const { loop } = drive('d-sum.img', 64);
      expect(zflash(flashArgs(iso, loop.device)).code).toBe(0);
      const esp = espOffsetBySfdisk(iso);
      expect(JSON.parse(mtype(loop.device, esp.offset, 'zeta-node.json')).image).toEqual({
        sha256: digest,
      });
    } finally {
      spawnSync('rm', ['-f', `${iso}.sha256`]);
    }
  });
});

describe('faults: right exit code, clear message, nothing written that should not be', () => {
  it('a fake-capacity stick (writes fail past what it really holds) is named as such', () => {
    const small = `${tmp.path}/tmpfs`;
    mkdirSync(small);
    run('mount', ['-t', 'tmpfs', '-o', 'size=10M', 'tmpfs', small]);
    mounts.unshift(small);
    // Claims 64 MiB, holds 10: a sparse file on a 10 MiB tmpfs.
    run('truncate', ['-s', '64M', `${small}/fake.img`]);
    const loop = attachLoop(`${small}/fake.img`);
    loops.push(loop);
    const r = zflash(flashArgs(iso, loop.device));
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('code: ZFLASH_FAKE_CAPACITY');
    expect(r.stderr).toMatch(/holds less than it claims/);
    // Never finished: no partition table was written.
    expect(readDevice(loop.device, 512).every((b) => b === 0)).toBe(true);
  });

  it('a checksum mismatch stops before the drive is touched', () => {
    const { loop, file } = drive('d-bad-sum.img', 64);
    const before = sha256(readFileSync(file));
    const r = zflash([...flashArgs(iso, loop.device), '--sha256', 'ab'.repeat(32)]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('code: ZFLASH_CHECKSUM_MISMATCH');
    expect(sha256(readFileSync(file))).toBe(before);
  });

  it('a drive smaller than the image is refused up front, untouched', () => {
    const { loop, file } = drive('d-small.img', 8);
    const before = sha256(readFileSync(file));
    const r = zflash(flashArgs(iso, loop.device));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/code: ZFLASH_DRIVE_(REFUSED|TOO_SMALL)/);
    expect(r.stderr).toMatch(/small/i);
    expect(sha256(readFileSync(file))).toBe(before);
  });

  it('a corrupted compressed image fails with ZFLASH_IMAGE_CORRUPT and an unfinished stick', () => {
    const bad = `${tmp.path}/corrupt.iso.xz`;
    const xz = spawnSync('xz', ['-T1', '-1', '-c', iso]).stdout;
    xz.fill(0x42, Math.floor(xz.length / 2), Math.floor(xz.length / 2) + 64);
    writeFileSync(bad, xz);
    const { loop } = drive('d-corrupt.img', 64);
    const r = zflash(flashArgs(bad, loop.device));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('code: ZFLASH_IMAGE_CORRUPT');
    // No partition table was written (the stick is either untouched or wiped, never "finished").
    const first = readDevice(loop.device, 512);
    expect(first.equals(readFileSync(iso).subarray(0, 512))).toBe(false);
    expect(first[510] === 0x55 && first[511] === 0xaa).toBe(false);
  });

  it('Ctrl-C mid-write: exit 130, reported as cancelled, first MiB not written', async () => {
    // bzip2 decodes slowly in JS: a big one gives time to cancel mid-write.
    const big = buildNixosIso(`${tmp.path}/big.iso`, { fillerBytes: 40 * MiB });
    run('bzip2', ['-k', '-1', big]);
    const { loop } = drive('d-cancel.img', 128);
    const child = spawn(
      process.execPath,
      [BIN, ...flashArgs(`${big}.bz2`, loop.device), '--json'],
      {
        env: { ...process.env, ...env },
      },
    );
    const lines = createInterface({ input: child.stdout });
    const seen: Record<string, unknown>[] = [];
    let sent = false;
    lines.on('line', (l) => {
      const e = JSON.parse(l);
      seen.push(e);
      if (!sent && e.type === 'progress' && e.phase === 'writing' && e.bytes > 8 * MiB) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(seen.at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_CANCELLED', kind: 'cancelled' },
    });
    expect(readDevice(loop.device, MiB).every((b) => b === 0)).toBe(true);
    await until('the helper to exit', () => helperPids().length === 0);
  });

  it('the parent killed mid-write: the helper stops by itself; first MiB not written; no job file left', async () => {
    const jobDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('zflash-job-'));
    const big = `${tmp.path}/big.iso.bz2`;
    const { loop } = drive('d-orphan.img', 128);
    const child = spawn(process.execPath, [BIN, ...flashArgs(big, loop.device), '--json'], {
      env: { ...process.env, ...env },
    });
    const lines = createInterface({ input: child.stdout });
    let killed = false;
    lines.on('line', (l) => {
      const e = JSON.parse(l);
      if (!killed && e.type === 'progress' && e.phase === 'writing' && e.bytes > 8 * MiB) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    await new Promise((res) => child.on('close', res));
    expect(killed).toBe(true);
    await until('the orphaned helper to exit', () => helperPids().length === 0);
    expect(readDevice(loop.device, MiB).every((b) => b === 0)).toBe(true);
    // The helper emptied the job (the node's identity) although its parent never could
    // remove it (root deletes nothing by path); the next start removes the folder.
    const left = jobDirs().filter((d) => d.startsWith(`zflash-job-${child.pid}-`));
    expect(left).toHaveLength(1);
    expect(readFileSync(`${tmpdir()}/${left[0]}/job.json`)).toHaveLength(0);
    await cleanStaleJobDirs(tmpdir());
    expect(jobDirs().filter((d) => left.includes(d))).toEqual([]);
  });
});

describe('the helper trusts nothing', () => {
  /** Starts the helper as the client does: its stdin held open by us, its parent. */
  async function runHelperWith(job: unknown, mode = 0o600) {
    const dir = `${tmp.path}/job-${Math.random().toString(36).slice(2)}`;
    mkdirSync(dir, { mode: 0o700 });
    const path = `${dir}/job.json`;
    writeFileSync(path, JSON.stringify(job));
    chmodSync(path, mode);
    const child = spawn(process.execPath, [HELPER, 'write', '--job', path], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    const last = out.trim().split('\n').at(-1) ?? '{}';
    return { code, event: JSON.parse(last) };
  }

  async function job(device: string, allowLoop = true) {
    const { keys } = await readSshKeyFile(`${key}.pub`);
    const { identity } = buildNodeIdentity({ hostname: 'node-7', keys });
    return {
      version: 1,
      verb: 'write',
      image: { path: iso, sha256: null },
      drive: { device, expectedSize: null },
      file: null,
      identity,
      createdAt: new Date().toISOString(),
      verify: true,
      eject: false,
      allowLoop,
      parentPid: process.pid,
    };
  }

  it('refuses a read-only drive passed straight to it', async () => {
    const file = `${tmp.path}/ro-drive.img`;
    writeFileSync(file, Buffer.alloc(64 * MiB, 0xa5));
    const loop = attachLoop(file, { readOnly: true });
    loops.push(loop);
    const r = await runHelperWith(await job(loop.device));
    expect(r.code).toBe(3);
    expect(r.event).toMatchObject({ type: 'error', error: { code: 'ZFLASH_DRIVE_REFUSED' } });
    expect(r.event.error.details.reasons).toContain('DRIVE_READ_ONLY');
  });

  it('refuses a loop device when the job does not allow them, and a regular file as a drive', async () => {
    const { loop, file } = drive('d-noloop.img', 64);
    const before = sha256(readFileSync(file));
    const r1 = await runHelperWith(await job(loop.device, false));
    expect(r1.code).toBe(3);
    expect(r1.event.error.code).toBe('ZFLASH_DRIVE_REFUSED');
    const r2 = await runHelperWith(await job(file));
    expect(r2.code).toBe(3);
    expect(r2.event.error.details.reasons).toContain('DRIVE_NOT_BLOCK_DEVICE');
    expect(sha256(readFileSync(file))).toBe(before);
  });

  it('refuses a job file others can read, and a job that fails its schema', async () => {
    const { loop, file } = drive('d-jobmode.img', 64);
    const before = sha256(readFileSync(file));
    for (const mode of [0o640, 0o644]) {
      const r1 = await runHelperWith(await job(loop.device), mode);
      expect(r1.code).toBe(2);
      expect(r1.event.error.code).toBe('ZFLASH_HELPER_JOB');
      expect(r1.event.error.message).toMatch(/must be 0600/);
      expect(sha256(readFileSync(file))).toBe(before);
    }
    const forged = {
      ...(await job(loop.device)),
      identity: { hostname: 'x;rm -rf /', keys: [], roles: [], wifi: null, passwordHash: null },
    };
    const r2 = await runHelperWith(forged);
    expect(r2.code).toBe(2);
    expect(r2.event.error.code).toBe('ZFLASH_HELPER_JOB');
    expect(sha256(readFileSync(file))).toBe(before);
  });
});

describe('the files channel (how osascript and UAC reach the helper), run for real as root', () => {
  async function request(image: string, device: string) {
    const { keys } = await readSshKeyFile(`${key}.pub`);
    const { identity } = buildNodeIdentity({ hostname: 'node-7', keys });
    return {
      version: 1 as const,
      verb: 'write' as const,
      image: { path: image, sha256: null },
      drive: { device, expectedSize: null },
      file: null,
      identity,
      createdAt: new Date().toISOString(),
      verify: true,
      eject: false,
      allowLoop: true,
    };
  }

  it('streams progress through events.jsonl and ends with a verified result', async () => {
    const { loop } = drive('d-files.img', 64);
    const events: HelperEvent[] = [];
    const result = await runHelper(await request(iso, loop.device), {
      channel: 'files',
      helperCommand: [process.execPath, HELPER],
      env: process.env,
      onEvent: (e) => events.push(e),
    });
    expect(result).toMatchObject({ type: 'result', verified: true });
    expect(events.some((e) => e.type === 'progress' && e.phase === 'verifying')).toBe(true);
    const esp = espOffsetBySfdisk(iso);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('node-7\n');
  });

  it('cancels through the cancel file: cancelled, first MiB not written', async () => {
    const { loop } = drive('d-files-cancel.img', 128);
    const ac = new AbortController();
    const run = runHelper(await request(`${tmp.path}/big.iso.bz2`, loop.device), {
      channel: 'files',
      helperCommand: [process.execPath, HELPER],
      env: process.env,
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.phase === 'writing' && e.bytes > 8 * MiB) ac.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'ZFLASH_CANCELLED', exitCode: 130 });
    expect(ac.signal.aborted).toBe(true);
    expect(readDevice(loop.device, MiB).every((b) => b === 0)).toBe(true);
  });

  it('refuses an events file that is a link (root never writes where the user points it)', async () => {
    const { loop, file } = drive('d-files-link.img', 64);
    const before = sha256(readFileSync(file));
    const dir = `${tmp.path}/zflash-job-link`;
    mkdirSync(dir, { mode: 0o700 });
    const victim = `${tmp.path}/victim.txt`;
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, `${dir}/events.jsonl`);
    writeFileSync(
      `${dir}/job.json`,
      JSON.stringify({ ...(await request(iso, loop.device)), parentPid: process.pid }),
      {
        mode: 0o600,
      },
    );
    const child = spawn(process.execPath, [
      HELPER,
      'write',
      '--job',
      `${dir}/job.json`,
      '--channel',
      'files',
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code).toBe(2);
    expect(JSON.parse(out.trim().split('\n').at(-1) ?? '{}').error.code).toBe('ZFLASH_HELPER_JOB');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(sha256(readFileSync(file))).toBe(before);
  });
});
