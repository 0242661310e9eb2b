import {
  chmodSync,
  chownSync,
  closeSync,
  constants as fsc,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import type * as fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../test/fixtures.js';
import type { ZflashError } from '../errors.js';
import { checkJobFolder, openEventsFile, readJobFile, resolveRequester } from './job-file.js';
import { MAX_JOB_BYTES } from './protocol.js';
import { parseHelperArgs } from './main.js';

/**
 * The moments a requester who owns the folder could act at, made exact: job-file.ts's own
 * `lstat` and `open` are the real ones, and a test can have something done to a path right
 * after the helper's next `lstat` of it, or right before its Nth `open` of it. What is done is
 * real (a file swapped for a link, a FIFO or another file); only its timing is chosen.
 */
const race = vi.hoisted(() => ({
  afterLstat: new Map<string, () => void>(),
  beforeOpen: new Map<string, (undefined | (() => void))[]>(),
  opened: [] as string[],
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof fsPromises>();
  const lstat = (async (...args: Parameters<typeof real.lstat>) => {
    const st = await real.lstat(...args);
    const then = race.afterLstat.get(String(args[0]));
    race.afterLstat.delete(String(args[0]));
    then?.();
    return st;
  }) as unknown as typeof real.lstat;
  const open = (async (...args: Parameters<typeof real.open>) => {
    race.opened.push(String(args[0]));
    race.beforeOpen.get(String(args[0]))?.shift()?.();
    return real.open(...args);
  }) as typeof real.open;
  return { ...real, default: { ...real, lstat, open }, lstat, open };
});
afterEach(() => {
  race.afterLstat.clear();
  race.beforeOpen.clear();
  race.opened.length = 0;
});

/** How many descriptors of this process are open on `path` (a handle left open shows here). */
const fdsOn = (path: string): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === realpathSync(path);
    } catch {
      return false;
    }
  }).length;

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
    expect(parseHelperArgs(['write', '--job', '/t/j.json'])).toStrictEqual({
      verb: 'write',
      job: '/t/j.json',
      channel: 'stdio',
      requester: undefined,
    });
    expect(
      parseHelperArgs(['inject', '--job', '/t/j.json', '--channel', 'files', '--requester', '501']),
    ).toStrictEqual({
      verb: 'inject',
      job: '/t/j.json',
      channel: 'files',
      requester: '501',
    });
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

describe('the job folder, job file and events file, as their owner (no root needed)', () => {
  const me = process.getuid?.() ?? 0;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zflash-jobfile-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e as ZflashError,
    );
  let n = 0;
  /** A fresh 0700 folder with a 0600 job file holding `text`. */
  function job(text = '{"x":1}', mode = 0o600): { folder: string; file: string } {
    const folder = join(dir, `job-${n++}`);
    mkdirSync(folder, { mode: 0o700 });
    chmodSync(folder, 0o700);
    const file = join(folder, 'job.json');
    writeFileSync(file, text, { mode });
    chmodSync(file, mode);
    return { folder, file };
  }

  it('names each reason a folder is refused, and takes a good one', async () => {
    const { folder } = job();
    await expect(checkJobFolder(folder, me)).resolves.toBeUndefined();
    await expect(checkJobFolder(folder, null)).resolves.toBeUndefined();
    const says = async (path: string, requester: number | null, reason: string) => {
      const err = await refusal(checkJobFolder(path, requester));
      expect(err).toMatchObject({
        code: 'ZFLASH_HELPER_JOB',
        message: `The helper refused the folder of its job: ${reason}.`,
        hint: 'Start the flash again from Zeta Flash.',
        details: { path },
      });
    };
    await says(join(dir, 'missing'), me, 'it does not exist');
    symlinkSync(folder, join(dir, 'link'));
    await says(join(dir, 'link'), null, 'it is a link');
    await says(join(folder, 'job.json'), null, 'it is not a folder');
    const open = job().folder;
    chmodSync(open, 0o750);
    await says(open, me, 'others can enter it (mode 0750, must be 0700)');
    await expect(checkJobFolder(open, null)).resolves.toBeUndefined();
    await says(folder, me + 1, `it belongs to uid ${me}, not to the requester`);
  });

  it('reads a job once through one checked handle, then empties it', async () => {
    const { file } = job('{"verb":"write"}');
    expect(await readJobFile(file, me)).toBe('{"verb":"write"}');
    expect(readFileSync(file, 'utf8')).toBe('');
    expect(await readJobFile(job('').file, null)).toBe('');
  });

  it('names each reason a job file is refused', async () => {
    const says = async (path: string, reason: string, requester: number | null = me) => {
      const err = await refusal(readJobFile(path, requester));
      expect(err).toMatchObject({
        code: 'ZFLASH_HELPER_JOB',
        message: `The helper refused its job file: ${reason}.`,
        hint: 'Start the flash again from Zeta Flash.',
        details: { path },
      });
    };
    const { folder, file } = job();
    await says(join(folder, 'missing.json'), 'it does not exist');
    symlinkSync(file, join(folder, 'link.json'));
    await says(join(folder, 'link.json'), 'it is a link');
    await says(folder, 'it is not a regular file');
    run('mkfifo', [join(folder, 'fifo')]);
    await says(join(folder, 'fifo'), 'it is not a regular file');
    await says(job('{}', 0o640).file, 'others can read or change it (mode 0640, must be 0600)');
    await says(job('{}', 0o604).file, 'others can read or change it (mode 0604, must be 0600)');
    expect(await readJobFile(job('{}', 0o640).file, null)).toBe('{}');
    await says(job().file, `it belongs to uid ${me}, not to the requester`, me + 1);
    const hard = job();
    linkSync(hard.file, join(hard.folder, 'second-name.json'));
    await says(hard.file, 'it has 2 names (a hard link)');
    await says(job('x'.repeat(MAX_JOB_BYTES + 1)).file, 'it is too large');
    // A file whose size says 0 and that reads megabytes (what a file still being written
    // looks like to a size check made before the read): the read itself stops at the limit.
    expect(statSync('/proc/kallsyms').size).toBe(0);
    await says('/proc/kallsyms', 'it is too large', null);
    expect(await readJobFile(job('y'.repeat(MAX_JOB_BYTES)).file, me)).toHaveLength(MAX_JOB_BYTES);
  });

  it('opens an events file for appending only when it passes the same checks', async () => {
    const { folder } = job();
    const events = join(folder, 'events.jsonl');
    writeFileSync(events, 'first\n', { mode: 0o600 });
    const fh = await openEventsFile(events, me);
    await fh.write('second\n');
    await fh.close();
    expect(readFileSync(events, 'utf8')).toBe('first\nsecond\n');
    chmodSync(events, 0o644);
    const err = await refusal(openEventsFile(events, me));
    expect(err).toMatchObject({
      code: 'ZFLASH_HELPER_JOB',
      message:
        'The helper refused its events file: others can read or change it (mode 0644, must be 0600).',
      hint: 'Start the flash again from Zeta Flash.',
      details: { path: events },
    });
    expect((await refusal(openEventsFile(join(folder, 'none'), me)))?.message).toBe(
      'The helper refused its events file: it does not exist.',
    );
  });

  it('leaves no descriptor open on the files it read or checked', async () => {
    const { folder, file } = job('{"verb":"write"}');
    expect(await readJobFile(file, me)).toBe('{"verb":"write"}');
    // Neither the handle it read through nor the one it emptied the file with.
    expect(fdsOn(file)).toBe(0);
    const events = join(folder, 'events.jsonl');
    writeFileSync(events, '', { mode: 0o600 });
    const fh = await openEventsFile(events, me);
    // Only the handle it returns: the one it checked the file on is closed.
    expect(fdsOn(events)).toBe(1);
    await fh.close();
    expect(fdsOn(events)).toBe(0);
  });

  it('does not even open a folder or a FIFO its first look finds (a device may act when opened)', async () => {
    const { folder } = job();
    const fifo = join(folder, 'fifo');
    run('mkfifo', ['-m', '600', fifo]);
    for (const path of [folder, fifo]) {
      expect((await refusal(readJobFile(path, me)))?.message).toBe(
        'The helper refused its job file: it is not a regular file.',
      );
    }
    expect(race.opened).toEqual([]);
  });
  it('says which variable is not a user id, and takes the largest one', () => {
    const none = { pkexecUid: undefined, sudoUid: undefined, argRequester: undefined, uid: 0 };
    const msg = (input: typeof none | Record<string, unknown>) => {
      try {
        resolveRequester(input as Parameters<typeof resolveRequester>[0]);
      } catch (e) {
        return (e as ZflashError).message;
      }
      return null;
    };
    expect(msg({ ...none, pkexecUid: 'x' })).toBe(
      'The helper was started with unexpected arguments: PKEXEC_UID is not a user id.',
    );
    // The code and hint the client and the diagnostics screen show with it.
    expect(() => resolveRequester({ ...none, sudoUid: 'x' })).toThrow(
      expect.objectContaining({
        code: 'ZFLASH_HELPER_USAGE',
        hint: 'Start the flash again from Zeta Flash.',
      }),
    );
    expect(msg({ ...none, sudoUid: '01' })).toBe(
      'The helper was started with unexpected arguments: SUDO_UID is not a user id.',
    );
    expect(msg({ ...none, argRequester: '' })).toBe(
      'The helper was started with unexpected arguments: --requester is not a user id.',
    );
    expect(resolveRequester({ ...none, argRequester: '4294967295' })).toBe(4294967295);
    expect(resolveRequester({ ...none, sudoUid: '0' })).toBe(0);
    // An empty PKEXEC_UID or SUDO_UID is no claim at all.
    expect(resolveRequester({ ...none, pkexecUid: '', sudoUid: '', argRequester: '7' })).toBe(7);
  });
});

describe('a requester acting between the helper’s steps (its own files, no root needed)', () => {
  const me = process.getuid?.() ?? 0;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zflash-jobrace-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** FIFOs swapped in: opened for writing afterwards, so no open of them can stay blocked. */
  const fifos: string[] = [];
  afterEach(() => {
    for (const f of fifos.splice(0)) closeSync(openSync(f, fsc.O_RDWR | fsc.O_NONBLOCK));
  });
  let n = 0;
  /** A 0700 folder with `name` (0600) holding `text`, and another 0600 file `other` beside it. */
  function files(name: string, text: string): { file: string; other: string } {
    const folder = join(dir, `race-${n++}`);
    mkdirSync(folder, { mode: 0o700 });
    const file = join(folder, name);
    const other = join(folder, `other-${name}`);
    writeFileSync(file, text, { mode: 0o600 });
    writeFileSync(other, '{"other":true}', { mode: 0o600 });
    return { file, other };
  }
  const refused = (what: string, path: string, reason: string) => ({
    code: 'ZFLASH_HELPER_JOB',
    message: `The helper refused its ${what}: ${reason}.`,
    hint: 'Start the flash again from Zeta Flash.',
    details: { path },
  });

  it('a job file swapped for a link after the first look: the open itself refuses the link', async () => {
    const { file, other } = files('job.json', '{"verb":"write"}');
    race.afterLstat.set(file, () => {
      rmSync(file);
      symlinkSync(other, file);
    });
    await expect(readJobFile(file, me)).rejects.toMatchObject(
      refused('job file', file, 'it is a link'),
    );
    // What the link points to was neither read nor emptied.
    expect(readFileSync(other, 'utf8')).toBe('{"other":true}');
  });

  it('a job file swapped for a FIFO after the first look: opened without waiting for a writer, refused', async () => {
    const { file } = files('job.json', '{}');
    race.afterLstat.set(file, () => {
      rmSync(file);
      run('mkfifo', ['-m', '600', file]);
      fifos.push(file);
    });
    await expect(readJobFile(file, me)).rejects.toMatchObject(
      refused('job file', file, 'it is not a regular file'),
    );
  });

  it('a job file replaced by another after it was read: the job read is returned, the other file left alone', async () => {
    const { file, other } = files('job.json', '{"verb":"write"}');
    race.beforeOpen.set(file, [undefined, () => renameSync(other, file)]);
    expect(await readJobFile(file, me)).toBe('{"verb":"write"}');
    expect(readFileSync(file, 'utf8')).toBe('{"other":true}');
  });

  it('an events file swapped for a link before it is reopened for appending: refused as a link', async () => {
    const { file, other } = files('events.jsonl', '');
    race.beforeOpen.set(file, [
      undefined,
      () => {
        rmSync(file);
        symlinkSync(other, file);
      },
    ]);
    await expect(openEventsFile(file, me)).rejects.toMatchObject(
      refused('events file', file, 'it was replaced by a link'),
    );
    expect(fdsOn(other)).toBe(0);
  });

  it('an events file replaced by another file before it is reopened: refused, nothing kept open', async () => {
    const { file, other } = files('events.jsonl', '');
    race.beforeOpen.set(file, [undefined, () => renameSync(other, file)]);
    await expect(openEventsFile(file, me)).rejects.toMatchObject(
      refused('events file', file, 'it was replaced while it was being opened'),
    );
    expect(fdsOn(file)).toBe(0);
  });
});

describe('files that pass every check but do not open the way the helper needs (root)', () => {
  const JOB_FILE_JS = new URL('../../dist/app/helper/job-file.js', import.meta.url).href;
  const NOBODY = 65534;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zflash-jobopen-'));
    // uid 65534 must reach its folder inside.
    chmodSync(dir, 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  /** A root-owned 0700 folder with a 0600 file `name` holding `text`. */
  function rootFile(name: string, text: string): string {
    const folder = join(dir, `open-${n++}`);
    mkdirSync(folder, { mode: 0o700 });
    writeFileSync(join(folder, name), text, { mode: 0o600 });
    return join(folder, name);
  }

  it('an events file that cannot be opened for appending (immutable): refused, saying why', async () => {
    const events = rootFile('events.jsonl', '');
    run('chattr', ['+i', events]);
    try {
      await expect(openEventsFile(events, 0)).rejects.toMatchObject({
        code: 'ZFLASH_HELPER_JOB',
        message: 'The helper refused its events file: it cannot be opened (EPERM).',
        details: { path: events },
      });
    } finally {
      run('chattr', ['-i', events]);
    }
  });

  it('a job file that can be read but not emptied (append-only): its job still comes through', async () => {
    const job = rootFile('job.json', '{"verb":"write"}');
    run('chattr', ['+a', job]);
    try {
      expect(await readJobFile(job, 0)).toBe('{"verb":"write"}');
      expect(readFileSync(job, 'utf8')).toBe('{"verb":"write"}');
    } finally {
      run('chattr', ['-a', job]);
    }
  });

  it('a job file its reader may not open (mode 0000, read as its owner, uid 65534): says the errno', () => {
    const folder = join(dir, 'no-read');
    mkdirSync(folder, { mode: 0o700 });
    const job = join(folder, 'job.json');
    writeFileSync(job, '{}', { mode: 0o000 });
    chownSync(folder, NOBODY, NOBODY);
    chownSync(job, NOBODY, NOBODY);
    // The built module (dist/), as the helper runs it, loaded as root, then read as that uid.
    const said = run(process.execPath, [
      '--input-type=module',
      '-e',
      `import { readJobFile } from ${JSON.stringify(JOB_FILE_JS)};
process.setgroups([]);
process.setgid(${NOBODY});
process.setuid(${NOBODY});
readJobFile(process.argv[1], ${NOBODY}).then(
  (text) => console.log(JSON.stringify({ text })),
  (e) => console.log(JSON.stringify({ code: e.code, message: e.message })),
);`,
      job,
    ]);
    expect(JSON.parse(said)).toEqual({
      code: 'ZFLASH_HELPER_JOB',
      message: 'The helper refused its job file: it cannot be opened (EACCES).',
    });
  });
});
