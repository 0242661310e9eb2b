/**
 * `zflash image list|get` as a user runs it: the built command in its own process, against a
 * release server on 127.0.0.1 whose manifest was written and signed by the release script the
 * forge runs (scripts/release-manifest.mjs), serving a fixture Zeta installer ISO. Keys are
 * made per run and passed with --release-key; nothing leaves this machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCatalogServer, type CatalogServer } from './catalog-server.js';
import { buildZetaIso, fileSha256, run, tempDir, zflashAsync, ZFLASH_BIN } from './fixtures.js';

const SCRIPT = new URL('../scripts/release-manifest.mjs', import.meta.url).pathname;
const ASSET = 'zeta-installer-0.2.0-x86_64-linux.iso';
const tmp = tempDir();
let server: CatalogServer;
let iso: string;
let isoBytes: Buffer;
let pubFile: string;
let privatePem: string;
let n = 0;
let cacheDir: string;

function jsonLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Runs the release script; returns its exit code and what it printed. */
function releaseScript(args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * Publishes a release under /rN/: the script writes and signs the manifest with the
 * (per-run) release key and checks it against the public key the "app" ships (--public-key).
 */
function publishRelease(opts: { images?: string[]; sha?: string } = {}): string {
  const dir = `/r${++n}`;
  const out = join(tmp.path, `release-${n}`);
  process.env['ZETA_RELEASE_SIGNING_KEY'] = privatePem;
  try {
    run(process.execPath, [
      SCRIPT,
      '--version',
      'v0.2.0',
      '--date',
      '2026-05-01T12:00:00Z',
      ...(opts.images ?? [`x86_64-linux=${iso}`]).flatMap((i) => ['--image', i]),
      '--url-base',
      `${server.base}${dir}/download/`,
      '--out',
      out,
      '--public-key',
      pubFile,
    ]);
  } finally {
    delete process.env['ZETA_RELEASE_SIGNING_KEY'];
  }
  server.set(`${dir}/manifest.json`, { body: readFileSync(join(out, 'manifest.json')) });
  server.set(`${dir}/manifest.json.sig`, { body: readFileSync(join(out, 'manifest.json.sig')) });
  server.set(`${dir}/download/${ASSET}`, { body: isoBytes });
  return `${server.base}${dir}/manifest.json`;
}

const image = (verb: string[], manifestUrl: string, extra: string[] = []) =>
  zflashAsync([
    'image',
    ...verb,
    '--manifest-url',
    manifestUrl,
    '--release-key',
    pubFile,
    '--cache-dir',
    cacheDir,
    ...extra,
  ]);

beforeAll(async () => {
  iso = buildZetaIso(join(tmp.path, 'zeta.iso'), { fillerBytes: 3 * 1024 * 1024 });
  isoBytes = readFileSync(iso);
  const keys = generateKeyPairSync('ed25519');
  privatePem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  pubFile = join(tmp.path, 'release-public.pem');
  writeFileSync(pubFile, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  server = await startCatalogServer();
});
afterAll(async () => {
  await server.close();
  tmp.cleanup();
});
beforeEach(() => {
  cacheDir = join(tmp.path, `cache-${n + 1}`);
  server.requests.length = 0;
});

describe('zflash image list', () => {
  it('lists the release from a manifest signed by the release script (JSON lines)', async () => {
    const url = publishRelease();
    const r = await image(['list', '--json'], url);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines).toEqual([
      {
        type: 'image',
        arch: 'x86_64-linux',
        version: '0.2.0',
        date: '2026-05-01T12:00:00Z',
        url: `${server.base}/r${n}/download/${ASSET}`,
        size: isoBytes.length,
        sha256: fileSha256(iso),
        nixpkgsRev: null,
        fileName: ASSET,
        cachedPath: null,
      },
      {
        type: 'result',
        manifestUrl: url,
        version: '0.2.0',
        date: '2026-05-01T12:00:00Z',
        signatureVerified: true,
        ignoredArchitectures: [],
        cached: [],
      },
    ]);
  });

  it('says in plain text what it offers, and skips an architecture it does not know', async () => {
    const url = publishRelease({ images: [`x86_64-linux=${iso}`, `aarch64-linux=${iso}`] });
    // Re-sign by hand with an extra, unknown architecture: the app must skip it, not fail.
    const manifest = JSON.parse(server.body(`/r${n}/manifest.json`).toString()) as {
      images: Record<string, unknown>;
    };
    manifest.images['riscv64-linux'] = manifest.images['x86_64-linux'];
    const resigned = join(tmp.path, `resigned-${n}`);
    mkdirSync(resigned);
    writeFileSync(join(resigned, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    // Signed with openssl this time (docs/release.md's manual way): the same detached format.
    server.set(`/r${n}/manifest.json`, { body: readFileSync(join(resigned, 'manifest.json')) });
    server.set(`/r${n}/manifest.json.sig`, {
      body: Buffer.from(
        run('sh', [
          '-c',
          `openssl pkeyutl -sign -rawin -inkey '${writePrivate()}' -in '${join(resigned, 'manifest.json')}' | base64 -w0`,
        ]),
      ),
    });
    const r = await image(['list'], url);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Zeta installer 0\.2\.0, released 2026-05-01 \(signed manifest verified/,
    );
    expect(r.stdout).toMatch(
      /x86_64-linux\s+\d+\.\d [kMG]B\s+sha256 [0-9a-f]{16}…\s+not downloaded/,
    );
    expect(r.stdout).toMatch(/aarch64-linux/);
    expect(r.stdout).toMatch(
      /riscv64-linux\s+skipped: an architecture this Zeta Flash does not know/,
    );

    const unknown = await image(['get', '--arch', 'riscv64-linux', '--json'], url);
    expect(unknown.code).toBe(2);
    expect(jsonLines(unknown.stdout)).toEqual([
      expect.objectContaining({
        type: 'error',
        error: expect.objectContaining({ code: 'ZFLASH_ARCH_UNKNOWN' }),
      }),
    ]);
  });

  it('refuses a manifest whose signature is forged, and downloads nothing', async () => {
    const url = publishRelease();
    const other = generateKeyPairSync('ed25519');
    const otherPub = join(tmp.path, `other-${n}.pem`);
    writeFileSync(otherPub, other.publicKey.export({ type: 'spki', format: 'pem' }));
    const r = await zflashAsync([
      'image',
      'get',
      '--manifest-url',
      url,
      '--release-key',
      otherPub,
      '--cache-dir',
      cacheDir,
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^note: trusting the given release key/m);
    expect(r.stderr).toMatch(
      /error: The release manifest at .* is not signed by the Zeta release key/,
    );
    expect(r.stderr).toMatch(/code: ZFLASH_CATALOG_SIGNATURE/);
    expect(server.requests.some((q) => q.path.endsWith('.iso'))).toBe(false);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('without a release key built in, refuses before any request (ZFLASH_CATALOG_NO_KEY)', async () => {
    const url = publishRelease();
    server.requests.length = 0;
    const r = await zflashAsync(['image', 'list', '--manifest-url', url, '--json'], {
      ZFLASH_RELEASE_KEY: '',
    });
    expect(r.code).toBe(1);
    expect(jsonLines(r.stdout)[0]).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_CATALOG_NO_KEY', kind: 'bug' },
    });
    expect(server.requests).toEqual([]);
  });

  it('refuses a manifest URL that is plain http off this computer, before any traffic', async () => {
    const r = await zflashAsync([
      'image',
      'list',
      '--manifest-url',
      'http://example.invalid/manifest.json',
      '--release-key',
      pubFile,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/code: ZFLASH_CATALOG_URL_INVALID/);
  });
});

describe('zflash image get', () => {
  it('downloads with progress, verifies, and the file is a Zeta installer `inspect` accepts', async () => {
    const url = publishRelease();
    const r = await image(['get', '--json'], url);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    const progress = lines.filter((l) => l.type === 'progress');
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual({
      type: 'progress',
      phase: 'download',
      bytes: isoBytes.length,
      total: isoBytes.length,
      resumedFrom: 0,
    });
    const result = lines.at(-1)!;
    expect(result).toMatchObject({
      type: 'result',
      path: join(cacheDir, ASSET),
      version: '0.2.0',
      arch: 'x86_64-linux',
      sha256: fileSha256(iso),
      cached: false,
      pruned: [],
    });
    expect(fileSha256(join(cacheDir, ASSET))).toBe(fileSha256(iso));
    const inspected = await zflashAsync([
      'inspect',
      String(result.path),
      '--require-zeta',
      '--json',
    ]);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout).installer).toMatchObject({
      kind: 'zeta',
      version: '0.2.0',
    });

    // Text mode: the path alone on stdout, the story on stderr; now from the cache.
    const again = await image(['get'], url);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`${join(cacheDir, ASSET)}\n`);
    expect(again.stderr).toMatch(/Already in the cache; SHA-256 checked again/);
    const listed = await image(['list'], url);
    expect(listed.stdout).toMatch(new RegExp(`in cache: ${join(cacheDir, ASSET)}`));
  });

  it('resumes an interrupted download with a range request', async () => {
    const url = publishRelease();
    server.set(`/r${n}/download/${ASSET}`, {
      body: isoBytes,
      dropAfter: { bytes: 2_000_000, times: 1 },
    });
    const first = await image(['get', '--json'], url);
    expect(first.code).toBe(4);
    expect(jsonLines(first.stdout).at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_DOWNLOAD_FAILED' },
    });
    const kept = statSync(join(cacheDir, `${ASSET}.part`)).size;
    expect(kept).toBeGreaterThan(0);

    server.requests.length = 0;
    const second = await image(['get', '--json'], url);
    expect(second.code).toBe(0);
    expect(jsonLines(second.stdout).at(-1)).toMatchObject({ type: 'result', resumedFrom: kept });
    expect(server.requests.filter((q) => q.path.endsWith('.iso'))).toEqual([
      { path: `/r${n}/download/${ASSET}`, range: `bytes=${kept}-`, sent: isoBytes.length - kept },
    ]);
    expect(fileSha256(join(cacheDir, ASSET))).toBe(fileSha256(iso));
    expect(readdirSync(cacheDir)).toEqual([ASSET]);
  });

  it('Ctrl-C during a download exits 130 and keeps what arrived; the next run resumes', async () => {
    const url = publishRelease();
    server.set(`/r${n}/download/${ASSET}`, { body: isoBytes, stallAfter: 1_600_000 });
    const r = await zflashAsync(
      [
        'image',
        'get',
        '--json',
        '--manifest-url',
        url,
        '--release-key',
        pubFile,
        '--cache-dir',
        cacheDir,
      ],
      {},
      { signalAfter: { stdoutMatch: /"type":"progress"/, signal: 'SIGINT' } },
    );
    expect(r.code).toBe(130);
    expect(jsonLines(r.stdout).at(-1)).toMatchObject({ error: { code: 'ZFLASH_CANCELLED' } });
    const kept = statSync(join(cacheDir, `${ASSET}.part`)).size;
    expect(kept).toBeGreaterThan(0);
    server.set(`/r${n}/download/${ASSET}`, { body: isoBytes });
    const again = await image(['get', '--json'], url);
    expect(again.code).toBe(0);
    expect(jsonLines(again.stdout).at(-1)).toMatchObject({ resumedFrom: kept });
  });

  it('a wrong SHA-256 deletes the download and says so', async () => {
    const url = publishRelease();
    // The server now sends other bytes of the same size than the ones the manifest signed.
    const evil = Buffer.from(isoBytes);
    evil.writeUInt8(evil.readUInt8(100_000) ^ 1, 100_000);
    server.set(`/r${n}/download/${ASSET}`, { body: evil });
    const r = await image(['get'], url);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /does not match the SHA-256 the signed manifest names; the file was deleted/,
    );
    expect(r.stderr).toMatch(/code: ZFLASH_DOWNLOAD_CORRUPT/);
    expect(r.stdout).toBe('');
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('uses the per-user cache folder (XDG_CACHE_HOME) and needs no root: runs as uid 65534', async () => {
    const url = publishRelease();
    const home = join(tmp.path, `nobody-${n}`);
    mkdirSync(home);
    chownSync(home, 65534, 65534);
    chmodSync(home, 0o700);
    // Only the way down to the home folder is opened to the other user, nothing else here.
    chmodSync(tmp.path, 0o711);
    const pub = join(home, 'release-public.pem');
    writeFileSync(pub, readFileSync(pubFile), { mode: 0o644 });
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((ok) => {
      const child = spawn(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          ZFLASH_BIN,
          'image',
          'get',
          '--manifest-url',
          url,
          '--release-key',
          pub,
        ],
        {
          env: { PATH: process.env['PATH'] ?? '', HOME: home, XDG_CACHE_HOME: join(home, 'xdg') },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => ok({ code, stdout, stderr }));
    });
    expect(r.stderr).toMatch(/SHA-256 matches the signed manifest/);
    expect(r.code).toBe(0);
    const path = join(home, 'xdg', 'zeta-flash', ASSET);
    expect(r.stdout).toBe(`${path}\n`);
    expect(statSync(path).uid).toBe(65534);
    expect(fileSha256(path)).toBe(fileSha256(iso));
  });
});

describe('scripts/release-manifest.mjs', () => {
  it('refuses to sign while app/catalog/release-key.ts carries no key, or with a key it does not hold', () => {
    process.env['ZETA_RELEASE_SIGNING_KEY'] = privatePem;
    try {
      const base = [
        '--version',
        '0.2.0',
        '--image',
        `x86_64-linux=${iso}`,
        '--url-base',
        'https://example.invalid/v0.2.0/',
      ];
      const noKey = releaseScript([...base, '--out', join(tmp.path, 'nokey')]);
      expect(noKey.code).not.toBe(0);
      expect(noKey.out).toMatch(/carries no release key/);
      const other = generateKeyPairSync('ed25519');
      const otherPub = join(tmp.path, 'other-script.pem');
      writeFileSync(otherPub, other.publicKey.export({ type: 'spki', format: 'pem' }));
      const mismatch = releaseScript([
        ...base,
        '--out',
        join(tmp.path, 'mismatch'),
        '--public-key',
        otherPub,
      ]);
      expect(mismatch.code).not.toBe(0);
      expect(mismatch.out).toMatch(/does not match any public key/);
      expect(existsSync(join(tmp.path, 'mismatch', 'manifest.json'))).toBe(false);
    } finally {
      delete process.env['ZETA_RELEASE_SIGNING_KEY'];
    }
  });
});

let privateFile: string | null = null;
function writePrivate(): string {
  if (!privateFile) {
    privateFile = join(tmp.path, 'release-private.pem');
    writeFileSync(privateFile, privatePem, { mode: 0o600 });
  }
  return privateFile;
}
