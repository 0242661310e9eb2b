/**
 * The one way a request reaches a handler, for every transport (Electron's ipcMain in
 * ./electron-ipc.ts, the web shell's WebSocket in e2e/web-shell/server.ts):
 *
 *  1. the transport checks the sender (its own origin only) — `isTrustedAppUrl` here;
 *  2. `dispatch` refuses unknown channels and validates the request against the contract
 *     before any handler runs (Fiddle and GitHub Desktop's safe listeners);
 *  3. the handler's answer becomes `{ok: true, value}`, anything it throws becomes
 *     `{ok: false, error}` with the engine's code, sentence, hint and details — a thrown error
 *     would lose every field but its message on the way through Electron;
 *  4. in development and tests the response is validated too, so a handler cannot drift
 *     from the contract unnoticed.
 *
 * Stacks go to the renderer only for bugs (kind "bug"), where the diagnostics screen needs
 * them; other errors are the operator's to fix and their details say what they need to.
 */
import type { z } from 'zod';
import { toZflashError, ZflashError } from '../../app/errors.js';
import {
  channels,
  type Channel,
  type ErrorJson,
  type RequestOf,
  type ResponseOf,
  type Result,
} from './contract.js';

/** Who is asking: opaque to the handlers, passed on to dialogs (the window a dialog belongs to). */
export interface CallContext {
  readonly window: unknown;
}

export type Handler<C extends Channel> = (
  request: RequestOf<C>,
  ctx: CallContext,
) => Promise<ResponseOf<C>>;
export type Handlers = { readonly [C in Channel]: Handler<C> };

export interface DispatchOptions {
  /** Check each response against its schema (development and tests). */
  readonly validateResponses: boolean;
  /** Told of every failure (logging, "last error" for the diagnostics menu item). */
  readonly onError?: (channel: string, error: ErrorJson) => void;
}

const bug = (message: string, details: Record<string, unknown>): ZflashError =>
  new ZflashError(
    'bug',
    'ZFLASH_INTERNAL',
    message,
    'This is a bug in Zeta Flash. Photograph the diagnostics screen or save it and report it.',
    details,
  );

/** zod issues without the values that failed: a request may hold a password. */
function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.slice(0, 8).map((i) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
  }));
}

/** The error as the renderer gets it: the engine's JSON; a stack only for bugs. */
export function toRendererError(err: unknown): ErrorJson {
  const json = toZflashError(err).toJSON();
  if (json.kind === 'bug' || !json.details || !('stack' in json.details)) return json;
  const { stack: _stack, ...details } = json.details;
  return { ...json, details };
}

export function isKnownChannel(channel: unknown): channel is Channel {
  return typeof channel === 'string' && Object.prototype.hasOwnProperty.call(channels, channel);
}

export async function dispatch(
  handlers: Handlers,
  channel: unknown,
  request: unknown,
  ctx: CallContext,
  opts: DispatchOptions,
): Promise<Result<unknown>> {
  const fail = (err: unknown): Result<unknown> => {
    const error = toRendererError(err);
    opts.onError?.(String(channel), error);
    return { ok: false, error };
  };
  if (!isKnownChannel(channel)) {
    return fail(
      bug('The window asked for something the app does not offer.', {
        channel: String(channel).slice(0, 64),
      }),
    );
  }
  const spec = channels[channel];
  const parsed = spec.request.safeParse(request);
  if (!parsed.success) {
    return fail(
      bug(`The window sent a request for ${channel} that the app does not accept.`, {
        channel,
        issues: issuesOf(parsed.error),
      }),
    );
  }
  let value: unknown;
  try {
    const handler = handlers[channel] as (r: unknown, c: CallContext) => Promise<unknown>;
    value = await handler(parsed.data, ctx);
  } catch (err) {
    return fail(err);
  }
  if (opts.validateResponses) {
    const checked = spec.response.safeParse(value);
    if (!checked.success) {
      return fail(
        bug(`The app's answer to ${channel} does not match its contract.`, {
          channel,
          issues: issuesOf(checked.error),
        }),
      );
    }
  }
  return { ok: true, value };
}

/** The refusal a transport answers for a sender it does not trust (no handler runs). */
export function forbiddenResult(what: string): Result<never> {
  return {
    ok: false,
    error: toRendererError(
      bug('A page that is not Zeta Flash asked the app for something; it was refused.', {
        sender: what.slice(0, 200),
      }),
    ),
  };
}

/** Zeta Flash's own pages: `app://zflash/…` (the custom protocol that serves the renderer). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'zflash';
export const APP_ORIGIN_URL = `${APP_SCHEME}://${APP_HOST}`;

/**
 * True for a URL of the app's own origin. `URL.origin` is "null" for non-special schemes such
 * as app:, so scheme and host are compared instead.
 */
export function isTrustedAppUrl(url: string | null | undefined): boolean {
  if (!url) return false;
  try {
    const u = new URL(url);
    return (
      u.protocol === `${APP_SCHEME}:` &&
      u.host === APP_HOST &&
      u.username === '' &&
      u.password === ''
    );
  } catch {
    return false;
  }
}
