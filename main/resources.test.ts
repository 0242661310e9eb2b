/**
 * The app's resources found through one function in both layouts, on disk: a packaged
 * `resources/` folder made the way electron-builder.yml's extraResources make it, and this
 * repository. The ISO build instructions are run as written (up to `nix build`, which needs
 * the network), from an install path with a space and a quote in it.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { appResources, isoBuildHelp, missingResources, RESOURCE_DIRS } from './resources.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'zflash-resources-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A packaged app's resources folder: the two folders copied as extraResources copies them. */
function packagedResources(where: string): string {
  const resources = join(where, 'resources');
  mkdirSync(resources, { recursive: true });
  cpSync(join(repo, 'nixos'), join(resources, RESOURCE_DIRS.nixos), { recursive: true });
  cpSync(join(repo, 'installer-scripts'), join(resources, RESOURCE_DIRS.installerScripts), {
    recursive: true,
  });
  mkdirSync(join(resources, RESOURCE_DIRS.helper));
  return resources;
}

describe('appResources: one function, both layouts', () => {
  it('packaged: everything under process.resourcesPath, none of it from the repository', () => {
    const resources = packagedResources(join(tmp, 'Zeta Flash'));
    const r = appResources({
      isPackaged: true,
      resourcesPath: resources,
      appPath: join(resources, 'app.asar'),
    });
    expect(r).toEqual({
      layout: 'packaged',
      root: resources,
      nixos: join(resources, 'nixos'),
      installerScripts: join(resources, 'installer-scripts'),
      helper: join(resources, 'helper'),
    });
    expect(missingResources(r)).toEqual([]);
    unlinkSync(join(resources, 'installer-scripts', 'zeta-install.sh'));
    expect(missingResources(r)).toEqual([join(resources, 'installer-scripts', 'zeta-install.sh')]);
  });

  it('development: the repository (app.getAppPath()), whatever resourcesPath says', () => {
    const r = appResources({
      isPackaged: false,
      resourcesPath: '/usr/lib/electron/resources',
      appPath: repo,
    });
    expect(r).toEqual({
      layout: 'development',
      root: repo,
      nixos: join(repo, 'nixos'),
      installerScripts: join(repo, 'installer-scripts'),
      helper: null,
    });
    expect(missingResources(r)).toEqual([]);
  });

  it('a packaged app with an empty resources folder reports every file missing (no fallback)', () => {
    const empty = join(tmp, 'empty', 'resources');
    mkdirSync(empty, { recursive: true });
    const r = appResources({ isPackaged: true, resourcesPath: empty, appPath: repo });
    expect(missingResources(r)).toHaveLength(6);
  });
});

describe('isoBuildHelp: how to build the installer ISO from the bundled flake', () => {
  it('packaged: the steps copy both folders into a new git repository where iso.nix finds the scripts', () => {
    const resources = packagedResources(join(tmp, "Jane's Apps", 'Zeta Flash'));
    const r = appResources({ isPackaged: true, resourcesPath: resources, appPath: resources });
    const help = isoBuildHelp(r, 'linux');
    expect(help.steps.at(-1)).toBe(
      "nix --extra-experimental-features 'nix-command flakes' build ./nixos#installer-iso",
    );
    expect(help.command).toBe(help.steps.join(' && '));
    expect(help.detail).toContain(help.steps.join('\n'));
    expect(help.detail).toContain(r.nixos);

    const home = join(tmp, 'home');
    mkdirSync(home);
    // Everything up to `nix build`, then where we are and what git tracks there.
    const script = [...help.steps.slice(0, -1), 'pwd', 'git ls-files'].join(' && ');
    const run = spawnSync('bash', ['-c', script], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: home,
        GIT_CONFIG_NOSYSTEM: '1',
      },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const [where, ...tracked] = run.stdout.trim().split('\n');
    expect(where).toMatch(new RegExp(`^${home}/zeta-installer-\\w{6}$`));
    expect(where).not.toMatch(/\s/); // Nix refuses flake paths with spaces
    expect(tracked).toContain('nixos/flake.nix');
    expect(tracked).toContain('nixos/flake.lock');
    // Every ../../installer-scripts/… that the ISO bundles is a tracked file of the same tree.
    const iso = readFileSync(join(repo, 'nixos', 'installer', 'iso.nix'), 'utf8');
    const refs = [...iso.matchAll(/\$\{\.\.\/\.\.\/(installer-scripts\/[\w.-]+)\}/g)].map(
      (m) => m[1],
    );
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(tracked).toContain(ref);
  });

  it('development: from the checkout itself, the command the README gives', () => {
    const r = appResources({ isPackaged: false, resourcesPath: '', appPath: repo });
    const help = isoBuildHelp(r, 'linux');
    expect(help.steps).toEqual([
      `cd '${repo}'`,
      "nix --extra-experimental-features 'nix-command flakes' build ./nixos#installer-iso",
    ]);
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    expect(readme).toContain(help.steps[1]);
  });

  it('says what each OS needs', () => {
    const r = appResources({ isPackaged: true, resourcesPath: '/r', appPath: '/r' });
    expect(isoBuildHelp(r, 'darwin').detail).toMatch(/Linux builder/);
    expect(isoBuildHelp(r, 'win32').detail).toMatch(/WSL/);
    expect(isoBuildHelp(r, 'linux').detail).toMatch(/x86-64 Linux/);
  });
});
