/**
 * Promises of docs/cli.md, docs/payload.md and `zflash help inject` that had no test, checked
 * on the built command as a user runs it:
 *
 * - exit 1 for a bug: an unexpected exception (here a real one, a package missing from the
 *   installation) is reported with the bug wording and ZFLASH_INTERNAL;
 * - `--password-file` reaches the stick only as its sha512crypt hash (flash --target, inject),
 *   read back with mtools, and the password is nowhere in the written image or the output;
 * - a full ESP root directory is ZFLASH_ESP_ROOT_FULL (exit 3) and the target is unchanged;
 * - a drive that changed between the choice and the write (while the confirmation question is
 *   open) is refused by the helper, and nothing is written;
 * - `inject` on a stick with a filesystem in use is refused by the drive policy, unchanged;
 * - a reader that closes the pipe early (`zflash flash … --json | head`) cancels like Ctrl-C.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  attachLoop,
  buildGptDisk,
  buildZetaIso,
  espOffsetBySfdisk,
  extractRange,
  fsckClean,
  mountExt4,
  mtype,
  requireLoop,
  run,
  sha256,
  tempDir,
  zflash,
  ZFLASH_BIN,
  type Loop,
  type Mount,
} from './fixtures.js';
import { cliLines, onlyLine } from './json-lines.js';

const MiB = 1024 * 1024;
const REPO = new URL('..', import.meta.url).pathname;
const tmp = tempDir('zflash-claims-');
const loops: Loop[] = [];
const mounts: Mount[] = [];
/** Distinctive, so a stray copy anywhere in an image is found by a byte search. */
const PASSWORD = 'Plaintext-Zeta-Console-Pw-7319';

let iso: string;
let key: string;

beforeAll(() => {
  iso = buildZetaIso(`${tmp.path}/zeta.iso`);
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
});
afterEach(() => {
  for (const m of mounts.splice(0).reverse()) m.cleanup();
});
afterAll(() => {
  for (const l of loops) l.detach();
  tmp.cleanup();
});

const identity = (host: string) => ['--host', host, '--ssh-key', `${key}.pub`];

describe('exit 1 for a bug (docs/cli.md: exit codes)', () => {
  /**
   * An installation of zflash (bin, dist, package.json) whose node_modules lacks one package:
   * a real unexpected exception (ERR_MODULE_NOT_FOUND) when a command loads, with no seam in
   * the code. Every other package is a link to the real one.
   */
  function brokenInstall(missing: string): string {
    const root = join(tmp.path, `install-without-${missing}`);
    mkdirSync(join(root, 'node_modules'), { recursive: true });
    for (const d of ['bin', 'dist', 'package.json']) {
      run('cp', ['-a', join(REPO, d), join(root, d)]);
    }
    // Without the bundle (dist/cli, which carries its JS dependencies inside), bin/ runs tsc's
    // output, which imports each package from node_modules: the missing one fails to load.
    rmSync(join(root, 'dist', 'cli'), { recursive: true, force: true });
    for (const name of readdirSync(join(REPO, 'node_modules'))) {
      if (name !== missing) {
        symlinkSync(join(REPO, 'node_modules', name), join(root, 'node_modules', name));
      }
    }
    return join(root, 'bin', 'zflash.js');
  }

  it('an unexpected exception exits 1 with the bug wording and ZFLASH_INTERNAL, text and --json', () => {
    const bin = brokenInstall('zod');
    const text = spawnSync(process.execPath, [bin, 'inspect', iso], { encoding: 'utf8' });
    expect(text.status).toBe(1);
    expect(text.stdout).toBe('');
    const lines = text.stderr.split('\n');
    expect(lines[0]).toMatch(
      /^error: Zeta Flash hit an unexpected error: Cannot find package 'zod'/,
    );
    expect(lines[1]).toBe(
      'hint: This is a bug in Zeta Flash. Photograph this screen or save the diagnostics and report it.',
    );
    expect(lines[2]).toBe('code: ZFLASH_INTERNAL');

    const json = spawnSync(process.execPath, [bin, 'inspect', iso, '--json'], {
      encoding: 'utf8',
    });
    expect(json.status).toBe(1);
    const { error } = onlyLine(json.stdout, 'error');
    expect(error).toMatchObject({ code: 'ZFLASH_INTERNAL', kind: 'bug', exitCode: 1 });
    expect(error.message).toContain("Cannot find package 'zod'");
    expect(error.hint).toContain('This is a bug in Zeta Flash');
  });
});

describe('--password-file reaches the stick only as a hash (docs/payload.md: passwordHash)', () => {
  let pwFile: string;
  beforeAll(() => {
    pwFile = join(tmp.path, 'console-password.txt');
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  });

  /** The manifest's hash is sha512crypt of exactly PASSWORD (openssl recomputes it). */
  function expectHashOfPassword(image: string): void {
    const esp = espOffsetBySfdisk(image);
    const manifest = JSON.parse(mtype(image, esp.offset, 'zeta-node.json')) as {
      passwordHash: string | null;
    };
    const hash = manifest.passwordHash ?? '';
    expect(hash).toMatch(/^\$6\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$/);
    const salt = hash.split('$')[2] ?? '';
    const again = run('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], {
      input: `${PASSWORD}\n`,
    }).trim();
    expect(again).toBe(hash);
  }

  /** Not in any byte of the image: not in ASCII/UTF-8, and not as UTF-16 (FAT long names). */
  function expectNoPlaintext(image: string): void {
    const bytes = readFileSync(image);
    expect(bytes.indexOf(Buffer.from(PASSWORD, 'utf8'))).toBe(-1);
    expect(bytes.indexOf(Buffer.from(PASSWORD, 'utf16le'))).toBe(-1);
  }

  it('flash --target: the manifest holds its sha512crypt hash; no plaintext in the image or the output', () => {
    const out = join(tmp.path, 'pw-flash.img');
    const r = zflash([
      'flash',
      iso,
      '--target',
      out,
      ...identity('node-pw'),
      '--password-file',
      pwFile,
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(onlyLine(r.stdout, 'result').hostname).toBe('node-pw');
    expectHashOfPassword(out);
    expectNoPlaintext(out);
    expect(`${r.stdout}${r.stderr}`).not.toContain(PASSWORD);
  });

  it('inject into an image file: the same', () => {
    const image = join(tmp.path, 'pw-inject.iso');
    copyFileSync(iso, image);
    const r = zflash(['inject', image, ...identity('node-pw2'), '--password-file', pwFile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectHashOfPassword(image);
    expectNoPlaintext(image);
    expect(r.stdout).not.toContain(PASSWORD);
  });
});

describe('a full ESP root directory (docs/payload.md: writing rules)', () => {
  /**
   * A GPT disk whose FAT16 ESP root (512 entries: the label, EFI and 505 short-named files)
   * keeps 5 free slots: the three node files need 9 (each long name costs 3).
   */
  let full: string;
  beforeAll(() => {
    const files: Record<string, string> = { 'EFI/BOOT/BOOTX64.EFI': 'efi' };
    for (let i = 0; i < 505; i++) files[`F${String(i).padStart(4, '0')}.TXT`] = `${i}\n`;
    full = buildGptDisk(join(tmp.path, 'root-full.img'), { fat: 16, files }).path;
  });

  it('inject refuses with ZFLASH_ESP_ROOT_FULL (exit 3) and leaves the image byte-for-byte unchanged', () => {
    const before = sha256(readFileSync(full));
    const r = zflash(['inject', full, ...identity('node-full'), '--json']);
    expect(r.code).toBe(3);
    const { error } = onlyLine(r.stdout, 'error');
    expect(error).toMatchObject({ code: 'ZFLASH_ESP_ROOT_FULL', kind: 'target', exitCode: 3 });
    expect(sha256(readFileSync(full))).toBe(before);
    const text = zflash(['inject', full, ...identity('node-full')]);
    expect(text.code).toBe(3);
    expect(text.stderr).toMatch(/\ncode: ZFLASH_ESP_ROOT_FULL\n/);
    expect(sha256(readFileSync(full))).toBe(before);
  });

  it('flash --target refuses it before writing: no target file, the source unchanged', () => {
    const before = sha256(readFileSync(full));
    const out = join(tmp.path, 'root-full-out.img');
    const r = zflash(['flash', full, '--target', out, ...identity('node-full'), '--json']);
    expect(r.code).toBe(3);
    expect(cliLines(r.stdout).at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_ESP_ROOT_FULL' },
    });
    expect(existsSync(out)).toBe(false);
    expect(sha256(readFileSync(full))).toBe(before);
  });
});

describe('drives that are not what they were (needs root: loop devices, ext4 mounts)', () => {
  beforeAll(() => requireLoop());

  /**
   * The stick is replaced by a bigger one under the same name while the confirmation question
   * is open: after `prepareFlash` judged it and before the helper opens it. The pty tool runs
   * the swap when the question appears and types the answer after it, so the timing is
   * deterministic. The swap grows the backing file and has the kernel re-read it
   * (`losetup -c`): the same /dev/loopN, another size. Detaching and attaching another file
   * would model it too, but would free /dev/loopN for a moment, and on a shared machine
   * another process's `losetup -f` could take it.
   */
  it('flash --drive: a drive that changed after the choice is refused by the helper; nothing is written', () => {
    const file = join(tmp.path, 'swapped.img');
    writeFileSync(file, Buffer.alloc(32 * MiB, 0xa5));
    const loop = attachLoop(file);
    loops.push(loop);
    const swap = `truncate -s ${48 * MiB} '${file}' && losetup -c '${loop.device}'`;
    const PTY = new URL('./tools/pty-answer.py', import.meta.url).pathname;
    const r = spawnSync(
      'python3',
      [
        PTY,
        'anything else cancels',
        basename(loop.device),
        '--hook',
        swap,
        '--',
        process.execPath,
        ZFLASH_BIN,
        'flash',
        iso,
        '--drive',
        loop.device,
        ...identity('node-swap'),
      ],
      { env: { ...process.env, ZFLASH_ALLOW_LOOP: '1' }, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).not.toBe(99);
    expect(r.stdout).toContain(`This will ERASE ${loop.device}`);
    expect(r.stdout).toContain('code: ZFLASH_DRIVE_REFUSED');
    expect(r.stdout).toContain(
      `${loop.device} is not the drive you chose any more (its size changed): choose the drive again.`,
    );
    expect(r.status).toBe(3);
    // The swapped-in drive: the old bytes, then the zeros the file grew by; not one written.
    const expected = Buffer.concat([Buffer.alloc(32 * MiB, 0xa5), Buffer.alloc(16 * MiB)]);
    expect(sha256(readFileSync(file))).toBe(sha256(expected));
  });

  /** A flashed-looking stick: a GPT disk image (ESP + Linux partition) on a loop device. */
  function stickWithData(name: string): { loop: Loop; file: string; espOffset: number } {
    const disk = buildGptDisk(join(tmp.path, name), { fat: 16, espMiB: 16, diskMiB: 40 });
    const loop = attachLoop(disk.path, { partitions: true });
    loops.push(loop);
    if (spawnSync('partx', ['-u', loop.device]).status !== 0) run('partx', ['-a', loop.device]);
    return { loop, file: disk.path, espOffset: disk.espOffset };
  }

  it('inject on a stick with a filesystem in use outside /media is refused (DRIVE_MOUNTED), the ESP unchanged', () => {
    const { loop, file, espOffset } = stickWithData('mounted.img');
    const data = mountExt4(`${loop.device}p2`, join(tmp.path, 'srv-data'));
    mounts.push(data);
    const esp = () => extractRange(file, 0, espOffset + 16 * MiB, join(tmp.path, 'esp.bin'));
    const before = sha256(readFileSync(esp()));
    const r = zflash(['inject', loop.device, ...identity('node-mnt'), '--json'], {
      ZFLASH_ALLOW_LOOP: '1',
    });
    expect(r.code).toBe(3);
    const { error } = onlyLine(r.stdout, 'error');
    expect(error.code).toBe('ZFLASH_DRIVE_REFUSED');
    expect(JSON.stringify(error.details)).toContain('DRIVE_MOUNTED');
    expect(error.message).toContain(data.target);
    expect(data.isMounted()).toBe(true);
    // Partition table and ESP, byte for byte (the mounted ext4 partition is the kernel's).
    expect(sha256(readFileSync(esp()))).toBe(before);
    rmSync(join(tmp.path, 'esp.bin'));
    // Once it is unmounted, the same command injects: the refusal was the mount.
    data.cleanup();
    const ok = zflash(['inject', loop.device, ...identity('node-mnt')], { ZFLASH_ALLOW_LOOP: '1' });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(mtype(loop.device, espOffset, 'zeta-hostname.txt')).toBe('node-mnt\n');
    fsckClean(extractRange(file, espOffset, 16 * MiB, join(tmp.path, 'esp-after.bin')));
  });
});

describe('a reader that closes the pipe early (docs/cli.md: --json)', () => {
  it('flash --json | head -1: exit 130, no stack trace, no half-written target left', async () => {
    // Large enough that progress lines keep coming after the first one.
    const big = buildZetaIso(join(tmp.path, 'big.iso'), { zeroFillerBytes: 768 * MiB });
    const out = join(tmp.path, 'piped.img');
    const child = spawn(
      process.execPath,
      [ZFLASH_BIN, 'flash', big, '--target', out, ...identity('node-pipe'), '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // Like `head -1`: read the first line, then close our end of the pipe.
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        seen += d;
        if (seen.includes('\n')) {
          child.stdout.destroy();
          resolve();
        }
      });
    });
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code).toBe(130);
    expect(stderr).toContain('zflash: the output was closed, so the command stopped.');
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });
});
