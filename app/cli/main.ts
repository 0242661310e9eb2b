/** The `zflash` command: the same engine as the desktop app, without a GUI. */
import { ExitCode } from '../errors.js';
import { APP } from '../version.js';
import type { CliIo, Command } from './io.js';
import { reportError } from './output.js';

// Each command's modules load only when it runs: sshpk and zod alone cost ~100 ms of
// start-up, which `zflash drives` or `--help` should not pay (bench/inject.ts measured it).
const commands: Record<string, { load: () => Promise<Command>; summary: string }> = {
  inspect: {
    load: async () => (await import('./inspect-command.js')).inspectCommand,
    summary: 'show the ESP and the node payload of an image or stick',
  },
  inject: {
    load: async () => (await import('./inject-command.js')).injectCommand,
    summary: "write a node's identity into an image or stick in place",
  },
  flash: {
    load: async () => (await import('./flash-command.js')).flashCommand,
    summary: 'write an image to a stick with the node identity, then verify it',
  },
  drives: {
    load: async () => (await import('./drives-command.js')).drivesCommand,
    summary: 'list drives with the safety verdict for each',
  },
  image: {
    load: async () => (await import('./image-command.js')).imageCommand,
    summary: 'list or download the signed Zeta installer image (no Nix needed)',
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return `zflash ${APP.version} — make NixOS installer sticks that set up a cluster node with zero typing

Usage: zflash <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run \`zflash <command> --help\` for a command's options.

Exit codes: 0 ok, 2 invalid input, 3 target problem (no ESP, no space, unreadable,
refused), 4 write or verify failure, 130 cancelled.`;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`);
    return name ? ExitCode.ok : ExitCode.input;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${APP.version}\n`);
    return ExitCode.ok;
  }
  const cmd = commands[name];
  if (!cmd) {
    io.stderr.write(
      `error: "${name}" is not a zflash command.\nhint: run \`zflash --help\` for the list.\ncode: ZFLASH_USAGE\n`,
    );
    return ExitCode.input;
  }
  try {
    return await (
      await cmd.load()
    )(rest, io);
  } catch (err) {
    // Commands report their own errors; this only catches a broken install or a bug.
    return reportError(io, err, rest.includes('--json'));
  }
}

/** Entry used by bin/zflash.js: wires the real process streams and signals. */
export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runCli(argv, {
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: process.env,
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
