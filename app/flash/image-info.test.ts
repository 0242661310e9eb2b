// The image step on real images: a NixOS-style isohybrid ISO made by xorriso + mkfs.vfat, its
// gzip/xz/zstd/zip forms made by the real tools, a GPT disk, a full ESP. mtools and sfdisk are
// the independent judges of where the ESP is and how much room it has.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildGptDisk,
  buildNixosIso,
  buildZetaIso,
  espOffsetBySfdisk,
  fileSha256,
  nixosEspFiles,
  run,
  tempDir,
} from '../../test/fixtures.js';
import { ZflashError } from '../errors.js';
import { buildNodeIdentity } from '../node/identity.js';
import { parseAuthorizedKeys } from '../node/ssh-keys.js';
import { injectTarget } from '../payload/target.js';
import { getImageInfo, nixosReleaseOf } from './image-info.js';

const tmp = tempDir('zflash-imageinfo-');
afterAll(() => tmp.cleanup());

const iso = buildNixosIso(join(tmp.path, 'nixos.iso'));
const espAt = espOffsetBySfdisk(iso);
/** mdir's "N bytes free" for the ESP, as mtools counts it. */
const mtoolsFree = (() => {
  const out = run('mdir', ['-i', `${iso}@@${espAt.offset}`, '::/']);
  return Number(/([\d ]+) bytes free/.exec(out)?.[1]?.replace(/ /g, ''));
})();

describe('getImageInfo on a NixOS installer ISO', () => {
  it('reports the installer, the ESP where sfdisk finds it and the free space mtools counts', async () => {
    const info = await getImageInfo(iso);
    expect(info).toMatchObject({
      path: iso,
      name: 'nixos.iso',
      compression: 'none',
      size: readFileSync(iso).length,
      sizeIsExact: true,
      sha256: null,
      sha256Source: null,
      installer: { kind: 'nixos', volumeLabel: 'nixos-minimal-25.11-x86_64', problem: null },
      nixosRelease: '25.11',
      esp: {
        offset: espAt.offset,
        size: espAt.size,
        fatType: 'FAT12',
        label: 'EFIBOOT',
        freeBytes: mtoolsFree,
        payloadFits: true,
        payloadProblem: null,
      },
      existingHostname: null,
    });
    // A NixOS installer without the Zeta marker would ignore the node identity: said plainly.
    expect(info.notices.map((n) => n.code)).toEqual(['ZFLASH_IMAGE_NOT_ZETA']);
  });

  it('takes the checksum from a .sha256 file beside the image', async () => {
    const copy = join(tmp.path, 'with-sum.iso');
    copyFileSync(iso, copy);
    writeFileSync(`${copy}.sha256`, `${fileSha256(copy)}  with-sum.iso\n`);
    const info = await getImageInfo(copy);
    expect(info.sha256).toBe(fileSha256(copy));
    expect(info.sha256Source).toBe('sidecar');
  });

  it('fails on a damaged checksum file, as the flash would', async () => {
    const copy = join(tmp.path, 'bad-sum.iso');
    copyFileSync(iso, copy);
    writeFileSync(`${copy}.sha256`, 'not a checksum\n');
    await expect(getImageInfo(copy)).rejects.toMatchObject({ code: 'ZFLASH_CHECKSUM_INVALID' });
  });

  it('says when the image already carries node files', async () => {
    const copy = join(tmp.path, 'injected.iso');
    copyFileSync(iso, copy);
    const key = join(tmp.path, 'k');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const { keys } = parseAuthorizedKeys(readFileSync(`${key}.pub`));
    await injectTarget(copy, buildNodeIdentity({ hostname: 'old-node', keys }).identity);
    const info = await getImageInfo(copy);
    expect(info.existingHostname).toBe('old-node');
    expect(info.notices.map((n) => n.code)).toContain('ZFLASH_IMAGE_HAS_PAYLOAD');
  });

  it('reads the Zeta marker: version and the payload schemas the installer reads', async () => {
    const zeta = buildZetaIso(join(tmp.path, 'zeta.iso'));
    const info = await getImageInfo(zeta);
    expect(info.installer).toMatchObject({
      kind: 'zeta',
      version: '0.2.0',
      payloadSchemas: [1, 2],
    });
    expect(info.installerSummary).toMatch(/^Zeta installer v0\.2\.0 \(reads payload schemas 1, 2/);
    expect(info.notices.map((n) => n.code)).not.toContain('ZFLASH_IMAGE_NOT_ZETA');
  });
});

describe('getImageInfo on compressed images', () => {
  const forms: [string, string[], string][] = [
    ['gzip', ['gzip', '-k', '-c'], 'nixos.iso.gz'],
    ['xz', ['xz', '-0', '-k', '-c', '-T1'], 'nixos.iso.xz'],
    ['zstd', ['zstd', '-q', '-c'], 'nixos.iso.zst'],
  ];
  for (const [compression, cmd, name] of forms) {
    it(`reads the ESP of a ${compression} image from its decoded prefix`, async () => {
      const out = join(tmp.path, name);
      writeFileSync(out, execFileSync(cmd[0] ?? '', [...cmd.slice(1), iso], { maxBuffer: 1e9 }));
      const info = await getImageInfo(out);
      expect(info.compression).toBe(compression);
      expect(info.installer.kind).toBe('nixos');
      expect(info.esp).toMatchObject({
        offset: espAt.offset,
        size: espAt.size,
        freeBytes: mtoolsFree,
        payloadFits: true,
      });
    });
  }

  it('names the image inside a zip archive', async () => {
    const zip = join(tmp.path, 'nixos.zip');
    execFileSync('zip', ['-q', '-j', zip, iso]);
    const info = await getImageInfo(zip);
    expect(info.compression).toBe('zip');
    expect(info.name).toBe('nixos.iso');
    expect(info.esp.freeBytes).toBe(mtoolsFree);
  });
});

describe('getImageInfo on images that cannot take a node', () => {
  it('says a GPT disk image is not an installer, but reads its ESP', async () => {
    const { path } = buildGptDisk(join(tmp.path, 'gpt.img'), { fat: 16 });
    const info = await getImageInfo(path);
    expect(info.installer).toEqual({ kind: 'other', volumeLabel: null, problem: null });
    expect(info.notices.map((n) => n.code)).toContain('ZFLASH_IMAGE_NOT_INSTALLER');
    expect(info.esp.fatType).toBe('FAT16');
  });

  it('reports a full ESP as not fitting, with the refusal injection would give', async () => {
    const full = buildNixosIso(join(tmp.path, 'full.iso'), {
      esp: { sizeKiB: 2048, files: nixosEspFiles(2048 * 1024 - 40 * 1024) },
    });
    const info = await getImageInfo(full);
    expect(info.esp.payloadFits).toBe(false);
    expect(info.esp.payloadProblem).toMatch(/^ZFLASH_ESP_/);
  });

  it('refuses a file without an EFI partition with a target error', async () => {
    const blank = join(tmp.path, 'blank.img');
    writeFileSync(blank, Buffer.alloc(4 * 1024 * 1024));
    const err = await getImageInfo(blank).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZflashError);
    expect((err as ZflashError).kind).toBe('target');
  });

  it('refuses a missing image as input the operator can fix', async () => {
    await expect(getImageInfo(join(tmp.path, 'nope.iso'))).rejects.toMatchObject({
      code: 'ZFLASH_IMAGE_NOT_FOUND',
    });
  });
});

describe('nixosReleaseOf', () => {
  it('reads the release from nixpkgs volume IDs', () => {
    expect(nixosReleaseOf('nixos-minimal-25.11-x86_64')).toBe('25.11');
    expect(nixosReleaseOf('nixos-25.05-aarch64')).toBe('25.05');
    expect(nixosReleaseOf('nixos-gnome-24.11-x86_64')).toBe('24.11');
    expect(nixosReleaseOf('ubuntu-24.04')).toBeNull();
    expect(nixosReleaseOf(null)).toBeNull();
  });
});
