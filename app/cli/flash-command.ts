/**
 * `zflash flash <image> [--drive DEV | --target FILE] --host NAME --ssh-key FILE …` — a thin
 * layer over prepareFlash/runFlash; with several --drive, flash-many.ts over
 * prepareFlashMany/runFlashMany.
 */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { scanDrives, type AssessedDrive, type DriveInfo } from '../drives/index.js';
import { inputError, targetError, toZflashError } from '../errors.js';
import { validateHostname, type Notice } from '../node/index.js';
// The roster's own modules, not its index: that one also loads mDNS, which a flash never uses.
import { checkNewName, suggestName } from '../roster/names.js';
import { flashRecordFor } from '../roster/record.js';
import { openRoster, recordFlash } from '../roster/store.js';
import { APP } from '../version.js';
import { prepareFlash, runFlash, type FlashPlan, type FlashTarget } from '../api/plan.js';
import { formatSize } from '../format.js';
import { parse, wantsJson } from './args.js';
import { confirmErase } from './confirm.js';
import { flashMany, nextFreeNames } from './flash-many.js';
import {
  identityFromOptions,
  identityHelp,
  identityOptions,
  identityUsage,
  readAllStdin,
} from './identity-options.js';
import type { Command } from './io.js';
import { prestartHelper, type PrestartedHelper } from '../helper/client.js';
import { HELPER_VERB } from '../helper/protocol.js';
import { printJsonLine, printNotices, reportError } from './output.js';
import { createProgressPrinter } from './progress-printer.js';
import { resolveRosterPath, rosterOff } from './roster-path.js';

const USAGE = `zflash flash <image> [--drive DEV [--drive DEV …] | --target FILE [--force]] ${identityUsage} [--reflash] [--host-pattern P] [--require-zeta] [--sha256 HEX] [--no-verify] [--no-eject] [--yes] [--json]`;

export const flashHelp = `Usage: ${USAGE}

Writes the image to a stick with the node's identity put into its EFI partition on the
way (nothing is mounted, no temporary copy is made), writes the partition tables last,
reads everything back to verify it, and ejects the stick.

Where to write:
  --drive DEV        the stick, by name or path (sdb or /dev/sdb; see zflash drives).
                     Without --drive and --target, the one eligible stick plugged in is
                     offered (you still confirm it); with several, choose one.
  --target FILE      write an image file instead (for a VM); needs no root
  --force            with --target: replace FILE if it exists

Several sticks at once (--drive A --drive B …, up to 16):
  The image is read once for all of them; each stick becomes its own node, named with
  the next free names in --host-pattern (so no --host), with the same keys, roles,
  Wi-Fi and password. You confirm by typing every drive's name. A stick that fails is
  dropped with its own error and the others finish; the end lists every stick, and the
  exit code is 0 only when all succeeded (else that of the first one that failed, 130
  when cancelled).

${identityHelp}

The roster (zflash roster list):
  Every flash is recorded in the cluster roster. Without --host the node gets the next
  free name in --host-pattern (default node-{nn}: node-01, node-02, …). A name already
  in the roster is refused for a new node.
  --reflash          re-flash a node that is in the roster, on purpose
  --host-pattern P   the naming pattern, e.g. rack-{nn} or gpu-{nnn}
  --roster FILE      the roster file (default: $ZFLASH_ROSTER, else the user's data folder)
  --no-roster        neither check nor record (also: ZFLASH_ROSTER=off)

Checks and the end:
  --sha256 HEX       the image's expected SHA-256; without it, a <image>.sha256 file
                     beside the image is used when there is one. A mismatch stops before
                     the drive is touched.
  --no-verify        skip reading the stick back (not recommended)
  --no-eject         leave the stick attached afterwards
  --require-zeta     refuse unless the image is a Zeta installer (a NixOS installer
                     without Zeta is only warned about without it: its node would
                     ignore the identity)
  -y, --yes          do not ask: erase the named --drive (for scripts)
  --json             JSON lines on stdout (progress, notices, the result or the error)

Without --yes it shows the drive and asks you to type its name. Ctrl-C cancels (exit 130);
a cancelled stick is left without a partition table, so it cannot pass for a finished one.
Loop devices are offered only when ZFLASH_ALLOW_LOOP=1 is set (tests, VM workflows).`;

export function lsblk(device: string): Promise<string> {
  return new Promise((res) => {
    execFile(
      'lsblk',
      ['-o', 'NAME,SIZE,FSTYPE,LABEL,MOUNTPOINTS', device],
      { timeout: 5000 },
      (err, out) => res(err ? '' : out),
    );
  });
}

/** `sdb` → `/dev/sdb` where drives live under /dev; paths and Windows names as given. */
export function drivePath(name: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32' || name.includes('/') || name.includes('\\')) return name;
  return `/dev/${name}`;
}

/** "SanDisk Ultra (sdb, 32.0 GB)": the model first, as people know their sticks. */
export function driveLabel(d: Pick<DriveInfo, 'device' | 'description' | 'size'>): string {
  const model = d.description.trim() || 'Unnamed drive';
  return `${model} (${basename(d.device)}, ${formatSize(d.size)})`;
}

/** With no --drive: the one eligible stick, or an error naming the candidates. */
async function pickDrive(
  imagePath: string,
  allowLoop: boolean,
): Promise<{ drive: AssessedDrive; offered: true }> {
  const drives = await scanDrives({ imagePath, allowLoop });
  const eligible = drives.filter((d) => d.verdict.status === 'eligible');
  if (eligible.length === 1 && eligible[0]) return { drive: eligible[0], offered: true };
  if (eligible.length === 0) {
    const warned = drives.filter((d) => d.verdict.status === 'warn');
    throw targetError(
      'ZFLASH_DRIVE_REFUSED',
      warned.length
        ? `No stick is plainly safe to write; ${warned.map((d) => driveLabel(d.drive)).join(', ')} needs a second look.`
        : 'No stick that Zeta Flash may write is plugged in.',
      'Plug in a stick, or name one with --drive.',
      { candidates: warned.map((d) => d.drive.device) },
    );
  }
  throw inputError(
    'ZFLASH_USAGE',
    `Several sticks could take the image: ${eligible.map((d) => driveLabel(d.drive)).join(', ')}.`,
    `Choose one with --drive, for example --drive ${basename(eligible[0]?.drive.device ?? 'sdb')}.`,
    { candidates: eligible.map((d) => d.drive.device) },
  );
}

function confirmationText(plan: FlashPlan, partitions: string, offered: boolean): string {
  const { drive, verdict, image } = plan.confirm;
  if (!drive) return '';
  return [
    offered ? `The one stick that can take the image is ${driveLabel(drive)}.` : '',
    `This will ERASE ${drive.device}: ${drive.description || 'unnamed drive'}, ${formatSize(drive.size)}, ${drive.busType}.`,
    ...(verdict?.reasons ?? []).map((r) => `  warning: ${r.message}`),
    partitions.trimEnd(),
    `Image: ${image.name} (${image.size === null ? 'size known once written' : formatSize(image.size)})${image.sha256 ? `, SHA-256 ${image.sha256Source === 'given' ? 'given' : 'from ' + image.name + '.sha256'}` : ''}; node ${plan.confirm.hostname}.`,
    '',
  ]
    .filter((l, i) => l !== '' || i > 0)
    .join('\n');
}

function ejectSentence(
  result: { ejected: boolean; device: string },
  target: FlashTarget,
  eject: boolean,
  drive: DriveInfo | null,
): string {
  // An image file, or a loop device (a test or VM target): there is nothing to unplug.
  if (target.kind === 'file' || drive?.isLoop) return '';
  if (result.ejected) return 'The stick was ejected: it is safe to remove.';
  if (!eject)
    return `${result.device} was not ejected (--no-eject): eject it before you unplug it.`;
  return `${result.device} could not be ejected: unmount or eject it before you unplug it.`;
}

export const flashCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  let early: PrestartedHelper | null = null;
  try {
    const { values, positionals } = parse(
      argv,
      {
        ...identityOptions,
        drive: { type: 'string', multiple: true },
        target: { type: 'string' },
        force: { type: 'boolean' },
        sha256: { type: 'string' },
        'no-verify': { type: 'boolean' },
        'no-eject': { type: 'boolean' },
        yes: { type: 'boolean', short: 'y' },
        reflash: { type: 'boolean' },
        'host-pattern': { type: 'string' },
        roster: { type: 'string' },
        'no-roster': { type: 'boolean' },
        'require-zeta': { type: 'boolean' },
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
      throw inputError(
        'ZFLASH_USAGE',
        positionals.length === 0
          ? 'Say which image to write.'
          : `flash writes one image, and ${positionals.length} were given (${positionals.join(', ')}).`,
        `Usage: ${USAGE}`,
      );
    if (values.drive && values.target)
      throw inputError(
        'ZFLASH_USAGE',
        'Say where to write with either --drive or --target, not both.',
        `Usage: ${USAGE}`,
      );
    if (values.force && !values.target)
      throw inputError(
        'ZFLASH_USAGE',
        '--force only applies to --target FILE (a drive is always erased after you confirm it).',
        `Usage: ${USAGE}`,
      );
    if (values.yes && !values.drive && !values.target)
      throw inputError(
        'ZFLASH_USAGE',
        '--yes needs --drive: Zeta Flash never picks the drive to erase on its own for a script.',
        'Add --drive DEV (see zflash drives).',
      );
    const imagePath = positionals[0] ?? '';
    const allowLoop = io.env['ZFLASH_ALLOW_LOOP'] === '1';
    const drives = (values.drive ?? []).map((d) => drivePath(d));
    // Already root and one named drive: start the helper now, so its start-up overlaps the
    // checks below (it waits for the job, which it then checks as always). With a password
    // prompt it is started after the confirmation instead, never before.
    if (drives.length === 1 && !values.target)
      early = await (io.earlyHelper ??
        prestartHelper(HELPER_VERB, { env: io.env }).catch(() => null));
    if (drives.length > 1) {
      // Several sticks: each is its own node, named from the pattern.
      const single = (['host', 'reflash', 'erase-disk'] as const).find((o) => values[o]);
      if (single)
        throw inputError(
          'ZFLASH_USAGE',
          `--${single} names one node, and ${drives.length} drives were given.`,
          single === 'host'
            ? 'Leave out --host: each stick gets the next free name in --host-pattern (default node-{nn}).'
            : `Flash the sticks one at a time to use --${single}.`,
        );
      const rosterPath =
        values['no-roster'] || (rosterOff(io.env) && !values.roster)
          ? null
          : resolveRosterPath(io.env, values.roster);
      const opened = rosterPath ? await openRoster(rosterPath) : null;
      const hostnames = nextFreeNames(
        opened?.roster ?? null,
        values['host-pattern'],
        drives.length,
      );
      const { identity, notices, stdinUsed } = await identityFromOptions(
        { ...values, host: hostnames[0] ?? '' },
        () => readAllStdin(io.stdin),
      );
      return await flashMany(io, {
        imagePath,
        devices: drives,
        identity,
        hostnames,
        roster: rosterPath && opened ? { path: rosterPath, roster: opened.roster } : null,
        notices: [
          ...(opened?.notices ?? []),
          {
            code: 'ZFLASH_NAME_SUGGESTED',
            message: `The ${drives.length} sticks become ${hostnames.join(', ')}${rosterPath ? ', the next free names in the roster' : ''}.`,
          },
          ...notices,
        ],
        stdinUsed,
        yes: !!values.yes,
        json,
        allowLoop,
        sha256: values.sha256 ?? null,
        verify: !values['no-verify'],
        eject: !values['no-eject'],
        requireZeta: !!values['require-zeta'],
        lsblk,
        driveLabel,
      });
    }

    // 1. The roster: the node's name (given, or the next free one) must be new unless re-flashed.
    const rosterPath =
      values['no-roster'] || (rosterOff(io.env) && !values.roster)
        ? null
        : resolveRosterPath(io.env, values.roster);
    const rosterNotices: Notice[] = [];
    if (rosterPath) {
      const { roster, notices: opened } = await openRoster(rosterPath);
      rosterNotices.push(...opened);
      if (!values.host) {
        values.host = suggestName(roster, values['host-pattern']);
        rosterNotices.push({
          code: 'ZFLASH_NAME_SUGGESTED',
          message: `No --host was given: this node will be ${values.host}, the next free name in the roster.`,
        });
      }
      checkNewName(roster, validateHostname(values.host).hostname, { reflash: !!values.reflash });
    }
    // 2. Everything else the operator typed, before anything is opened.
    const { identity, notices, stdinUsed } = await identityFromOptions(values, () =>
      readAllStdin(io.stdin),
    );
    // 3. Where to write: named, or the one eligible stick (confirmed below all the same).
    let target: FlashTarget;
    let offered = false;
    if (values.target) target = { kind: 'file', path: values.target, overwrite: !!values.force };
    else if (drives[0]) target = { kind: 'drive', device: drives[0] };
    else {
      const picked = await pickDrive(imagePath, allowLoop);
      target = { kind: 'drive', device: picked.drive.drive.device };
      offered = picked.offered;
    }
    // 4. The image, its checksum, the ESP, the drive policy or the target file.
    const plan = await prepareFlash({
      image: imagePath,
      target,
      identity,
      sha256: values.sha256 ?? null,
      verify: !values['no-verify'],
      eject: !values['no-eject'],
      allowLoop,
      requireZeta: !!values['require-zeta'],
      signal: io.signal,
    });
    printNotices(io, [...rosterNotices, ...notices, ...plan.notices], json);

    // 5. The operator confirms the drive by typing its name.
    const drive = plan.confirm.drive;
    if (drive && !values.yes) {
      const summary = confirmationText(plan, await lsblk(drive.device), offered);
      await confirmErase(io, drive.device, summary, { stdinUsed });
    }

    // 6. Write, verify, eject; then the roster remembers which stick became which node.
    const printer = createProgressPrinter(io, json);
    let result;
    try {
      result = await runFlash(plan.job, {
        signal: io.signal,
        onEvent: printer.onEvent,
        helper: { env: io.env, ...(early ? { prestarted: early } : {}) },
      });
    } finally {
      printer.stop();
    }
    if (rosterPath) {
      try {
        const recorded = await recordFlash(
          rosterPath,
          flashRecordFor(identity, {
            image: { path: plan.confirm.image.path, sha256: result.imageSha256 },
            medium: drive
              ? {
                  kind: 'drive',
                  device: drive.device,
                  model: drive.description || null,
                  serial: null,
                  size: drive.size,
                }
              : { kind: 'file', path: result.device, size: result.bytesWritten },
            flashedAt: new Date(plan.job.createdAt),
            appVersion: APP.version,
          }),
          { reflash: !!values.reflash },
        );
        printNotices(io, recorded.notices, json);
      } catch (err) {
        // The stick is finished and good; only the bookkeeping failed. Say so, do not fail.
        const e = toZflashError(err);
        printNotices(
          io,
          [
            {
              code: e.code,
              message: `The flash succeeded, but the roster ${rosterPath} was not updated: ${e.message}`,
            },
          ],
          json,
        );
      }
    }
    if (json) printJsonLine(io, { ...result, hostname: identity.hostname });
    else {
      const where = drive ? driveLabel(drive) : result.device;
      io.stdout.write(
        [
          `Flashed ${plan.confirm.image.name} to ${where} for node ${identity.hostname}: ${formatSize(result.bytesWritten)} written${result.verified ? ' and verified' : ' (not verified: --no-verify)'}.`,
          `The node files are on its EFI partition (partition ${result.esp.partition}, ${result.esp.fatType}, ${formatSize(result.esp.freeBytes)} free).`,
          ejectSentence(result, target, !values['no-eject'], drive),
          target.kind === 'file'
            ? `Boot a VM from ${result.device}; the node comes up as: ssh zeta@${identity.hostname}.local`
            : `Boot the node from it; it comes up as: ssh zeta@${identity.hostname}.local`,
        ]
          .filter(Boolean)
          .join('\n') + '\n',
      );
    }
    return 0;
  } catch (err) {
    return reportError(io, err, json);
  } finally {
    // Unused (a refusal, a cancel): it ends without having read anything.
    if (early && early.child.exitCode === null) await early.discard();
  }
};
