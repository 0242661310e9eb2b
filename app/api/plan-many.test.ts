/**
 * runFlashMany and the client's `write-many` handling, against a scripted helper process (a
 * few lines of node printing JSON lines and exiting with a code): which event ends the job,
 * how each drive's events are routed, what a drive the helper never mentioned becomes, and
 * the exit code rule. No root needed; the real helper runs in test/flash-many.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as sh, tempDir } from '../../test/fixtures.js';
import { buildNodeIdentity, readSshKeyFile } from '../node/index.js';
import { manyExitCode, writeManyJobSchema, type WriteManyJobRequest } from '../helper/protocol.js';
import type { NodeIdentity } from '../node/types.js';
import type { FlashEvent } from '../flash/events.js';
import { eachDrive, runFlashMany } from './plan.js';
import { idleSession, reduce, type FlashSession } from '../flash/session.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let real: NodeIdentity;
beforeAll(async () => {
  const key = `${tmp.path}/id_ed25519`;
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  real = buildNodeIdentity({
    hostname: 'x',
    keys: (await readSshKeyFile(`${key}.pub`)).keys,
  }).identity;
});

const identity = (hostname: string): NodeIdentity =>
  ({
    hostname,
    keys: [],
    roles: [],
    wifi: null,
    passwordHash: null,
    erase: { policy: 'blank-only', disk: null },
  }) as unknown as NodeIdentity;

const job = (devices: string[]): WriteManyJobRequest => ({
  version: 1,
  verb: 'write-many',
  image: { path: '/img', sha256: null },
  drives: devices.map((device, i) => ({
    device,
    expectedSize: null,
    identity: identity(`n-${i}`),
  })),
  createdAt: '2025-01-01T00:00:00.000Z',
  verify: true,
  eject: false,
  allowLoop: true,
});

const progress = (device: string | undefined, phase: string, bytes: number) => ({
  type: 'progress',
  phase,
  bytes,
  total: 100,
  speed: 1,
  eta: null,
  ...(device ? { device } : {}),
});
const result = (device: string) => ({
  type: 'result',
  device,
  bytesWritten: 100,
  digest: 'd',
  verified: true,
  imageSha256: null,
  esp: { partition: 2, offset: 0, fatType: 'FAT12', freeBytes: 1 },
  ejected: false,
});
const error = (device: string | undefined, code: string, kind: string, exitCode: number) => ({
  type: 'error',
  ...(device ? { device } : {}),
  error: { code, kind, message: `${code} happened`, hint: 'h', exitCode },
});

/** A helper that prints `lines` and exits with `code`. */
function scripted(lines: object[], code: number): string[] {
  const path = `${tmp.path}/helper-${Math.random().toString(36).slice(2)}.mjs`;
  writeFileSync(
    path,
    `for (const l of ${JSON.stringify(lines.map((l) => JSON.stringify(l)))}) process.stdout.write(l + '\\n');\nprocess.exit(${code});\n`,
  );
  return [process.execPath, path];
}

const run = (
  lines: object[],
  code: number,
  devices: string[],
  onEvent?: Parameters<typeof runFlashMany>[1]['onEvent'],
) =>
  runFlashMany(job(devices), {
    helper: {
      env: process.env,
      helperCommand: scripted(lines, code),
      isRoot: true,
      tempDir: tmp.path,
    },
    ...(onEvent ? { onEvent } : {}),
  });

describe('runFlashMany', () => {
  it('routes each drive its own events and ends with every drive’s outcome, failed ones included', async () => {
    const [a, b] = ['/dev/a', '/dev/b'];
    const seen: [string | null, string][] = [];
    const sessions = new Map<string, FlashSession>([
      [a, idleSession],
      [b, idleSession],
    ]);
    const fold = eachDrive([a, b], (d, e: FlashEvent) =>
      sessions.set(d, reduce(sessions.get(d)!, e)),
    );
    const r = await run(
      [
        progress(undefined, 'preparing', 0),
        progress(a, 'writing', 50),
        progress(b, 'writing', 10),
        error(b, 'ZFLASH_FAKE_CAPACITY', 'io', 4),
        progress(a, 'verifying', 100),
        result(a),
        {
          type: 'summary',
          drives: [
            { device: a, status: 'done', code: null, exitCode: 0 },
            { device: b, status: 'failed', code: 'ZFLASH_FAKE_CAPACITY', exitCode: 4 },
          ],
          imageBytesRead: 100,
        },
      ],
      4,
      [a, b],
      (device, e) => {
        seen.push([device, e.type]);
        fold(device, e);
      },
    );
    expect(r.exitCode).toBe(4);
    expect(r.imageBytesRead).toBe(100);
    expect(r.drives).toMatchObject([
      { device: a, hostname: 'n-0', ok: true, result: { device: a } },
      { device: b, hostname: 'n-1', ok: false, error: { code: 'ZFLASH_FAKE_CAPACITY' } },
    ]);
    expect(seen[0]).toEqual([null, 'progress']);
    expect(sessions.get(a)?.status).toBe('done');
    expect(sessions.get(b)?.status).toBe('failed');
  });

  it('throws the job’s error when the helper refused the job before any drive', async () => {
    await expect(
      run([error(undefined, 'ZFLASH_CHECKSUM_MISMATCH', 'target', 3)], 3, ['/dev/a', '/dev/b']),
    ).rejects.toMatchObject({ code: 'ZFLASH_CHECKSUM_MISMATCH' });
  });

  it('a helper that dies after one drive ended: that drive keeps its result, the rest fail', async () => {
    const seen: (string | null)[] = [];
    const r = await run([result('/dev/a')], 1, ['/dev/a', '/dev/b'], (d, e) => {
      if (e.type === 'error') seen.push(d);
    });
    expect(r.drives[0]).toMatchObject({ ok: true });
    expect(r.drives[1]).toMatchObject({ ok: false, error: { code: 'ZFLASH_HELPER_DIED' } });
    // The drive the helper never finished gets an error event too (its session ends).
    expect(seen).toEqual(['/dev/b']);
    expect(r.exitCode).toBe(4);
  });

  it('a summary without a word about one drive: that drive is not reported done', async () => {
    const r = await run([result('/dev/a'), { type: 'summary', drives: [], imageBytesRead: 0 }], 0, [
      '/dev/a',
      '/dev/b',
    ]);
    expect(r.drives.map((d) => d.ok)).toEqual([true, false]);
    expect(r.exitCode).not.toBe(0);
  });

  it('events naming a drive that is not in the job are not taken as any drive’s', async () => {
    const r = await run(
      [result('/dev/other'), result('/dev/a'), { type: 'summary', drives: [], imageBytesRead: 1 }],
      0,
      ['/dev/a'],
    );
    expect(r.drives).toMatchObject([{ device: '/dev/a', ok: true, result: { device: '/dev/a' } }]);
  });
});

describe('manyExitCode and the job schema', () => {
  it('0 only when all are done; 130 when any was cancelled; else the first failure’s', () => {
    const done = { status: 'done' as const, exitCode: 0 };
    expect(manyExitCode([done, done])).toBe(0);
    expect(manyExitCode([])).toBe(0);
    expect(
      manyExitCode([done, { status: 'failed', exitCode: 4 }, { status: 'failed', exitCode: 3 }]),
    ).toBe(4);
    expect(
      manyExitCode([
        { status: 'failed', exitCode: 3 },
        { status: 'cancelled', exitCode: 130 },
      ]),
    ).toBe(130);
  });

  it('refuses the same device twice, one hostname twice, none, and more than 16', () => {
    const base = { ...job(['/dev/a', '/dev/b']), parentPid: null };
    const parse = (j: unknown) => writeManyJobSchema.safeParse(JSON.parse(JSON.stringify(j)));
    const withIdentity = (drives: { device: string; hostname: string }[]) => ({
      ...base,
      drives: drives.map((d) => ({
        device: d.device,
        expectedSize: null,
        identity: { ...real, hostname: d.hostname },
      })),
    });
    const msg = (j: unknown) => {
      const p = parse(j);
      return p.success
        ? ''
        : p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    };
    expect(
      msg(
        withIdentity([
          { device: '/dev/a', hostname: 'x' },
          { device: '/dev/a', hostname: 'y' },
        ]),
      ),
    ).toMatch(/drives\.1\.device: the same drive as drives\.0/);
    expect(
      msg(
        withIdentity([
          { device: '/dev/a', hostname: 'x' },
          { device: '/dev/b', hostname: 'x' },
        ]),
      ),
    ).toMatch(/drives\.1\.identity\.hostname: the same hostname/);
    expect(parse({ ...base, drives: [] }).success).toBe(false);
    const many = Array.from({ length: 17 }, (_, i) => ({
      device: `/dev/d${i}`,
      hostname: `h${i}`,
    }));
    expect(parse(withIdentity(many)).success).toBe(false);
    expect(parse(withIdentity(many.slice(0, 16))).success).toBe(true);
  });
});
