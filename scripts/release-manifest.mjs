#!/usr/bin/env node
// Writes and signs the release manifest for the Zeta installer images of one release
// (docs/release.md). Used by .github/workflows/release.yml and by the tests; needs only Node.
//
//   ZETA_RELEASE_SIGNING_KEY="$(cat release-key.pem)" node scripts/release-manifest.mjs \
//     --version 0.2.0 --image x86_64-linux=result/iso/nixos.iso \
//     --url-base https://github.com/zeta-flash/zeta-flash/releases/download/v0.2.0/ --out out/
//
// Writes out/manifest.json and out/manifest.json.sig (base64 of the raw 64-byte Ed25519
// signature over the exact bytes of manifest.json) and prints each image's asset name. Before
// it writes anything it checks that the signature verifies with a public key the app ships
// (app/catalog/release-key.ts, or --public-key FILE), so a release can never publish a
// manifest that the app of that same release would refuse.
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ARCHITECTURES = ['x86_64-linux', 'aarch64-linux'];
const VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/;

function fail(message) {
  process.stderr.write(`release-manifest: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    version: { type: 'string' },
    image: { type: 'string', multiple: true },
    'url-base': { type: 'string' },
    out: { type: 'string' },
    date: { type: 'string' },
    'nixpkgs-rev': { type: 'string' },
    'public-key': { type: 'string' },
    'key-env': { type: 'string', default: 'ZETA_RELEASE_SIGNING_KEY' },
  },
  strict: true,
});

const version = values.version?.replace(/^v/, '') ?? fail('--version is required');
if (!VERSION_RE.test(version)) fail(`version "${version}" is not MAJOR.MINOR.PATCH[-suffix]`);
if (!values.image?.length) fail('at least one --image ARCH=FILE is required');
const urlBase = values['url-base'] ?? fail('--url-base is required');
if (!/^https:\/\/|^http:\/\/(127\.|localhost[:/])/.test(urlBase))
  fail('--url-base must be https (http only for 127.0.0.1/localhost, in tests)');
const out = values.out ?? fail('--out is required');
const date = values.date ?? new Date().toISOString();
if (Number.isNaN(Date.parse(date))) fail(`--date "${date}" is not an ISO 8601 date`);
const nixpkgsRev = values['nixpkgs-rev'] || null;
if (nixpkgsRev !== null && !/^[0-9a-f]{40}$/.test(nixpkgsRev))
  fail('--nixpkgs-rev must be 40 lowercase hex digits');

const pem = process.env[values['key-env']];
if (!pem) fail(`the signing key is not in $${values['key-env']} (the forge secret)`);
let privateKey;
try {
  privateKey = createPrivateKey(pem);
} catch {
  fail(`$${values['key-env']} is not a PEM private key`);
}
if (privateKey.asymmetricKeyType !== 'ed25519') fail('the signing key is not Ed25519');

// The public keys the app of this release trusts.
function shippedKeys() {
  if (values['public-key']) return [readFileSync(values['public-key'], 'utf8')];
  const src = readFileSync(new URL('../app/catalog/release-key.ts', import.meta.url), 'utf8');
  const body = src.slice(src.indexOf('RELEASE_PUBLIC_KEYS'));
  // Only keys that are list entries, not the commented-out example.
  return [
    ...body.matchAll(
      /^\s*'(-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/=\\n]+-----END PUBLIC KEY-----\\n?)',?$/gm,
    ),
  ].map((m) => m[1].replaceAll('\\n', '\n'));
}
const trusted = shippedKeys();
if (trusted.length === 0)
  fail(
    'app/catalog/release-key.ts carries no release key: paste the public half of the signing key there first (docs/release.md)',
  );

async function sha256(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk);
  return h.digest('hex');
}

const images = {};
const assets = [];
for (const spec of values.image) {
  const eq = spec.indexOf('=');
  const arch = spec.slice(0, eq);
  const file = spec.slice(eq + 1);
  if (eq < 1 || !ARCHITECTURES.includes(arch))
    fail(`--image "${spec}": expected ARCH=FILE with ARCH one of ${ARCHITECTURES.join(', ')}`);
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) fail(`--image ${arch}: ${file} is not a file`);
  const asset = `zeta-installer-${version}-${arch}.iso`;
  images[arch] = {
    url: new URL(asset, urlBase.endsWith('/') ? urlBase : `${urlBase}/`).href,
    size: st.size,
    sha256: await sha256(file),
    nixpkgsRev,
  };
  assets.push({ arch, file, asset });
}

const manifest = Buffer.from(
  `${JSON.stringify({ zetaReleaseManifest: 1, version, date, images }, null, 2)}\n`,
);
const signature = sign(null, manifest, privateKey);
const verifies = trusted.some((k) => {
  try {
    return verify(null, manifest, createPublicKey(k), signature);
  } catch {
    return false;
  }
});
if (!verifies)
  fail(
    'the signing key does not match any public key in app/catalog/release-key.ts: the app would refuse this manifest',
  );

mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'manifest.json'), manifest);
writeFileSync(join(out, 'manifest.json.sig'), `${signature.toString('base64')}\n`);
for (const a of assets) process.stdout.write(`${a.arch}\t${a.file}\t${a.asset}\n`);
