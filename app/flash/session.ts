/**
 * The state of one flash, as a pure reducer over its events. The CLI's progress printer
 * folds the helper's events through it; the desktop app's main process keeps one per drive
 * so that a window that reloads can ask "where are we now" and get the same answer.
 *
 * Terminal states (done, failed, cancelled) absorb every later event: a stray progress line
 * after the result cannot make a finished flash look unfinished again.
 */
import type { ZflashErrorJson } from '../errors.js';
import {
  FLASH_PHASES,
  type FlashEvent,
  type FlashPhaseName,
  type FlashResultEvent,
} from './events.js';

export interface SessionProgress {
  readonly phase: FlashPhaseName;
  /** 0-based position of the phase in FLASH_PHASES, for "step 2 of 4". */
  readonly step: number;
  readonly bytes: number;
  readonly total: number | null;
  readonly speed: number;
  /** Seconds left in this phase, derived from the speed shown (never a second opinion). */
  readonly eta: number | null;
  /** 0–100 within the phase; null while the total is unknown. */
  readonly percent: number | null;
}

/** The last few log lines a helper said, kept for the diagnostics screen. */
const LOG_LINES = 20;

export type FlashSession =
  | { readonly status: 'idle' }
  | {
      readonly status: 'running';
      readonly progress: SessionProgress;
      readonly log: readonly string[];
    }
  | {
      readonly status: 'done';
      readonly progress: SessionProgress;
      readonly log: readonly string[];
      readonly result: FlashResultEvent;
    }
  | {
      readonly status: 'failed' | 'cancelled';
      readonly progress: SessionProgress;
      readonly log: readonly string[];
      readonly error: ZflashErrorJson;
    };

export const idleSession: FlashSession = { status: 'idle' };

const startProgress: SessionProgress = {
  phase: 'preparing',
  step: 0,
  bytes: 0,
  total: null,
  speed: 0,
  eta: null,
  percent: null,
};

export function isTerminal(s: FlashSession): boolean {
  return s.status === 'done' || s.status === 'failed' || s.status === 'cancelled';
}

function progressOf(e: Extract<FlashEvent, { type: 'progress' }>): SessionProgress {
  const total = e.total !== null && e.total > 0 ? e.total : null;
  const bytes = total !== null ? Math.min(e.bytes, total) : e.bytes;
  return {
    phase: e.phase,
    step: FLASH_PHASES.indexOf(e.phase),
    bytes,
    total,
    speed: e.speed,
    eta: total !== null && e.speed > 0 ? Math.round(((total - bytes) / e.speed) * 10) / 10 : null,
    percent: total !== null ? Math.floor((bytes / total) * 1000) / 10 : null,
  };
}

/**
 * Where a write or verify stopped: progress events come a few times a second, so a stick that
 * fails between two of them would be shown at the last one (often 0). The error's own offset
 * is the truth when it is further on in the same phase.
 */
function stoppedAt(progress: SessionProgress, error: ZflashErrorJson): SessionProgress {
  const offset = error.details?.['offset'];
  if (progress.phase !== 'writing' && progress.phase !== 'verifying') return progress;
  if (typeof offset !== 'number' || !Number.isFinite(offset) || offset <= progress.bytes)
    return progress;
  const bytes = progress.total !== null ? Math.min(offset, progress.total) : offset;
  return {
    ...progress,
    bytes,
    percent:
      progress.total !== null ? Math.floor((bytes / progress.total) * 1000) / 10 : progress.percent,
    eta: null,
  };
}

export function reduce(state: FlashSession, event: FlashEvent): FlashSession {
  if (isTerminal(state)) return state;
  const progress = state.status === 'idle' ? startProgress : state.progress;
  const log = state.status === 'idle' ? [] : state.log;
  switch (event.type) {
    case 'progress':
      return { status: 'running', progress: progressOf(event), log };
    case 'log':
      return { status: 'running', progress, log: [...log, event.message].slice(-LOG_LINES) };
    case 'result':
      return {
        status: 'done',
        progress: {
          ...progress,
          bytes: progress.total ?? progress.bytes,
          percent: progress.total !== null ? 100 : progress.percent,
          eta: progress.total !== null ? 0 : progress.eta,
        },
        log,
        result: event,
      };
    case 'error':
      return {
        status: event.error.kind === 'cancelled' ? 'cancelled' : 'failed',
        progress: stoppedAt(progress, event.error),
        log,
        error: event.error,
      };
  }
}
