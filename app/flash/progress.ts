/** Progress events for the UI and the CLI: at most a few per second, with speed and ETA. */

import type { FlashPhaseName } from './events.js';

/** The phases are listed once, in app/flash/events.ts (FLASH_PHASES). */
export type FlashPhase = FlashPhaseName;

export interface FlashProgress {
  readonly phase: FlashPhase;
  readonly bytes: number;
  /** null when the image size is not known up front (bzip2, zstd without a size). */
  readonly total: number | null;
  /** Bytes per second over the phase so far. */
  readonly speed: number;
  /** Seconds left in this phase, when it can be told. */
  readonly eta: number | null;
}

export class ProgressThrottle {
  private last = 0;
  private started = 0;
  private phase: FlashPhase = 'preparing';

  constructor(
    private readonly emit: ((p: FlashProgress) => void) | undefined,
    private readonly intervalMs = 250,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(phase: FlashPhase, total: number | null): void {
    this.phase = phase;
    this.started = this.now();
    // The start event counts: the next one comes an interval later, not straight after it.
    this.last = this.started;
    this.emit?.({ phase, bytes: 0, total, speed: 0, eta: null });
  }

  update(bytes: number, total: number | null, force = false): void {
    if (!this.emit) return;
    const t = this.now();
    if (!force && t - this.last < this.intervalMs) return;
    this.last = t;
    const seconds = (t - this.started) / 1000;
    const speed = seconds > 0 ? bytes / seconds : 0;
    const eta = total !== null && speed > 0 ? Math.max(0, (total - bytes) / speed) : null;
    this.emit({
      phase: this.phase,
      bytes,
      total,
      speed: Math.round(speed),
      eta: eta === null ? null : Math.round(eta * 10) / 10,
    });
  }
}
