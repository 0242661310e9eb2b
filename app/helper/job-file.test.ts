import { describe, expect, it } from 'vitest';
import { resolveRequester } from './job-file.js';
import { parseHelperArgs } from './main.js';

describe('resolveRequester: exactly one uid', () => {
  const none = { pkexecUid: undefined, sudoUid: undefined, argRequester: undefined };
  it('prefers PKEXEC_UID, then SUDO_UID, then --requester, then our own uid', () => {
    expect(
      resolveRequester({
        ...none,
        pkexecUid: '1000',
        sudoUid: '1001',
        argRequester: '1002',
        uid: 0,
      }),
    ).toBe(1000);
    expect(resolveRequester({ ...none, sudoUid: '1001', argRequester: '1002', uid: 0 })).toBe(1001);
    expect(resolveRequester({ ...none, argRequester: '501', uid: 0 })).toBe(501);
    expect(resolveRequester({ ...none, uid: 0 })).toBe(0);
    expect(resolveRequester({ ...none, uid: null })).toBeNull();
  });
  it('refuses ids that are not ids', () => {
    for (const bad of ['-1', '1e3', ' 1', '0x10', '4294967296', 'root']) {
      expect(() => resolveRequester({ ...none, pkexecUid: bad, uid: 0 })).toThrow(/not a user id/);
      expect(() => resolveRequester({ ...none, argRequester: bad, uid: 0 })).toThrow(
        /not a user id/,
      );
    }
  });
});

describe('parseHelperArgs', () => {
  it('takes a fixed verb, --job, an optional channel and requester', () => {
    expect(parseHelperArgs(['write', '--job', '/t/j.json'])).toEqual({
      verb: 'write',
      job: '/t/j.json',
      channel: 'stdio',
      requester: undefined,
    });
    expect(
      parseHelperArgs(['inject', '--job', '/t/j.json', '--channel', 'files', '--requester', '501']),
    ).toEqual({ verb: 'inject', job: '/t/j.json', channel: 'files', requester: '501' });
    // Started early, waiting for the job on stdin; several drives named for the prompt.
    expect(
      parseHelperArgs([
        'write-many',
        '--job',
        '/t/j.json',
        '--await-job',
        '--drive',
        '/dev/sdb',
        '--drive',
        '/dev/sdc',
      ]),
    ).toMatchObject({ awaitJob: true, drives: ['/dev/sdb', '/dev/sdc'] });
  });
  it.each([
    [['erase', '--job', 'j']],
    [['write']],
    [['write', '--job', 'j', 'extra']],
    [['write', '--job', 'j', '--channel', 'socket']],
    [['write', '--job', 'j', '--shell', 'x']],
    // The job is announced on stdin: the files channel (no pipes) cannot wait for it.
    [['write', '--job', 'j', '--channel', 'files', '--await-job']],
  ])('refuses %j', (argv) => {
    expect(() => parseHelperArgs(argv)).toThrow(
      expect.objectContaining({ code: 'ZFLASH_HELPER_USAGE' }),
    );
  });
});
