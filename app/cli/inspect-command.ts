/** `zflash inspect <image-or-device> [--json]` */
import { inputError } from '../errors.js';
import { inspectTarget, type TargetInfo } from '../payload/target.js';
import { parse, wantsJson } from './args.js';
import type { Command, CliIo } from './io.js';
import { formatBytes, printJson, reportError } from './output.js';

const USAGE = 'zflash inspect <image-or-device> [--json]';

export const inspectHelp = `${USAGE}

Shows the partition table, the EFI System Partition (number, offset, size, FAT type,
label, free space) and the Zeta node payload on it, if any. Reads only; never writes.`;

export function inspectJson(info: TargetInfo) {
  const { esp, payload } = info;
  return {
    target: { path: info.path, kind: info.kind, size: info.size, table: info.table },
    installer: info.installer,
    esp: {
      partition: esp.partition,
      offset: esp.offset,
      size: esp.size,
      fatType: esp.fatType,
      label: esp.label,
      freeBytes: esp.freeBytes,
      serial: esp.serial,
      fatsIdentical: esp.fatsIdentical,
      payloadFits: esp.payloadFits,
    },
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
  const lines = [
    `target    ${info.path} (${info.kind === 'file' ? 'image file' : 'block device'}, ${formatBytes(info.size)})`,
    `table     ${table}`,
    `image     ${info.installer.nixos ? `NixOS installer (${info.installer.volumeLabel})` : info.installer.volumeLabel ? `ISO "${info.installer.volumeLabel}" (not a NixOS installer label)` : 'not an ISO image'}`,
    `ESP       ${esp.source === 'whole-device' ? 'whole target' : `partition ${esp.partition} (${esp.source === 'mbr' ? 'MBR type 0xEF' : 'GPT ESP'})`}, offset ${esp.offset}, size ${formatBytes(esp.size)}`,
    `          ${esp.fatType}, label ${esp.label || '(none)'}, serial ${esp.serial}, ${formatBytes(esp.freeBytes)} free${esp.fatsIdentical ? '' : ', FAT copies differ'}`,
    `          ${esp.payloadFits ? 'room for a node payload' : 'NO room for a node payload (too full)'}`,
  ];
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
      { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
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
    if (json) printJson(io, inspectJson(info));
    else printHuman(io, info);
    return 0;
  } catch (err) {
    return reportError(io, err, json);
  }
};
