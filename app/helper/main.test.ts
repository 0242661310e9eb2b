/**
 * helperMain in this process on the files channel, as the owner of its job folder (no root,
 * no drive): what it says about arguments and jobs it refuses, in its events file, on stderr
 * and in its exit code. Flashing through it is tested for real in test/helper.test.ts.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { helperMain, parseHelperArgs } from './main.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-helpermain-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

let n = 0;
/** A 0700 folder with `job.json` (0600) holding `text` and an empty events file. */
function folder(text: string): string {
  const d = join(dir, `job-${n++}`);
  mkdirSync(d);
  chmodSync(d, 0o700);
  writeFileSync(join(d, 'job.json'), text, { mode: 0o600 });
  writeFileSync(join(d, 'events.jsonl'), '', { mode: 0o600 });
  return d;
}

/** Runs helperMain on the files channel; returns its code, events and stderr. */
async function run(verb: string, text: string) {
  const d = folder(text);
  let stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  const code = await helperMain([verb, '--job', join(d, 'job.json'), '--channel', 'files'], {});
  vi.restoreAllMocks();
  const events = readFileSync(join(d, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; error: Record<string, unknown> });
  return { code, events, stderr };
}

const refusedJob = (message: string) => ({
  type: 'error',
  error: {
    code: 'ZFLASH_HELPER_JOB',
    kind: 'input',
    message,
    hint: 'Start the flash again from Zeta Flash.',
    exitCode: 2,
  },
});

describe('helperMain refuses what it cannot trust, and says so twice', () => {
  it('a job that is not JSON', async () => {
    const r = await run('write', '{not json');
    expect(r.code).toBe(2);
    expect(r.events).toEqual([
      refusedJob('The helper refused its job file: it is not valid JSON.'),
    ]);
    expect(r.stderr).toBe(`zflash-helper-error ${JSON.stringify(r.events[0]?.error)}\n`);
  });

  it('a job that fails its schema, naming each field', async () => {
    const r = await run('write', JSON.stringify({ version: 1, verb: 'write' }));
    expect(r.code).toBe(2);
    const message = r.events[0]?.error['message'] as string;
    expect(message).toMatch(/^The helper refused its job: image: .+; /);
    expect(message).toMatch(/identity: /);
    expect(message.endsWith('.')).toBe(true);
  });

  it('an inject job handed to the write verb, and a write job to the inject verb', async () => {
    const inject = { version: 1, verb: 'inject' };
    const r = await run('write', JSON.stringify(inject));
    expect(r.events[0]?.error['message']).toMatch(/^The helper refused its job: verb: /);
    const w = await run('inject', JSON.stringify({ version: 1, verb: 'write' }));
    expect(w.events[0]?.error['message']).toMatch(/^The helper refused its job: verb: /);
  });

  it('a usage error goes to stderr only (there is no channel yet), exit 2', async () => {
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const code = await helperMain(['erase', '--job', '/nonexistent/job.json'], {});
    vi.restoreAllMocks();
    expect(code).toBe(2);
    const body = JSON.parse(stderr.replace(/^zflash-helper-error /, '')) as Record<string, unknown>;
    expect(body).toEqual({
      code: 'ZFLASH_HELPER_USAGE',
      kind: 'input',
      message:
        'The helper was started with unexpected arguments: the verb must be one of write, write-many, inject.',
      hint: 'Start the flash again from Zeta Flash.',
      exitCode: 2,
    });
  });
});

describe('helperMain with no requester named', () => {
  it('takes its own uid as the requester, and so checks the folder mode', async () => {
    const d = folder('{}');
    chmodSync(d, 0o755);
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    const code = await helperMain(
      ['write', '--job', join(d, 'job.json'), '--channel', 'files'],
      {},
    );
    vi.restoreAllMocks();
    expect(code).toBe(2);
    expect(stderr).toContain(
      'The helper refused the folder of its job: others can enter it (mode 0755, must be 0700).',
    );
  });
});

describe('parseHelperArgs says what is wrong', () => {
  const message = (argv: string[]) => {
    try {
      parseHelperArgs(argv);
    } catch (e) {
      return (e as Error).message;
    }
    return null;
  };
  it('in words of its own', () => {
    expect(message(['write'])).toBe(
      'The helper was started with unexpected arguments: --job FILE is missing.',
    );
    expect(message(['write', '--job', 'j', '--channel', 'x'])).toBe(
      'The helper was started with unexpected arguments: --channel must be files or stdio.',
    );
    expect(message(['write', '--job', 'j', 'more'])).toBe(
      'The helper was started with unexpected arguments: the verb must be one of write, write-many, inject.',
    );
    // Unknown options are refused, even without a value.
    expect(message(['write', '--job', 'j', '--shell'])).toMatch(
      /^The helper was started with unexpected arguments: .*--shell/,
    );
    expect(parseHelperArgs(['write', '--job', 'j', '--channel', 'stdio']).channel).toBe('stdio');
  });
});
