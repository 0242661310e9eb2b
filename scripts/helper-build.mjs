// Builds the privileged helper of the packaged app: one executable, `zeta-flash-helper[.exe]`, a
// Node single-executable application (SEA) whose only script is the engine's helper
// (app/helper/entry.ts, bundled), with the native addons it loads beside it in node_modules/.
//
// Why a separate executable and not Electron run as Node (docs/packaging.md has the long form):
// - the RunAsNode fuse stays off: the signed app binary cannot be turned into a general Node by
//   anyone who sets ELECTRON_RUN_AS_NODE (on macOS that Node would carry the app's identity);
// - pkexec's polkit action names one program; with `auth_admin_keep` the kept authorization must
//   cover "write a checked image to a checked drive", not "run any script as root", which is
//   what an action on the Electron binary (or on /usr/bin/env) would grant;
// - a SEA ignores Node options on its command line: `helper -e CODE` reaches our argument
//   parser, which refuses it (NODE_OPTIONS is still read: pkexec clears the environment and the
//   macOS command runs under `env -i`; see main/helper-command.ts).
//
// Native addons cannot be require()d from inside the SEA blob, so they ship next to the
// executable and the bundle loads them with createRequire (rolldown turns the engine's
// `import.meta.url` into the file URL of `__filename`, which in a SEA is the executable).
// Every addon the helper loads is Node-API (checked by test/packaging.test.ts), so the copy
// electron-builder rebuilt for Electron loads in the helper's Node as well.
//
// Used by scripts/after-pack.mjs (electron-builder's afterPack hook, once per platform and
// arch) and by `node scripts/helper-build.mjs` for a local build into dist/helper/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = dirname(dirname(fileURLToPath(import.meta.url)));

export const HELPER_BASENAME = 'zeta-flash-helper';
/** Node's SEA sentinel (node/src/node_sea.cc): postject flips the byte after it. */
export const SEA_SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/**
 * app/native.ts NATIVE_MODULES entries the helper never loads (none today: every addon the
 * engine loads is one the helper may need, and all are Node-API).
 */
export const NOT_LOADED_BY_HELPER = [];
/** Pure-JS packages the helper loads from disk at run time (the bz2 decoder reads its .wasm). */
export const RUNTIME_FILE_PACKAGES = ['@foxglove/wasm-bz2'];
/** Dependencies used only to compile or download an addon, never require()d at run time. */
export const BUILD_ONLY_PACKAGES = [
  'node-addon-api',
  'nan',
  'node-gyp',
  'prebuild-install',
  'prebuildify',
  '@types/node',
];

export const helperExecutableName = (platform) =>
  platform === 'win32' ? `${HELPER_BASENAME}.exe` : HELPER_BASENAME;

/** The packages copied beside the helper: its native addons and the file-reading JS ones. */
export function helperPackages(nativeModules) {
  return [
    ...nativeModules.filter((n) => !NOT_LOADED_BY_HELPER.includes(n)),
    ...RUNTIME_FILE_PACKAGES,
  ];
}

/** Node's lookup: `<dir>/node_modules/<name>`, then each parent folder's, up to `top`. */
export function resolvePackageDir(name, fromDir, top) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === top || dirname(dir) === dir) return null;
  }
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/**
 * Every package `names` need at run time, from `nodeModules` (a project's node_modules):
 * `dependencies` and installed `optionalDependencies`, minus BUILD_ONLY_PACKAGES. Returns the
 * top-level package folders to copy (a nested `x/node_modules/y` travels with `x`).
 */
export function dependencyClosure(names, nodeModules) {
  const project = dirname(nodeModules);
  const topLevel = new Map();
  const seen = new Set();
  const visit = (name, fromDir) => {
    const dir = resolvePackageDir(name, fromDir, project);
    if (!dir) throw new Error(`${name} (needed by the helper) is not installed under ${fromDir}`);
    if (seen.has(dir)) return;
    seen.add(dir);
    const rel = relative(nodeModules, dir).split(sep);
    if (!rel.includes('node_modules')) topLevel.set(rel.join('/'), dir);
    const pkg = readJson(join(dir, 'package.json'));
    const optional = Object.keys(pkg.optionalDependencies ?? {});
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      if (BUILD_ONLY_PACKAGES.includes(dep)) continue;
      if (optional.includes(dep) && !resolvePackageDir(dep, dir, project)) continue;
      visit(dep, dir);
    }
  };
  for (const name of names) visit(name, project);
  return [...topLevel]
    .map(([name, dir]) => ({ name, dir }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const SKIP_DIRS = new Set([
  'obj.target',
  '.deps',
  'test',
  'tests',
  '__tests__',
  '.github',
  'example',
  'examples',
  'doc',
  'docs',
  'include',
]);
const SKIP_EXTS = new Set([
  '.map',
  '.md',
  '.markdown',
  '.c',
  '.cc',
  '.cpp',
  '.h',
  '.hpp',
  '.mm',
  '.gyp',
  '.gypi',
  '.o',
  '.a',
  '.obj',
  '.lib',
  '.sig',
  '.7z',
  '.bz2',
  '.gz',
  '.ts',
  '.mts',
  '.cts',
]);

/**
 * What a copied package keeps: run-time files, not sources, docs, tests or build leftovers,
 * and of the prebuilt addons only those for `target` (`linux-x64`…).
 */
export function keepInHelper(path, target) {
  const parts = path.split(/[\\/]/);
  if (parts.some((p) => SKIP_DIRS.has(p))) return false;
  const prebuilds = parts.indexOf('prebuilds');
  if (prebuilds >= 0 && parts.length > prebuilds + 1 && parts[prebuilds + 1] !== target)
    return false;
  const name = parts.at(-1) ?? '';
  if (name.endsWith('.d.ts')) return false;
  return !SKIP_EXTS.has(extname(name).toLowerCase());
}

/** The helper's JS in one CommonJS file (a SEA's main script must be CommonJS, with no chunks). */
export async function bundleHelper({ entry, outFile, externals }) {
  const { rolldown } = await import('rolldown');
  const bundle = await rolldown({
    input: entry,
    platform: 'node',
    external: (id) => externals.some((e) => id === e || id.startsWith(`${e}/`)),
    logLevel: 'warn',
  });
  try {
    await bundle.write({ file: outFile, format: 'cjs', codeSplitting: false, sourcemap: false });
  } finally {
    await bundle.close();
  }
}

/** sea-config.json: no snapshot and no code cache, so the blob does not depend on the host. */
export const seaConfig = ({ main, output }) => ({
  main,
  output,
  disableExperimentalSEAWarning: true,
  useSnapshot: false,
  useCodeCache: false,
});

/**
 * The Node binary the helper is made from: this one for the host's own platform and arch,
 * else the one named by ZFLASH_HELPER_NODE_<platform>_<arch> (a macOS x64 helper built on an
 * arm64 Mac takes node-v20.x-darwin-x64's `bin/node`; it runs there under Rosetta).
 */
export function nodeBinaryFor({ platform, arch, env = process.env, host = process }) {
  const named = env[`ZFLASH_HELPER_NODE_${platform}_${arch}`];
  if (named) return resolve(named);
  if (platform === host.platform && arch === host.arch) return host.execPath;
  throw new Error(
    `No Node binary for a ${platform}-${arch} helper: set ZFLASH_HELPER_NODE_${platform}_${arch} to the ` +
      `path of that platform's node (Node 20 or later, from nodejs.org), or build on a ${platform}-${arch} machine.`,
  );
}

/** Windows shows these in the UAC prompt and the file's properties (else they say "Node.js"). */
export async function setWindowsVersionInfo(
  exe,
  { productName, fileDescription, version, company },
) {
  const { NtExecutable, NtExecutableResource, Resource } = await import('resedit');
  const executable = NtExecutable.from(await readFile(exe), { ignoreCert: true });
  const res = NtExecutableResource.from(executable);
  const [vi = Resource.VersionInfo.createEmpty()] = Resource.VersionInfo.fromEntries(res.entries);
  const [lang = { lang: 0x0409, codepage: 1200 }] = vi.getAllLanguagesForStringValues();
  const numeric = version.split(/[.+-]/).slice(0, 3).map(Number);
  vi.setStringValues(lang, {
    ProductName: productName,
    FileDescription: fileDescription,
    CompanyName: company,
    InternalName: HELPER_BASENAME,
    OriginalFilename: `${HELPER_BASENAME}.exe`,
    LegalCopyright: '',
  });
  vi.setFileVersion(numeric[0] ?? 0, numeric[1] ?? 0, numeric[2] ?? 0, 0, lang.lang);
  vi.setProductVersion(numeric[0] ?? 0, numeric[1] ?? 0, numeric[2] ?? 0, 0, lang.lang);
  vi.outputToResourceEntries(res.entries);
  res.outputResource(executable);
  await writeFile(exe, Buffer.from(executable.generate()));
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/**
 * Builds the helper folder `outDir`: the executable, node_modules/ with what it loads, and a
 * package.json (app/version.ts reads the version from it).
 *
 * - `nodeBinary`: the Node the SEA is made from; it also makes the blob, so it must run here.
 * - `nodeModules`: the project's node_modules (the pure-JS dependencies come from there).
 * - `nativeFrom`: where the addons built for the target are (electron-builder's
 *   app.asar.unpacked/node_modules after its rebuild); default `nodeModules`.
 */
export async function buildHelper({
  outDir,
  platform,
  arch,
  nodeBinary,
  entry = join(root, 'dist', 'app', 'helper', 'entry.js'),
  nodeModules = join(root, 'node_modules'),
  nativeFrom = nodeModules,
  nativeModules,
  version = readJson(join(root, 'package.json')).version,
  log = () => {},
}) {
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: run \`npm run build\` before building the helper.`);
  }
  const natives =
    nativeModules ??
    (await import(pathToFileURL(join(root, 'dist', 'app', 'native.js')).href)).NATIVE_MODULES;
  const packages = helperPackages(natives);
  const work = await mkdtemp(join(tmpdir(), 'zflash-helper-build-'));
  try {
    const bundle = join(work, `${HELPER_BASENAME}.cjs`);
    await bundleHelper({ entry, outFile: bundle, externals: packages });
    const configFile = join(work, 'sea-config.json');
    const blob = join(work, 'sea-prep.blob');
    await writeFile(configFile, JSON.stringify(seaConfig({ main: bundle, output: blob })));
    run(nodeBinary, ['--experimental-sea-config', configFile], { cwd: work });

    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    const exe = join(outDir, helperExecutableName(platform));
    await copyFile(nodeBinary, exe);
    await chmod(exe, 0o755);
    const onMac = platform === 'darwin' && process.platform === 'darwin';
    if (onMac) run('codesign', ['--remove-signature', exe]);
    const { inject } = await import('postject');
    await inject(exe, 'NODE_SEA_BLOB', await readFile(blob), {
      sentinelFuse: SEA_SENTINEL_FUSE,
      ...(platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
    });
    // Ad hoc, so that it runs on Apple silicon until electron-builder signs the whole app
    // with the Developer ID and the hardened runtime (build/entitlements.mac.inherit.plist).
    if (onMac) run('codesign', ['--sign', '-', '--force', exe]);
    if (platform === 'win32') {
      await setWindowsVersionInfo(exe, {
        productName: 'Zeta Flash',
        fileDescription: 'Zeta Flash drive writer',
        company: 'Zeta Flash',
        version,
      });
    }

    const nodeModulesOut = join(outDir, 'node_modules');
    for (const { name, dir } of dependencyClosure(packages, nodeModules)) {
      const built = join(nativeFrom, ...name.split('/'));
      const from = natives.includes(name) && existsSync(built) ? built : dir;
      await cp(from, join(nodeModulesOut, ...name.split('/')), {
        recursive: true,
        filter: (src) => keepInHelper(relative(from, src), `${platform}-${arch}`),
      });
    }
    await writeFile(
      join(outDir, 'package.json'),
      `${JSON.stringify({ name: 'zeta-flash', version, private: true, description: 'Zeta Flash drive writer (privileged helper)' }, null, 2)}\n`,
    );
    log(
      `helper: ${exe} (${(statSync(exe).size / 2 ** 20).toFixed(0)} MiB) with ${readdirSync(nodeModulesOut).join(', ')}`,
    );
    return { exe, outDir };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// `node scripts/helper-build.mjs [--platform P] [--arch A] [--out DIR]`: a helper for this
// machine (or another, with ZFLASH_HELPER_NODE_<platform>_<arch>) in dist/helper/<platform>-<arch>.
if (process.argv[1] && basename(process.argv[1]) === basename(fileURLToPath(import.meta.url))) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    options: { platform: { type: 'string' }, arch: { type: 'string' }, out: { type: 'string' } },
  });
  const platform = values.platform ?? process.platform;
  const arch = values.arch ?? process.arch;
  const outDir = resolve(values.out ?? join(root, 'dist', 'helper', `${platform}-${arch}`));
  await buildHelper({
    outDir,
    platform,
    arch,
    nodeBinary: nodeBinaryFor({ platform, arch }),
    log: console.log,
  });
}
