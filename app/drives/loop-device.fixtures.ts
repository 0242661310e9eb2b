/**
 * Real loop block devices for tests (DESIGN.md: tests use the real thing). Each test makes
 * its own backing file and only ever detaches the device it attached, after checking the
 * device still points at that file (another suite may reuse the number once it is free).
 */
import { execFile } from 'node:child_process';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoopDevice {
  /** `/dev/loopN` */
  readonly path: string;
  readonly backingFile: string;
  /** Idempotent; detaches only if the device still serves our backing file. */
  detach(): Promise<void>;
}

async function backingFileOf(device: string): Promise<string | null> {
  try {
    const text = await readFile(`/sys/block/${basename(device)}/loop/backing_file`, 'utf8');
    return text.trim();
  } catch {
    return null;
  }
}

/** Creates a sparse backing file of `sizeBytes` in `dir` and attaches it (`-P`: scan partitions). */
export async function attachLoop(
  dir: string,
  sizeBytes: number,
  opts: { readonly name?: string; readonly partitions?: boolean } = {},
): Promise<LoopDevice> {
  const backingFile = join(dir, opts.name ?? 'disk.img');
  await writeFile(backingFile, '');
  await truncate(backingFile, sizeBytes);
  const args = ['-f', '--show', ...(opts.partitions ? ['-P'] : []), backingFile];
  const { stdout } = await run('losetup', args);
  const path = stdout.trim();
  let detached = false;
  return {
    path,
    backingFile,
    async detach() {
      if (detached) return;
      detached = true;
      const current = await backingFileOf(path);
      if (current === backingFile || current === `${backingFile} (deleted)`) {
        await run('losetup', ['-d', path]);
      }
    },
  };
}

export async function sh(cmd: string, args: readonly string[], input?: string): Promise<string> {
  if (input === undefined) return (await run(cmd, [...args])).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], (err, stdout) => (err ? reject(err) : resolve(stdout)));
    child.stdin?.end(input);
  });
}
