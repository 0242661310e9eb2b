/**
 * What kind of installer an image is, on real xorriso images: the Zeta installer, a stock
 * NixOS ISO, the same with a marker too old for the payload about to be written, damaged or
 * foreign markers, and images that are not installers at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildGptDisk,
  buildNixosIso,
  buildZetaIso,
  tempDir,
  zetaInstallerMarker,
} from '../../test/fixtures.js';
import { FileDevice } from '../disk/device.js';
import { ZflashError } from '../errors.js';
import {
  checkInstallerReadsPayload,
  classifyInstaller,
  describeInstaller,
  installerWarning,
  requireZetaInstaller,
  type InstallerInfo,
} from './installer.js';
import { inspectTarget } from './target.js';

const tmp = tempDir();
const paths: Record<string, string> = {};

async function classify(path: string): Promise<InstallerInfo> {
  const dev = await FileDevice.open(path, { writable: false });
  try {
    return await classifyInstaller(dev);
  } finally {
    await dev.close();
  }
}

function thrown(fn: () => void): ZflashError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error('expected a ZflashError');
}

beforeAll(() => {
  const p = (n: string) => `${tmp.path}/${n}`;
  paths.zeta = buildZetaIso(p('zeta.iso'));
  paths.nixos = buildNixosIso(p('nixos.iso'), { fillerBytes: 64 * 1024 });
  paths.old = buildZetaIso(p('old.iso'), {
    volumeId: 'zeta-0.1.0-x86_64',
    marker: zetaInstallerMarker({ version: '0.1.0', payloadSchemas: [1] }),
  });
  paths.garbled = buildZetaIso(p('garbled.iso'), { marker: '{"zetaInstaller": 1, "versi' });
  paths.future = buildZetaIso(p('future.iso'), {
    marker: zetaInstallerMarker({ zetaInstaller: 2 }),
  });
  paths.unlabelled = buildZetaIso(p('nomarker.iso'), { marker: null });
  paths.debian = buildNixosIso(p('debian.iso'), {
    volumeId: 'Debian 12.5.0 amd64 n',
    noNixStore: true,
  });
  paths.gpt = buildGptDisk(p('gpt.img')).path;
});
afterAll(() => tmp.cleanup());

describe('classifyInstaller', () => {
  it('recognises the Zeta installer and reads its marker', async () => {
    const info = await classify(paths.zeta!);
    expect(info).toEqual({
      kind: 'zeta',
      volumeLabel: 'zeta-0.2.0-x86_64',
      version: '0.2.0',
      payloadSchemas: [1, 2],
      nixpkgsRev: 'a'.repeat(40),
      system: 'x86_64-linux',
      problem: null,
    });
    expect(describeInstaller(info)).toBe(
      'Zeta installer v0.2.0 (reads payload schemas 1, 2; x86_64-linux; nixpkgs aaaaaaaaaaaa)',
    );
    expect(installerWarning(info)).toBeNull();
    expect(() => requireZetaInstaller(info)).not.toThrow();
  });

  it('a stock NixOS ISO is a NixOS installer without Zeta: warned, refused when Zeta is required', async () => {
    const info = await classify(paths.nixos!);
    expect(info).toEqual({
      kind: 'nixos',
      volumeLabel: 'nixos-minimal-25.11-x86_64',
      problem: null,
    });
    expect(describeInstaller(info)).toBe(
      'NixOS installer without Zeta (nixos-minimal-25.11-x86_64)',
    );
    expect(installerWarning(info)).toMatch(/ignore the identity/);
    const err = thrown(() => requireZetaInstaller(info));
    expect(err.code).toBe('ZFLASH_NOT_ZETA_INSTALLER');
    expect(err.kind).toBe('target');
    expect(err.hint).toMatch(/zflash image get/);
  });

  it('a marker that is not valid JSON, or of a newer format, is not trusted: the image counts as NixOS', async () => {
    const garbled = await classify(paths.garbled!);
    expect(garbled.kind).toBe('nixos');
    expect(garbled.problem).toMatch(/zeta-installer.json is not valid JSON/);
    const future = await classify(paths.future!);
    expect(future.kind).toBe('nixos');
    expect(future.problem).toMatch(/marker format 2, newer .* update Zeta Flash/);
    expect(thrown(() => requireZetaInstaller(future)).message).toMatch(/marker format 2/);
  });

  it('a zeta- volume label without the marker file is said plainly', async () => {
    const info = await classify(paths.unlabelled!);
    expect(info).toMatchObject({ kind: 'nixos', volumeLabel: 'zeta-0.2.0-x86_64' });
    expect(info.problem).toBe(
      'the volume is labelled zeta-0.2.0-x86_64 but carries no zeta-installer.json',
    );
  });

  it('other images: an isohybrid of another distribution, a GPT disk image', async () => {
    const debian = await classify(paths.debian!);
    expect(debian).toEqual({ kind: 'other', volumeLabel: 'Debian 12.5.0 amd64 n', problem: null });
    expect(installerWarning(debian)).toBeNull();
    expect(thrown(() => requireZetaInstaller(debian)).code).toBe('ZFLASH_NOT_ZETA_INSTALLER');
    const gpt = await classify(paths.gpt!);
    expect(gpt).toEqual({ kind: 'other', volumeLabel: null, problem: null });
    expect(describeInstaller(gpt)).toBe('other image: not a NixOS or Zeta installer');
  });

  it('inspectTarget carries the classification', async () => {
    const info = await inspectTarget(paths.zeta!);
    expect(info.installer.kind).toBe('zeta');
    expect(info.esp?.fatType).toBe('FAT12');
  });
});

describe('checkInstallerReadsPayload', () => {
  it('refuses schema 2 (the erase policy) for an installer that reads only schema 1, naming both versions', async () => {
    const old = await classify(paths.old!);
    expect(old).toMatchObject({ kind: 'zeta', version: '0.1.0', payloadSchemas: [1] });
    const err = thrown(() => checkInstallerReadsPayload(old, 2, { version: '0.2.0' }));
    expect(err.code).toBe('ZFLASH_INSTALLER_TOO_OLD');
    expect(err.kind).toBe('target');
    expect(err.message).toBe(
      'The Zeta installer v0.1.0 on this image reads node payload schema 1, but Zeta Flash 0.2.0 writes schema 2: the node would not understand its identity.',
    );
    expect(err.details).toMatchObject({
      installerVersion: '0.1.0',
      installerSchemas: [1],
      payloadSchema: 2,
      appVersion: '0.2.0',
    });
    expect(() => checkInstallerReadsPayload(old, 1)).not.toThrow();
  });

  it('refuses an installer that only reads newer schemas, telling to update Zeta Flash', async () => {
    const zeta = await classify(paths.zeta!);
    expect(() => checkInstallerReadsPayload(zeta, 2)).not.toThrow();
    const newer = { ...zeta, version: '0.5.0', payloadSchemas: [3, 4] } as InstallerInfo;
    const err = thrown(() => checkInstallerReadsPayload(newer, 2, { version: '0.2.0' }));
    expect(err.code).toBe('ZFLASH_INSTALLER_TOO_NEW');
    expect(err.message).toBe(
      'The Zeta installer v0.5.0 on this image reads node payload schemas 3, 4, but Zeta Flash 0.2.0 writes schema 2.',
    );
    expect(err.hint).toMatch(/Update Zeta Flash/);
  });

  it('leaves images that are not Zeta installers to requireZetaInstaller', async () => {
    const nixos = await classify(paths.nixos!);
    expect(() => checkInstallerReadsPayload(nixos, 2)).not.toThrow();
  });
});
