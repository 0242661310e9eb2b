/**
 * Where the files the app carries are, in both layouts, found through one function:
 *
 * - packaged: `process.resourcesPath`, where electron-builder.yml's `extraResources` put them
 *   (`resources/nixos`, `resources/installer-scripts`, `resources/helper`);
 * - development: the repository (`app.getAppPath()` is the folder holding package.json).
 *
 * main/resources.test.ts checks both layouts on disk, and test/packaging.test.ts that the
 * names here are the `to:` folders of electron-builder.yml.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '../app/helper/elevation.js';

/** The resource folders by name, as electron-builder.yml copies them. */
export const RESOURCE_DIRS = {
  nixos: 'nixos',
  installerScripts: 'installer-scripts',
  helper: 'helper',
} as const;

export interface LayoutInput {
  /** app.isPackaged */
  readonly isPackaged: boolean;
  /** process.resourcesPath */
  readonly resourcesPath: string;
  /** app.getAppPath(): the repository in development */
  readonly appPath: string;
}

export interface AppResources {
  readonly layout: 'packaged' | 'development';
  /** The folder holding nixos/ and installer-scripts/. */
  readonly root: string;
  readonly nixos: string;
  readonly installerScripts: string;
  /** The privileged helper's folder; development runs dist/app/helper/entry.js instead. */
  readonly helper: string | null;
}

export function appResources(input: LayoutInput): AppResources {
  const root = input.isPackaged ? input.resourcesPath : input.appPath;
  return {
    layout: input.isPackaged ? 'packaged' : 'development',
    root,
    nixos: join(root, RESOURCE_DIRS.nixos),
    installerScripts: join(root, RESOURCE_DIRS.installerScripts),
    helper: input.isPackaged ? join(root, RESOURCE_DIRS.helper) : null,
  };
}

/** Files each folder must hold; one missing means an incomplete installation or checkout. */
export const RESOURCE_FILES = {
  nixos: ['flake.nix', 'flake.lock', 'installer/iso.nix', 'identity/README.md'],
  installerScripts: ['zeta-install.sh', 'zeta-first-boot.sh'],
} as const;

/** The required files that are not there (empty when the layout is complete). */
export function missingResources(
  r: AppResources,
  exists: (path: string) => boolean = existsSync,
): string[] {
  return [
    ...RESOURCE_FILES.nixos.map((f) => join(r.nixos, f)),
    ...RESOURCE_FILES.installerScripts.map((f) => join(r.installerScripts, f)),
  ].filter((p) => !exists(p));
}

export interface IsoBuildHelp {
  readonly title: string;
  readonly message: string;
  readonly detail: string;
  /** One line to paste into a shell. */
  readonly command: string;
  /** The same command as its steps, in order (the last one is `nix build`). */
  readonly steps: readonly string[];
}

const NIX = "nix --extra-experimental-features 'nix-command flakes'";

/**
 * How to build the installer ISO from the bundled flake. The ISO bundles
 * `../installer-scripts` (nixos/installer/iso.nix), and Nix copies only a flake's own folder
 * unless the flake lives in a git repository, where it takes the repository's tracked files:
 * so outside a checkout the two folders are copied into a new repository first. Nix also
 * refuses flake paths with spaces, which the installed app's folder has ("Zeta Flash").
 */
export function isoBuildHelp(r: AppResources, platform: NodeJS.Platform): IsoBuildHelp {
  const build = `${NIX} build ./nixos#installer-iso`;
  const steps =
    r.layout === 'development'
      ? [`cd ${shellQuote(r.root)}`, build]
      : [
          'dir="$(mktemp -d "$HOME/zeta-installer-XXXXXX")"',
          `cp -R ${shellQuote(r.nixos)} ${shellQuote(r.installerScripts)} "$dir"/`,
          'cd "$dir"',
          'git init -q',
          'git add -A',
          build,
        ];
  const where =
    platform === 'linux'
      ? 'Nix builds it on x86-64 Linux.'
      : platform === 'darwin'
        ? 'The ISO is for x86-64 Linux: on a Mac, Nix needs a Linux builder (for example nix-darwin’s linux-builder).'
        : 'Nix does not run on Windows itself: use it inside WSL, with the folder copied there.';
  return {
    title: 'Bundled NixOS flake',
    message: 'Build the Zeta installer ISO from the NixOS flake bundled with Zeta Flash',
    detail: [
      `The flake is in ${r.nixos}; the installer scripts it puts on the ISO are in ${r.installerScripts}.`,
      where,
      'Run in a terminal, with Nix installed (the command is copied by "Copy Command"):',
      '',
      ...steps,
      '',
      'The ISO appears in result/iso/ of that folder. Releases also publish a ready-made, signed ISO that Zeta Flash can download for you.',
    ].join('\n'),
    command: steps.join(' && '),
    steps,
  };
}
