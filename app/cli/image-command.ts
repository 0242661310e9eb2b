/**
 * `zflash image list|get`: the Zeta installer image for users without Nix, from the signed
 * release manifest. This front end decides the inputs the engine takes as parameters: the
 * manifest URL (flag, environment, default), the trusted keys, the cache folder per OS.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import {
  DEFAULT_ARCHITECTURE,
  defaultCacheDir as engineCacheDir,
  DEFAULT_MANIFEST_URL,
  RELEASE_PUBLIC_KEYS,
  downloadImage,
  fetchReleaseManifest,
  listCachedImages,
  parseArchitecture,
  parseManifestUrl,
  parseReleaseKey,
  pickImage,
  trustedKeys,
  type DownloadProgress,
  type ReleaseManifest,
} from '../catalog/index.js';
import { inputError } from '../errors.js';
import { parse, wantsJson } from './args.js';
import type { CliIo, Command } from './io.js';
import { formatSize, printJsonLine, reportError } from './output.js';

const COMMON = '[--manifest-url URL] [--cache-dir DIR] [--release-key FILE] [--json]';
const USAGE = `zflash image list ${COMMON}
       zflash image get [--arch ARCH] ${COMMON}`;

export const imageHelp = `${USAGE}

The Zeta installer image, for those who do not build it with Nix. \`list\` shows what the
latest release offers (version, date, size per architecture) and what is already in the
cache; \`get\` downloads the image for ARCH (default ${DEFAULT_ARCHITECTURE}: the nodes'
architecture, not this computer's), resumes an interrupted download, checks its SHA-256
against the signed release manifest and prints the path of the verified file. Older
versions in the cache are deleted. Nothing needs administrator rights.

  --manifest-url URL   release manifest (or $ZFLASH_MANIFEST_URL; default:
                       ${DEFAULT_MANIFEST_URL})
  --cache-dir DIR      where images are kept (default: the user's cache folder)
  --release-key FILE   trust this Ed25519 public key (PEM) instead of the built-in
                       release key (or $ZFLASH_RELEASE_KEY): for forks and mirrors that
                       sign their own manifests`;

/** The per-user cache folder the OS expects, `zeta-flash` inside it. */
/** The CLI's cache folder: the engine's default for this user (shared with the app). */
export function defaultCacheDir(env: NodeJS.ProcessEnv, platform = process.platform): string {
  return engineCacheDir({ platform, env, homedir: homedir() });
}

const options = {
  'manifest-url': { type: 'string' },
  'cache-dir': { type: 'string' },
  'release-key': { type: 'string' },
  arch: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function keysFrom(file: string | undefined) {
  if (!file) return trustedKeys(RELEASE_PUBLIC_KEYS);
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw inputError(
      'ZFLASH_RELEASE_KEY_INVALID',
      `The release key file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}).`,
      'Give the path of the Ed25519 public key (PEM) that signs your manifests.',
      { path: file },
    );
  }
  return [parseReleaseKey(pem, `The release key file ${file}`)];
}

function progressPrinter(io: CliIo, json: boolean) {
  if (json)
    return {
      onProgress: (p: DownloadProgress) => printJsonLine(io, { type: 'progress', ...p }),
      stop() {},
    };
  if (!io.stderr.isTTY) {
    let lastTenth = -1;
    let lastPhase = '';
    return {
      onProgress: (p: DownloadProgress) => {
        const tenth = Math.floor((p.bytes / p.total) * 10);
        if (p.phase !== lastPhase || tenth !== lastTenth) {
          lastPhase = p.phase;
          lastTenth = tenth;
          io.stderr.write(
            `${p.phase} ${tenth * 10}% (${formatSize(p.bytes)} of ${formatSize(p.total)})\n`,
          );
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: '{phase} |{bar}| {percentage}% {done}/{all} ETA {eta_formatted}',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (p: DownloadProgress) => {
      const payload = {
        phase: p.phase.padEnd(8),
        done: formatSize(p.bytes),
        all: formatSize(p.total),
      };
      if (!started) {
        bar.start(p.total, p.bytes, payload);
        started = true;
      }
      bar.update(p.bytes, payload);
    },
    stop: () => started && bar.stop(),
  };
}

function printList(
  io: CliIo,
  json: boolean,
  m: ReleaseManifest,
  cached: Awaited<ReturnType<typeof listCachedImages>>,
): void {
  const inCache = (fileName: string) =>
    cached.find((c) => c.fileName === fileName && !c.partial)?.path ?? null;
  if (json) {
    for (const img of m.images)
      printJsonLine(io, { type: 'image', ...img, cachedPath: inCache(img.fileName) });
    printJsonLine(io, {
      type: 'result',
      manifestUrl: m.manifestUrl,
      version: m.version,
      date: m.date,
      signatureVerified: true,
      ignoredArchitectures: m.ignoredArchitectures,
      cached,
    });
    return;
  }
  const lines = [
    `Zeta installer ${m.version}, released ${m.date.slice(0, 10)} (signed manifest verified: ${m.manifestUrl})`,
  ];
  if (m.images.length === 0) lines.push('  no image for an architecture this Zeta Flash knows');
  for (const img of m.images) {
    const c = inCache(img.fileName);
    lines.push(
      `  ${img.arch.padEnd(14)} ${formatSize(img.size).padStart(10)}  sha256 ${img.sha256.slice(0, 16)}…  ${c ? `in cache: ${c}` : 'not downloaded'}`,
    );
  }
  for (const a of m.ignoredArchitectures)
    lines.push(`  ${a.padEnd(14)} skipped: an architecture this Zeta Flash does not know`);
  const other = cached.filter(
    (c) => !m.images.some((i) => i.fileName === c.fileName && !c.partial),
  );
  for (const c of other)
    lines.push(
      `  cache: ${c.fileName} (${formatSize(c.size)}${c.partial ? ', partial download' : ''})`,
    );
  if (m.images.length) lines.push('Download with: zflash image get [--arch ARCH]');
  io.stdout.write(`${lines.join('\n')}\n`);
}

export const imageCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  try {
    const { values, positionals } = parse(argv, options, USAGE);
    if (values.help) {
      io.stdout.write(`${imageHelp}\n`);
      return 0;
    }
    const [verb, ...extra] = positionals;
    if (!verb || !['list', 'get'].includes(verb) || extra.length > 0) {
      throw inputError(
        'ZFLASH_USAGE',
        verb
          ? `"image ${positionals.join(' ')}" is not understood.`
          : 'Say what to do: image list or image get.',
        `Usage: ${USAGE}`,
      );
    }
    if (verb === 'list' && values.arch)
      throw inputError('ZFLASH_USAGE', '--arch goes with image get.', `Usage: ${USAGE}`);
    const arch = parseArchitecture(values.arch ?? DEFAULT_ARCHITECTURE);
    const manifestUrl = parseManifestUrl(
      values['manifest-url'] || io.env['ZFLASH_MANIFEST_URL'] || DEFAULT_MANIFEST_URL,
    ).href;
    const cacheDir = resolve(values['cache-dir'] || defaultCacheDir(io.env));
    const keys = await keysFrom(values['release-key'] || io.env['ZFLASH_RELEASE_KEY'] || undefined);
    if ((values['release-key'] || io.env['ZFLASH_RELEASE_KEY']) && !json)
      io.stderr.write('note: trusting the given release key instead of the built-in one\n');

    const manifest = await fetchReleaseManifest({ manifestUrl, keys, signal: io.signal });
    if (verb === 'list') {
      printList(io, json, manifest, await listCachedImages(cacheDir));
      return 0;
    }
    const image = pickImage(manifest, arch);
    if (!json)
      io.stderr.write(
        `Zeta installer ${image.version} for ${image.arch}, ${formatSize(image.size)}, released ${image.date.slice(0, 10)}\n`,
      );
    const printer = progressPrinter(io, json);
    let result;
    try {
      result = await downloadImage(image, {
        cacheDir,
        signal: io.signal,
        onProgress: printer.onProgress,
      });
    } finally {
      printer.stop();
    }
    if (json) {
      printJsonLine(io, {
        type: 'result',
        path: result.path,
        version: image.version,
        arch: image.arch,
        size: image.size,
        sha256: image.sha256,
        date: image.date,
        cached: result.cached,
        resumedFrom: result.resumedFrom,
        pruned: result.pruned,
      });
    } else {
      io.stderr.write(
        [
          result.cached
            ? 'Already in the cache; SHA-256 checked again.'
            : `Downloaded${result.resumedFrom ? ` (resumed at ${formatSize(result.resumedFrom)})` : ''}; SHA-256 matches the signed manifest.`,
          ...result.pruned.map((p) => `Deleted the older ${p} from the cache.`),
          '',
        ].join('\n'),
      );
      // The path alone on stdout, so `zflash flash "$(zflash image get)" …` works.
      io.stdout.write(`${result.path}\n`);
    }
    return 0;
  } catch (err) {
    return reportError(io, err, json);
  }
};
