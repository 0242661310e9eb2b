// The one wrapper every request goes through: unknown channels, invalid requests, thrown
// errors and drifting responses all come back as Results with engine codes.
import { describe, expect, it } from 'vitest';
import { inputError, targetError } from '../../app/errors.js';
import { errorJsonSchema } from '../../app/wire.js';
import { channels } from './contract.js';
import {
  dispatch,
  forbiddenResult,
  isTrustedAppUrl,
  toRendererError,
  type Handlers,
} from './handle.js';
import { CHANNELS, EVENT_METHODS, EVENTS, METHODS } from './methods.js';

const ctx = { window: null };
const opts = { validateResponses: true };

/** Handlers that fail loudly if called: dispatch must not reach them in these cases. */
function handlers(
  over: Partial<Record<keyof Handlers, (...a: unknown[]) => Promise<unknown>>> = {},
): Handlers {
  const all: Record<string, unknown> = {};
  for (const c of CHANNELS)
    all[c] =
      over[c] ??
      (async () => {
        throw new Error(`${c} should not have run`);
      });
  return all as unknown as Handlers;
}

describe('dispatch', () => {
  it('answers a valid request with {ok: true, value}', async () => {
    const h = handlers({ 'flash:state': async () => [] });
    expect(await dispatch(h, 'flash:state', {}, ctx, opts)).toEqual({ ok: true, value: [] });
  });

  it('refuses an unknown channel without running anything', async () => {
    const r = await dispatch(handlers(), 'fs:readFile', { path: '/etc/shadow' }, ctx, opts);
    expect(r).toMatchObject({ ok: false, error: { code: 'ZFLASH_INTERNAL', kind: 'bug' } });
    // Prototype names are not channels either.
    const proto = await dispatch(handlers(), 'constructor', {}, ctx, opts);
    expect(proto.ok).toBe(false);
  });

  it('validates before the handler runs, and does not echo the values that failed', async () => {
    let ran = false;
    const h = handlers({
      'node:validate': async () => {
        ran = true;
        return {};
      },
    });
    const secret = 'hunter2-password';
    const r = await dispatch(
      h,
      'node:validate',
      {
        hostname: 'n1',
        keys: [],
        roles: ['nope'],
        wifi: null,
        password: secret,
        eraseAny: false,
        extra: 1,
      },
      ctx,
      opts,
    );
    expect(ran).toBe(false);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('ZFLASH_INTERNAL');
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(JSON.stringify(r.error.details)).toContain('roles');
  });

  it('refuses relative paths and NUL bytes from the renderer', async () => {
    const h = handlers();
    for (const path of ['relative/key.pub', '/etc/x\0.pub', '']) {
      const r = await dispatch(h, 'keys:read', { path }, ctx, opts);
      expect(r.ok).toBe(false);
    }
  });

  it('turns an engine error into data with its code, sentence, hint and details, without a stack', async () => {
    const err = targetError('ZFLASH_NO_ESP', 'No EFI partition.', 'Use a NixOS image.', {
      table: 'mbr',
      stack: 'Error: at secret/path.js',
    });
    const h = handlers({
      'image:inspect': async () => {
        throw err;
      },
    });
    const r = await dispatch(h, 'image:inspect', { path: '/images/x.iso' }, ctx, opts);
    expect(r).toEqual({
      ok: false,
      error: {
        code: 'ZFLASH_NO_ESP',
        kind: 'target',
        message: 'No EFI partition.',
        hint: 'Use a NixOS image.',
        exitCode: 3,
        details: { table: 'mbr' },
      },
    });
    expect(errorJsonSchema.safeParse(r.ok ? null : r.error).success).toBe(true);
  });

  it('reports a non-engine throw as a bug, with its stack for the diagnostics screen', async () => {
    const h = handlers({
      'flash:state': async () => {
        throw new TypeError('cannot read x of undefined');
      },
    });
    const r = await dispatch(h, 'flash:state', {}, ctx, opts);
    expect(r).toMatchObject({ ok: false, error: { code: 'ZFLASH_INTERNAL', kind: 'bug' } });
    expect(String(r.ok ? '' : r.error.details?.['stack'])).toContain('TypeError');
  });

  it('catches a handler whose answer drifted from the contract', async () => {
    const h = handlers({ 'flash:cancel': async () => ({ cancelled: 'yes' }) });
    const r = await dispatch(h, 'flash:cancel', { device: '/dev/sdb' }, ctx, opts);
    expect(r).toMatchObject({ ok: false, error: { code: 'ZFLASH_INTERNAL' } });
    const lax = await dispatch(h, 'flash:cancel', { device: '/dev/sdb' }, ctx, {
      validateResponses: false,
    });
    expect(lax.ok).toBe(true);
  });

  it('tells onError of every failure', async () => {
    const seen: string[] = [];
    const h = handlers({
      'keys:read': async () => {
        throw inputError('ZFLASH_PRIVATE_KEY', 'private', 'public please');
      },
    });
    await dispatch(h, 'keys:read', { path: '/k' }, ctx, {
      validateResponses: true,
      onError: (c, e) => seen.push(`${c}:${e.code}`),
    });
    expect(seen).toEqual(['keys:read:ZFLASH_PRIVATE_KEY']);
  });
});

describe('the contract', () => {
  it('has a schema for every method and a method for every schema', () => {
    expect(new Set(Object.keys(channels))).toEqual(new Set(CHANNELS));
    expect(new Set(Object.values(METHODS))).toEqual(new Set(CHANNELS));
    expect(new Set(Object.values(EVENT_METHODS))).toEqual(new Set(EVENTS));
    // No generic escape hatch among the methods.
    for (const name of [...Object.keys(METHODS), ...Object.keys(EVENT_METHODS)])
      expect(name).not.toMatch(/^(send|sendSync|invoke|on|emit|ipc)$/i);
  });
});

describe('sender checks', () => {
  it('trusts only the app:// origin of the app itself', () => {
    expect(isTrustedAppUrl('app://zflash/index.html')).toBe(true);
    expect(isTrustedAppUrl('app://zflash/')).toBe(true);
    for (const url of [
      'app://evil/index.html',
      'app://zflash.evil/index.html',
      'app://user:pw@zflash/index.html',
      'https://zflash/index.html',
      'file:///index.html',
      'http://127.0.0.1:8080/',
      'about:blank',
      '',
      null,
      undefined,
      'not a url',
    ])
      expect(isTrustedAppUrl(url)).toBe(false);
  });

  it('answers an untrusted sender with a refusal, not a thrown error', () => {
    const r = forbiddenResult('https://evil.example/');
    expect(r).toMatchObject({ ok: false, error: { code: 'ZFLASH_INTERNAL' } });
  });

  it('strips stacks from non-bug errors only', () => {
    const e = toRendererError(inputError('ZFLASH_USAGE', 'm', 'h', { stack: 's', a: 1 }));
    expect(e.details).toEqual({ a: 1 });
  });
});
