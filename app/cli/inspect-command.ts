/** `zflash inspect <image-or-device> [--json]` */
import { ZflashError, inputError } from '../errors.js';
import {
  checkInstallerReadsPayload,
  describeInstaller,
  installerWarning,
  requireZetaInstaller,
} from '../payload/installer.js';
import { MANIFEST_SCHEMA_VERSION } from '../payload/manifest.js';
import { inspectTarget, type TargetInfo } from '../payload/target.js';
import { APP } from '../version.js';
import { parse, wantsJson } from './args.js';
import type { Command, CliIo } from './io.js';
import type { z } from 'zod';
import type { inspectResultSchema } from '../wire.js';
import { cliHint } from './hints.js';
import { formatSize, printJsonLine, reportError } from './output.js';

const USAGE = 'zflash inspect <image-or-device> [--require-zeta] [--json]';

export const inspectHelp = `${USAGE}

Shows what the image is (a Zeta installer and the payload schemas it reads, a NixOS
installer without Zeta, or another image), the partition table, the EFI System Partition
(number, offset, size, FAT type, label, free space) and the Zeta node payload on it, if
any. Reads only; never writes. --require-zeta fails (exit 3) unless the image is a Zeta
installer that reads the node payload this Zeta Flash writes.`;

/**
 * Why a node identity written next to this image would not be used, in plain sentences.
 * `schema`: the payload schema that would be written (this Zeta Flash's, unless a test asks).
 */
export function installerWarnings(
  info: Pick<TargetInfo, 'installer'>,
  schema = MANIFEST_SCHEMA_VERSION,
): string[] {
  const warning = installerWarning(info.installer);
  if (warning) return [warning];
  try {
    checkInstallerReadsPayload(info.installer, schema, APP);
    return [];
  } catch (err) {
    if (err instanceof ZflashError) return [err.message];
    throw err;
  }
}

export function inspectJson(
  info: TargetInfo,
  schema = MANIFEST_SCHEMA_VERSION,
): z.input<typeof inspectResultSchema> & { type: 'inspect' } {
  const { esp, payload } = info;
  return {
    type: 'inspect' as const,
    target: {
      path: info.path,
      kind: info.kind,
      compression: info.compression,
      size: info.size,
      table: info.table,
    },
    partitions: info.partitions,
    installer: {
      ...info.installer,
      nixos: info.installer.kind !== 'other',
      summary: describeInstaller(info.installer),
    },
    warnings: installerWarnings(info, schema),
    esp: esp
      ? {
          partition: esp.partition,
          offset: esp.offset,
          size: esp.size,
          fatType: esp.fatType,
          label: esp.label,
          freeBytes: esp.freeBytes,
          serial: esp.serial,
          fatsIdentical: esp.fatsIdentical,
          payloadFits: esp.payloadFits,
        }
      : null,
    espProblem: info.espProblem,
    payload: payload
      ? {
          hostname: payload.hostname,
          keys: payload.keys,
          roles: payload.roles,
          manifest: payload.manifest,
          problems: payload.problems,
        }
      : null,
  };
}

function printHuman(io: CliIo, info: TargetInfo): void {
  const { esp, payload } = info;
  const table = {
    gpt: 'GPT',
    mbr: 'MBR',
    hybrid: 'MBR + GPT (isohybrid)',
    none: 'none (bare filesystem)',
  }[info.table];
  const stored =
    info.compression === 'none' ? '' : `, ${info.compression}-compressed, read through it`;
  const lines = [
    `target    ${info.path} (${info.kind === 'file' ? 'image file' : 'block device'}, ${formatSize(info.size)}${stored})`,
    `table     ${table}`,
    ...info.partitions.map(
      (p) =>
        `  ${`${p.source.toUpperCase()} ${p.number}`.padEnd(8)}type ${p.type}, at ${formatSize(p.start)}, ${formatSize(p.size)}`,
    ),
    `image     ${describeInstaller(info.installer)}`,
    ...installerWarnings(info).map((w) => `warning   ${w}`),
  ];
  if (!esp) {
    lines.push(`ESP       none: ${info.espProblem?.message ?? 'no EFI System Partition'}`);
    io.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  lines.push(
    `ESP       ${esp.source === 'whole-device' ? 'whole target' : `partition ${esp.partition} (${esp.source === 'mbr' ? 'MBR type 0xEF' : 'GPT ESP'})`}, offset ${esp.offset}, size ${formatSize(esp.size)}`,
    `          ${esp.fatType}, label ${esp.label || '(none)'}, serial ${esp.serial}, ${formatSize(esp.freeBytes)} free${esp.fatsIdentical ? '' : ', FAT copies differ'}`,
    `          ${esp.payloadFits ? 'room for a node payload' : 'NO room for a node payload (too full)'}`,
  );
  if (!payload) lines.push('payload   none (no Zeta node files on the ESP)');
  else {
    lines.push(`payload   host ${payload.hostname ?? '(unreadable)'}`);
    for (const k of payload.keys)
      lines.push(`  key     ${k.type} ${k.fingerprint}${k.comment ? ` ${k.comment}` : ''}`);
    lines.push(`  roles   ${payload.roles.length ? payload.roles.join(', ') : '(none)'}`);
    const m = payload.manifest;
    if (m) {
      lines.push(
        `  wifi    ${m.wifi ? `${m.wifi.ssid} (derived PSK stored, not the passphrase)` : '(none)'}`,
      );
      lines.push(
        `  login   ${m.passwordHash ? 'password hash set' : 'SSH key only (password login locked)'}`,
      );
      lines.push(
        `  erase   ${m.erase.policy === 'any' ? 'any (the chosen disk is erased even if it holds data)' : 'blank-only (a disk holding data stops the installer)'}${m.erase.disk ? `, disk ${m.erase.disk}` : ''}${m.schema === 1 ? ' [schema 1: implied]' : ''}`,
      );
      lines.push(`  made    ${m.createdAt} by ${m.app.name} ${m.app.version}`);
    }
    for (const p of payload.problems) lines.push(`  problem ${p}`);
  }
  io.stdout.write(`${lines.join('\n')}\n`);
}

export const inspectCommand: Command = async (argv, io) => {
  const json = wantsJson(argv);
  try {
    const { values, positionals } = parse(
      argv,
      {
        json: { type: 'boolean' },
        'require-zeta': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      USAGE,
    );
    if (values.help) {
      io.stdout.write(`${inspectHelp}\n`);
      return 0;
    }
    if (positionals.length !== 1) {
      throw inputError(
        'ZFLASH_USAGE',
        'inspect takes exactly one image file or device.',
        `Usage: ${USAGE}`,
      );
    }
    const info = await inspectTarget(positionals[0] ?? '');
    if (values['require-zeta']) {
      requireZetaInstaller(info.installer);
      checkInstallerReadsPayload(info.installer, MANIFEST_SCHEMA_VERSION, APP);
    }
    if (json) printJsonLine(io, inspectJson(info));
    else printHuman(io, info);
    // The tables were shown; that no identity can go there is still a refusal (exit 3).
    if (info.espProblem) {
      const problem = { ...info.espProblem, hint: cliHint(info.espProblem) };
      if (json) printJsonLine(io, { type: 'error', error: problem });
      else io.stderr.write(`hint: ${problem.hint}\ncode: ${problem.code}\n`);
      return problem.exitCode;
    }
    return 0;
  } catch (err) {
    return reportError(io, err, json);
  }
};
