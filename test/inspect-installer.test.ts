/**
 * `zflash inspect` says what kind of installer an image is, on real xorriso images: the Zeta
 * installer, a NixOS ISO without the marker, a Zeta ISO whose marker lacks the payload schema
 * about to be written, and an image that is not NixOS at all. `--require-zeta` refuses
 * everything but a Zeta installer that reads our payload.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliLines, onlyLine } from './json-lines.js';
import { installerWarnings, inspectJson } from '../app/cli/inspect-command.js';
import { MANIFEST_SCHEMA_VERSION } from '../app/payload/manifest.js';
import { inspectTarget } from '../app/payload/target.js';
import {
  buildGptDisk,
  buildNixosIso,
  buildZetaIso,
  fileSha256,
  tempDir,
  zetaInstallerMarker,
  zflash,
} from './fixtures.js';

const tmp = tempDir();
let zeta: string;
let nixos: string;
let old: string;
let newer: string;
let debian: string;
let gpt: string;

beforeAll(() => {
  zeta = buildZetaIso(`${tmp.path}/zeta.iso`);
  nixos = buildNixosIso(`${tmp.path}/nixos.iso`, { fillerBytes: 64 * 1024 });
  old = buildZetaIso(`${tmp.path}/old.iso`, {
    volumeId: 'zeta-0.1.0-x86_64',
    marker: zetaInstallerMarker({ version: '0.1.0', payloadSchemas: [1] }),
  });
  newer = buildZetaIso(`${tmp.path}/newer.iso`, {
    volumeId: 'zeta-9.0.0-x86_64',
    marker: zetaInstallerMarker({
      version: '9.0.0',
      payloadSchemas: [MANIFEST_SCHEMA_VERSION + 1],
    }),
  });
  debian = buildNixosIso(`${tmp.path}/debian.iso`, {
    volumeId: 'Debian 12.5.0 amd64 n',
    noNixStore: true,
  });
  gpt = buildGptDisk(`${tmp.path}/disk.img`).path;
});
afterAll(() => tmp.cleanup());

const errorLine = (stdout: string) =>
  JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    type: string;
    error: { code: string; message: string; hint: string };
  };

describe('zflash inspect: what the image is', () => {
  it('a Zeta installer: its version and the payload schemas it reads', () => {
    const before = fileSha256(zeta);
    const text = zflash(['inspect', zeta]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^image {5}Zeta installer v0\.2\.0 \(reads payload schemas 1, 2; x86_64-linux; nixpkgs aaaaaaaaaaaa\)$/m,
    );
    expect(text.stdout).not.toMatch(/^warning/m);
    const j = JSON.parse(zflash(['inspect', zeta, '--json']).stdout);
    expect(j.installer).toEqual({
      kind: 'zeta',
      nixos: true,
      volumeLabel: 'zeta-0.2.0-x86_64',
      version: '0.2.0',
      payloadSchemas: [1, 2],
      nixpkgsRev: 'a'.repeat(40),
      system: 'x86_64-linux',
      problem: null,
      summary:
        'Zeta installer v0.2.0 (reads payload schemas 1, 2; x86_64-linux; nixpkgs aaaaaaaaaaaa)',
    });
    expect(j.warnings).toEqual([]);
    expect(zflash(['inspect', zeta, '--require-zeta']).code).toBe(0);
    expect(fileSha256(zeta)).toBe(before);
  });

  it('a NixOS ISO without the marker: warned in text and JSON, refused with --require-zeta', () => {
    const text = zflash(['inspect', nixos]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^image {5}NixOS installer without Zeta \(nixos-minimal-25\.11-x86_64\)$/m,
    );
    expect(text.stdout).toMatch(
      /^warning {3}This is a NixOS installer without Zeta: the node would boot a plain live system and ignore the identity written next to it\.$/m,
    );
    const j = JSON.parse(zflash(['inspect', nixos, '--json']).stdout);
    expect(j.installer).toMatchObject({ kind: 'nixos', nixos: true, problem: null });
    expect(j.warnings).toEqual([expect.stringMatching(/ignore the identity/)]);

    const refused = zflash(['inspect', nixos, '--require-zeta']);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^error: This is a NixOS installer without Zeta/m);
    expect(refused.stderr).toMatch(/^hint: .*zflash image get/m);
    expect(refused.stderr).toMatch(/^code: ZFLASH_NOT_ZETA_INSTALLER$/m);
    const refusedJson = zflash(['inspect', nixos, '--require-zeta', '--json']);
    expect(refusedJson.code).toBe(3);
    expect(errorLine(refusedJson.stdout)).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_NOT_ZETA_INSTALLER' },
    });
  });

  it('a Zeta marker without the payload schema this Zeta Flash writes: refused naming both versions', () => {
    const j = JSON.parse(zflash(['inspect', newer, '--json']).stdout);
    const appVersion = zflash(['--version']).stdout.trim();
    const message = `The Zeta installer v9.0.0 on this image reads node payload schema ${MANIFEST_SCHEMA_VERSION + 1}, but Zeta Flash ${appVersion} writes schema ${MANIFEST_SCHEMA_VERSION}.`;
    expect(j.installer).toMatchObject({ kind: 'zeta', version: '9.0.0' });
    expect(j.warnings).toEqual([message]);
    const refused = zflash(['inspect', newer, '--require-zeta', '--json']);
    expect(refused.code).toBe(3);
    expect(errorLine(refused.stdout).error).toMatchObject({
      code: 'ZFLASH_INSTALLER_TOO_NEW',
      message,
    });
  });

  it('an older marker that lacks the needed schema (2: the erase policy): refused naming both versions', async () => {
    // The check takes the payload schema as a parameter: this is the schema-2 payload the
    // erase policy needs, whatever this branch's MANIFEST_SCHEMA_VERSION is.
    const info = await inspectTarget(old);
    expect(info.installer).toMatchObject({ kind: 'zeta', version: '0.1.0', payloadSchemas: [1] });
    const warnings = installerWarnings(info, 2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^The Zeta installer v0\.1\.0 on this image reads node payload schema 1, but Zeta Flash \S+ writes schema 2: the node would not understand its identity\.$/,
    );
    expect(inspectJson(info, 2).warnings).toEqual(warnings);
    expect(installerWarnings(info, 1)).toEqual([]);
  });

  it('other images are described plainly, allowed, and refused only with --require-zeta', () => {
    const text = zflash(['inspect', debian]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^image {5}other image \(ISO "Debian 12\.5\.0 amd64 n"\): not a NixOS or Zeta installer$/m,
    );
    expect(text.stdout).not.toMatch(/^warning/m);
    const j = JSON.parse(zflash(['inspect', gpt, '--json']).stdout);
    expect(j.installer).toEqual({
      kind: 'other',
      nixos: false,
      volumeLabel: null,
      problem: null,
      summary: 'other image: not a NixOS or Zeta installer',
    });
    expect(j.warnings).toEqual([]);
    const refused = zflash(['inspect', gpt, '--require-zeta']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(
      /^error: This image is not a Zeta installer: nothing on it reads the node identity\.$/m,
    );
  });
});

describe('flash and inject check the installer before they write', () => {
  let key: string;
  beforeAll(() => {
    key = `${tmp.path}/id_ed25519`;
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  });
  const flash = (image: string, out: string, extra: string[] = []) =>
    zflash([
      'flash',
      image,
      '--target',
      out,
      '--host',
      'n1',
      '--ssh-key',
      `${key}.pub`,
      '--json',
      ...extra,
    ]);

  it('an installer that does not read the payload schema: refused, naming both versions, nothing written', () => {
    const out = `${tmp.path}/old-out.img`;
    const r = flash(old, out);
    expect(r.code).toBe(3);
    const { error } = onlyLine(r.stdout, 'error');
    expect(error.code).toBe('ZFLASH_INSTALLER_TOO_OLD');
    expect(error.message).toContain('v0.1.0');
    expect(error.message).toContain(`schema ${MANIFEST_SCHEMA_VERSION}`);
    expect(existsSync(out)).toBe(false);
    const before = fileSha256(old);
    const inj = zflash(['inject', old, '--host', 'n1', '--ssh-key', `${key}.pub`, '--json']);
    expect(onlyLine(inj.stdout, 'error').error.code).toBe('ZFLASH_INSTALLER_TOO_OLD');
    expect(fileSha256(old)).toBe(before);
  });

  it('a NixOS installer without Zeta: flashed with a warning, refused with --require-zeta', () => {
    const warned = flash(nixos, `${tmp.path}/nixos-out.img`);
    expect(warned.code).toBe(0);
    expect(
      cliLines(warned.stdout).some(
        (l) => l.type === 'notice' && l.code === 'ZFLASH_IMAGE_NOT_ZETA',
      ),
    ).toBe(true);
    const out = `${tmp.path}/nixos-refused.img`;
    const refused = flash(nixos, out, ['--require-zeta']);
    expect(refused.code).toBe(3);
    expect(onlyLine(refused.stdout, 'error').error.code).toBe('ZFLASH_NOT_ZETA_INSTALLER');
    expect(existsSync(out)).toBe(false);
  });

  it('the Zeta installer passes --require-zeta', () => {
    const r = flash(zeta, `${tmp.path}/zeta-out.img`, ['--require-zeta']);
    expect(r.code).toBe(0);
    expect(
      cliLines(r.stdout).some((l) => l.type === 'notice' && l.code === 'ZFLASH_IMAGE_NOT_ZETA'),
    ).toBe(false);
  });
});
