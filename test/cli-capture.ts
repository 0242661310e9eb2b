import { PassThrough, Writable } from 'node:stream';
import type { CliIo } from '../app/cli/io.js';

/** A stream that keeps what was written and can wait for a line matching a predicate. */
export class Capture extends Writable {
  text = '';
  private waiters: { match: (line: string) => boolean; resolve: () => void }[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    const lines = this.text.split('\n');
    this.waiters = this.waiters.filter((w) => {
      if (!lines.some(w.match)) return true;
      w.resolve();
      return false;
    });
    done();
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l.length > 0);
  }
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<void> {
    if (this.text.split('\n').some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching line in ${timeoutMs} ms:\n${this.text}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/** A CliIo whose stdout and stderr are Captures, with the environment and signal given. */
export function makeIo(env: NodeJS.ProcessEnv = {}, signal = new AbortController().signal) {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, stdin: new PassThrough(), env, signal };
  return { io, stdout, stderr };
}
