/** `zflash drives [--json] [--watch] [--image PATH]`: every drive with its safety verdict. */
import {
  formatDriveSize,
  readSystemContext,
  scanDrives,
  watchDrives,
  type AssessedDrive,
  type DriveEvent,
  type ScanOptions,
} from '../drives/index.js';
import { assertNever, type ZflashErrorJson } from '../errors.js';
import { parse, wantsJson } from './args.js';
import type { CliIo, Command } from './io.js';
import { printJsonLine, reportError } from './output.js';

const USAGE = 'zflash drives [--json] [--watch] [--image PATH]';

export const drivesHelp = `${USAGE}

Lists the drives attached to this computer with Zeta Flash's verdict for each:
eligible, warn (check it is the drive you mean) or refused, and the reasons.

  --image PATH  judge against this image too (too small? stored on the drive?)
  --watch       keep running and report drives as they are plugged in or removed;
                stop with Ctrl-C
  --json        JSON lines: one {"type":"drive"} object per drive; with --watch,
                one object per event (attach, detach, change, scan-error)

Loop devices are listed only when ZFLASH_ALLOW_LOOP=1 is set (tests, VM workflows).`;

/** What the command scans with; tests inject recorded drivelist outputs here. */
export interface DrivesCommandDeps extends Pick<
  ScanOptions,
  'list' | 'listLoops' | 'readContext' | 'platform' | 'appPaths'
> {
  readonly intervalMs?: number;
}

function sizeText(bytes: number | null): string {
  const text = formatDriveSize(bytes);
  return text === 'unknown size' ? 'unknown' : text;
}

function row(a: AssessedDrive): readonly string[] {
  const d = a.drive;
  return [
    d.device,
    sizeText(d.size),
    d.busType,
    d.description || '-',
    d.mountpoints.length ? d.mountpoints.join(', ') : '-',
    a.verdict.status,
  ];
}

function reasonLines(a: AssessedDrive): string[] {
  return a.verdict.reasons.map((r) => `    ${r.severity}: ${r.message} [${r.code}]`);
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export function formatDriveTable(drives: readonly AssessedDrive[]): string {
  if (drives.length === 0) return 'No drives found.\n';
  const header = ['DEVICE', 'SIZE', 'BUS', 'DESCRIPTION', 'MOUNTPOINTS', 'VERDICT'];
  const [head, ...lines] = table([header, ...drives.map(row)]);
  const out = [head ?? ''];
  drives.forEach((a, i) => out.push(lines[i] ?? '', ...reasonLines(a)));
  return `${out.join('\n')}\n`;
}

export function driveJson(a: AssessedDrive) {
  return { drive: a.drive, verdict: a.verdict };
}

/** One line of `zflash drives --json`. */
export function driveLine(a: AssessedDrive) {
  return { type: 'drive' as const, ...driveJson(a) };
}

export function eventJson(e: DriveEvent) {
  switch (e.type) {
    case 'attach':
    case 'detach':
      return { type: e.type, ...driveJson(e.drive) };
    case 'change':
      return { type: e.type, ...driveJson(e.drive), previous: driveJson(e.previous) };
    case 'scan-error':
      return { type: e.type, error: e.error };
    default:
      return assertNever(e, 'drive event');
  }
}

function scanErrorText(error: ZflashErrorJson): string {
  return `warning: ${error.message}\nhint: ${error.hint}\ncode: ${error.code}\n`;
}

function printEvent(io: CliIo, e: DriveEvent): void {
  const mark = { attach: '+', detach: '-', change: '~' } as const;
  switch (e.type) {
    case 'attach':
    case 'detach':
    case 'change': {
      const line = `${mark[e.type]} ${e.type.padEnd(6)}  ${row(e.drive).join('  ')}`;
      const reasons = e.type === 'detach' ? [] : reasonLines(e.drive);
      io.stdout.write(`${[line, ...reasons].join('\n')}\n`);
      return;
    }
    case 'scan-error':
      io.stderr.write(scanErrorText(e.error));
      return;
    default:
      assertNever(e, 'drive event');
  }
}

export function createDrivesCommand(deps: DrivesCommandDeps = {}): Command {
  return async (argv, io) => {
    const json = wantsJson(argv);
    try {
      const { values } = parse(
        argv,
        {
          json: { type: 'boolean' },
          watch: { type: 'boolean' },
          image: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
        USAGE,
        false,
      );
      if (values.help) {
        io.stdout.write(`${drivesHelp}\n`);
        return 0;
      }
      const { intervalMs, ...scanDeps } = deps;
      const opts: ScanOptions = {
        ...scanDeps,
        allowLoop: io.env['ZFLASH_ALLOW_LOOP'] === '1',
        imagePath: values.image ?? null,
      };

      if (!values.watch) {
        const drives = await scanDrives(opts);
        if (json) for (const d of drives) printJsonLine(io, driveLine(d));
        else io.stdout.write(formatDriveTable(drives));
        return 0;
      }

      // A wrong --image is the operator's mistake: report it now (exit 2), not as a
      // scan-error repeated by the watch.
      await (opts.readContext ?? readSystemContext)(opts);
      if (!json) io.stdout.write('Watching for drives (Ctrl-C to stop)…\n');
      await watchDrives({
        ...opts,
        ...(intervalMs !== undefined ? { intervalMs } : {}),
        signal: io.signal,
        onEvent: (e) => (json ? printJsonLine(io, eventJson(e)) : printEvent(io, e)),
      });
      // Ending a watch is how it is meant to stop, not a cancelled write: exit 0.
      return 0;
    } catch (err) {
      return reportError(io, err, json);
    }
  };
}

export const drivesCommand: Command = createDrivesCommand();
