// Diagnostics are judged by what a reader gets back: the QR code is rendered to PNG and decoded
// by zbarimg (Debian zbar-tools), the partitions are compared with sfdisk on a real loop device,
// and secrets are searched for in every rendering. The partitions of a real loop device need
// root: test/diagnostics-live.test.ts.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/fixtures.js';
import type { AssessedDrive } from '../drives/types.js';
import { ioError, toZflashError } from '../errors.js';
import type { FlashSessionSnapshot } from '../api/sessions.js';
import { buildNodeIdentity } from '../node/identity.js';
import { parseAuthorizedKeys } from '../node/ssh-keys.js';
import {
  buildDiagnostics,
  compactDiagnosticsJson,
  diagnosticsFile,
  diagnosticsSnapshotSchema,
  diagnosticsView,
  listPartitions,
  MAX_QR_BYTES,
  MAX_TEXT_LINES,
  qrPng,
  qrTerminal,
  renderDiagnosticsText,
  TEXT_WIDTH,
  type DiagnosticsContext,
} from './index.js';

const tmp = tempDir('zflash-diag-');
afterAll(() => tmp.cleanup());

function keys(n: number) {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = join(tmp.path, `k${i}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `op${i}@laptop`, '-f', f]);
    lines.push(readFileSync(`${f}.pub`, 'utf8'));
  }
  return parseAuthorizedKeys(lines.join('')).keys;
}

const PASSPHRASE = 'correct horse battery staple';
const PASSWORD = 'console-password-123';
const nodeKeys = keys(4);
const { identity } = buildNodeIdentity({
  hostname: 'gpu-07',
  keys: nodeKeys,
  roles: ['worker', 'gpu'],
  wifi: { ssid: 'Lab Wi-Fi', passphrase: PASSPHRASE },
  password: PASSWORD,
});
const psk = identity.wifi?.psk ?? '';
const hash = identity.passwordHash ?? '';

const drive: AssessedDrive = {
  drive: {
    device: '/dev/sdb',
    raw: '/dev/sdb',
    size: 256_060_514_304,
    description: 'Generic Flash Disk über-USB',
    busType: 'USB',
    isUSB: true,
    isRemovable: true,
    isVirtual: false,
    isSystem: false,
    isReadOnly: false,
    mountpoints: ['/media/op/NIXOS_ISO', '/media/op/EFIBOOT'],
    isLoop: false,
    blockSize: 512,
    logicalBlockSize: 512,
    partitionTableType: 'mbr',
  },
  verdict: {
    status: 'warn',
    reasons: [
      {
        code: 'DRIVE_LARGE',
        severity: 'warn',
        message:
          'This drive holds 256.1 GB, more than a typical USB stick; make sure it is the right one.',
      },
    ],
  },
};

const session: FlashSessionSnapshot = {
  device: '/dev/sdb',
  hostname: 'gpu-07',
  startedAt: '2025-01-01T00:00:00.000Z',
  session: {
    status: 'failed',
    progress: {
      phase: 'verifying',
      step: 3,
      bytes: 987_654_321,
      total: 1_234_567_890,
      speed: 1,
      eta: null,
      percent: 80,
    },
    log: [
      'opened /dev/sdb',
      `wrote payload with psk=${psk}`,
      ...Array.from({ length: 18 }, (_, i) => `log line ${i} `.repeat(8)),
    ],
    error: ioError(
      'ZFLASH_VERIFY_MISMATCH',
      'The drive returned other data than was written at byte 987654321.',
      'The stick may be failing or fake-capacity; try another stick.',
      { offset: 987654321, passwordHash: hash, note: `psk ${psk} and ${hash}` },
    ).toJSON(),
  },
};

function context(over: Partial<DiagnosticsContext> = {}): DiagnosticsContext {
  return {
    now: new Date('2025-01-01T00:05:00Z'),
    app: { name: 'zeta-flash', version: '0.1.0' },
    runtime: 'node 20.20.2',
    os: { platform: 'linux', release: '6.1.0-18-amd64', arch: 'x64' },
    image: {
      path: '/home/op/Downloads/nixos-minimal-25.11.20250101.abcdef0-x86_64-linux.iso',
      name: 'nixos-minimal-25.11.20250101.abcdef0-x86_64-linux.iso',
      compression: 'none',
      fileSize: 1_234_567_890,
      size: 1_234_567_890,
      sizeIsExact: true,
      sha256: 'a'.repeat(64),
      sha256Source: 'sidecar',
      installer: { kind: 'nixos', volumeLabel: 'nixos-minimal-25.11-x86_64', problem: null },
      installerSummary: 'NixOS installer without Zeta (nixos-minimal-25.11-x86_64)',
      nixosRelease: '25.11',
      esp: {
        partition: 2,
        source: 'mbr',
        offset: 141_312,
        size: 3_145_728,
        fatType: 'FAT12',
        label: 'EFIBOOT',
        serial: '1234-5678',
        freeBytes: 1_048_576,
        clusterSize: 2048,
        fatsIdentical: true,
        payloadFits: true,
        payloadProblem: null,
      },
      existingHostname: null,
      notices: [],
    },
    drive,
    partitions: [
      { name: 'sdb1', number: 1, start: 0, size: 1_234_567_890 },
      { name: 'sdb2', number: 2, start: 141_312, size: 3_145_728 },
    ],
    session,
    identity,
    ...over,
  };
}

describe('diagnostics snapshot', () => {
  it('takes the flash error when no other is given, and keeps the phase and byte offset', () => {
    const s = buildDiagnostics(context());
    expect(s.error?.code).toBe('ZFLASH_VERIFY_MISMATCH');
    expect(s.flash).toMatchObject({ status: 'failed', phase: 'verifying', bytes: 987_654_321 });
    expect(s.drive?.partitions).toHaveLength(2);
    expect(s.node).toEqual({
      hostname: 'gpu-07',
      keys: nodeKeys.map((k) => k.fingerprint),
      roles: ['worker', 'gpu'],
      wifi: 'Lab Wi-Fi',
      password: true,
    });
  });

  it('contains no PSK, no password hash, no passphrase or password and no key material in any rendering', async () => {
    const s = buildDiagnostics(context());
    const view = await diagnosticsView(s);
    const everything = [
      JSON.stringify(s),
      view.text,
      view.json,
      diagnosticsFile(s),
      await qrTerminal(view.json),
    ].join('\n');
    expect(psk).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toMatch(/^\$6\$/);
    for (const secret of [psk, hash, PASSPHRASE, PASSWORD, ...nodeKeys.map((k) => k.base64)])
      expect(everything).not.toContain(secret);
    // The hash's salt+digest part alone is not there either.
    expect(everything).not.toContain(hash.split('$').at(-1) ?? 'x');
  });

  it('hides a private key that reached an error detail', () => {
    const priv = readFileSync(join(tmp.path, 'k0'), 'utf8');
    const s = buildDiagnostics(
      context({ session: null, error: toZflashError(new Error(`parse failed: ${priv}`)) }),
    );
    expect(JSON.stringify(s)).not.toContain(priv.split('\n')[1] ?? 'x');
    expect(s.error?.message).toBe('[hidden]');
  });

  it('reports a thrown non-engine error as a bug', () => {
    const s = buildDiagnostics(context({ session: null, error: new TypeError('x is undefined') }));
    expect(s.error).toMatchObject({ code: 'ZFLASH_INTERNAL', kind: 'bug' });
  });

  it('has no error and says so when nothing failed', () => {
    const s = buildDiagnostics(context({ session: null, error: null }));
    expect(s.error).toBeNull();
    expect(renderDiagnosticsText(s)).toContain('No error.');
  });
});

describe('photo-friendly text', () => {
  it('fits a screen: under 40 lines of at most 72 columns, the code and sentence first', () => {
    const long = ioError(
      'ZFLASH_VERIFY_MISMATCH',
      'A very long sentence that goes on. '.repeat(12),
      'A hint that is also long. '.repeat(10),
    );
    const text = renderDiagnosticsText(buildDiagnostics(context({ error: long })));
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(MAX_TEXT_LINES);
    expect(lines.length).toBeLessThan(40);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(TEXT_WIDTH);
    expect(lines[0]).toMatch(/^ZETA FLASH DIAGNOSTICS · 2025-01-01 00:05 UTC$/);
    expect(lines[1]).toBe('ZFLASH_VERIFY_MISMATCH (io)');
    expect(lines[2]).toMatch(/^A very long sentence/);
    const next = lines.indexOf('WHAT TO DO NEXT');
    expect(lines[next + 1]).toMatch(/^1\. Photograph this screen/);
    for (const fact of ['IMAGE', 'DRIVE', 'FLASH', 'NODE', 'APP'])
      expect(lines.some((l) => l.startsWith(fact))).toBe(true);
    expect(text.replace(/\s+/g, ' ')).toContain('at byte 987,654,321 of 1,234,567,890 (80 %)');
  });
});

describe('QR code', () => {
  const decode = (png: Buffer, name: string): string => {
    const file = join(tmp.path, name);
    writeFileSync(file, png);
    // --raw: the payload only; -q: no summary line. zbarimg ends the payload with a newline.
    return execFileSync('zbarimg', ['--raw', '-q', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).replace(/\n$/, '');
  };

  it('decodes back to the exact compact JSON, which parses to the snapshot facts', async () => {
    const s = buildDiagnostics(context());
    const json = compactDiagnosticsJson(s);
    expect(json.length).toBeGreaterThan(600); // a realistic, dense payload
    expect(json.length).toBeLessThanOrEqual(MAX_QR_BYTES);
    const back = decode(await qrPng(json), 'full.png');
    expect(back).toBe(json);
    const parsed = diagnosticsSnapshotSchema.parse(JSON.parse(back));
    expect(parsed.error?.code).toBe('ZFLASH_VERIFY_MISMATCH');
    expect(parsed.drive?.model).toBe('Generic Flash Disk über-USB');
    expect(parsed.flash?.bytes).toBe(987_654_321);
  });

  it('shortens a bug with a long stack trace to fit, keeping the code', async () => {
    const err = new Error('boom');
    err.stack = `Error: boom\n${'    at someFunction (/long/path/to/file.js:1:1)\n'.repeat(200)}`;
    const s = buildDiagnostics(context({ error: toZflashError(err) }));
    expect(JSON.stringify(s).length).toBeGreaterThan(MAX_QR_BYTES);
    const json = compactDiagnosticsJson(s);
    expect(json.length).toBeLessThanOrEqual(MAX_QR_BYTES);
    expect(JSON.parse(json).error.code).toBe('ZFLASH_INTERNAL');
    expect(decode(await qrPng(json), 'bug.png')).toBe(json);
  });

  it('draws an SVG for the app and block characters for a terminal', async () => {
    const view = await diagnosticsView(buildDiagnostics(context()));
    expect(view.qrSvg).toMatch(/^<svg[^>]*viewBox/);
    expect(view.qrSvg).not.toMatch(/<script|on\w+=/i);
    const term = await qrTerminal(view.json);
    expect(term.split('\n').length).toBeGreaterThan(20);
  });
});

describe('partitions from sysfs', () => {
  it('answers null where it cannot know', async () => {
    expect(await listPartitions('/dev/sda', { platform: 'darwin' })).toBeNull();
    expect(await listPartitions(join(tmp.path, 'missing'))).toBeNull();
  });
});
