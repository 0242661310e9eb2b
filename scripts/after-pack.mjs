// electron-builder's afterPack hook (electron-builder.yml): builds the privileged helper into
// the packed app's resources/helper, once per platform and arch, before the fuses are flipped
// and the app is signed (so macOS signs the helper with the app, with
// build/entitlements.mac.inherit.plist; on Windows it is signed here). Its native addons come
// from the app's own app.asar.unpacked/node_modules, which electron-builder has just rebuilt
// for this arch.
import { join } from 'node:path';
import builderUtil from 'builder-util';
import { buildHelper, nodeBinaryFor } from './helper-build.mjs';

const { Arch } = builderUtil;

/** electron-builder's platform name ('mas' is macOS too) and arch enum, as Node names them. */
export function helperTarget(context) {
  const platform = context.electronPlatformName === 'mas' ? 'darwin' : context.electronPlatformName;
  const arch = Arch[context.arch];
  if (
    !['darwin', 'linux', 'win32'].includes(platform) ||
    !['x64', 'arm64', 'ia32', 'armv7l'].includes(arch)
  ) {
    throw new Error(`no helper for ${context.electronPlatformName}-${String(arch)}`);
  }
  return { platform, arch: arch === 'armv7l' ? 'arm' : arch };
}

export default async function afterPack(context, env = process.env) {
  const { platform, arch } = helperTarget(context);
  const resources = context.packager.getResourcesDir(context.appOutDir);
  const { exe } = await buildHelper({
    outDir: join(resources, 'helper'),
    platform,
    arch,
    nodeBinary: nodeBinaryFor({ platform, arch, env }),
    nativeFrom: join(resources, 'app.asar.unpacked', 'node_modules'),
    log: (line) => console.log(`  • ${line}`),
  });
  // Windows: electron-builder signs the .exe files it copies, not the ones a hook makes. With
  // no certificate configured this signs nothing (and says so), as for the app itself.
  if (platform === 'win32' && typeof context.packager.signIf === 'function') {
    await context.packager.signIf(exe);
  }
}
