/**
 * The typed confirmation before a drive is erased (Raspberry Pi Imager asks for the exact
 * name of a system drive; we ask for every drive). The answer is read from the terminal:
 * standard input when it is one, else /dev/tty (standard input may be carrying the keys,
 * `ssh-add -L | zflash flash … --ssh-key -`). No terminal, no erase.
 */
import { openSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { cancelledError, inputError } from '../errors.js';
import type { CliIo } from './io.js';

/** The names the operator may type for `device`: `sdb` or `/dev/sdb`. */
export function acceptedAnswers(device: string): readonly string[] {
  return [...new Set([basename(device), device])];
}

/** Where to read the answer: standard input when it is a terminal it is not otherwise using. */
function terminal(io: CliIo, stdinUsed: boolean): Readable | null {
  if (!stdinUsed) return io.stdin.isTTY ? io.stdin : null;
  // Standard input carried the keys; ask the controlling terminal, as ssh and git do.
  if (process.platform === 'win32') return null;
  try {
    // A tty.ReadStream, not an fs stream: an fs read blocked on the terminal in the thread
    // pool would keep the process alive after the answer until another line was typed.
    const fd = openSync('/dev/tty', 'r');
    return new ReadStream(fd);
  } catch {
    return null;
  }
}

async function ask(input: Readable, signal: AbortSignal): Promise<string | null> {
  const rl = createInterface({ input });
  const onAbort = () => rl.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<string | null>((res) => {
      rl.once('line', res);
      rl.once('close', () => res(null));
      input.once('error', () => res(null));
    });
  } finally {
    signal.removeEventListener('abort', onAbort);
    rl.close();
    if (input !== process.stdin && 'destroy' in input) input.destroy();
  }
}

/**
 * Shows `summary`, asks for the drive's name, and returns only when it was typed exactly;
 * throws cancelled otherwise and ZFLASH_CONFIRMATION_REQUIRED when there is no terminal.
 */
export async function confirmErase(
  io: CliIo,
  device: string,
  summary: string,
  opts: { stdinUsed: boolean },
): Promise<void> {
  const source = terminal(io, opts.stdinUsed);
  if (!source) {
    throw inputError(
      'ZFLASH_CONFIRMATION_REQUIRED',
      `Writing erases everything on ${device}, and there is no terminal to confirm it on.`,
      'Run it in a terminal to confirm, or confirm it in advance.',
    );
  }
  const [short, full] = acceptedAnswers(device);
  io.stderr.write(summary.endsWith('\n') ? summary : `${summary}\n`);
  io.stderr.write(
    `Type ${short}${full && full !== short ? ` (or ${full})` : ''} to erase it and write the image; anything else cancels: `,
  );
  const answer = await ask(source, io.signal);
  if (answer === null || !acceptedAnswers(device).includes(answer.trim())) {
    if (answer === null) io.stderr.write('\n');
    throw cancelledError(`Nothing was written: ${device} was not confirmed.`);
  }
}

/**
 * The same for several drives at once: shows `summary` and returns only when the name of
 * every drive was typed (space-separated, any order, each once, nothing else).
 */
export async function confirmEraseAll(
  io: CliIo,
  devices: readonly string[],
  summary: string,
  opts: { stdinUsed: boolean },
): Promise<void> {
  const source = terminal(io, opts.stdinUsed);
  if (!source) {
    throw inputError(
      'ZFLASH_CONFIRMATION_REQUIRED',
      `Writing erases everything on ${devices.join(', ')}, and there is no terminal to confirm it on.`,
      'Run it in a terminal to confirm, or confirm it in advance.',
    );
  }
  io.stderr.write(summary.endsWith('\n') ? summary : `${summary}\n`);
  io.stderr.write(
    `Type the names of all ${devices.length} drives (${devices.map((d) => acceptedAnswers(d)[0]).join(' ')}, any order) to erase them and write the image; anything else cancels: `,
  );
  const answer = await ask(source, io.signal);
  if (answer === null || !namesAll(answer, devices)) {
    if (answer === null) io.stderr.write('\n');
    throw cancelledError(`Nothing was written: ${devices.join(', ')} were not all confirmed.`);
  }
}

/** Whether `answer` names each of `devices` exactly once and nothing else. */
export function namesAll(answer: string, devices: readonly string[]): boolean {
  const words = answer.trim().split(/\s+/).filter(Boolean);
  if (words.length !== devices.length) return false;
  const left = new Set(devices);
  for (const w of words) {
    const d = [...left].find((x) => acceptedAnswers(x).includes(w));
    if (d === undefined) return false;
    left.delete(d);
  }
  return left.size === 0;
}
