/** `zflash inject <image-or-device> --host NAME --ssh-key FILE ... [--json]` */
import { inputError } from '../errors.js';
import { installerWarning } from '../payload/installer.js';
import { injectTarget } from '../payload/target.js';
import { parse, wantsJson } from './args.js';
import {
  identityFromOptions,
  identityHelp,
  identityOptions,
  identityUsage,
  readAllStdin,
} from './identity-options.js';
import type { Command } from './io.js';
import { formatSize, printJsonLine, printNotices, reportError } from './output.js';

const USAGE = `zflash inject <image-or-device> ${identityUsage} [--require-zeta] [--json]`;

export const injectHelp = `Usage: ${USAGE}

Writes the node's identity (SSH public keys, hostname, roles, Wi-Fi as a derived PSK,
password hash) into the EFI System Partition of an image file or an already-flashed
stick, in place, without mounting. Re-injecting replaces the node files and nothing else.
Secrets are read from files (--wifi-pass-file, --password-file) so they never appear in
the process list; only derived forms reach the stick. A stick (a block device) is checked
by the same drive policy as zflash flash.

${identityHelp}

  --require-zeta         refuse unless the target is a Zeta installer that reads the
                         node files this Zeta Flash writes (a NixOS installer without
                         Zeta is warned about, not refused, without it)
  --json                 JSON lines on stdout (notices, then the result or the error)`;

export const injectCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  try {
    const { values, positionals } = parse(
      argv,
      {
        ...identityOptions,
        'require-zeta': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      USAGE,
    );
    if (values.help) {
      io.stdout.write(`${injectHelp}\n`);
      return 0;
    }
    if (positionals.length !== 1) {
      throw inputError(
        'ZFLASH_USAGE',
        'inject takes exactly one image file or device.',
        `Usage: ${USAGE}`,
      );
    }
    // All input is validated before the target is even opened.
    const { identity, notices } = await identityFromOptions(values, () => readAllStdin(io.stdin));
    const target = positionals[0] ?? '';
    // On a block device the engine runs the drive policy itself, right before opening it.
    const result = await injectTarget(target, identity, {
      allowLoop: io.env['ZFLASH_ALLOW_LOOP'] === '1',
      requireZeta: !!values['require-zeta'],
    });
    const warning = installerWarning(result.installer);
    printNotices(
      io,
      [...notices, ...(warning ? [{ code: 'ZFLASH_IMAGE_NOT_ZETA', message: warning }] : [])],
      json,
    );
    if (json) {
      printJsonLine(io, {
        type: 'inject',
        target: { path: result.path, kind: result.kind },
        hostname: identity.hostname,
        keys: identity.keys.map((k) => ({
          type: k.type,
          fingerprint: k.fingerprint,
          comment: k.comment,
        })),
        roles: identity.roles,
        files: result.files,
        esp: {
          partition: result.esp.partition,
          offset: result.esp.offset,
          fatType: result.esp.fatType,
          freeBytes: result.esp.freeBytes,
        },
      });
    } else {
      io.stdout.write(
        [
          `Injected node ${identity.hostname} into ${result.path} (ESP partition ${result.esp.partition}, ${result.esp.fatType}).`,
          ...identity.keys.map(
            (k) => `  key   ${k.type} ${k.fingerprint}${k.comment ? ` ${k.comment}` : ''}`,
          ),
          `  files ${result.files.map((f) => f.name).join(', ')}`,
          `  ESP free space left: ${formatSize(result.esp.freeBytes)}`,
          `The node will come up as: ssh zeta@${identity.hostname}.local`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  } catch (err) {
    return reportError(io, err, json);
  }
};
