/**
 * What every `zflash` subcommand receives. Side effects (streams, the abort signal, the
 * environment) are passed in, never reached for globally, so tests drive commands in-process.
 */
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: Readable & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM; commands stop promptly and return ExitCode.cancelled. */
  readonly signal: AbortSignal;
}

/** A subcommand: parses its own argv (node:util parseArgs), returns the exit code. */
export type Command = (argv: readonly string[], io: CliIo) => Promise<number>;
