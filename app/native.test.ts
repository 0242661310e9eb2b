import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../test/fixtures.js';
import { ZflashError } from './errors.js';
import {
  NATIVE_MODULES,
  loadDirectIo,
  loadDrivelist,
  loadLzma,
  loadModule,
  loadXxhash,
  loadZstdNapi,
} from './native.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const nodeModules = new URL('../node_modules/', import.meta.url).pathname;

/** Every `.node` file under a folder. */
function addons(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.node'))
    .map((e) => join(e.parentPath, e.name));
}

describe('native loaders', () => {
  it('load the real addons of this installation', () => {
    const aligned = loadDirectIo().getAlignedBuffer(8192, 4096);
    expect(aligned.length).toBe(8192);
    const h = new (loadXxhash().XXHash3)(Buffer.alloc(8));
    h.update(Buffer.from('zeta'));
    expect(h.digest().length).toBe(8);
    expect(typeof loadDrivelist().list).toBe('function');
    expect(typeof loadLzma().createDecompressor).toBe('function');
    const dctx = new (loadZstdNapi().DCtx)();
    expect(typeof dctx.decompressStream).toBe('function');
    // Lazy and loaded once.
    expect(loadXxhash()).toBe(loadXxhash());
  });

  it('names the module and its purpose when it is missing', () => {
    let err: unknown;
    try {
      loadModule('zflash-no-such-addon', 'test addon', 'ZFLASH_NATIVE_MISSING');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZflashError);
    expect(err).toMatchObject({
      code: 'ZFLASH_NATIVE_MISSING',
      kind: 'bug',
      details: { module: 'zflash-no-such-addon' },
    });
    expect((err as ZflashError).message).toMatch(/^The test addon \(zflash-no-such-addon\)/);
  });

  it('turns an addon that cannot be loaded (wrong platform, damaged file) into the same error', () => {
    // A package whose binary is not a shared object, as when a build for another system or
    // a half-extracted archive is installed.
    const pkg = join(tmp.path, 'node_modules', 'broken-addon');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'broken-addon', main: 'x.node' }),
    );
    writeFileSync(join(pkg, 'x.node'), 'not an ELF file');
    const req = createRequire(join(tmp.path, 'index.js'));
    expect(() => loadModule('broken-addon', 'decoder', 'ZFLASH_DECODER_MISSING', req)).toThrow(
      expect.objectContaining({
        code: 'ZFLASH_DECODER_MISSING',
        message: expect.stringMatching(
          /broken-addon.*could not be loaded: .*(invalid ELF|too short)/,
        ),
      }),
    );
  });

  it('NATIVE_MODULES names exactly packages that ship a native binary', () => {
    for (const name of NATIVE_MODULES) {
      expect({ name, addons: addons(join(nodeModules, name)).length > 0 }).toEqual({
        name,
        addons: true,
      });
    }
    // And every package a loader above opens is on the list packaging unpacks.
    for (const loaded of [
      '@ronomon/direct-io',
      'xxhash-addon',
      'drivelist',
      'lzma-native',
      'zstd-napi',
    ]) {
      expect(NATIVE_MODULES).toContain(loaded);
    }
  });
});
