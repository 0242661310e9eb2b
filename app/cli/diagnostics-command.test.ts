// `zflash diagnostics` as a user runs it (the built CLI): the error from a real failed `--json`
// run, a real image, and the terminal QR code turned back into pixels and decoded by zbarimg.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildNixosIso, tempDir, zflash } from '../../test/fixtures.js';
import { diagnosticsSnapshotSchema } from '../diagnostics/snapshot.js';
import { MAX_TERMINAL_QR_BYTES } from '../diagnostics/render.js';
import { lastErrorIn } from './diagnostics-command.js';

const tmp = tempDir('zflash-diagcli-');
afterAll(() => tmp.cleanup());
const iso = buildNixosIso(join(tmp.path, 'nixos.iso'));
/** ANSI colour codes around the blocks (built from a string: lint bans control characters in literals). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/**
 * Reads qrcode's `small` terminal rendering back into modules: each character is two rows,
 * '█' both dark, '▀' top dark, '▄' bottom dark, ' ' both light (black on a white background);
 * lines drawn in white foreground (the bottom margin) are light. Written as a PBM for zbarimg.
 */
function terminalQrToPbm(text: string, file: string): void {
  const rows: boolean[][] = [];
  for (const raw of text.split('\n')) {
    if (!raw.includes('\x1b[47m')) continue;
    const light = raw.includes('\x1b[37m');
    const chars = [...raw.replace(ANSI, '')];
    rows.push(chars.map((c) => !light && (c === '█' || c === '▀')));
    rows.push(chars.map((c) => !light && (c === '█' || c === '▄')));
  }
  const scale = 4;
  const pad = 8;
  const width = Math.max(...rows.map((r) => r.length));
  const w = (width + 2 * pad) * scale;
  const h = (rows.length + 2 * pad) * scale;
  const out: string[] = [`P1\n${w} ${h}`];
  for (let y = 0; y < h; y++) {
    const r = rows[Math.floor(y / scale) - pad];
    const line: string[] = [];
    for (let x = 0; x < w; x++) line.push(r?.[Math.floor(x / scale) - pad] ? '1' : '0');
    out.push(line.join(' '));
  }
  writeFileSync(file, `${out.join('\n')}\n`);
}

const zbar = (file: string) =>
  execFileSync('zbarimg', ['--raw', '-q', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).replace(/\n$/, '');

describe('zflash diagnostics', () => {
  // A real failure to explain: flashing to a file that exists, without --force.
  const exists = join(tmp.path, 'exists.img');
  writeFileSync(exists, 'x');
  const key = join(tmp.path, 'k');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const failed = zflash([
    'flash',
    iso,
    '--target',
    exists,
    '--host',
    'node-1',
    '--ssh-key',
    `${key}.pub`,
    '--json',
  ]);
  const runLog = join(tmp.path, 'run.jsonl');
  writeFileSync(runLog, failed.stdout);

  it('explains the error of a failed --json run, with the image facts', () => {
    expect(failed.code).toBe(3);
    const r = zflash(['diagnostics', '--error', runLog, '--image', iso, '--no-qr']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toBe('ZFLASH_TARGET_EXISTS (target)');
    expect(lines.some((l) => /^IMAGE {2}nixos\.iso · .* · nixos 25\.11$/.test(l))).toBe(true);
    expect(lines.length).toBeLessThan(40);
    expect(r.stdout).toMatch(/WHAT TO DO NEXT\n1\. Photograph this screen/);
  });

  it('prints a QR code an 80-column terminal holds, which decodes to the facts', () => {
    const r = zflash(['diagnostics', '--error', runLog, '--image', iso]);
    const qr = r.stdout.slice(r.stdout.indexOf('\x1b['));
    for (const line of qr.split('\n'))
      expect([...line.replace(ANSI, '')].length).toBeLessThanOrEqual(80);
    const pbm = join(tmp.path, 'qr.pbm');
    terminalQrToPbm(qr, pbm);
    const json = zbar(pbm);
    expect(json.length).toBeLessThanOrEqual(MAX_TERMINAL_QR_BYTES);
    const decoded = JSON.parse(json);
    expect(decoded.error.code).toBe('ZFLASH_TARGET_EXISTS');
    expect(decoded.app).toMatch(/^zeta-flash /);
  });

  it('gives the full snapshot as one JSON line', () => {
    const r = zflash(['diagnostics', '--error', runLog, '--image', iso, '--json']);
    const line = JSON.parse(r.stdout) as { type: string };
    expect(line.type).toBe('diagnostics');
    const s = diagnosticsSnapshotSchema.parse(line);
    expect(s.image?.esp?.fits).toBe(true);
  });

  it('explains an image that cannot be used when no other error is given', () => {
    const blank = join(tmp.path, 'blank.img');
    writeFileSync(blank, Buffer.alloc(2 * 1024 * 1024));
    const r = zflash(['diagnostics', '--image', blank, '--json']);
    expect(JSON.parse(r.stdout).error.kind).toBe('target');
  });

  it('refuses an error file without an error line, with a usage error', () => {
    const empty = join(tmp.path, 'empty.jsonl');
    writeFileSync(empty, '{"type":"notice","code":"X","message":"m"}\n');
    const r = zflash(['diagnostics', '--error', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds no {"type":"error"} line');
  });

  it('finds the last error among JSON lines and skips other output', () => {
    const err = (code: string) =>
      JSON.stringify({
        type: 'error',
        error: { code, kind: 'io', message: 'm', hint: 'h', exitCode: 4 },
      });
    expect(
      lastErrorIn(
        `progress…\n${err('ZFLASH_WRITE_FAILED')}\nnot json\n${err('ZFLASH_READ_FAILED')}\n`,
      )?.code,
    ).toBe('ZFLASH_READ_FAILED');
    expect(lastErrorIn('{"type":"error","error":{"code":"NOPE"}}')).toBeNull();
  });
});
