/**
 * The HTTP the catalogue needs, on the platform's `fetch` (undici in Node 20, the same API in
 * Electron): a bounded GET for small files, and a watchdog that aborts a transfer when no byte
 * arrives for a while — a dead connection must end in an error the user can act on, never in a
 * progress bar that stops forever.
 */
import { cancelledError, ioError, type ZflashError } from '../errors.js';

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Seconds without a byte before a transfer counts as stalled (a parameter for front ends). */
export const DEFAULT_STALL_MS = 30_000;

export interface Watchdog {
  readonly signal: AbortSignal;
  /** Call whenever bytes arrive. */
  touch(): void;
  readonly stalled: boolean;
  dispose(): void;
}

/** An AbortSignal that fires on the caller's abort or after `stallMs` without `touch()`. */
export function watchdog(outer: AbortSignal | undefined, stallMs: number): Watchdog {
  const ctl = new AbortController();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      ctl.abort();
    }, stallMs);
  };
  const onOuter = () => ctl.abort();
  if (outer?.aborted) ctl.abort();
  else outer?.addEventListener('abort', onOuter, { once: true });
  arm();
  return {
    signal: ctl.signal,
    touch: arm,
    get stalled() {
      return stalled;
    },
    dispose() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

/** Why a fetch failed, in words: undici hides the errno in `cause`. */
export function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

export interface LimitedGet {
  readonly bytes: Buffer;
  readonly finalUrl: string;
}

/**
 * GETs a small file whole. `fail` turns a failure into the caller's error; `tooLarge` is
 * called when the body exceeds `maxBytes` (a manifest is a few KiB: more is not ours).
 */
export async function getLimited(
  url: string,
  opts: {
    readonly fetch: FetchLike;
    readonly signal?: AbortSignal;
    readonly stallMs: number;
    readonly maxBytes: number;
    readonly fail: (why: string, status?: number) => ZflashError;
    readonly tooLarge: () => ZflashError;
  },
): Promise<LimitedGet> {
  const dog = watchdog(opts.signal, opts.stallMs);
  try {
    let res: Response;
    try {
      res = await opts.fetch(url, {
        signal: dog.signal,
        redirect: 'follow',
        headers: { 'accept-encoding': 'identity' },
      });
    } catch (err) {
      if (opts.signal?.aborted) throw cancelledError();
      throw opts.fail(dog.stalled ? 'no answer' : describeFetchError(err));
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw opts.fail(`HTTP ${res.status}`, res.status);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > opts.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw opts.tooLarge();
    }
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const chunk of res.body ?? []) {
        dog.touch();
        n += chunk.length;
        if (n > opts.maxBytes) {
          dog.dispose();
          throw opts.tooLarge();
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      if ((err as ZflashError | null)?.name === 'ZflashError') throw err;
      if (opts.signal?.aborted) throw cancelledError();
      throw opts.fail(dog.stalled ? 'the transfer stalled' : describeFetchError(err));
    }
    return { bytes: Buffer.concat(chunks), finalUrl: res.url || url };
  } finally {
    dog.dispose();
  }
}

export const unreachable = (what: string, url: string) => (why: string, status?: number) =>
  ioError(
    'ZFLASH_CATALOG_UNREACHABLE',
    `The ${what} could not be downloaded from ${url} (${why}).`,
    status === 404
      ? 'The address may be wrong or the release not published yet; check the manifest URL setting.'
      : 'Check the internet connection (and a proxy, if one is needed), then try again.',
    { url, why, ...(status ? { status } : {}) },
  );
