/**
 * `npm run web` as the e2e specs use it: the built web shell (dist/e2e/web-shell/cli.js, what
 * `npm run web` runs after building) in its own process, with loop devices offered, its own
 * settings folder and HOME (so ~/.ssh is the test's), and the dialog answers the shell takes
 * on its command line (--pick-image, --pick-key, --save-to), and --open-file. The URL it prints — with the
 * per-run token after # — is what the page opens. Everything it prints is kept: the private-
 * key spec reads it as the shell's log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const CLI = `${repo}dist/e2e/web-shell/cli.js`;

export interface WebShellProcess {
  readonly url: string;
  /** Everything the shell printed so far (stdout and stderr). */
  log(): string;
  close(): Promise<void>;
}

export interface WebShellArgs {
  readonly userData: string;
  readonly home: string;
  readonly pickImage?: string;
  readonly pickKey?: string;
  readonly saveTo?: string;
  /** `--open-file`: the page starts as if the OS had opened the app with this file. */
  readonly openFile?: string;
}

export async function startWebShell(args: WebShellArgs): Promise<WebShellProcess> {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run \`npm run build:app\` (npm run e2e does) first`);
  const argv = [CLI, '--user-data', args.userData];
  if (args.pickImage) argv.push('--pick-image', args.pickImage);
  if (args.pickKey) argv.push('--pick-key', args.pickKey);
  if (args.saveTo) argv.push('--save-to', args.saveTo);
  if (args.openFile) argv.push('--open-file', args.openFile);
  const child: ChildProcess = spawn(process.execPath, argv, {
    env: { ...process.env, HOME: args.home, ZFLASH_ALLOW_LOOP: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));

  // The URL is the first thing the shell prints once it listens; an exit before that is a failure.
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]+)/.exec(out);
      if (m?.[1]) {
        child.stdout?.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`the web shell exited (${code}) before printing its URL:\n${out}`)),
    );
  });

  return {
    url,
    log: () => out,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
