/**
 * The helper's last check after writing: the node files read back through the FAT code.
 * The block-hash verify compares the drive with the stream that was written, so it cannot
 * see a payload that was wrong in the stream itself; only this read-back can. Here the
 * stream is made to carry other files than the ones rendered (an injected patch), the block
 * hashes still match, and the job must fail with ZFLASH_VERIFY_PAYLOAD.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNixosIso, espOffsetBySfdisk, mtype, run, tempDir } from '../../test/fixtures.js';
import { computeImagePatch } from '../flash/overlay.js';
import { buildNodeIdentity, readSshKeyFile } from '../node/index.js';
import { writeJobSchema, type HelperEvent } from './protocol.js';
import { runWriteJob } from './run-job.js';

const tmp = tempDir();
let iso: string;
let key: string;

beforeAll(() => {
  iso = buildNixosIso(`${tmp.path}/nixos.iso`);
  key = `${tmp.path}/id_ed25519`;
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'op@laptop', '-f', key]);
});
afterAll(() => tmp.cleanup());

async function job(target: string) {
  const { keys } = await readSshKeyFile(`${key}.pub`);
  const { identity } = buildNodeIdentity({ hostname: 'node-7', keys });
  return writeJobSchema.parse({
    version: 1,
    verb: 'write',
    image: { path: iso, sha256: null },
    drive: null,
    file: { path: target, overwrite: false },
    identity: JSON.parse(JSON.stringify(identity)),
    createdAt: '2025-01-02T03:04:05.000Z',
    verify: true,
    eject: false,
    allowLoop: false,
    parentPid: null,
  });
}

const ctx = () => ({ signal: new AbortController().signal, emit: (_e: HelperEvent) => undefined });

describe('runWriteJob reads the payload back through the FAT code', () => {
  it('passes when the stream carries the rendered files', async () => {
    const out = `${tmp.path}/good.img`;
    const r = await runWriteJob(await job(out), ctx());
    expect(r.verified).toBe(true);
    expect(mtype(out, espOffsetBySfdisk(out).offset, 'zeta-hostname.txt')).toBe('node-7\n');
  });

  it('fails with ZFLASH_VERIFY_PAYLOAD when the written files differ from the rendered ones', async () => {
    const out = `${tmp.path}/tampered.img`;
    const tampered: typeof computeImagePatch = (image, files, opts) =>
      computeImagePatch(
        image,
        files.map((f) =>
          f.name === 'zeta-hostname.txt' ? { ...f, data: Buffer.from('node-8\n') } : f,
        ),
        opts,
      );
    await expect(
      runWriteJob(await job(out), { ...ctx(), computePatch: tampered }),
    ).rejects.toMatchObject({
      code: 'ZFLASH_VERIFY_PAYLOAD',
      details: { file: 'zeta-hostname.txt' },
    });
    // The blocks themselves were written and read back equal (no VERIFY_MISMATCH): only the
    // read-back through the FAT code caught it, and the failed image file was not left behind.
    expect(existsSync(out)).toBe(false);
  });
});
