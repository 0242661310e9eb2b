/**
 * What every `zflash` subcommand receives. Side effects (streams, the abort signal, the
 * environment) are passed in, never reached for globally, so tests drive commands in-process.
 */
import type { Readable, Writable } from 'node:stream';
import type { PrestartedHelper } from '../helper/prestart.js';

export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: Readable & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM; commands stop promptly and return ExitCode.cancelled. */
  readonly signal: AbortSignal;
  /**
   * A helper the entry point started for `flash` before loading the command (see main.ts);
   * the command adopts it when its options call for one helper, else it is discarded.
   */
  readonly earlyHelper?: Promise<PrestartedHelper | null>;
}

/** A subcommand: parses its own argv (node:util parseArgs), returns the exit code. */
export type Command = (argv: readonly string[], io: CliIo) => Promise<number>;
