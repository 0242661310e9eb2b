/**
 * The installers, checked without building them (the Electron binary cannot be downloaded
 * here, DESIGN.md): electron-builder.yml against electron-builder's own JSON schema; every
 * path it names; what it would pack, computed by electron-builder's own file matchers; the
 * fuses; asarUnpack against app/native.ts; the polkit action against polkit's DTD; the macOS
 * entitlements; the icon files; the helper's build inputs; the security lint as a gate.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { HELPER_VERBS } from '../app/helper/protocol.js';
import { NATIVE_MODULES } from '../app/native.js';
import { helperExecutableName, helperLaunchFor } from '../main/helper-command.js';
import { appResources, missingResources, RESOURCE_DIRS } from '../main/resources.js';
import * as afterPackModule from '../scripts/after-pack.mjs';
import * as build from '../scripts/helper-build.mjs';
import * as icons from '../scripts/make-icons.mjs';
import * as lint from '../scripts/electronegativity.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'zflash-packaging-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Config = Record<string, unknown> & {
  productName: string;
  files: string[];
  asarUnpack: string[];
  extraResources: { from: string; to: string }[];
  electronFuses: Record<string, boolean>;
  mac: Record<string, unknown>;
  linux: Record<string, unknown>;
  deb: { fpm: string[]; depends: string[] };
  win: Record<string, unknown>;
  nsis: Record<string, unknown>;
  fileAssociations: { ext: string; mimeType: string }[];
};
const configText = readFileSync(join(repo, 'electron-builder.yml'), 'utf8');
const config = parse(configText) as Config;

describe('electron-builder.yml against electron-builder’s own schema', () => {
  const schema = JSON.parse(
    readFileSync(require.resolve('app-builder-lib/scheme.json'), 'utf8'),
  ) as object;
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);

  it('is valid', () => {
    const ok = validate(config);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the validator is live: a misspelt key and a wrong type are refused', () => {
    expect(validate({ ...config, asarUnpak: [] })).toBe(false);
    expect(validate({ ...config, mac: { ...config.mac, hardenedRuntime: 'yes' } })).toBe(false);
  });

  it('names the app and builds dmg+zip (x64, arm64), AppImage+deb, nsis', () => {
    expect(config['appId']).toBe('dev.zeta.flash');
    expect(config.productName).toBe('Zeta Flash');
    expect(config.mac['target']).toEqual([
      { target: 'dmg', arch: ['x64', 'arm64'] },
      { target: 'zip', arch: ['x64', 'arm64'] },
    ]);
    expect(config.linux['target']).toEqual(['AppImage', 'deb']);
    expect(config.win['target']).toEqual([{ target: 'nsis', arch: ['x64'] }]);
    expect(config.mac['hardenedRuntime']).toBe(true);
    // macOS asks before the app reads a file on a USB drive; this is what the prompt says.
    expect(config.mac['extendInfo']).toEqual({
      NSRemovableVolumesUsageDescription: expect.stringMatching(
        /^Zeta Flash reads the installer image/,
      ),
    });
    // Notarization runs when credentials are in the environment; `notarize: false` would
    // switch it off for good, and `true` is not an option of this electron-builder.
    expect(config.mac['notarize']).toBeUndefined();
    expect(config.fileAssociations.map((a) => a.ext)).toEqual(['iso', 'img', 'zst']);
    expect(config.nsis['perMachine']).toBe(true);
  });
});

describe('every path electron-builder.yml names exists', () => {
  const strings: string[] = [];
  const collect = (v: unknown): void => {
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(config);
  const paths = strings
    .map((s) => s.split('=')[0] ?? s) // fpm mappings: source=destination
    .filter((s) => /^(?:\.\/)?(?:assets|build|scripts|nixos|installer-scripts)(?:\/|$)/.test(s));

  it('icons, entitlements, the polkit file, the hook, the resource folders', () => {
    expect(paths).toEqual(
      expect.arrayContaining([
        'assets/icon.icns',
        'assets/icon.ico',
        'assets/icons',
        'build/entitlements.mac.plist',
        'build/entitlements.mac.inherit.plist',
        'build/linux/dev.zeta.flash.policy',
        './scripts/after-pack.mjs',
        'nixos',
        'installer-scripts',
      ]),
    );
    for (const p of paths) expect(existsSync(join(repo, p)), p).toBe(true);
  });

  it('the Linux icon folder has every size, named as electron-builder reads them', () => {
    const names = readdirSync(join(repo, 'assets', 'icons'));
    expect(names.sort()).toEqual(icons.PNG_SIZES.map((s) => `${s}x${s}.png`).sort());
  });

  it('the packed app’s own files exist once built: main, preload, renderer, helper entry', () => {
    for (const p of [
      'package.json',
      'dist/main/main.js',
      'dist/preload/preload.cjs',
      'dist/renderer/index.html',
      'dist/app/helper/entry.js',
    ])
      expect(existsSync(join(repo, p)), `${p} (run npm run build:app)`).toBe(true);
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { main: string };
    expect(pkg.main).toBe('dist/main/main.js');
  });

  it('extraResources copies the folders main/resources.ts looks for', () => {
    expect(config.extraResources).toEqual([
      { from: 'nixos', to: RESOURCE_DIRS.nixos },
      { from: 'installer-scripts', to: RESOURCE_DIRS.installerScripts },
    ]);
    // resources/helper is made by the afterPack hook, under the name main/ runs.
    expect(config['afterPack']).toBe('./scripts/after-pack.mjs');
    expect(RESOURCE_DIRS.helper).toBe('helper');
  });
});

describe('asar, native modules and fuses', () => {
  it('unpacks exactly app/native.ts NATIVE_MODULES from the asar', () => {
    expect(config['asar']).toBe(true);
    expect(config.asarUnpack).toEqual(NATIVE_MODULES.map((m) => `node_modules/${m}/**`));
  });

  it('each of them really holds a .node binary (else unpacking it would not matter)', () => {
    for (const m of NATIVE_MODULES) {
      const nodeFiles = findFiles(join(repo, 'node_modules', m), (f) => f.endsWith('.node'));
      expect(nodeFiles.length, m).toBeGreaterThan(0);
    }
  });

  it('sets the fuses: RunAsNode off, cookies encrypted, NODE_OPTIONS and --inspect off, asar integrity on, asar only', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });
});

// --- What electron-builder would pack, by its own matchers -----------------------------------

type FileMatcher = {
  from: string;
  createFilter(): (file: string, stat: Stats) => boolean;
};
const fileMatcher = require('app-builder-lib/out/fileMatcher') as {
  getMainFileMatchers(
    appDir: string,
    destination: string,
    macroExpander: (s: string) => string,
    platformSpecificBuildOptions: object,
    platformPackager: object,
    outDir: string,
    isElectronCompile: boolean,
  ): FileMatcher[];
  getNodeModuleFileMatcher(
    appDir: string,
    destination: string,
    macroExpander: (s: string) => string,
    platformSpecificBuildOptions: object,
    packager: object,
  ): FileMatcher;
};

function findFiles(dir: string, keep: (f: string) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...findFiles(p, keep));
    else if (keep(p)) out.push(p);
  }
  return out;
}

/** Walks `from` as electron-builder's copier does: a folder the filter refuses is skipped. */
function walkFiltered(from: string, filter: (file: string, stat: Stats) => boolean): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = statSync(p);
      if (!filter(p, st)) continue;
      if (st.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(from);
  return out;
}

const expand = (s: string) =>
  s.replace(/\$\{(?:os|platform)\}/g, 'linux').replace(/\$\{arch\}/g, 'x64');

function fakePackager(projectDir: string, cfg: Config) {
  return {
    info: {
      projectDir,
      buildResourcesDir: 'build',
      isPrepackedAppAsar: false,
      config: cfg,
      debugLogger: { isEnabled: false },
    },
    config: cfg,
    debugLogger: { isEnabled: false },
  };
}

/** The app files (outside node_modules) that electron-builder would put into app.asar. */
function appFiles(projectDir: string, cfg: Config): string[] {
  const matchers = fileMatcher.getMainFileMatchers(
    projectDir,
    '/packed/resources/app',
    expand,
    {},
    fakePackager(projectDir, cfg),
    join(projectDir, 'release'),
    false,
  );
  return matchers
    .flatMap((m) => walkFiltered(m.from, m.createFilter()))
    .map((f) => relative(projectDir, f))
    .sort();
}

/** The production dependencies, every package folder (as npm would install them). */
function productionPackages(): string[] {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const seen = new Set<string>();
  const visit = (name: string, from: string) => {
    const dir = build.resolvePackageDir(name, from, repo);
    if (!dir || seen.has(dir)) return;
    seen.add(dir);
    const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const d of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) visit(d, dir);
  };
  for (const d of Object.keys(pkg.dependencies)) visit(d, repo);
  return [...seen];
}

/** The node_modules files it would pack (the `!` patterns of `files` apply to them). */
function nodeModuleFiles(): string[] {
  const matcher = fileMatcher.getNodeModuleFileMatcher(
    repo,
    '/packed/resources/app',
    expand,
    {},
    fakePackager(repo, config),
  );
  const filter = matcher.createFilter();
  return productionPackages().flatMap((dir) => walkFiltered(dir, filter));
}

const PEM_PRIVATE = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n:,-]{40,}/;

describe('what it would pack (electron-builder’s own file matchers)', () => {
  let files: string[];
  beforeAll(() => {
    files = appFiles(repo, config);
  });

  it('packs the built app: main, preload, renderer, the engine and package.json', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'dist/main/main.js',
        'dist/main/resources.js',
        'dist/main/helper-command.js',
        'dist/preload/preload.cjs',
        'dist/renderer/index.html',
        'dist/app/helper/entry.js',
        'dist/app/native.js',
      ]),
    );
  });

  it('packs nothing else of the repository: no sources, tests, fixtures, source maps, keys', () => {
    const outside = files.filter(
      (f) => f !== 'package.json' && !/^dist\/(?:app|main|preload|renderer)\//.test(f),
    );
    expect(outside).toEqual([]);
    expect(files.filter((f) => /\.map$|\.(?:test|spec|fixtures)\.js$|\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => /(?:^|\/)(?:test|fixtures|e2e|bench)\//.test(f))).toEqual([]);
    for (const f of files)
      expect(readFileSync(join(repo, f), 'latin1'), f).not.toMatch(PEM_PRIVATE);
  });

  it('the exclusions work: planted maps, tests and fixtures in dist/ are left out', () => {
    const project = join(tmp, 'project');
    mkdirSync(join(project, 'dist', 'app', 'helper'), { recursive: true });
    mkdirSync(join(project, 'dist', 'main'), { recursive: true });
    mkdirSync(join(project, 'test'), { recursive: true });
    writeFileSync(join(project, 'package.json'), '{"name":"x","main":"dist/main/main.js"}');
    const planted = {
      'dist/main/main.js': true,
      'dist/main/main.js.map': false,
      'dist/app/helper/entry.js': true,
      'dist/app/helper/entry.test.js': false,
      'dist/app/disk.fixtures.js': false,
      'dist/bench/flash.js': false,
      'test/keys/id_ed25519': false,
      '.env': false,
    };
    for (const f of Object.keys(planted)) {
      mkdirSync(dirname(join(project, f)), { recursive: true });
      writeFileSync(join(project, f), 'x');
    }
    const packed = appFiles(project, config);
    for (const [f, kept] of Object.entries(planted)) expect(packed.includes(f), f).toBe(kept);
  });

  it('packs no source map, test folder or private key from the production node_modules', () => {
    const nm = nodeModuleFiles();
    expect(nm.length).toBeGreaterThan(100);
    const rel = nm.map((f) => relative(repo, f));
    expect(rel.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(rel.filter((f) => /\/(?:test|tests|__tests__)\//.test(f))).toEqual([]);
    expect(rel.filter((f) => /\.(?:test|spec)\.[cm]?js$/.test(f))).toEqual([]);
    expect(rel.filter((f) => /\/build\/Release\/obj\.target\//.test(f))).toEqual([]);
    expect(rel).toContain('node_modules/drivelist/build/Release/drivelist.node');
    const keys = nm.filter(
      (f) => statSync(f).size < 2 ** 20 && PEM_PRIVATE.test(readFileSync(f, 'latin1')),
    );
    expect(keys.map((f) => relative(repo, f))).toEqual([]);
  });

  it('the resources it copies (nixos/, installer-scripts/) hold no key, test or map either', () => {
    for (const r of config.extraResources) {
      for (const f of findFiles(join(repo, r.from))) {
        expect(relative(repo, f)).not.toMatch(/\.map$|(?:^|\/)tests?\//);
        expect(readFileSync(f, 'latin1'), f).not.toMatch(PEM_PRIVATE);
      }
    }
  });
});

// --- Linux: the polkit action the deb installs -------------------------------------------------

describe('the polkit action (deb)', () => {
  const policy = join(repo, 'build', 'linux', 'dev.zeta.flash.policy');
  const DTD = '/usr/share/polkit-1/policyconfig-1.dtd';
  const xpath = (expr: string) =>
    execFileSync('xmllint', ['--xpath', expr, policy], { encoding: 'utf8' }).trim();

  it('is valid against polkit’s own DTD (xmllint)', () => {
    expect(existsSync(DTD), `${DTD}: apt-get install polkitd (in .ci/run)`).toBe(true);
    const r = spawnSync('xmllint', ['--noout', '--dtdvalid', DTD, policy], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the validation is live: a policy without its defaults is refused', () => {
    const broken = join(tmp, 'broken.policy');
    writeFileSync(
      broken,
      readFileSync(policy, 'utf8').replace(/<defaults>[\s\S]*?<\/defaults>/, ''),
    );
    const r = spawnSync('xmllint', ['--noout', '--dtdvalid', DTD, broken], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });

  it('one action per helper verb, auth_admin_keep for the active session, a message naming Zeta Flash and the drive', () => {
    const ids = xpath('//action/@id').match(/"[^"]+"/g);
    // One action per verb the helper has (app/helper/protocol.ts HELPER_VERBS), in its order.
    expect(ids).toEqual(HELPER_VERBS.map((v) => `"dev.zeta.flash.${v}"`));
    for (const [i, verb] of HELPER_VERBS.entries()) {
      const a = `//action[${i + 1}]`;
      expect(xpath(`string(${a}/annotate[@key="org.freedesktop.policykit.exec.argv1"])`)).toBe(
        verb,
      );
      expect(xpath(`string(${a}/defaults/allow_active)`)).toBe('auth_admin_keep');
      expect(xpath(`string(${a}/defaults/allow_any)`)).toBe('auth_admin');
      const message = xpath(`string(${a}/message)`);
      expect(message).toMatch(/^Zeta Flash /);
      // pkexec's $(command_line) carries `--drive DEVICE` (app/helper/client.ts helperArgv).
      expect(message).toContain('--drive');
      expect(message).toContain('$(command_line)');
    }
  });

  it('names the helper where the deb installs it, the very path main/ hands to pkexec', () => {
    const { sanitizeFileName } = require('builder-util/out/filename') as {
      sanitizeFileName(s: string): string;
    };
    // electron-builder's deb puts the app in /opt/<sanitized product name> (FpmTarget).
    const installed = `/opt/${sanitizeFileName(config.productName)}`;
    const launch = helperLaunchFor({
      platform: 'linux',
      execPath: `${installed}/zeta-flash`,
      electron: '41.7.1',
      entry: '/x/entry.js',
      isPackaged: true,
      helperDir: `${installed}/resources/${RESOURCE_DIRS.helper}`,
    });
    expect(launch.kind).toBe('command');
    const exe = launch.kind === 'command' ? launch.command[0] : '';
    expect(exe).toBe(`/opt/Zeta Flash/resources/helper/${helperExecutableName('linux')}`);
    for (const i of [1, 2]) {
      expect(
        xpath(`string(//action[${i}]/annotate[@key="org.freedesktop.policykit.exec.path"])`),
      ).toBe(exe);
    }
  });

  it('the deb installs it as a file of the package, and depends on pkexec', () => {
    expect(config.deb.fpm).toEqual([
      'build/linux/dev.zeta.flash.policy=/usr/share/polkit-1/actions/dev.zeta.flash.policy',
    ]);
    expect(config.deb.depends).toContain('pkexec | policykit-1');
  });
});

// --- macOS: entitlements -----------------------------------------------------------------------

describe('macOS entitlements (hardened runtime)', () => {
  const keys = (file: string) => {
    const text = readFileSync(join(repo, 'build', file), 'utf8');
    const r = spawnSync('xmllint', ['--noout', '-'], { input: text, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return [...text.matchAll(/<key>([^<]+)<\/key>\s*<true\/>/g)].map((m) => m[1]);
  };

  it('the app gets JIT only; the helpers (Electron’s and ours) JIT and unsigned executable memory', () => {
    expect(config.mac['entitlements']).toBe('build/entitlements.mac.plist');
    expect(config.mac['entitlementsInherit']).toBe('build/entitlements.mac.inherit.plist');
    expect(keys('entitlements.mac.plist')).toEqual(['com.apple.security.cs.allow-jit']);
    expect(keys('entitlements.mac.inherit.plist')).toEqual([
      'com.apple.security.cs.allow-jit',
      'com.apple.security.cs.allow-unsigned-executable-memory',
    ]);
  });
});

// --- Icons ----------------------------------------------------------------------------------

function pngOf(data: Buffer): PNG {
  return PNG.sync.read(data);
}

describe('the icon set (assets/)', () => {
  it('the Linux PNGs: every size from 16 to 1024, RGBA, transparent corners, a drawn picture', () => {
    for (const size of icons.PNG_SIZES) {
      const png = pngOf(readFileSync(join(repo, 'assets', 'icons', `${size}x${size}.png`)));
      expect([png.width, png.height]).toEqual([size, size]);
      const at = (x: number, y: number) => png.data.readUInt32BE((y * size + x) * 4);
      expect(at(0, 0) & 0xff, `${size}: corner alpha`).toBeLessThan(64);
      expect(at(size >> 1, size >> 1) & 0xff, `${size}: centre alpha`).toBe(255);
      const colours = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
      expect(colours.size, `${size}: distinct colours`).toBeGreaterThan(size >= 64 ? 500 : 20);
    }
  });

  it('the 1024 px picture: a white stick body on the blue-violet tile, the zeta across it', () => {
    const png = pngOf(readFileSync(join(repo, 'assets', 'icons', '1024x1024.png')));
    const rgb = (x: number, y: number) => [
      ...png.data.subarray((y * 1024 + x) * 4, (y * 1024 + x) * 4 + 3),
    ];
    const [r, g, b] = rgb(360, 830); // lower left of the body
    expect(Math.min(r ?? 0, g ?? 0, b ?? 0)).toBeGreaterThan(200);
    const [tr, , tb] = rgb(200, 500); // the tile, left of the stick
    expect((tb ?? 0) - (tr ?? 0)).toBeGreaterThan(100);
    const [zr, zg, zb] = rgb(512, 448); // the zeta's top stroke
    expect((zb ?? 0) - Math.max(zr ?? 0, zg ?? 0)).toBeGreaterThan(80);
  });

  it('icon.ico: 16…256 as PNG entries whose sizes match their headers', () => {
    const ico = readFileSync(join(repo, 'assets', 'icon.ico'));
    expect(ico.readUInt16LE(2)).toBe(1);
    const n = ico.readUInt16LE(4);
    const sizes: number[] = [];
    for (let i = 0; i < n; i++) {
      const e = 6 + 16 * i;
      const size = ico.readUInt8(e) || 256;
      const png = pngOf(
        ico.subarray(ico.readUInt32LE(e + 12), ico.readUInt32LE(e + 12) + ico.readUInt32LE(e + 8)),
      );
      expect([png.width, png.height]).toEqual([size, size]);
      sizes.push(size);
    }
    expect(sizes).toEqual([...icons.ICO_SIZES]);
    expect(icons.ICO_SIZES).toContain(256); // electron-builder refuses a Windows icon below 256
  });

  it('icon.icns: every type iconutil writes, 16 to 1024 px, lengths adding up', () => {
    const icns = readFileSync(join(repo, 'assets', 'icon.icns'));
    expect(icns.toString('ascii', 0, 4)).toBe('icns');
    expect(icns.readUInt32BE(4)).toBe(icns.length);
    const found: [string, number][] = [];
    for (let at = 8; at < icns.length;) {
      const type = icns.toString('ascii', at, at + 4);
      const length = icns.readUInt32BE(at + 4);
      const png = pngOf(icns.subarray(at + 8, at + length));
      expect(png.width).toBe(png.height);
      found.push([type, png.width]);
      at += length;
    }
    expect(found).toEqual(icons.ICNS_TYPES.map(([t, s]) => [t, s]));
  });

  it('the small sizes come from their own pixel-grid drawings, and the sources are committed SVG', () => {
    expect(icons.sourceFor(16)).toBe('zeta-flash-16.svg');
    expect(icons.sourceFor(24)).toBe('zeta-flash-24.svg');
    expect(icons.sourceFor(32)).toBe('zeta-flash-32.svg');
    expect(icons.sourceFor(48)).toBe('zeta-flash.svg');
    for (const f of [
      'zeta-flash.svg',
      'zeta-flash-16.svg',
      'zeta-flash-24.svg',
      'zeta-flash-32.svg',
    ]) {
      const svg = readFileSync(join(repo, 'assets', 'icon', f), 'utf8');
      const r = spawnSync('xmllint', ['--noout', '-'], { input: svg, encoding: 'utf8' });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
      expect(svg).toMatch(/<title>Zeta Flash/);
    }
  });

  it('the containers are written byte for byte from their PNGs (what make-icons.mjs commits)', () => {
    const pngs = new Map(
      icons.PNG_SIZES.map((s) => [s, readFileSync(join(repo, 'assets', 'icons', `${s}x${s}.png`))]),
    );
    const need = (s: number) => pngs.get(s) ?? Buffer.alloc(0);
    expect(icons.buildIco(icons.ICO_SIZES.map((size) => ({ size, data: need(size) })))).toEqual(
      readFileSync(join(repo, 'assets', 'icon.ico')),
    );
    expect(icons.buildIcns(icons.ICNS_TYPES.map(([type, s]) => ({ type, data: need(s) })))).toEqual(
      readFileSync(join(repo, 'assets', 'icon.icns')),
    );
  });
});

// --- The helper's build inputs -----------------------------------------------------------------

/** Node-API addons import napi_* and no V8 C++ symbol (those tie a binary to one runtime's ABI). */
function isNodeApi(file: string): boolean {
  const text = readFileSync(file, 'latin1');
  return (
    /napi_(?:register_module_v1|module_register|create_function)/.test(text) &&
    !text.includes('_ZN2v8')
  );
}

describe('the helper’s build (scripts/helper-build.mjs)', () => {
  it('ships every native module, and the bz2 decoder that reads its .wasm', () => {
    expect(build.helperPackages(NATIVE_MODULES)).toEqual([
      '@ronomon/direct-io',
      'xxhash-addon',
      'lzma-native',
      'drivelist',
      'zstd-napi',
      '@foxglove/wasm-bz2',
    ]);
    expect(build.NOT_LOADED_BY_HELPER).toEqual([]);
  });

  it('every addon it ships is Node-API, so the copy rebuilt for Electron loads in the helper’s Node', () => {
    for (const m of build
      .helperPackages(NATIVE_MODULES)
      .filter((p) => (NATIVE_MODULES as readonly string[]).includes(p))) {
      const binaries = findFiles(
        join(repo, 'node_modules', m),
        (f) =>
          (f.endsWith('.node') && f.includes('linux-x64')) ||
          /build\/Release\/[^/]+\.node$/.test(f) ||
          /direct-io\/binding\.node$/.test(f),
      );
      expect(binaries.length, m).toBeGreaterThan(0);
      for (const b of binaries) expect(isNodeApi(b), relative(repo, b)).toBe(true);
    }
  });

  it('its bundle loads exactly those packages from disk', async () => {
    const out = join(tmp, 'bundle.cjs');
    const packages = build.helperPackages(NATIVE_MODULES);
    await build.bundleHelper({
      entry: join(repo, 'dist', 'app', 'helper', 'entry.js'),
      outFile: out,
      externals: packages,
    });
    const code = readFileSync(out, 'utf8');
    // etcher-sdk is for the benchmarks: nothing of it (or its mountutils) reaches the helper.
    expect(code).not.toMatch(/["'](?:mountutils|etcher-sdk)["'/]/);
    expect(code).not.toMatch(/\brequire\("(?:zod|sshpk|yauzl|unixcrypt)"\)/); // bundled in
    for (const p of packages) expect(code, p).toContain(`"${p}`);
    // import.meta.url became the file URL of __filename: the executable, in a SEA.
    expect(code).not.toContain('import.meta');
    expect(code).toContain('pathToFileURL(__filename)');
  });

  it('copies their run-time dependencies, not the build-only ones', () => {
    const names = build
      .dependencyClosure(build.helperPackages(NATIVE_MODULES), join(repo, 'node_modules'))
      .map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['bindings', 'node-gyp-build', 'tslib']));
    for (const b of build.BUILD_ONLY_PACKAGES) expect(names).not.toContain(b);
  });

  it('keeps run-time files only, and only this target’s prebuilt addons', () => {
    const t = 'darwin-arm64';
    expect(build.keepInHelper('prebuilds/darwin-arm64/node.napi.node', t)).toBe(true);
    expect(build.keepInHelper('prebuilds/linux-x64/node.napi.node', t)).toBe(false);
    expect(build.keepInHelper('js/index.js', t)).toBe(true);
    expect(build.keepInHelper('js/index.js.map', t)).toBe(false);
    expect(build.keepInHelper('test/fixtures/a.json', t)).toBe(false);
    expect(build.keepInHelper('build/Release/obj.target/x.node', t)).toBe(false);
    expect(build.keepInHelper('src/drivelist.cpp', t)).toBe(false);
    expect(build.keepInHelper('index.d.ts', t)).toBe(false);
  });

  it('makes the SEA from this Node for this machine, else from the Node a variable names, else says which', () => {
    const host = { platform: 'linux', arch: 'x64', execPath: '/usr/bin/node' };
    expect(build.nodeBinaryFor({ platform: 'linux', arch: 'x64', env: {}, host })).toBe(
      '/usr/bin/node',
    );
    expect(() => build.nodeBinaryFor({ platform: 'darwin', arch: 'x64', env: {}, host })).toThrow(
      /ZFLASH_HELPER_NODE_darwin_x64/,
    );
    expect(
      build.nodeBinaryFor({
        platform: 'darwin',
        arch: 'x64',
        env: { ZFLASH_HELPER_NODE_darwin_x64: '/opt/node-v20-darwin-x64/bin/node' },
        host,
      }),
    ).toBe('/opt/node-v20-darwin-x64/bin/node');
    expect(build.seaConfig({ main: 'm.cjs', output: 'b' })).toEqual({
      main: 'm.cjs',
      output: 'b',
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: false,
    });
  });

  it('maps electron-builder’s platform and arch for the afterPack hook', () => {
    const packager = { getResourcesDir: (d: string) => d };
    expect(
      afterPackModule.helperTarget({
        appOutDir: '/o',
        electronPlatformName: 'darwin',
        arch: 3,
        packager,
      }),
    ).toEqual({ platform: 'darwin', arch: 'arm64' });
    expect(
      afterPackModule.helperTarget({
        appOutDir: '/o',
        electronPlatformName: 'win32',
        arch: 1,
        packager,
      }),
    ).toEqual({ platform: 'win32', arch: 'x64' });
    expect(
      afterPackModule.helperTarget({
        appOutDir: '/o',
        electronPlatformName: 'mas',
        arch: 1,
        packager,
      }),
    ).toEqual({ platform: 'darwin', arch: 'x64' });
    expect(() =>
      afterPackModule.helperTarget({
        appOutDir: '/o',
        electronPlatformName: 'darwin',
        arch: 4,
        packager,
      }),
    ).toThrow(/no helper/);
  });

  it('names the Windows helper in its version information (what UAC shows), on a real PE file', async () => {
    const exe = join(tmp, 'stub.exe');
    copyFileSync(require.resolve('electron-winstaller/vendor/StubExecutable.exe'), exe);
    await build.setWindowsVersionInfo(exe, {
      productName: 'Zeta Flash',
      fileDescription: 'Zeta Flash drive writer',
      company: 'Zeta Flash',
      version: '0.1.0',
    });
    // resedit's own types pull in the DOM lib (its ReadableStream breaks Node code): a local shape.
    type Lang = { lang: number; codepage: number };
    type VersionInfo = {
      getAllLanguagesForStringValues(): Lang[];
      getStringValues(lang: Lang): Record<string, string>;
      fixedInfo: { fileVersionMS: number };
    };
    const { NtExecutable, NtExecutableResource, Resource } = require('resedit') as {
      NtExecutable: { from(bin: Buffer, opts: { ignoreCert: boolean }): unknown };
      NtExecutableResource: { from(exe: unknown): { entries: unknown[] } };
      Resource: { VersionInfo: { fromEntries(entries: unknown[]): VersionInfo[] } };
    };
    const res = NtExecutableResource.from(
      NtExecutable.from(readFileSync(exe), { ignoreCert: true }),
    );
    const [vi] = Resource.VersionInfo.fromEntries(res.entries);
    const [lang] = vi?.getAllLanguagesForStringValues() ?? [];
    const values = vi && lang ? vi.getStringValues(lang) : {};
    expect(values).toMatchObject({
      ProductName: 'Zeta Flash',
      FileDescription: 'Zeta Flash drive writer',
      OriginalFilename: 'zeta-flash-helper.exe',
    });
    expect(vi?.fixedInfo.fileVersionMS).toBe((0 << 16) | 1);
  });
});

// --- Security lint ---------------------------------------------------------------------------------

describe('electronegativity over main/ and renderer/ (npm run lint:security)', () => {
  it('finds no high or medium finding left unexplained, and lists what it accepted', async () => {
    const r = await lint.securityLint();
    expect(r.errors).toEqual([]);
    expect(r.blocking).toEqual([]);
    expect(r.accepted.map((a) => a.id)).toEqual(
      expect.arrayContaining([
        'CSP_GLOBAL_CHECK',
        'CONTEXT_ISOLATION_JS_CHECK SANDBOX_JS_CHECK AUXCLICK_JS_CHECK',
      ]),
    );
  }, 120_000);

  it('fails on an insecure window and on an unexplained eng-disable (the gate is live)', async () => {
    const bad = join(tmp, 'bad-main');
    mkdirSync(bad);
    writeFileSync(
      join(bad, 'window.ts'),
      [
        "import { BrowserWindow } from 'electron';",
        'export const w = new BrowserWindow({ webPreferences: { nodeIntegration: true, contextIsolation: false, sandbox: false } });',
        'export const v = new BrowserWindow({}); // eng-disable SANDBOX_JS_CHECK',
        '',
      ].join('\n'),
    );
    const r = await lint.securityLint([bad]);
    const ids = r.blocking.map((b) => b.id);
    expect(ids).toEqual(expect.arrayContaining(['CONTEXT_ISOLATION_JS_CHECK', 'SANDBOX_JS_CHECK']));
    expect(r.blocking.filter((b) => b.line === 2).length).toBeGreaterThan(0);
    expect(r.blocking.some((b) => b.severity === 'UNEXPLAINED' && b.line === 3)).toBe(true);
  }, 120_000);

  it('the accepted CSP finding rests on the real policy: a weak one would block', async () => {
    expect(await lint.cspFindings()).toEqual([]);
  });
});

// --- electron-builder itself, on a stand-in Electron ------------------------------------------

/** Electron's fuse wire as it ships: the sentinel, version 1, 8 fuses (RunAsNode on, …). */
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const SHIPPED_WIRE = '10110001';

describe('electron-builder packs the Linux app (`dir` target, a stand-in Electron: the real one cannot be downloaded here)', () => {
  let out: string;
  let resources: string;
  beforeAll(() => {
    const dist = join(tmp, 'electron-dist');
    mkdirSync(dist);
    // An executable carrying Electron's fuse wire, so that the fuses are really flipped.
    writeFileSync(
      join(dist, 'electron'),
      Buffer.concat([
        Buffer.from('#!/bin/sh\necho stand-in\nexit 0\n# '),
        Buffer.from(FUSE_SENTINEL),
        Buffer.from([1, SHIPPED_WIRE.length]),
        Buffer.from(SHIPPED_WIRE),
        Buffer.from('\n'),
      ]),
      { mode: 0o755 },
    );
    writeFileSync(join(dist, 'chrome-sandbox'), '');
    writeFileSync(join(dist, 'version'), '41.7.1');
    out = join(tmp, 'release');
    const r = spawnSync(
      join(repo, 'node_modules', '.bin', 'electron-builder'),
      [
        '--linux',
        'dir',
        `-c.electronDist=${dist}`,
        '-c.electronVersion=41.7.1',
        // No download and no compiler here: the addons stay as installed (Node-API).
        '-c.npmRebuild=false',
        `-c.directories.output=${out}`,
      ],
      { cwd: repo, encoding: 'utf8', env: { ...process.env, CI: 'true' }, maxBuffer: 64 * 2 ** 20 },
    );
    if (r.status !== 0) throw new Error(`electron-builder failed:\n${r.stdout}\n${r.stderr}`);
    resources = join(out, 'linux-unpacked', 'resources');
  }, 300_000);

  it('flips the fuses in the app binary as configured', async () => {
    const fuses = require('@electron/fuses') as {
      getCurrentFuseWire(path: string): Promise<Record<number, number>>;
    };
    const wire = await fuses.getCurrentFuseWire(join(out, 'linux-unpacked', 'zeta-flash'));
    const on = 49;
    const off = 48;
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => wire[i])).toEqual([
      off, // RunAsNode
      on, // EnableCookieEncryption
      off, // EnableNodeOptionsEnvironmentVariable
      off, // EnableNodeCliInspectArguments
      on, // EnableEmbeddedAsarIntegrityValidation
      on, // OnlyLoadAppFromAsar
      off, // LoadBrowserProcessSpecificV8Snapshot (not set: as shipped)
      off, // GrantFileProtocolExtraPrivileges
    ]);
  });

  it('app.asar holds the built app and its production modules, no maps, tests or sources', () => {
    const asar = createRequire(require.resolve('app-builder-lib/package.json'))(
      '@electron/asar',
    ) as { listPackage(path: string, opts: object): string[] };
    const entries = asar
      .listPackage(join(resources, 'app.asar'), {})
      .map((e) => e.replace(/\\/g, '/'));
    expect(entries).toEqual(
      expect.arrayContaining([
        '/package.json',
        '/dist/main/main.js',
        '/dist/preload/preload.cjs',
        '/dist/renderer/index.html',
        '/dist/app/helper/entry.js',
        '/node_modules/zod/package.json',
      ]),
    );
    expect(
      entries.filter((e) =>
        /\.map$|\.(?:test|spec)\.js$|\/test\/|^\/(?:app|main|test|e2e|bench)\//.test(e),
      ),
    ).toEqual([]);
    const pkg = JSON.parse(
      (
        createRequire(require.resolve('app-builder-lib/package.json'))('@electron/asar') as {
          extractFile(a: string, f: string): Buffer;
        }
      )
        .extractFile(join(resources, 'app.asar'), 'package.json')
        .toString(),
    ) as { main: string; homepage: string };
    expect(pkg).toMatchObject({
      main: 'dist/main/main.js',
      homepage: 'https://github.com/zeta-flash/zeta-flash',
    });
  });

  it('unpacks every native module, with its .node files, from the asar', () => {
    for (const m of NATIVE_MODULES) {
      const dir = join(resources, 'app.asar.unpacked', 'node_modules', m);
      expect(findFiles(dir, (f) => f.endsWith('.node')).length, m).toBeGreaterThan(0);
    }
  });

  it('the layout main/resources.ts expects: nothing missing, the helper where main/ looks and running', () => {
    const r = appResources({
      isPackaged: true,
      resourcesPath: resources,
      appPath: join(resources, 'app.asar'),
    });
    expect(missingResources(r)).toEqual([]);
    const launch = helperLaunchFor({
      platform: 'linux',
      execPath: join(out, 'linux-unpacked', 'zeta-flash'),
      electron: '41.7.1',
      entry: '/unused',
      isPackaged: true,
      helperDir: r.helper,
    });
    const exe = launch.kind === 'command' ? (launch.command[0] ?? '') : '';
    const run = spawnSync(exe, ['write'], { encoding: 'utf8', input: '' });
    expect(run.status).toBe(2);
    expect(run.stdout).toContain('ZFLASH_HELPER_USAGE');
  });
});

describe('npm scripts', () => {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  it('`npm run dist` builds the app and runs electron-builder for this OS; `npm test` runs the security lint', () => {
    expect(pkg.scripts['dist']).toBe('npm run build:app && electron-builder');
    expect(pkg.scripts['lint:security']).toBe('node scripts/electronegativity.mjs');
    expect(pkg.scripts['test']).toContain('npm run lint:security');
  });
  it('electron-builder and its schema are the ones installed', () => {
    expect(existsSync(require.resolve('app-builder-lib/scheme.json'))).toBe(true);
    expect(statSync(join(repo, 'node_modules', '.bin', 'electron-builder')).isFile()).toBe(true);
  });
});
