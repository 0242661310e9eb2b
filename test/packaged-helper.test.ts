/**
 * The packaged app's helper, built for real and run for real: electron-builder's afterPack
 * hook (scripts/after-pack.mjs) makes `resources/helper/` of a packed Linux app from its
 * app.asar.unpacked addons — a Node single-executable application with its addons beside it —
 * and that executable, as root, flashes loop devices from a plain, an xz, a zstd and a bzip2
 * image (each decoder loads from beside the executable), also from the copy an AppImage makes.
 * What the SEA must refuse is tried too: Node options on its command line, a prompt naming
 * another drive than the job.
 *
 * What only a real build machine shows: the same for macOS (Mach-O, codesign, notarization)
 * and Windows (PE, UAC), and the addons as electron-builder rebuilds them (docs/packaging.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorFromStderr, runHelper } from '../app/helper/client.js';
import type { HelperEvent, WriteJobRequest } from '../app/helper/protocol.js';
import { NATIVE_MODULES } from '../app/native.js';
import { buildNodeIdentity, readSshKeyFile, type NodeIdentity } from '../app/node/index.js';
import { helperExecutableName, stageHelper } from '../main/helper-command.js';
import afterPack from '../scripts/after-pack.mjs';
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
} from './fixtures.js';

const MiB = 1024 * 1024;
const tmp = tempDir('zflash-packaged-helper-');
const loops: Loop[] = [];
const env = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
let helperDir: string;
let exe: string;
let iso: string;
let identity: NodeIdentity;

function drive(name: string): { loop: Loop; file: string } {
  const file = join(tmp.path, name);
  writeFileSync(file, Buffer.alloc(64 * MiB, 0xa5));
  const loop = attachLoop(file);
  loops.push(loop);
  return { loop, file };
}

const request = (image: string, device: string): WriteJobRequest => ({
  version: 1,
  verb: 'write',
  image: { path: image, sha256: null },
  drive: { device, expectedSize: null },
  file: null,
  identity,
  createdAt: '2025-01-02T03:04:05.000Z',
  verify: true,
  eject: false,
  allowLoop: true,
});

/** Runs `cmd` with stdin held open (EOF means "stop" to the helper) until it exits. */
function runHeld(cmd: string, args: readonly string[]) {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

beforeAll(async () => {
  requireLoop();
  // A packed Linux app as electron-builder leaves it before afterPack: the addons unpacked
  // from the asar (electron-builder.yml asarUnpack), rebuilt for the target.
  const appOutDir = join(tmp.path, 'linux-unpacked');
  const unpacked = join(appOutDir, 'resources', 'app.asar.unpacked', 'node_modules');
  for (const m of NATIVE_MODULES) {
    cpSync(join(process.cwd(), 'node_modules', m), join(unpacked, m), { recursive: true });
  }
  await afterPack(
    {
      appOutDir,
      electronPlatformName: 'linux',
      arch: process.arch === 'arm64' ? 3 : 1,
      packager: { getResourcesDir: (dir: string) => join(dir, 'resources') },
    },
    {},
  );
  helperDir = join(appOutDir, 'resources', 'helper');
  exe = join(helperDir, helperExecutableName('linux'));

  iso = buildNixosIso(join(tmp.path, 'nixos.iso'));
  const key = join(tmp.path, 'id_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  const { keys } = await readSshKeyFile(`${key}.pub`);
  ({ identity } = buildNodeIdentity({ hostname: 'node-9', keys }));
}, 180_000);

afterAll(() => {
  for (const l of loops) l.detach();
  tmp.cleanup();
});

describe('resources/helper as afterPack builds it', () => {
  it('is one executable and the addons it loads, for this platform only', () => {
    expect(statSync(exe).mode & 0o111).not.toBe(0);
    expect(readdirSync(join(helperDir, 'node_modules'))).toEqual(
      expect.arrayContaining([
        '@ronomon',
        'xxhash-addon',
        'lzma-native',
        'drivelist',
        'zstd-napi',
        '@foxglove',
      ]),
    );
    expect(existsSync(join(helperDir, 'node_modules', 'mountutils'))).toBe(false);
    const prebuilds = readdirSync(join(helperDir, 'node_modules', 'lzma-native', 'prebuilds'));
    expect(prebuilds).toEqual([`linux-${process.arch}`]);
    expect(JSON.parse(readFileSync(join(helperDir, 'package.json'), 'utf8'))).toMatchObject({
      name: 'zeta-flash',
    });
  });
});

describe('the packaged helper flashes a loop device as root', () => {
  it.each([
    ['a plain ISO', 'nixos.iso', null],
    ['an .iso.xz (lzma-native)', 'nixos.iso.xz', ['xz', '-k', '-T1', '-c']],
    ['an .img.zst (zstd-napi)', 'nixos.img.zst', ['zstd', '-q', '-c']],
    [
      'an .iso.bz2 (the wasm bz2 decoder and its .wasm file)',
      'nixos.iso.bz2',
      ['bzip2', '-k', '-c'],
    ],
  ] as const)('%s', async (_what, name, compress) => {
    const image = join(tmp.path, name);
    if (compress) {
      const [cmd, ...args] = compress;
      writeFileSync(image, compressed(cmd, args, iso));
    }
    const { loop, file } = drive(`${name}.stick`);
    const events: HelperEvent[] = [];
    const result = await runHelper(request(image, loop.device), {
      env,
      helperCommand: [exe],
      isRoot: true,
      platform: 'linux',
      tempDir: tmp.path,
      onEvent: (e) => events.push(e),
    });
    expect(result).toMatchObject({ type: 'result', device: loop.device, verified: true });
    expect(events.some((e) => e.type === 'progress' && e.phase === 'verifying')).toBe(true);
    const esp = espOffsetBySfdisk(iso);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('node-9\n');
    fsckClean(extractRange(loop.device, esp.offset, esp.size, `${file}.esp`));
    // Past the ESP the stick holds the image's own bytes.
    const isoBytes = readFileSync(iso);
    const tail = esp.offset + esp.size;
    expect(sha256(readFileSync(file).subarray(tail, isoBytes.length))).toBe(
      sha256(isoBytes.subarray(tail)),
    );
  });

  it('the AppImage way: a copy staged out of the (FUSE) mount runs the same', async () => {
    const runtime = join(tmp.path, 'run-user');
    mkdirSync(runtime, { mode: 0o700 });
    const staged = await stageHelper({
      source: helperDir,
      executable: helperExecutableName('linux'),
      base: runtime,
    });
    try {
      const { loop } = drive('staged.stick');
      const result = await runHelper(request(iso, loop.device), {
        env,
        helperCommand: staged.command,
        isRoot: true,
        platform: 'linux',
        tempDir: tmp.path,
      });
      expect(result).toMatchObject({ verified: true });
    } finally {
      staged.dispose();
    }
    expect(existsSync(staged.dir)).toBe(false);
  });
});

describe('what the packaged helper refuses', () => {
  it('Node options on its command line are its arguments, refused: `-e CODE` and `--require FILE` run nothing', async () => {
    const marker = join(tmp.path, 'pwned');
    const preload = join(tmp.path, 'preload.js');
    writeFileSync(preload, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x');\n`);
    for (const args of [
      ['-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`],
      ['--require', preload, 'write', '--job', join(tmp.path, 'none.json')],
      ['--inspect=127.0.0.1:0', 'write'],
    ]) {
      const r = await runHeld(exe, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(errorFromStderr(r.stderr)?.code).toBe('ZFLASH_HELPER_USAGE');
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('a prompt that named another drive than the job: refused, neither drive touched', async () => {
    const a = drive('named-in-job.stick');
    const b = drive('shown-in-prompt.stick');
    const before = [sha256(readFileSync(a.file)), sha256(readFileSync(b.file))];
    const dir = join(tmp.path, 'zflash-job-prompt');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    const job = join(dir, 'job.json');
    writeFileSync(job, JSON.stringify({ ...request(iso, a.loop.device), parentPid: process.pid }), {
      mode: 0o600,
    });
    const r = await runHeld(exe, [
      'write',
      '--drive',
      b.loop.device,
      '--job',
      job,
      '--requester',
      '0',
    ]);
    expect(r.code).toBe(2);
    expect(errorFromStderr(r.stderr)).toMatchObject({
      code: 'ZFLASH_HELPER_USAGE',
      message: expect.stringContaining(`--drive ${b.loop.device} is not what the job names`),
    });
    expect([sha256(readFileSync(a.file)), sha256(readFileSync(b.file))]).toEqual(before);
  });
});

/** The compressed image: the tool's stdout, as bytes. */
function compressed(cmd: string, args: readonly string[], input: string): Buffer {
  const r = spawnSync(cmd, [...args, input], { maxBuffer: 256 * MiB });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr.toString()}`);
  return r.stdout;
}
