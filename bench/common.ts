/** What every benchmark shares: where the repository is, how a sample is summarised, timed children, memory. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** The repository root: the nearest folder above this file holding bin/zflash.js. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bin', 'zflash.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find bin/zflash.js above this file');
    dir = up;
  }
  return dir;
}

export interface Stats {
  readonly median: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** Median, nearest-rank p90 and range of a sample. */
export function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
  return { median, p90: at(0.9), min: s[0] ?? NaN, max: s.at(-1) ?? NaN, runs: s.length };
}

export const median = (samples: readonly number[]): number => stats(samples).median;
export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
export const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const rate = (bytes: number, ms: number): string =>
  `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;

/** `--name value` from argv, as a number, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`bench: --${name} wants a positive number`);
  return v;
}

// --- timed children -------------------------------------------------------------------------

/** Child processes running right now, so Ctrl-C can stop them before a loop is detached. */
export const running = new Set<ChildProcess>();

export interface Finished {
  readonly ms: number;
  readonly stderr: string;
}

/**
 * Runs one child to its end and times it (spawn → close). Every command compared is spawned
 * this way, asynchronously, so the event loop stays free for timestamps and /proc polling.
 */
export function timed(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; onLine?: (line: string, at: number) => void } = {},
  onSpawn?: (child: ChildProcess) => void,
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, [...args], {
      stdio: ['ignore', opts.onLine ? 'pipe' : 'ignore', 'pipe'],
      env: opts.env ?? process.env,
    });
    running.add(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
    });
    if (opts.onLine && child.stdout) {
      const onLine = opts.onLine;
      createInterface({ input: child.stdout }).on('line', (l) => onLine(l, performance.now()));
    }
    onSpawn?.(child);
    child.on('error', (err) => {
      running.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      running.delete(child);
      if (code === 0) resolve({ ms, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${stderr}`));
    });
  });
}

export function stopChildren(): void {
  for (const c of running) c.kill('SIGTERM');
}

// --- peak memory of a process tree ----------------------------------------------------------

const readOr = (path: string, fallback: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};

/** `pid` and every process below it, from /proc/PID/task/TID/children. */
function processTree(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop() as number;
    out.push(p);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      for (const c of readOr(`/proc/${p}/task/${t}/children`, '').split(' ')) {
        if (/^\d+$/.test(c)) todo.push(Number(c));
      }
    }
  }
  return out;
}

const statusKiB = (status: string, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);

export interface Memory {
  /** High-water RSS (VmHWM) of the root process, KiB. */
  root: number;
  /** High-water RSS of the child whose command line contains `childMarker`, KiB. */
  child: number;
  /** The largest sum of current RSS over the whole tree seen in one poll, KiB. */
  treeNow: number;
}

export const POLL_MS = 50;

/**
 * Polls the tree under `pid` every POLL_MS until stopped. VmHWM is the kernel's own
 * high-water mark, so a poll that comes late still sees the peak, unless the process
 * grew in its last POLL_MS.
 */
export function memorySampler(pid: number, childMarker?: string): { stop: () => Memory } {
  const m: Memory = { root: 0, child: 0, treeNow: 0 };
  const poll = () => {
    let now = 0;
    for (const p of processTree(pid)) {
      const status = readOr(`/proc/${p}/status`, '');
      if (!status) continue;
      now += statusKiB(status, 'VmRSS');
      const hwm = statusKiB(status, 'VmHWM');
      if (p === pid) m.root = Math.max(m.root, hwm);
      else if (childMarker && readOr(`/proc/${p}/cmdline`, '').includes(childMarker)) {
        m.child = Math.max(m.child, hwm);
      }
    }
    m.treeNow = Math.max(m.treeNow, now);
  };
  poll();
  const timer = setInterval(poll, POLL_MS);
  return {
    stop: () => {
      clearInterval(timer);
      poll();
      return m;
    },
  };
}

// --- a loop device of our own ---------------------------------------------------------------

export interface BenchLoop {
  readonly device: string;
  /** Loop direct I/O on or off; returns what the kernel really set. */
  setDirectIo(on: boolean): boolean;
  detach(): void;
}

/**
 * A loop device over `file` with a high, explicit number (/dev/loop2NN). etcher-sdk's
 * BlockDevice (and so zflash's drive destination today) calls mountutils, which unmounts every
 * mount whose source *starts with* the device path: from /dev/loop1 it would unmount another
 * test's /dev/loop12. Nothing on a shared machine is named /dev/loop2NN<digit>.
 */
export function attachBenchLoop(file: string): BenchLoop {
  let device = '';
  for (let i = 0; i < 40 && !device; i++) {
    const candidate = `/dev/loop${200 + Math.floor(Math.random() * 56)}`;
    const r = spawnSync('losetup', ['--show', candidate, file]);
    if (r.status === 0) device = r.stdout.toString().trim();
  }
  if (!device) throw new Error('bench: no free /dev/loop2NN device');
  const backing = () =>
    spawnSync('losetup', ['-n', '-O', 'BACK-FILE', device])
      .stdout.toString()
      .trim()
      .replace(/ \(deleted\)$/, '');
  let attached = true;
  return {
    device,
    setDirectIo(on) {
      spawnSync('losetup', [`--direct-io=${on ? 'on' : 'off'}`, device]);
      return spawnSync('losetup', ['-n', '-O', 'DIO', device]).stdout.toString().trim() === '1';
    },
    detach() {
      if (!attached) return;
      attached = false;
      // Only while it still backs our file (someone may have been handed the number since).
      if (backing() === file) spawnSync('losetup', ['-d', device]);
    },
  };
}

/** File-system type and device of the folder holding `path`. */
export function whereIs(path: string): string {
  const r = spawnSync('df', ['--output=fstype,source,target', path]);
  const line = r.stdout?.toString().trim().split('\n').at(-1)?.trim() ?? '';
  return line.replace(/\s+/g, ' ') || 'unknown file system';
}

/** Whether `cmd` is on the PATH. */
export function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
