import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/fixtures.js';
import { cleanStaleJobDirs, defaultHelperCommand, errorFromStderr, LineTail } from './client.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('LineTail', () => {
  it('reads appended lines with positioned reads, keeping a line (and a UTF-8 sequence) split across reads', async () => {
    const path = `${tmp.path}/events.jsonl`;
    writeFileSync(path, '');
    const lines: string[] = [];
    const tail = await LineTail.open(path, (l) => lines.push(l));
    const word = Buffer.from('{"type":"log","message":"Größe ✓"}\n');
    // Split inside "ö" (2 bytes) and inside "✓" (3 bytes).
    const cuts = [word.indexOf(Buffer.from('ö')) + 1, word.indexOf(Buffer.from('✓')) + 2];
    appendFileSync(path, word.subarray(0, cuts[0]));
    await tail.drain();
    expect(lines).toEqual([]);
    appendFileSync(path, word.subarray(cuts[0], cuts[1]));
    await tail.drain();
    expect(lines).toEqual([]);
    appendFileSync(path, Buffer.concat([word.subarray(cuts[1]), Buffer.from('{"a":1}\n{"b"')]));
    await tail.drain();
    expect(lines).toEqual(['{"type":"log","message":"Größe ✓"}', '{"a":1}']);
    appendFileSync(path, ':2}\n');
    await Promise.all([tail.drain(), tail.drain()]);
    expect(lines).toEqual(['{"type":"log","message":"Größe ✓"}', '{"a":1}', '{"b":2}']);
    await tail.close();
  });
});

describe('errorFromStderr', () => {
  const body = {
    code: 'ZFLASH_HELPER_JOB',
    kind: 'input',
    message: 'The helper refused its events file: it is a link.',
    hint: 'Start the flash again from Zeta Flash.',
    exitCode: 2,
  };
  it('reads the error the helper said on stderr, also inside osascript’s error text', () => {
    const helper = `noise\nzflash-helper-error ${JSON.stringify(body)}\n`;
    expect(errorFromStderr(helper)).toMatchObject({ code: 'ZFLASH_HELPER_JOB', exitCode: 2 });
    // `do shell script` turns a failing command's stderr into the error message, CR line ends.
    const osa = `0:312: execution error: zflash-helper-error ${JSON.stringify(body)} (2)\r`;
    expect(errorFromStderr(osa)?.message).toBe(body.message);
  });
  it('ignores what is not a registered error', () => {
    expect(errorFromStderr('zflash-helper-error {"code":"NOPE"}\n')).toBeNull();
    expect(errorFromStderr('zflash-helper-error {not json}\n')).toBeNull();
    expect(errorFromStderr('')).toBeNull();
  });
});

describe('cleanStaleJobDirs', () => {
  it('removes only our folders whose requester is gone', async () => {
    const base = `${tmp.path}/tmpdir`;
    mkdirSync(base);
    const dead = 999_999_1;
    const mk = (name: string) => {
      mkdirSync(`${base}/${name}`, { mode: 0o700 });
      writeFileSync(`${base}/${name}/job.json`, '{"secret":1}', { mode: 0o600 });
      return name;
    };
    const stale = mk(`zflash-job-${dead}-aB3dE6`);
    const live = mk(`zflash-job-${process.pid}-xY7zW1`);
    const otherPrefix = mk(`zflash-jobs-${dead}-aB3dE6`);
    const noPid = mk('zflash-job-aB3dE6');
    mkdirSync(`${tmp.path}/elsewhere`);
    symlinkSync(`${tmp.path}/elsewhere`, `${base}/zflash-job-${dead}-LiNkEd`);
    const removed = await cleanStaleJobDirs(base, { isAlive: (pid) => pid !== dead });
    expect(removed).toEqual([`${base}/${stale}`]);
    const { readdirSync, existsSync } = await import('node:fs');
    expect(readdirSync(base).sort()).toEqual(
      [live, otherPrefix, noPid, `zflash-job-${dead}-LiNkEd`].sort(),
    );
    expect(existsSync(`${tmp.path}/elsewhere`)).toBe(true);
    // Another user's folder is not ours to remove.
    const foreign = mk(`zflash-job-${dead}-FoReiG`);
    expect(await cleanStaleJobDirs(base, { uid: 12345, isAlive: () => false })).toEqual([]);
    expect(existsSync(`${base}/${foreign}`)).toBe(true);
  });
});

describe('defaultHelperCommand', () => {
  it('is this node and the built entry.js', () => {
    const [node, entry, ...rest] = defaultHelperCommand();
    expect(node).toBe(process.execPath);
    expect(entry).toMatch(/helper[\\/]entry\.js$/);
    expect(rest).toEqual([]);
  });
});
