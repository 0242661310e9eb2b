/** `zflash flash <image> --drive DEV | --target FILE  --host NAME --ssh-key FILE ... [--yes] [--json]` */
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { basename, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { driveRefusedError, formatDriveSize, recheckDrive } from '../drives/index.js';
import { cancelledError, inputError } from '../errors.js';
import { findSidecarChecksum, parseSha256Hex } from '../image/checksum.js';
import { probeImage } from '../image/image-source.js';
import { runHelper } from '../helper/client.js';
import {
  JOB_VERSION,
  HELPER_VERB,
  type HelperEvent,
  type WriteJobRequest,
} from '../helper/protocol.js';
import { parse, wantsJson } from './args.js';
import { identityFromOptions, identityOptions, identityUsage } from './identity-options.js';
import type { CliIo, Command } from './io.js';
import { formatBytes, printJsonLine, reportError } from './output.js';

const USAGE = `zflash flash <image> (--drive DEV | --target FILE [--force]) ${identityUsage} [--sha256 HEX] [--no-verify] [--no-eject] [--yes] [--json]`;

export const flashHelp = `${USAGE}

Writes the image to a drive with the node's identity substituted into its EFI partition
on the way (nothing is mounted, no temporary copy is made), writes the partition tables
last, reads everything back from the drive to verify it, and ejects it. --target FILE
writes an image file instead (for VMs). Without --yes it shows the drive and asks you to
type its name. The checksum comes from --sha256 or a <image>.sha256 file beside the image;
a mismatch stops before the drive is touched. Ctrl-C cancels (exit 130) and leaves the
stick without a partition table, so it cannot pass for a finished one.`;

function lsblk(device: string): Promise<string> {
  return new Promise((res) => {
    execFile(
      'lsblk',
      ['-o', 'NAME,SIZE,FSTYPE,LABEL,MOUNTPOINTS', device],
      { timeout: 5000 },
      (err, out) => res(err ? '' : out),
    );
  });
}

async function confirm(io: CliIo, expected: string): Promise<boolean> {
  io.stderr.write(`Type ${expected} to erase it and write the image (anything else cancels): `);
  const rl = createInterface({ input: io.stdin });
  const onAbort = () => rl.close();
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const answer = await new Promise<string | null>((res) => {
      rl.once('line', res);
      rl.once('close', () => res(null));
    });
    return answer?.trim() === expected;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    rl.close();
  }
}

function progressPrinter(
  io: CliIo,
  json: boolean,
): { onEvent: (e: HelperEvent) => void; stop: () => void } {
  // The result and errors are printed once, at the end, by the command itself.
  if (json)
    return {
      onEvent: (e) => e.type !== 'error' && e.type !== 'result' && printJsonLine(io, e),
      stop: () => undefined,
    };
  if (!io.stderr.isTTY) {
    let lastPhase = '';
    return {
      onEvent: (e) => {
        if (e.type === 'progress' && e.phase !== lastPhase) {
          lastPhase = e.phase;
          io.stderr.write(`${e.phase}...\n`);
        } else if (e.type === 'log') io.stderr.write(`${e.message}\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: '{phase} |{bar}| {percentage}% {done}/{all} {speed} ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onEvent: (e) => {
      if (e.type !== 'progress') return;
      const total = e.total ?? Math.max(e.bytes, 1);
      const payload = {
        phase: e.phase.padEnd(9),
        done: formatBytes(e.bytes),
        all: e.total === null ? '?' : formatBytes(e.total),
        speed: `${formatBytes(e.speed)}/s`,
      };
      if (!started) {
        bar.start(total, e.bytes, payload);
        started = true;
      }
      bar.setTotal(total);
      bar.update(e.bytes, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

export const flashCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  try {
    const { values, positionals } = parse(
      argv,
      {
        ...identityOptions,
        drive: { type: 'string' },
        target: { type: 'string' },
        force: { type: 'boolean' },
        sha256: { type: 'string' },
        'no-verify': { type: 'boolean' },
        'no-eject': { type: 'boolean' },
        yes: { type: 'boolean', short: 'y' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      USAGE,
    );
    if (values.help) {
      io.stdout.write(`${flashHelp}\n`);
      return 0;
    }
    if (positionals.length !== 1)
      throw inputError('ZFLASH_USAGE', 'flash takes exactly one image file.', `Usage: ${USAGE}`);
    if (!values.drive === !values.target) {
      throw inputError(
        'ZFLASH_USAGE',
        'Say where to write: either --drive DEV or --target FILE.',
        `Usage: ${USAGE}`,
      );
    }
    const sha256 = values.sha256 ? parseSha256Hex(values.sha256) : null;
    // 1. Everything the operator typed, before anything is opened.
    const { identity, notices } = await identityFromOptions(values);
    const imagePath = resolve(positionals[0] ?? '');
    // 2. The image, and its checksum (from --sha256 or a sidecar file).
    const image = await probeImage(imagePath);
    const checksum = sha256 ?? (await findSidecarChecksum(imagePath))?.sha256 ?? null;
    for (const n of [...notices, ...image.notices])
      if (!json) io.stderr.write(`note: ${n.message}\n`);

    let expectedSize: number | null = null;
    let device = '';
    if (values.drive) {
      // 3. The drive, judged by our policy; the helper judges it again right before opening it.
      const checked = await recheckDrive(values.drive, {
        imagePath,
        imageSize: image.size,
        allowLoop: io.env['ZFLASH_ALLOW_LOOP'] === '1',
      });
      const { drive, verdict } = checked;
      if (verdict.status === 'refused') throw driveRefusedError(checked);
      device = drive.device;
      expectedSize = drive.size;
      if (!values.yes) {
        if (!io.stdin.isTTY) {
          throw inputError(
            'ZFLASH_CONFIRMATION_REQUIRED',
            `Writing erases everything on ${drive.device}, and there is no terminal to confirm it on.`,
            'Add --yes to confirm in scripts.',
          );
        }
        io.stderr.write(
          [
            `This will ERASE ${drive.device}: ${drive.description || 'unnamed drive'}, ${formatDriveSize(drive.size)}, bus ${drive.busType}`,
            ...verdict.reasons.map((r) => `  warning: ${r.message}`),
            (await lsblk(drive.device)).trimEnd(),
            `Image: ${basename(imagePath)} (${image.size === null ? 'size unknown until written' : formatBytes(image.size)}) for node ${identity.hostname}`,
            '',
          ].join('\n'),
        );
        if (!(await confirm(io, basename(drive.device))))
          throw cancelledError('Nothing was written: the drive name was not confirmed.');
      }
    } else {
      device = resolve(values.target ?? '');
    }

    const job: WriteJobRequest = {
      version: JOB_VERSION,
      verb: HELPER_VERB,
      image: { path: imagePath, sha256: checksum },
      drive: values.drive ? { device, expectedSize } : null,
      file: values.target ? { path: device, overwrite: values.force ?? false } : null,
      identity,
      createdAt: new Date().toISOString(),
      verify: !values['no-verify'],
      eject: !values['no-eject'],
      allowLoop: io.env['ZFLASH_ALLOW_LOOP'] === '1',
    };
    const printer = progressPrinter(io, json);
    let result;
    try {
      result = await runHelper(job, { signal: io.signal, onEvent: printer.onEvent, env: io.env });
    } finally {
      printer.stop();
    }
    if (json) printJsonLine(io, { ...result, hostname: identity.hostname });
    else {
      io.stdout.write(
        [
          `Flashed ${basename(imagePath)} to ${result.device} for node ${identity.hostname}: ${formatBytes(result.bytesWritten)} written${result.verified ? ' and verified' : ' (not verified)'}.`,
          `ESP partition ${result.esp.partition} (${result.esp.fatType}) holds the node files; ${formatBytes(result.esp.freeBytes)} free.`,
          result.ejected ? 'The drive was ejected: you can unplug it.' : '',
          `Boot the node from it; it will come up as: ssh zeta@${identity.hostname}.local`,
        ]
          .filter(Boolean)
          .join('\n') + '\n',
      );
    }
    return 0;
  } catch (err) {
    return reportError(io, err, json);
  }
};
