/**
 * Starting the helper: its command line, its environment, its job folder, and a helper
 * started early (`prestartHelper`) that waits for its job while the front end prepares it.
 *
 * Only Node's own modules and the protocol's plain names (names.ts) are imported here, no
 * schema library: the CLI starts the helper from its entry point, before it loads the
 * command's modules (zod, sshpk, the FAT code), so the two start-ups overlap.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOB_DIR_PREFIX, JOB_FILE, type HelperVerb } from './names.js';

export const HELPER_ENTRY = fileURLToPath(new URL('./entry.js', import.meta.url));

/** How this installation starts its helper: this node and the built entry.js beside us. */
export function defaultHelperCommand(): readonly string[] {
  return [process.execPath, HELPER_ENTRY];
}

export type Channel = 'stdio' | 'files';

/**
 * A helper process started early, while the front end still prepares the job (reads the
 * image, checks the drive), so that its start-up — a Node process and its imports, most of a
 * flash's fixed cost on a fast device — overlaps that work. Only where no password prompt is
 * involved (already root, stdio channel): a prompt must come after the operator confirmed.
 * The helper waits for a line on stdin, then reads and checks its job file exactly as always;
 * `discard()` (or the front end exiting) closes its stdin and it ends without reading anything.
 */
export interface PrestartedHelper {
  readonly verb: HelperVerb;
  /** The job folder made for it (mode 0700); the job file is written there later. */
  readonly dir: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** What it said on stderr so far (kept from the start, as a late listener would miss it). */
  readonly stderr: () => string;
  /** Its exit code, once it has ended (it may end before it is used: a broken install). */
  readonly exited: Promise<number | null>;
  discard(): Promise<void>;
}

export interface PrestartOptions {
  /** The caller's environment; the helper is started with it (minus the elevation markers). */
  readonly env: NodeJS.ProcessEnv;
  /** The helper's process argv before `VERB --job FILE`; default defaultHelperCommand(). */
  readonly helperCommand?: readonly string[];
  readonly isRoot?: boolean;
  /** Where job folders go; default os.tmpdir(). */
  readonly tempDir?: string;
}

/** Starts the helper early when it needs no elevation; null when it does (start it later). */
export async function prestartHelper(
  verb: HelperVerb,
  options: PrestartOptions,
): Promise<PrestartedHelper | null> {
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  if (!isRoot) return null;
  const base = options.tempDir ?? tmpdir();
  await cleanStaleJobDirs(base);
  const dir = await mkdtemp(join(base, `${JOB_DIR_PREFIX}${process.pid}-`));
  const argv = [
    ...helperArgv({
      helperCommand: options.helperCommand ?? defaultHelperCommand(),
      verb,
      jobPath: join(dir, JOB_FILE),
      channel: 'stdio',
      requester: process.getuid?.() ?? null,
    }),
    '--await-job',
  ];
  const [command, ...args] = argv;
  const child = spawn(command ?? '', args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: helperEnv(options.env),
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8192);
  });
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null));
    child.on('close', (code) => resolve(code));
  });
  return {
    verb,
    dir,
    child,
    stderr: () => stderr,
    exited,
    async discard() {
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
      if (child.exitCode === null) child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const ELEVATION_VARS = new Set(['PKEXEC_UID', 'SUDO_UID']);

export function helperEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !ELEVATION_VARS.has(k)));
}

export function helperArgv(input: {
  readonly helperCommand: readonly string[];
  readonly verb: HelperVerb;
  readonly jobPath: string;
  readonly channel: Channel;
  readonly requester: number | null;
  /**
   * The drives the job names, shown by the password prompt (polkit's `$(command_line)`, UAC's
   * details); the helper refuses a job whose drives are not these, so the prompt cannot lie.
   */
  readonly drives?: readonly string[];
}): string[] {
  return [
    ...input.helperCommand,
    input.verb,
    '--job',
    input.jobPath,
    ...(input.channel === 'files' ? ['--channel', 'files'] : []),
    ...(input.requester !== null ? ['--requester', String(input.requester)] : []),
    // Last: pkexec's shortened command line (polkit's $(cmdline_short)) keeps the end.
    ...(input.drives ?? []).flatMap((d) => ['--drive', d]),
  ];
}

/** Whether a process exists (EPERM: it does, under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const STALE_DIR = new RegExp(`^${JOB_DIR_PREFIX}(\\d+)-[A-Za-z0-9]{6}$`);

/**
 * Removes job folders an earlier requester left behind (killed while the password prompt was
 * open, before it could remove its own): only ours — named by a requester's pid, a real
 * folder (not a link), owned by us, in `base` — and only once that process is gone. Returns
 * what it removed.
 */
export async function cleanStaleJobDirs(
  base: string,
  deps: { readonly uid?: number | null; readonly isAlive?: (pid: number) => boolean } = {},
): Promise<string[]> {
  const uid = deps.uid !== undefined ? deps.uid : (process.getuid?.() ?? null);
  const alive = deps.isAlive ?? isAlive;
  const removed: string[] = [];
  const names = await readdir(base).catch(() => [] as string[]);
  for (const name of names) {
    const m = STALE_DIR.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const path = join(base, name);
    const st = await lstat(path).catch(() => null);
    if (!st || !st.isDirectory() || (uid !== null && st.uid !== uid)) continue;
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
    removed.push(path);
  }
  return removed;
}
