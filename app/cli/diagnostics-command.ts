/**
 * `zflash diagnostics [--error FILE|-] [--image PATH] [--drive DEV] [--json] [--no-qr]` — the
 * desktop app's photo-friendly diagnostics screen, printed: the error code and sentence, the
 * facts that explain it, what to do next, and the same facts as a QR code a phone decodes.
 *
 * The error comes from a `zflash … --json` run (its `{"type":"error"}` line), so a failed
 * flash in a script can be turned into the screen a person photographs:
 *   zflash flash … --json > run.jsonl; zflash diagnostics --error run.jsonl --drive sdb
 */
import { readFile } from 'node:fs/promises';
import { arch, release } from 'node:os';
import { scanDrives } from '../drives/index.js';
import { listPartitions } from '../diagnostics/partitions.js';
import { qrTerminal } from '../diagnostics/qr.js';
import {
  compactDiagnosticsJson,
  MAX_TERMINAL_QR_BYTES,
  renderDiagnosticsText,
} from '../diagnostics/render.js';
import { buildDiagnostics, type DiagnosticsContext } from '../diagnostics/snapshot.js';
import { inputError, toZflashError, type ZflashErrorJson } from '../errors.js';
import { errorJsonSchema } from '../flash/events.js';
import { getImageInfo } from '../flash/image-info.js';
import { APP } from '../version.js';
import { parse, wantsJson } from './args.js';
import { drivePath } from './flash-command.js';
import { readAllStdin } from './identity-options.js';
import type { Command } from './io.js';
import { printJsonLine, reportError } from './output.js';

const USAGE = 'zflash diagnostics [--error FILE|-] [--image PATH] [--drive DEV] [--json] [--no-qr]';

export const diagnosticsHelp = `${USAGE}

Prints the diagnostics screen of the desktop app: the error code and its sentence
first, then the facts that explain it (image, drive and its partitions, app and OS
versions), then what to do next, and a QR code holding the same facts as compact
JSON. Nothing secret is shown: keys appear by fingerprint, never a PSK or a hash.

  --error FILE   the output of a \`zflash … --json\` run (or - for standard input);
                 its last {"type":"error"} line is the error explained
  --image PATH   describe this image (format, size, installer, EFI partition)
  --drive DEV    describe this drive (verdict, partitions, mount points)
  --no-qr        leave out the QR code
  --json         one {"type":"diagnostics"} line: the full snapshot`;

/** The last error in JSON-lines output (or a bare error object), or null. */
export function lastErrorIn(text: string): ZflashErrorJson | null {
  let found: ZflashErrorJson | null = null;
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as { type?: unknown; error?: unknown };
      const candidate = value.type === 'error' ? value.error : value;
      const parsed = errorJsonSchema.safeParse(candidate);
      if (parsed.success) found = parsed.data;
    } catch {
      // not JSON: ignore, as for any other line a program printed around the JSON
    }
  }
  return found;
}

export const diagnosticsCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  try {
    const { values } = parse(
      argv,
      {
        error: { type: 'string' },
        image: { type: 'string' },
        drive: { type: 'string' },
        'no-qr': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      USAGE,
      false,
    );
    if (values.help) {
      io.stdout.write(`${diagnosticsHelp}\n`);
      return 0;
    }

    let error: unknown = null;
    if (values.error !== undefined) {
      const text =
        values.error === '-'
          ? (await readAllStdin(io.stdin)).toString('utf8')
          : await readFile(values.error, 'utf8').catch((err: unknown) => {
              throw inputError(
                'ZFLASH_USAGE',
                `The file ${values.error} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
                'Give the file a `zflash … --json` run wrote, or - to read standard input.',
              );
            });
      error = lastErrorIn(text);
      if (!error) {
        throw inputError(
          'ZFLASH_USAGE',
          `${values.error === '-' ? 'Standard input' : values.error} holds no {"type":"error"} line.`,
          'Give the output of a `zflash … --json` run that failed.',
        );
      }
    }

    let image: DiagnosticsContext['image'] = null;
    if (values.image) {
      try {
        image = await getImageInfo(values.image, { signal: io.signal });
      } catch (err) {
        image = { path: values.image };
        // Explaining why the image cannot be used is the point when nothing else failed.
        error ??= toZflashError(err);
      }
    }

    let drive: DiagnosticsContext['drive'] = null;
    let partitions: DiagnosticsContext['partitions'] = null;
    if (values.drive) {
      const device = drivePath(values.drive);
      const drives = await scanDrives({
        allowLoop: io.env['ZFLASH_ALLOW_LOOP'] === '1',
        ...(image && 'esp' in image ? { imagePath: image.path, imageSize: image.size } : {}),
      });
      drive = drives.find((d) => d.drive.device === device) ?? null;
      if (!drive) {
        throw inputError(
          'ZFLASH_USAGE',
          `${device} is not among the drives Zeta Flash lists.`,
          'Run zflash drives to see the drive names.',
        );
      }
      partitions = await listPartitions(device);
    }

    const snapshot = buildDiagnostics({
      now: new Date(),
      app: APP,
      runtime: `node ${process.versions.node}`,
      os: { platform: process.platform, release: release(), arch: arch() },
      error,
      image,
      drive,
      partitions,
    });
    if (json) {
      printJsonLine(io, { type: 'diagnostics', ...snapshot });
      return 0;
    }
    io.stdout.write(renderDiagnosticsText(snapshot));
    if (!values['no-qr'])
      io.stdout.write(
        `\n${await qrTerminal(compactDiagnosticsJson(snapshot, MAX_TERMINAL_QR_BYTES))}`,
      );
    return 0;
  } catch (err) {
    return reportError(io, err, json);
  }
};
