/**
 * The catalogue engine against a release server on 127.0.0.1 (test/catalog-server.ts): signed
 * manifest, forged and tampered ones, unknown architectures, downloads that are interrupted,
 * ignored ranges, wrong hashes, stalls, cancellation, the cache's pruning, and a symlink
 * planted where the download goes. Keys are made per run; no traffic leaves this machine.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCatalogServer, type CatalogServer } from '../../test/catalog-server.js';
import { buildZetaIso, sha256, tempDir } from '../../test/fixtures.js';
import { ZflashError } from '../errors.js';
import { fetchReleaseManifest, pickImage, signatureUrl } from './catalog.js';
import { listCachedImages } from './cache.js';
import { downloadImage, type DownloadProgress } from './download.js';
import {
  parseArchitecture,
  parseManifestUrl,
  trustedKeys,
  type ManifestImage,
} from './release-manifest.js';

const tmp = tempDir();
let iso: Buffer;
let server: CatalogServer;
let release: { publicKey: KeyObject; privateKey: KeyObject };
let cacheDir: string;
let n = 0;

beforeAll(async () => {
  iso = readFileSync(buildZetaIso(`${tmp.path}/zeta.iso`, { fillerBytes: 3 * 1024 * 1024 }));
  release = generateKeyPairSync('ed25519');
  server = await startCatalogServer();
});
afterAll(async () => {
  await server.close();
  tmp.cleanup();
});
beforeEach(() => {
  cacheDir = join(tmp.path, `cache-${++n}`);
  server.requests.length = 0;
});
afterEach(() => undefined);

function manifestJson(images: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return Buffer.from(
    `${JSON.stringify({ zetaReleaseManifest: 1, version: '0.2.0', date: '2026-05-01T12:00:00Z', images, ...extra }, null, 2)}\n`,
  );
}

/** Publishes a manifest (signed with `key`, the release key by default) under /r<n>/. */
function publish(
  bytes: Buffer,
  opts: { key?: KeyObject; image?: Buffer; signature?: string } = {},
): string {
  const dir = `/r${n}`;
  const sig =
    opts.signature ?? sign(null, bytes, opts.key ?? release.privateKey).toString('base64');
  server.set(`${dir}/manifest.json`, { body: bytes });
  server.set(`${dir}/manifest.json.sig`, { body: Buffer.from(`${sig}\n`) });
  server.set(`${dir}/zeta-installer.iso`, { body: opts.image ?? iso });
  return `${server.base}${dir}/manifest.json`;
}

const goodImages = () => ({
  'x86_64-linux': { url: 'zeta-installer.iso', size: iso.length, sha256: sha256(iso) },
});

async function caught(p: Promise<unknown>): Promise<ZflashError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error('expected a ZflashError');
}

async function imageFrom(url: string): Promise<ManifestImage> {
  const m = await fetchReleaseManifest({ manifestUrl: url, keys: [release.publicKey] });
  return pickImage(m, 'x86_64-linux');
}

describe('fetchReleaseManifest', () => {
  it('lists a signed manifest, resolving the image URL against the manifest URL', async () => {
    const url = publish(manifestJson(goodImages()));
    const m = await fetchReleaseManifest({ manifestUrl: url, keys: [release.publicKey] });
    expect(m).toEqual({
      manifestUrl: url,
      version: '0.2.0',
      date: '2026-05-01T12:00:00Z',
      ignoredArchitectures: [],
      images: [
        {
          arch: 'x86_64-linux',
          version: '0.2.0',
          date: '2026-05-01T12:00:00Z',
          url: `${server.base}/r${n}/zeta-installer.iso`,
          size: iso.length,
          sha256: sha256(iso),
          nixpkgsRev: null,
          fileName: 'zeta-installer-0.2.0-x86_64-linux.iso',
        },
      ],
    });
    expect(server.requests.map((r) => r.path)).toEqual([
      `/r${n}/manifest.json`,
      `/r${n}/manifest.json.sig`,
    ]);
  });

  it('refuses a manifest signed with another key, and one changed after signing', async () => {
    const forger = generateKeyPairSync('ed25519');
    const forged = publish(manifestJson(goodImages()), { key: forger.privateKey });
    const err = await caught(
      fetchReleaseManifest({ manifestUrl: forged, keys: [release.publicKey] }),
    );
    expect(err.code).toBe('ZFLASH_CATALOG_SIGNATURE');
    expect(err.message).toMatch(/not signed by the Zeta release key/);

    n++;
    const good = manifestJson(goodImages());
    const sig = sign(null, good, release.privateKey).toString('base64');
    // Same signature, one field changed: the SHA-256 an attacker would want us to accept.
    const tampered = Buffer.from(good.toString().replace(sha256(iso), 'f'.repeat(64)));
    const url = publish(tampered, { signature: sig });
    expect(
      (await caught(fetchReleaseManifest({ manifestUrl: url, keys: [release.publicKey] }))).code,
    ).toBe('ZFLASH_CATALOG_SIGNATURE');
    // A garbled signature file is the same refusal, not a crash.
    n++;
    const junk = publish(good, { signature: 'not base64 at all' });
    expect(
      (await caught(fetchReleaseManifest({ manifestUrl: junk, keys: [release.publicKey] }))).code,
    ).toBe('ZFLASH_CATALOG_SIGNATURE');
    // Nothing past the manifest and its signature was ever requested.
    expect(server.requests.some((r) => r.path.endsWith('.iso'))).toBe(false);
  });

  it('accepts any of several trusted keys (key rotation)', async () => {
    const next = generateKeyPairSync('ed25519');
    const url = publish(manifestJson(goodImages()), { key: next.privateKey });
    const m = await fetchReleaseManifest({
      manifestUrl: url,
      keys: [release.publicKey, next.publicKey],
    });
    expect(m.version).toBe('0.2.0');
  });

  it('skips architectures it does not know, and says so', async () => {
    const url = publish(
      manifestJson({
        ...goodImages(),
        'riscv64-linux': { url: 'x.iso', size: 1, sha256: '0'.repeat(64), newField: true },
      }),
    );
    const m = await fetchReleaseManifest({ manifestUrl: url, keys: [release.publicKey] });
    expect(m.images.map((i) => i.arch)).toEqual(['x86_64-linux']);
    expect(m.ignoredArchitectures).toEqual(['riscv64-linux']);

    n++;
    const only = publish(manifestJson({ 'riscv64-linux': goodImages()['x86_64-linux'] }));
    const m2 = await fetchReleaseManifest({ manifestUrl: only, keys: [release.publicKey] });
    const err = (() => {
      try {
        pickImage(m2, 'x86_64-linux');
      } catch (e) {
        return e as ZflashError;
      }
      throw new Error('expected a refusal');
    })();
    expect(err.code).toBe('ZFLASH_CATALOG_NO_IMAGE');
    expect(err.message).toBe('Release 0.2.0 has no Zeta installer for x86_64-linux.');
    expect(() => parseArchitecture('riscv64-linux')).toThrow(
      expect.objectContaining({ code: 'ZFLASH_ARCH_UNKNOWN' }),
    );
  });

  it('refuses signed manifests it cannot read: wrong fields, a newer format, http image URLs', async () => {
    const cases: [Buffer, RegExp][] = [
      [
        manifestJson({ 'x86_64-linux': { url: 'a.iso', size: -1, sha256: 'x' } }),
        /images\.x86_64-linux/,
      ],
      [manifestJson(goodImages(), { zetaReleaseManifest: 2 }), /manifest format 2/],
      [manifestJson(goodImages(), { version: '../../etc/passwd' }), /version/],
      [
        manifestJson({
          'x86_64-linux': { ...goodImages()['x86_64-linux'], url: 'http://example.com/z.iso' },
        }),
        /not https/,
      ],
      [Buffer.from('not json'), /not JSON/],
    ];
    for (const [bytes, why] of cases) {
      n++;
      const url = publish(bytes);
      const err = await caught(
        fetchReleaseManifest({ manifestUrl: url, keys: [release.publicKey] }),
      );
      expect(err.code).toBe('ZFLASH_CATALOG_INVALID');
      expect(err.message).toMatch(why);
    }
  });

  it('a huge manifest is refused before it is read whole; a missing one is "unreachable"', async () => {
    const url = publish(Buffer.alloc(2 * 1024 * 1024, 0x20));
    expect(
      (await caught(fetchReleaseManifest({ manifestUrl: url, keys: [release.publicKey] }))).code,
    ).toBe('ZFLASH_CATALOG_INVALID');
    const missing = await caught(
      fetchReleaseManifest({
        manifestUrl: `${server.base}/nowhere/manifest.json`,
        keys: [release.publicKey],
      }),
    );
    expect(missing.code).toBe('ZFLASH_CATALOG_UNREACHABLE');
    expect(missing.message).toMatch(/HTTP 404/);
  });

  it('trusts nothing without a key, and no manifest URL but https or this computer', () => {
    expect(() => trustedKeys([])).toThrow(
      expect.objectContaining({ code: 'ZFLASH_CATALOG_NO_KEY' }),
    );
    expect(() => parseManifestUrl('http://example.com/manifest.json')).toThrow(
      expect.objectContaining({ code: 'ZFLASH_CATALOG_URL_INVALID' }),
    );
    expect(() => parseManifestUrl('file:///etc/passwd')).toThrow(
      expect.objectContaining({ code: 'ZFLASH_CATALOG_URL_INVALID' }),
    );
    expect(parseManifestUrl('http://127.0.0.1:9/m.json').href).toBe('http://127.0.0.1:9/m.json');
    expect(signatureUrl('https://h/a/manifest.json?x=1')).toBe('https://h/a/manifest.json.sig?x=1');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() =>
      trustedKeys([rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()]),
    ).toThrow(expect.objectContaining({ code: 'ZFLASH_RELEASE_KEY_INVALID' }));
  });
});

describe('downloadImage', () => {
  const finalName = 'zeta-installer-0.2.0-x86_64-linux.iso';

  it('downloads, verifies and keeps the image; a second call finds it in the cache', async () => {
    const image = await imageFrom(publish(manifestJson(goodImages())));
    const events: DownloadProgress[] = [];
    const r = await downloadImage(image, { cacheDir, onProgress: (p) => events.push(p) });
    expect(r).toMatchObject({ path: join(cacheDir, finalName), cached: false, resumedFrom: 0 });
    expect(sha256(readFileSync(r.path))).toBe(sha256(iso));
    expect(readdirSync(cacheDir)).toEqual([finalName]);
    expect(events.at(-1)).toEqual({
      phase: 'download',
      bytes: iso.length,
      total: iso.length,
      resumedFrom: 0,
    });
    expect(events.length).toBeLessThanOrEqual(202);

    server.requests.length = 0;
    const again = await downloadImage(image, { cacheDir });
    expect(again.cached).toBe(true);
    expect(server.requests).toEqual([]);
  });

  it('resumes an interrupted download with a range request and ends with the right file', async () => {
    const url = publish(manifestJson(goodImages()));
    const image = await imageFrom(url);
    server.set(`/r${n}/zeta-installer.iso`, {
      body: iso,
      dropAfter: { bytes: 1_500_000, times: 1 },
    });
    const first = await caught(downloadImage(image, { cacheDir }));
    expect(first.code).toBe('ZFLASH_DOWNLOAD_FAILED');
    expect(first.hint).toMatch(/resumes where it stopped/);
    const part = join(cacheDir, `${finalName}.part`);
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(1_500_000);
    expect(existsSync(join(cacheDir, finalName))).toBe(false);

    server.requests.length = 0;
    const r = await downloadImage(image, { cacheDir });
    expect(r.resumedFrom).toBe(kept);
    const isoRequests = server.requests.filter((q) => q.path.endsWith('.iso'));
    expect(isoRequests).toEqual([
      { path: `/r${n}/zeta-installer.iso`, range: `bytes=${kept}-`, sent: iso.length - kept },
    ]);
    expect(sha256(readFileSync(r.path))).toBe(sha256(iso));
    expect(readdirSync(cacheDir)).toEqual([finalName]);
  });

  it('resumes through a redirect to another host, as GitHub release downloads redirect to a CDN', async () => {
    const cdn = await startCatalogServer();
    try {
      const url = publish(manifestJson(goodImages()));
      const image = await imageFrom(url);
      cdn.set('/blob', { body: iso, dropAfter: { bytes: 1_000_000, times: 1 } });
      server.set(`/r${n}/zeta-installer.iso`, { body: iso, redirect: `${cdn.base}/blob` });
      expect((await caught(downloadImage(image, { cacheDir }))).code).toBe(
        'ZFLASH_DOWNLOAD_FAILED',
      );
      const kept = statSync(join(cacheDir, `${finalName}.part`)).size;
      const r = await downloadImage(image, { cacheDir });
      expect(r.resumedFrom).toBe(kept);
      expect(cdn.requests.map((q) => q.range)).toEqual([null, `bytes=${kept}-`]);
      expect(sha256(readFileSync(r.path))).toBe(sha256(iso));
    } finally {
      await cdn.close();
    }
  });

  it('starts over when the server ignores the range', async () => {
    const image = await imageFrom(publish(manifestJson(goodImages())));
    mkdirSync(cacheDir, { recursive: true });
    // A stale part whose bytes are wrong: if it were kept, the hash would fail.
    writeFileSync(join(cacheDir, `${finalName}.part`), Buffer.alloc(100_000, 7));
    server.set(`/r${n}/zeta-installer.iso`, { body: iso, ignoreRange: true });
    const r = await downloadImage(image, { cacheDir });
    expect(sha256(readFileSync(r.path))).toBe(sha256(iso));
  });

  it('deletes a download whose SHA-256 does not match the manifest, and says so', async () => {
    const wrong = { ...goodImages()['x86_64-linux'], sha256: 'e'.repeat(64) };
    const image = await imageFrom(publish(manifestJson({ 'x86_64-linux': wrong })));
    const err = await caught(downloadImage(image, { cacheDir }));
    expect(err.code).toBe('ZFLASH_DOWNLOAD_CORRUPT');
    expect(err.message).toMatch(
      /does not match the SHA-256 the signed manifest names; the file was deleted/,
    );
    expect(err.details).toMatchObject({ actualSha256: sha256(iso) });
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('deletes a download larger than the manifest says', async () => {
    const image = await imageFrom(
      publish(manifestJson(goodImages()), { image: Buffer.concat([iso, Buffer.alloc(10)]) }),
    );
    const err = await caught(downloadImage(image, { cacheDir }));
    expect(err.code).toBe('ZFLASH_DOWNLOAD_CORRUPT');
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('a stalled transfer ends in an error that keeps the part, not in a hang', async () => {
    const image = await imageFrom(publish(manifestJson(goodImages())));
    server.set(`/r${n}/zeta-installer.iso`, { body: iso, stallAfter: 200_000 });
    const err = await caught(downloadImage(image, { cacheDir, stallMs: 300 }));
    expect(err.code).toBe('ZFLASH_DOWNLOAD_FAILED');
    expect(err.message).toMatch(/stalled/);
    expect(statSync(join(cacheDir, `${finalName}.part`)).size).toBe(200_000);
  });

  it('cancelling keeps the part for the next try', async () => {
    const image = await imageFrom(publish(manifestJson(goodImages())));
    const ctl = new AbortController();
    const err = await caught(
      downloadImage(image, {
        cacheDir,
        signal: ctl.signal,
        onProgress: (p) => p.bytes >= 1024 * 1024 && ctl.abort(),
      }),
    );
    expect(err.code).toBe('ZFLASH_CANCELLED');
    const kept = statSync(join(cacheDir, `${finalName}.part`)).size;
    expect(kept).toBeGreaterThanOrEqual(1024 * 1024);
    const r = await downloadImage(image, { cacheDir });
    expect(r.resumedFrom).toBe(kept);
    expect(sha256(readFileSync(r.path))).toBe(sha256(iso));
  });

  it('prunes older versions of the same architecture and nothing else', async () => {
    mkdirSync(cacheDir, { recursive: true });
    const put = (name: string) => writeFileSync(join(cacheDir, name), 'old');
    put('zeta-installer-0.1.0-x86_64-linux.iso');
    put('zeta-installer-0.1.5-x86_64-linux.iso.part');
    put('zeta-installer-0.1.0-aarch64-linux.iso');
    put('notes.txt');
    put('zeta-installer-0.1.0-x86_64-linux.iso.bak');
    const image = await imageFrom(publish(manifestJson(goodImages())));
    const r = await downloadImage(image, { cacheDir });
    expect([...r.pruned].sort()).toEqual([
      'zeta-installer-0.1.0-x86_64-linux.iso',
      'zeta-installer-0.1.5-x86_64-linux.iso.part',
    ]);
    expect(readdirSync(cacheDir).sort()).toEqual([
      'notes.txt',
      'zeta-installer-0.1.0-aarch64-linux.iso',
      'zeta-installer-0.1.0-x86_64-linux.iso.bak',
      finalName,
    ]);
    expect((await listCachedImages(cacheDir)).map((c) => c.fileName)).toEqual([
      'zeta-installer-0.1.0-aarch64-linux.iso',
      finalName,
    ]);
  });

  it('never writes through a symlink planted at the part or the final name', async () => {
    mkdirSync(cacheDir, { recursive: true });
    const victim = join(tmp.path, `victim-${n}.txt`);
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(cacheDir, `${finalName}.part`));
    const victim2 = join(tmp.path, `victim2-${n}.txt`);
    writeFileSync(victim2, 'also precious\n');
    symlinkSync(victim2, join(cacheDir, finalName));
    const image = await imageFrom(publish(manifestJson(goodImages())));
    const r = await downloadImage(image, { cacheDir });
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(victim2, 'utf8')).toBe('also precious\n');
    expect(statSync(r.path).isFile()).toBe(true);
    expect(sha256(readFileSync(r.path))).toBe(sha256(iso));
  });

  it('re-downloads a cached image that no longer matches its hash', async () => {
    const image = await imageFrom(publish(manifestJson(goodImages())));
    const r = await downloadImage(image, { cacheDir });
    const damaged = readFileSync(r.path);
    damaged.writeUInt8(damaged.readUInt8(40000) ^ 0xff, 40000);
    writeFileSync(r.path, damaged);
    const again = await downloadImage(image, { cacheDir });
    expect(again.cached).toBe(false);
    expect(sha256(readFileSync(again.path))).toBe(sha256(iso));
  });
});
