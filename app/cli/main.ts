/** The `zflash` command: the same engine as the desktop app, without a GUI. */
import { ExitCode, inputError } from '../errors.js';
import { HELPER_VERB } from '../helper/names.js';
import { prestartHelper, type PrestartedHelper } from '../helper/prestart.js';
import { APP } from '../version.js';
import type { CliIo, Command } from './io.js';
import { reportError } from './output.js';
import { closest } from './suggest.js';

// Each command's modules load only when it runs: sshpk and zod alone cost ~100 ms of
// start-up, which `zflash drives` or `--help` should not pay (bench/inject.ts measured it).
const commands: Record<string, { load: () => Promise<Command>; summary: string }> = {
  inspect: {
    load: async () => (await import('./inspect-command.js')).inspectCommand,
    summary: 'show the partition table, the ESP and the node files of an image or stick',
  },
  inject: {
    load: async () => (await import('./inject-command.js')).injectCommand,
    summary: "write a node's identity into an image file or a flashed stick, in place",
  },
  flash: {
    load: async () => (await import('./flash-command.js')).flashCommand,
    summary: 'write an image to a stick with the node identity, then verify it',
  },
  drives: {
    load: async () => (await import('./drives-command.js')).drivesCommand,
    summary: 'list drives with the safety verdict for each',
  },
  roster: {
    load: async () => (await import('./roster-command.js')).rosterCommand,
    summary: 'the nodes flashed so far: list, export (ssh, csv, colmena), watch them come online',
  },
  netboot: {
    load: async () => (await import('./netboot-command.js')).netbootCommand,
    summary: "install the roster's nodes over the network (dnsmasq proxy DHCP + iPXE)",
  },
  image: {
    load: async () => (await import('./image-command.js')).imageCommand,
    summary: 'list or download the signed Zeta installer image (no Nix needed)',
  },
  diagnostics: {
    load: async () => (await import('./diagnostics-command.js')).diagnosticsCommand,
    summary: 'print the photo-friendly diagnostics screen (error, facts, QR code)',
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

Run \`zflash help <command>\` (or \`zflash <command> --help\`) for its options.
Add --json to any command for JSON lines on stdout.

Exit codes: 0 ok, 1 a bug in zflash, 2 invalid input, 3 a problem with the image or
drive (refused, too small, no EFI partition…), 4 a write or verify failure, 130 cancelled.`;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h') {
    io.stdout.write(`${usage()}\n`);
    return first ? ExitCode.ok : ExitCode.input;
  }
  if (first === '--version' || first === '-V') {
    io.stdout.write(`${APP.version}\n`);
    return ExitCode.ok;
  }
  // `zflash help flash` is `zflash flash --help`.
  const helpFor = first === 'help' ? rest[0] : undefined;
  if (first === 'help' && !helpFor) {
    io.stdout.write(`${usage()}\n`);
    return ExitCode.ok;
  }
  const name = helpFor ?? first;
  const args = helpFor ? ['--help'] : rest;
  const cmd = commands[name];
  if (!cmd) {
    const guess = closest(name, Object.keys(commands));
    return reportError(
      io,
      inputError(
        'ZFLASH_USAGE',
        `"${name}" is not a zflash command.${guess ? ` Did you mean ${guess}?` : ''}`,
        `The commands are ${Object.keys(commands).join(', ')}; zflash --help says what each does.`,
      ),
      args.includes('--json'),
    );
  }
  const earlyHelper = !helpFor && name === 'flash' ? startHelperEarly(args, io) : null;
  try {
    return await (
      await cmd.load()
    )(args, earlyHelper ? { ...io, earlyHelper } : io);
  } catch (err) {
    // Commands report their own errors; this only catches a broken install or a bug.
    return reportError(io, err, args.includes('--json'));
  } finally {
    // Not adopted (the options called for none, or the command failed first): ended here.
    const early = await earlyHelper;
    if (early && early.child.exitCode === null) await early.discard();
  }
}

/**
 * `flash` as root to one named drive starts its helper now, before the command's modules
 * load (zod, sshpk, the FAT code: the larger part of the command's start-up), so the
 * helper's own start-up overlaps all of it. A look at argv only: the command parses it for
 * real, adopts this helper when it needs exactly one, and it is discarded otherwise. With a
 * password prompt (not root) nothing starts before the operator has confirmed.
 */
function startHelperEarly(
  args: readonly string[],
  io: CliIo,
): Promise<PrestartedHelper | null> | null {
  if (process.getuid?.() !== 0) return null;
  const drives = args.filter((a) => a === '--drive' || a.startsWith('--drive=')).length;
  const other = args.some(
    (a) => a === '--help' || a === '-h' || a === '--target' || a.startsWith('--target='),
  );
  if (drives !== 1 || other) return null;
  return prestartHelper(HELPER_VERB, { env: io.env }).catch(() => null);
}

/**
 * Entry used by bin/zflash.js: wires the real process streams and signals. A reader that
 * goes away (`zflash … --json | head`) is a cancel like Ctrl-C: the flash stops and the
 * target is left as a cancel leaves it, with no stack trace.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  let outputClosed = false;
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    outputClosed = true;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.on('error', onStdoutError);
  try {
    const code = await runCli(argv, {
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: process.env,
      signal: controller.signal,
    });
    if (outputClosed) {
      process.stderr.write('zflash: the output was closed, so the command stopped.\n');
      return code === ExitCode.ok ? ExitCode.ok : ExitCode.cancelled;
    }
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
