/**
 * Every failure the engine reports carries a stable code, one plain sentence, a hint,
 * and the exit code the CLI (and the helper) ends with. User mistakes (`input`),
 * problems with the image or drive (`target`), write/verify failures (`io`) and
 * cancellation are kept apart so the UI and the diagnostics screen can say which is which.
 */

export const ExitCode = {
  ok: 0,
  bug: 1,
  input: 2,
  target: 3,
  io: 4,
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind = 'input' | 'target' | 'io' | 'cancelled' | 'bug';

export interface ZflashErrorJson {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly hint: string;
  readonly exitCode: ExitCode;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class ZflashError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly hint: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    hint: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ZflashError';
    this.kind = kind;
    this.code = code;
    this.hint = hint;
    this.details = details;
  }

  get exitCode(): ExitCode {
    return ExitCode[this.kind];
  }

  toJSON(): ZflashErrorJson {
    return {
      code: this.code,
      kind: this.kind,
      message: this.message,
      hint: this.hint,
      exitCode: this.exitCode,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export const inputError = (
  code: string,
  message: string,
  hint: string,
  details?: Record<string, unknown>,
): ZflashError => new ZflashError('input', code, message, hint, details);

export const targetError = (
  code: string,
  message: string,
  hint: string,
  details?: Record<string, unknown>,
): ZflashError => new ZflashError('target', code, message, hint, details);

export const ioError = (
  code: string,
  message: string,
  hint: string,
  details?: Record<string, unknown>,
): ZflashError => new ZflashError('io', code, message, hint, details);

export const cancelledError = (message = 'The operation was cancelled.'): ZflashError =>
  new ZflashError(
    'cancelled',
    'ZFLASH_CANCELLED',
    message,
    'Nothing was finished; start again when ready.',
  );

/** Turns anything thrown into a ZflashError; unknown errors are reported as bugs, not hidden. */
export function toZflashError(err: unknown): ZflashError {
  if (err instanceof ZflashError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ZflashError(
    'bug',
    'ZFLASH_INTERNAL',
    `Zeta Flash hit an unexpected error: ${message}`,
    'This is a bug in Zeta Flash. Photograph this screen or save the diagnostics and report it.',
    err instanceof Error && err.stack ? { stack: err.stack } : undefined,
    { cause: err },
  );
}

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(value)}`);
}
