/**
 * `zflash inspect` / `zflash inject` as a user runs them: the built command in its own
 * process, on fixture images made by xorriso/mkfs.vfat and on real loop block devices,
 * judged by mtools, fsck.fat and sfdisk.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync, truncateSync } from 'node:fs';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlyLine } from './json-lines.js';
import {
  attachLoop,
  buildEsp,
  buildGptDisk,
  buildNixosIso,
  equalOutside,
  espOffsetBySfdisk,
  extractRange,
  fileSha256,
  fsckClean,
  mdirNames,
  mtype,
  requireLoop,
  run,
  sha256,
  tempDir,
  type Loop,
  zflash as runZflash,
} from './fixtures.js';

const zflash = runZflash;
const tmp = tempDir();
const loops: Loop[] = [];

let iso: string;
let key: string;
let keyPub: string;
let keyFp: string;

beforeAll(() => {
  iso = buildNixosIso(`${tmp.path}/nixos.iso`);
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  keyPub = readFileSync(`${key}.pub`, 'utf8');
  keyFp = run('ssh-keygen', ['-lf', `${key}.pub`]).split(' ')[1] ?? '';
});
afterAll(() => {
  for (const l of loops) l.detach();
  tmp.cleanup();
});

function copyIso(name: string): string {
  const p = `${tmp.path}/${name}`;
  copyFileSync(iso, p);
  return p;
}

describe('zflash inspect', () => {
  it('reports the ESP of a fresh NixOS ISO where sfdisk and minfo see it, and no payload', () => {
    const r = zflash(['inspect', iso, '--json']);
    expect(r.code).toBe(0);
    const j = onlyLine(r.stdout, 'inspect');
    const esp = espOffsetBySfdisk(iso);
    expect(j.esp).toMatchObject({
      partition: 2,
      offset: esp.offset,
      size: esp.size,
      fatType: 'FAT12',
      label: 'EFIBOOT',
    });
    const mdir = run('mdir', ['-i', `${iso}@@${esp.offset}`, '::/']);
    expect(j.esp?.freeBytes).toBe(Number(/([\d ]+) bytes free/.exec(mdir)?.[1]?.replace(/ /g, '')));
    expect(j.payload).toBeNull();
    expect(j.installer).toMatchObject({
      kind: 'nixos',
      nixos: true,
      volumeLabel: 'nixos-minimal-25.11-x86_64',
    });
    expect(j.esp?.payloadFits).toBe(true);
  });

  it('says when an ESP has no room for a payload, without writing anything', () => {
    const p = `${tmp.path}/nofit.img`;
    buildEsp(p, { fat: 12, sizeKiB: 1024, files: { 'fill.bin': randomBytes(1_000_000) } });
    const free = Number(
      /([\d ]+) bytes free/.exec(run('mdir', ['-i', p, '::/']))?.[1]?.replace(/ /g, ''),
    );
    writeFileSync(`${tmp.path}/nofit.bin`, randomBytes(free - 4096));
    run('mcopy', ['-i', p, `${tmp.path}/nofit.bin`, '::/nofit.bin']);
    const before = fileSha256(p);
    const j = onlyLine(zflash(['inspect', p, '--json']).stdout, 'inspect');
    expect(j.esp?.payloadFits).toBe(false);
    expect(j.installer.nixos).toBe(false);
    expect(fileSha256(p)).toBe(before);
  });

  it('prints a readable summary without --json', () => {
    const r = zflash(['inspect', iso]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ESP\s+partition 2 \(MBR type 0xEF\)/);
    expect(r.stdout).toMatch(/FAT12, label EFIBOOT/);
  });

  it('reads a compressed image through its decoder: the same ESP and tables as the raw one', () => {
    const raw = onlyLine(zflash(['inspect', iso, '--json']).stdout, 'inspect');
    const xz = `${tmp.path}/inspect.iso.xz`;
    writeFileSync(xz, execFileSync('xz', ['-1', '-c', iso], { maxBuffer: 1 << 28 }));
    const r = zflash(['inspect', xz, '--json']);
    expect(r.code).toBe(0);
    const j = onlyLine(r.stdout, 'inspect');
    expect(j.target).toMatchObject({ compression: 'xz', size: raw.target.size });
    expect(j.esp).toEqual(raw.esp);
    expect(j.partitions).toEqual(raw.partitions);
    expect(zflash(['inspect', xz]).stdout).toMatch(/xz-compressed, read through it/);
  });

  it('an image without an ESP: its partition table, then why no identity can go there (exit 3)', () => {
    const p = `${tmp.path}/noesp.img`;
    writeFileSync(p, '');
    truncateSync(p, 8 * 1024 * 1024);
    run('sfdisk', ['-q', p], { input: 'label: dos\n,4M,83\n' });
    const text = zflash(['inspect', p]);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/^table {5}MBR$/m);
    expect(text.stdout).toMatch(/^ {2}MBR 1 {3}type 0x83, at 1\.0 MB, 4\.2 MB$/m);
    expect(text.stdout).toMatch(/^ESP {7}none: There is no EFI System Partition in the image/m);
    expect(text.stderr).toContain('code: ZFLASH_NO_ESP');
    const json = zflash(['inspect', p, '--json']);
    expect(json.code).toBe(3);
    const line = onlyLine(json.stdout, 'inspect');
    expect(line.esp).toBeNull();
    expect(line.partitions).toEqual([
      { source: 'mbr', number: 1, type: '0x83', start: 1024 * 1024, size: 4 * 1024 * 1024 },
    ]);
    expect(onlyLine(json.stdout, 'error').error.code).toBe('ZFLASH_NO_ESP');
  });
});

describe('zflash inject', () => {
  it('writes the payload into the ISO: mtools reads it, fsck.fat is clean, nothing outside the ESP changes', () => {
    const target = copyIso('inject.iso');
    const before = readFileSync(target);
    const r = zflash([
      'inject',
      target,
      '--host',
      'Node-1',
      '--ssh-key',
      `${key}.pub`,
      '--role',
      'worker',
      '--role',
      'gpu',
    ]);
    expect(r.stderr).toMatch(/lowercase/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ssh zeta@node-1.local');
    const esp = espOffsetBySfdisk(target);
    expect(mtype(target, esp.offset, 'zeta-hostname.txt')).toBe('node-1\n');
    expect(mtype(target, esp.offset, 'zeta-authorized-keys.pub')).toBe(keyPub);
    const manifest = JSON.parse(mtype(target, esp.offset, 'zeta-node.json'));
    expect(manifest).toMatchObject({
      schema: 2,
      hostname: 'node-1',
      roles: ['worker', 'gpu'],
      wifi: null,
      passwordHash: null,
      erase: { policy: 'blank-only', disk: null },
    });
    fsckClean(extractRange(target, esp.offset, esp.size, `${tmp.path}/inject.esp`));
    expect(equalOutside(before, readFileSync(target), esp.offset, esp.offset + esp.size)).toBe(
      true,
    );

    const j = onlyLine(zflash(['inspect', target, '--json']).stdout, 'inspect');
    expect(j.payload).toMatchObject({ hostname: 'node-1', roles: ['worker', 'gpu'], problems: [] });
    expect(j.payload?.keys).toEqual([
      { type: 'ssh-ed25519', fingerprint: keyFp, comment: 'op@laptop' },
    ]);
  });

  it('carries the erase policy to the stick (--erase any --erase-disk), and inspect shows it', () => {
    const target = copyIso('erase.iso');
    const r = zflash([
      'inject',
      target,
      '--host',
      'node-2',
      '--ssh-key',
      `${key}.pub`,
      '--erase',
      'any',
      '--erase-disk',
      '/dev/disk/by-id/nvme-Zeta_SSD_S4EWNX0R123456A',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/erase disk nvme-Zeta_SSD_S4EWNX0R123456A .*even if it holds data/);
    const esp = espOffsetBySfdisk(target);
    expect(JSON.parse(mtype(target, esp.offset, 'zeta-node.json')).erase).toEqual({
      policy: 'any',
      disk: 'nvme-Zeta_SSD_S4EWNX0R123456A',
    });
    expect(JSON.parse(zflash(['inspect', target, '--json']).stdout).payload.manifest.erase).toEqual(
      { policy: 'any', disk: 'nvme-Zeta_SSD_S4EWNX0R123456A' },
    );
    expect(zflash(['inspect', target]).stdout).toMatch(
      /erase\s+any \(the chosen disk is erased even if it holds data\), disk nvme-Zeta_SSD_S4EWNX0R123456A/,
    );
    const before = fileSha256(target);
    const bad = zflash([
      'inject',
      target,
      '--host',
      'node-2',
      '--ssh-key',
      `${key}.pub`,
      '--erase',
      'all',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ZFLASH_ERASE_INVALID');
    const badDisk = zflash([
      'inject',
      target,
      '--host',
      'node-2',
      '--ssh-key',
      `${key}.pub`,
      '--erase-disk',
      '../sda',
    ]);
    expect(badDisk.code).toBe(2);
    expect(badDisk.stderr).toContain('ZFLASH_ERASE_INVALID');
    expect(fileSha256(target)).toBe(before);
  });

  it('re-injecting replaces the node files and leaves the rest of the ESP as it was', () => {
    const target = copyIso('reinject.iso');
    expect(zflash(['inject', target, '--host', 'node-1', '--ssh-key', `${key}.pub`]).code).toBe(0);
    const esp = espOffsetBySfdisk(target);
    const efiBefore = run('mtype', ['-i', `${target}@@${esp.offset}`, '::/EFI/BOOT/grub.cfg']);
    expect(zflash(['inject', target, '--host', 'node-2', '--ssh-key', `${key}.pub`]).code).toBe(0);
    expect(mtype(target, esp.offset, 'zeta-hostname.txt')).toBe('node-2\n');
    expect(
      mdirNames(target, esp.offset)
        .filter((n) => n.startsWith('zeta-'))
        .sort(),
    ).toEqual(['zeta-authorized-keys.pub', 'zeta-hostname.txt', 'zeta-node.json']);
    expect(run('mtype', ['-i', `${target}@@${esp.offset}`, '::/EFI/BOOT/grub.cfg'])).toBe(
      efiBefore,
    );
    fsckClean(extractRange(target, esp.offset, esp.size, `${tmp.path}/reinject.esp`));
  });

  it('stores Wi-Fi as the derived PSK and never the passphrase', () => {
    const target = copyIso('wifi.iso');
    writeFileSync(`${tmp.path}/wifi.pass`, 'correct horse battery\n');
    const r = zflash([
      'inject',
      target,
      '--host',
      'node-3',
      '--ssh-key',
      `${key}.pub`,
      '--wifi-ssid',
      'Lab Net',
      '--wifi-pass-file',
      `${tmp.path}/wifi.pass`,
    ]);
    expect(r.code).toBe(0);
    const esp = espOffsetBySfdisk(target);
    const manifest = JSON.parse(mtype(target, esp.offset, 'zeta-node.json'));
    expect(manifest.wifi).toEqual({
      ssid: 'Lab Net',
      psk: pbkdf2Sync('correct horse battery', 'Lab Net', 4096, 32, 'sha1').toString('hex'),
    });
    expect(readFileSync(target).includes(Buffer.from('correct horse'))).toBe(false);
  });

  it.each([
    ['FAT32 ESP on a GPT disk', () => buildGptDisk(`${tmp.path}/gpt32.img`, { fat: 32 }).path],
    ['FAT16 ESP on a GPT disk', () => buildGptDisk(`${tmp.path}/gpt16.img`, { fat: 16 }).path],
  ])('works on a %s', (_name, make) => {
    const target = make();
    const before = readFileSync(target);
    expect(zflash(['inject', target, '--host', 'gpt-node', '--ssh-key', `${key}.pub`]).code).toBe(
      0,
    );
    const esp = espOffsetBySfdisk(target);
    expect(mtype(target, esp.offset, 'zeta-hostname.txt')).toBe('gpt-node\n');
    fsckClean(extractRange(target, esp.offset, esp.size, `${target}.esp`));
    expect(equalOutside(before, readFileSync(target), esp.offset, esp.offset + esp.size)).toBe(
      true,
    );
  });

  it('writes to a real loop block device, read back by mtools from the device', () => {
    requireLoop();
    const backing = copyIso('loop.iso');
    const loop = attachLoop(backing);
    loops.push(loop);
    const r = zflash(
      ['inject', loop.device, '--host', 'loop-node', '--ssh-key', `${key}.pub`, '--json'],
      { ZFLASH_ALLOW_LOOP: '1' },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(onlyLine(r.stdout, 'inject')).toMatchObject({
      type: 'inject',
      target: { kind: 'block-device' },
      hostname: 'loop-node',
    });
    const esp = espOffsetBySfdisk(backing);
    expect(mtype(loop.device, esp.offset, 'zeta-hostname.txt')).toBe('loop-node\n');
    fsckClean(extractRange(loop.device, esp.offset, esp.size, `${tmp.path}/loop.esp`));
    const j = onlyLine(zflash(['inspect', loop.device, '--json']).stdout, 'inspect');
    expect(j.payload?.hostname).toBe('loop-node');
    loop.detach();
  });
});

describe('refusals: clear error, stable code, exit code, target unchanged', () => {
  const cases: [
    string,
    () => { target: string; args: string[]; env?: Record<string, string> },
    number,
    string,
  ][] = [
    [
      'a private key',
      () => ({ target: copyIso('r1.iso'), args: ['--host', 'n', '--ssh-key', key] }),
      2,
      'ZFLASH_PRIVATE_KEY',
    ],
    [
      'an invalid hostname',
      () => ({ target: copyIso('r2.iso'), args: ['--host', 'node_1', '--ssh-key', `${key}.pub`] }),
      2,
      'ZFLASH_HOSTNAME_INVALID',
    ],
    [
      'a key line with options',
      () => {
        writeFileSync(`${tmp.path}/opts.pub`, `command="/bin/sh" ${keyPub}`);
        return {
          target: copyIso('r3.iso'),
          args: ['--host', 'n', '--ssh-key', `${tmp.path}/opts.pub`],
        };
      },
      2,
      'ZFLASH_KEY_OPTIONS',
    ],
    [
      'no key at all',
      () => ({ target: copyIso('r4.iso'), args: ['--host', 'n'] }),
      2,
      'ZFLASH_NO_KEYS',
    ],
    [
      'an unknown option',
      () => ({
        target: copyIso('r5.iso'),
        args: ['--host', 'n', '--ssh-key', `${key}.pub`, '--colour'],
      }),
      2,
      'ZFLASH_USAGE',
    ],
    [
      'an image with no ESP',
      () => {
        const p = `${tmp.path}/noesp.img`;
        writeFileSync(p, Buffer.alloc(8 * 1024 * 1024));
        run('sfdisk', ['-q', p], { input: 'label: dos\nstart=2048, type=83\n' });
        return { target: p, args: ['--host', 'n', '--ssh-key', `${key}.pub`] };
      },
      3,
      'ZFLASH_NO_ESP',
    ],
    [
      'a truncated image',
      () => {
        const p = copyIso('trunc.iso');
        const esp = espOffsetBySfdisk(p);
        truncateSync(p, esp.offset + 4096);
        return { target: p, args: ['--host', 'n', '--ssh-key', `${key}.pub`] };
      },
      3,
      'ZFLASH_IMAGE_TRUNCATED',
    ],
    [
      'an ESP too full for the payload',
      () => {
        const p = `${tmp.path}/full.img`;
        buildEsp(p, { fat: 12, sizeKiB: 1024, files: { 'fill.bin': randomBytes(900_000) } });
        // Fill what is left but one cluster: the three payload files need at least three.
        const free = Number(
          /([\d ]+) bytes free/.exec(run('mdir', ['-i', p, '::/']))?.[1]?.replace(/ /g, ''),
        );
        writeFileSync(`${tmp.path}/fill2.bin`, randomBytes(free - 512));
        run('mcopy', ['-i', p, `${tmp.path}/fill2.bin`, '::/fill2.bin']);
        return { target: p, args: ['--host', 'n', '--ssh-key', `${key}.pub`] };
      },
      3,
      'ZFLASH_ESP_FULL',
    ],
    [
      'a compressed image (inject changes an image in place)',
      () => {
        const p = `${tmp.path}/inject.iso.xz`;
        writeFileSync(p, execFileSync('xz', ['-1', '-c', iso], { maxBuffer: 1 << 28 }));
        return { target: p, args: ['--host', 'n', '--ssh-key', `${key}.pub`] };
      },
      3,
      'ZFLASH_IMAGE_COMPRESSED',
    ],
    [
      'a missing target',
      () => ({ target: `${tmp.path}/nope.iso`, args: ['--host', 'n', '--ssh-key', `${key}.pub`] }),
      3,
      'ZFLASH_TARGET_NOT_FOUND',
    ],
  ];

  it.each(cases)('refuses %s', (_name, make, exit, code) => {
    const { target, args, env } = make();
    // Only a target that does not exist has no "before" to compare with.
    const hashBefore = existsSync(target) ? fileSha256(target) : null;
    if (code !== 'ZFLASH_TARGET_NOT_FOUND') expect(hashBefore).not.toBeNull();
    const r = zflash(['inject', target, ...args], env);
    expect(r.code).toBe(exit);
    expect(r.stderr).toMatch(/^error: .+\nhint: .+\ncode: [A-Z_]+\n$/);
    expect(r.stderr).toContain(`code: ${code}`);
    if (hashBefore === null) expect(existsSync(target)).toBe(false);
    else expect(fileSha256(target)).toBe(hashBefore);
    const j = zflash(['inject', target, ...args, '--json'], env);
    expect(j.code).toBe(exit);
    expect(onlyLine(j.stdout, 'error').error).toMatchObject({ code, exitCode: exit });
  });

  it('never prints or writes the private key bytes', () => {
    const target = copyIso('priv.iso');
    const priv = readFileSync(key, 'utf8');
    const body = priv.split('\n')[1] ?? '';
    const r = zflash(['inject', target, '--host', 'n', '--ssh-key', key, '--json']);
    expect(r.code).toBe(2);
    expect(`${r.stdout}${r.stderr}`).not.toContain(body.slice(0, 20));
    expect(readFileSync(target).includes(Buffer.from(body.slice(0, 20)))).toBe(false);
  });

  it('refuses a read-only block device (exit 3) and leaves it unchanged', () => {
    requireLoop();
    const backing = copyIso('ro.iso');
    const before = sha256(readFileSync(backing));
    const loop = attachLoop(backing, { readOnly: true });
    loops.push(loop);
    const r = zflash(['inject', loop.device, '--host', 'n', '--ssh-key', `${key}.pub`], {
      ZFLASH_ALLOW_LOOP: '1',
    });
    expect(r.code).toBe(3);
    // The drive policy sees the read-only flag before any write is tried.
    expect(r.stderr).toMatch(/read-only/);
    expect(r.stderr).toMatch(/code: ZFLASH_(DRIVE_REFUSED|TARGET_READ_ONLY)/);
    loop.detach();
    expect(sha256(readFileSync(backing))).toBe(before);
  });
});
