/**
 * helperMain in this process, as root on a real loop device, through the files channel
 * (osascript, UAC): its watchdog stops the write when the cancel file appears and when the
 * requester named in the job is gone. test/helper.test.ts and test/flash.test.ts run the
 * same through the built helper process; here the mutation run sees the coverage in process.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
} from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helperMain } from '../app/helper/main.js';
import { buildNodeIdentity, readSshKeyFile, type NodeIdentity } from '../app/node/index.js';
import { attachLoop, buildNixosIso, requireLoop, run, tempDir, type Loop } from './fixtures.js';

const MiB = 1024 * 1024;
const tmp = tempDir('zflash-helpermain-live-');
const loops: Loop[] = [];
let iso: string;
let identity: NodeIdentity;

beforeAll(async () => {
  requireLoop();
  // Big enough that writing and verifying take well over the watchdog's 250 ms.
  iso = buildNixosIso(`${tmp.path}/big.iso`, { zeroFillerBytes: 384 * MiB });
  const key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
  ({ identity } = buildNodeIdentity({
    hostname: 'node-9',
    keys: (await readSshKeyFile(`${key}.pub`)).keys,
  }));
});
afterAll(() => {
  for (const l of loops) l.detach();
  tmp.cleanup();
});

let n = 0;
/** A job folder for the files channel, naming a fresh loop device; `parentPid` as given. */
function job(parentPid: number): { dir: string; device: string } {
  const file = `${tmp.path}/drive-${n}.img`;
  writeFileSync(file, '');
  run('truncate', ['-s', String(512 * MiB), file]);
  const loop = attachLoop(file);
  loops.push(loop);
  const dir = `${tmp.path}/zflash-job-${n++}`;
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  const body = {
    version: 1,
    verb: 'write',
    image: { path: iso, sha256: null },
    drive: { device: loop.device, expectedSize: null },
    file: null,
    identity,
    createdAt: '2025-01-02T03:04:05.000Z',
    verify: true,
    eject: false,
    allowLoop: true,
    parentPid,
  };
  writeFileSync(`${dir}/job.json`, JSON.stringify(body), { mode: 0o600 });
  writeFileSync(`${dir}/events.jsonl`, '', { mode: 0o600 });
  return { dir, device: loop.device };
}

const events = (dir: string) =>
  readFileSync(`${dir}/events.jsonl`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; error?: { code: string } });

function firstMiB(device: string): Buffer {
  const buf = Buffer.alloc(MiB);
  const fd = openSync(device, 'r');
  try {
    readSync(fd, buf, 0, MiB, 0);
  } finally {
    closeSync(fd);
  }
  return buf;
}

describe('the files channel watchdog, in process', () => {
  it('a cancel file beside the job stops the write: cancelled (130), first MiB not written', async () => {
    const { dir, device } = job(process.pid);
    writeFileSync(`${dir}/cancel`, '');
    const code = await helperMain(['write', '--job', `${dir}/job.json`, '--channel', 'files'], {});
    expect(code).toBe(130);
    expect(events(dir).at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_CANCELLED' },
    });
    expect(firstMiB(device).every((b) => b === 0)).toBe(true);
  });

  it('a requester that is gone stops it too', async () => {
    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    const { dir, device } = job(gone.pid!);
    const code = await helperMain(['write', '--job', `${dir}/job.json`, '--channel', 'files'], {});
    expect(code).toBe(130);
    expect(events(dir).at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'ZFLASH_CANCELLED' },
    });
    expect(firstMiB(device).every((b) => b === 0)).toBe(true);
  });

  it('with its requester alive and no cancel file, it finishes and says so', async () => {
    const { dir } = job(process.pid);
    const code = await helperMain(['write', '--job', `${dir}/job.json`, '--channel', 'files'], {});
    expect(code).toBe(0);
    expect(events(dir).at(-1)).toMatchObject({ type: 'result', verified: true });
  });
});
