// Renders the app icon from its SVG sources (assets/icon/) into every file the installers need,
// and commits them next to the sources: `node scripts/make-icons.mjs` after changing a design.
//
//   assets/icons/NxN.png   16…1024: the Linux icon set (electron-builder reads NxN.png from a
//                          folder; the deb installs them under /usr/share/icons/hicolor)
//   assets/icon.ico        Windows (NSIS, the .exe): 16, 24, 32, 48, 64, 128, 256
//   assets/icon.icns       macOS: 16…1024 including the @2x variants
//
// Small sizes have their own sources drawn on the pixel grid (16, 24, 32): a 1024 px drawing
// scaled down to 16 px is a blur. Rendering needs `rsvg-convert` (Debian: librsvg2-bin); the
// ICO and ICNS containers are written here — each is a short header and a table of PNGs, no
// library needed, and the output is byte-for-byte reproducible.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const assets = join(root, 'assets');

/** The PNG sizes of the Linux set; every other container takes its pictures from these. */
export const PNG_SIZES = [16, 24, 32, 48, 64, 128, 256, 512, 1024];
export const ICO_SIZES = [16, 24, 32, 48, 64, 128, 256];
/** ICNS element types holding PNG data, and the pixel size each must be (Apple's iconutil set). */
export const ICNS_TYPES = [
  ['icp4', 16],
  ['icp5', 32],
  ['ic11', 32], // 16 pt @2x
  ['ic12', 64], // 32 pt @2x
  ['ic07', 128],
  ['ic13', 256], // 128 pt @2x
  ['ic08', 256],
  ['ic14', 512], // 256 pt @2x
  ['ic09', 512],
  ['ic10', 1024], // 512 pt @2x
];

/** Which drawing a size is rendered from. */
export function sourceFor(size) {
  if (size <= 16) return 'zeta-flash-16.svg';
  if (size <= 24) return 'zeta-flash-24.svg';
  if (size <= 32) return 'zeta-flash-32.svg';
  return 'zeta-flash.svg';
}

/** ICO: ICONDIR, one ICONDIRENTRY per picture, then the PNGs (Windows Vista and later). */
export function buildIco(pngs) {
  const header = Buffer.alloc(6 + 16 * pngs.length);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2); // 1 = icon
  header.writeUInt16LE(pngs.length, 4);
  let offset = header.length;
  pngs.forEach(({ size, data }, i) => {
    const e = 6 + 16 * i;
    header.writeUInt8(size >= 256 ? 0 : size, e); // 0 means 256
    header.writeUInt8(size >= 256 ? 0 : size, e + 1);
    header.writeUInt8(0, e + 2); // no palette
    header.writeUInt8(0, e + 3);
    header.writeUInt16LE(1, e + 4); // colour planes
    header.writeUInt16LE(32, e + 6); // bits per pixel
    header.writeUInt32LE(data.length, e + 8);
    header.writeUInt32LE(offset, e + 12);
    offset += data.length;
  });
  return Buffer.concat([header, ...pngs.map((p) => p.data)]);
}

/** ICNS: 'icns' + total length, then elements of (type, length including its 8-byte header, PNG). */
export function buildIcns(elements) {
  const parts = elements.map(({ type, data }) => {
    const head = Buffer.alloc(8);
    head.write(type, 0, 'ascii');
    head.writeUInt32BE(data.length + 8, 4);
    return Buffer.concat([head, data]);
  });
  const head = Buffer.alloc(8);
  head.write('icns', 0, 'ascii');
  head.writeUInt32BE(8 + parts.reduce((n, p) => n + p.length, 0), 4);
  return Buffer.concat([head, ...parts]);
}

function render(size) {
  const svg = join(assets, 'icon', sourceFor(size));
  return execFileSync('rsvg-convert', ['--width', String(size), '--height', String(size), svg], {
    maxBuffer: 64 * 1024 * 1024,
  });
}

function main() {
  const pngs = new Map(PNG_SIZES.map((size) => [size, render(size)]));
  mkdirSync(join(assets, 'icons'), { recursive: true });
  for (const [size, data] of pngs)
    writeFileSync(join(assets, 'icons', `${size}x${size}.png`), data);
  writeFileSync(
    join(assets, 'icon.ico'),
    buildIco(ICO_SIZES.map((size) => ({ size, data: pngs.get(size) }))),
  );
  writeFileSync(
    join(assets, 'icon.icns'),
    buildIcns(ICNS_TYPES.map(([type, size]) => ({ type, data: pngs.get(size) }))),
  );
  console.log(
    `wrote assets/icons/*.png (${PNG_SIZES.join(', ')}), assets/icon.ico, assets/icon.icns`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
