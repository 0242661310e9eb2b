/**
 * Prints a flash's events as they come: a bar on a terminal, a line per phase and per 10 %
 * when the output is a log file, every event as a JSON line with --json. All three fold the
 * events through the engine's session reducer, so the numbers shown are the ones the
 * desktop app shows: percent, speed and an ETA computed from that same speed.
 */
import cliProgress from 'cli-progress';
import type { FlashEvent } from '../flash/events.js';
import { idleSession, reduce, type FlashSession, type SessionProgress } from '../flash/session.js';
import { formatDuration, formatSize } from '../format.js';
import type { CliIo } from './io.js';
import { printJsonLine } from './output.js';

export interface ProgressPrinter {
  readonly onEvent: (e: FlashEvent) => void;
  readonly stop: () => void;
  readonly session: () => FlashSession;
}

const PHASE_WORDS: Record<SessionProgress['phase'], string> = {
  preparing: 'checking',
  writing: 'writing',
  finishing: 'finishing',
  verifying: 'verifying',
};

/** `142.6 of 318.8 MB` when both share a unit, else `950.0 kB of 1.2 GB`; `142.6 MB` without a total. */
export function amountText(bytes: number, total: number | null): string {
  const done = formatSize(bytes);
  if (total === null) return done;
  const all = formatSize(total);
  const unit = (t: string) => t.split(' ')[1];
  return unit(done) === unit(all) ? `${done.split(' ')[0]} of ${all}` : `${done} of ${all}`;
}

export function describeProgress(p: SessionProgress): {
  phase: string;
  percent: string;
  amount: string;
  speed: string;
  eta: string;
} {
  return {
    phase: PHASE_WORDS[p.phase].padEnd(9),
    percent: p.percent === null ? '' : `${Math.floor(p.percent)}%`.padStart(4),
    amount: amountText(p.bytes, p.total),
    speed: p.speed > 0 ? `${formatSize(p.speed)}/s` : '',
    eta: p.eta === null ? '' : `${formatDuration(p.eta)} left`,
  };
}

export function createProgressPrinter(io: CliIo, json: boolean): ProgressPrinter {
  let session: FlashSession = idleSession;
  const fold = (e: FlashEvent) => {
    session = reduce(session, e);
  };
  // The result and the error are printed once, at the end, by the command itself.
  if (json) {
    return {
      onEvent: (e) => {
        fold(e);
        if (e.type !== 'result' && e.type !== 'error') printJsonLine(io, e);
      },
      stop: () => undefined,
      session: () => session,
    };
  }
  if (!io.stderr.isTTY) {
    let lastPhase = '';
    let lastStep = -1;
    return {
      onEvent: (e) => {
        fold(e);
        if (e.type !== 'progress' || session.status !== 'running') return;
        const p = session.progress;
        // Only the long phases: writing, verifying, and the checksum pass of preparing.
        if (p.phase === 'finishing' || (p.phase === 'preparing' && p.total === null)) return;
        // Every 10 %, or every 256 MB while the size is unknown (bzip2).
        const step = p.percent === null ? Math.floor(p.bytes / 256e6) : Math.floor(p.percent / 10);
        if (p.phase === lastPhase && step === lastStep) return;
        lastPhase = p.phase;
        lastStep = step;
        const d = describeProgress(p);
        io.stderr.write(
          `${[d.phase.trim(), d.percent.trim(), d.amount, d.speed].filter(Boolean).join('  ')}\n`,
        );
      },
      stop: () => undefined,
      session: () => session,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: '{phase} |{bar}| {pct} {amount}  {speed}  {left}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onEvent: (e) => {
      fold(e);
      if (e.type !== 'progress' || session.status !== 'running') return;
      const p = session.progress;
      const d = describeProgress(p);
      const payload = {
        phase: d.phase,
        pct: d.percent,
        amount: d.amount,
        speed: d.speed,
        // Not `eta`: cli-progress fills that token with its own estimate.
        left: d.eta,
      };
      const total = p.total ?? Math.max(p.bytes, 1);
      if (!started) {
        bar.start(total, p.bytes, payload);
        started = true;
      }
      bar.setTotal(total);
      bar.update(p.bytes, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
    session: () => session,
  };
}
