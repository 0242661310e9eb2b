/**
 * `zflash flash <image> --drive A --drive B … [--host-pattern P]`: several sticks from one
 * image in one privileged run, each its own node (the next free names in the roster). A thin
 * layer over prepareFlashMany/runFlashMany: it names the nodes, confirms every drive, prints
 * progress per stick, one line per stick at the end, and records each stick that succeeded.
 */
import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import { toZflashError, ZflashError, type ZflashErrorJson } from '../errors.js';
import type { FlashEvent } from '../flash/events.js';
import {
  prepareFlashMany,
  runFlashMany,
  type FlashManyOutcome,
  type FlashManyPlan,
  type ManyEventHandler,
} from '../api/plan.js';
import { idleSession, reduce, type FlashSession } from '../flash/session.js';
import { formatSize } from '../format.js';
import { validateHostname, type NodeIdentity, type Notice } from '../node/index.js';
import {
  checkNewName,
  DEFAULT_NAME_PATTERN,
  formatName,
  numberIn,
  parseNamePattern,
} from '../roster/names.js';
import { flashRecordFor } from '../roster/record.js';
import { recordFlash } from '../roster/store.js';
import type { Roster } from '../roster/schema.js';
import { APP } from '../version.js';
import { confirmEraseAll } from './confirm.js';
import { cliHint } from './hints.js';
import type { CliIo } from './io.js';
import { printJsonLine, printNotices } from './output.js';
import { describeProgress } from './progress-printer.js';

/**
 * The next `count` free names in `pattern`: the lowest numbers no roster node has (whatever
 * its padding), in order. Without a roster (`--no-roster`) they start at 1.
 */
export function nextFreeNames(
  roster: Roster | null,
  pattern: string | undefined,
  count: number,
): string[] {
  const p = parseNamePattern(pattern ?? DEFAULT_NAME_PATTERN);
  const taken = new Set(
    (roster?.nodes ?? [])
      .map((n) => numberIn(p, n.hostname))
      .filter((x): x is number => x !== null),
  );
  const names: string[] = [];
  for (let n = 1; names.length < count; n++) if (!taken.has(n)) names.push(formatName(p, n));
  return names;
}

/** "node-01 sdb": how a stick is named on its progress line and in its end line. */
const stickLabel = (hostname: string, device: string) => `${hostname} ${basename(device)}`;

/** What the operator confirms: every drive that will be erased, and the node it becomes. */
export function manyConfirmationText(plan: FlashManyPlan, partitions: readonly string[]): string {
  const { image, drives } = plan.confirm;
  const lines = [`This will ERASE ${drives.length} drives, each becoming its own node:`];
  drives.forEach((d, i) => {
    lines.push(
      `  ${d.drive.device}: ${d.drive.description || 'unnamed drive'}, ${formatSize(d.drive.size)}, ${d.drive.busType}  →  ${d.hostname}`,
    );
    for (const r of d.verdict.reasons) lines.push(`    warning: ${r.message}`);
    for (const l of (partitions[i] ?? '').trimEnd().split('\n').filter(Boolean))
      lines.push(`    ${l}`);
  });
  lines.push(
    `Image: ${image.name} (${image.size === null ? 'size known once written' : formatSize(image.size)})${image.sha256 ? `, SHA-256 ${image.sha256Source === 'given' ? 'given' : 'from ' + image.name + '.sha256'}` : ''}; read once for all ${drives.length} sticks.`,
    '',
  );
  return lines.join('\n');
}

export interface ManyProgressPrinter {
  readonly onEvent: ManyEventHandler;
  readonly stop: () => void;
}

/**
 * Progress per stick, folded through the session reducer per drive (the numbers the desktop
 * app shows): a bar per stick on a terminal; a line per stick per phase and 10 % into a log;
 * with --json every event as a JSON line, a stick's carrying its `device`.
 */
export function createManyProgressPrinter(
  io: CliIo,
  json: boolean,
  sticks: readonly { readonly device: string; readonly hostname: string }[],
): ManyProgressPrinter {
  const sessions = new Map<string, FlashSession>(sticks.map((s) => [s.device, idleSession]));
  const labels = new Map(sticks.map((s) => [s.device, stickLabel(s.hostname, s.device)]));
  const width = Math.max(...[...labels.values()].map((l) => l.length));
  const fold = (device: string, e: FlashEvent) => {
    const s = reduce(sessions.get(device) ?? idleSession, e);
    sessions.set(device, s);
    return s;
  };
  const each = (device: string | null, f: (d: string) => void) => {
    if (device !== null) f(device);
    else for (const s of sticks) f(s.device);
  };

  if (json) {
    return {
      // The end of each stick (result or error) is printed once, at the end, with its hostname.
      onEvent: (_device, e) => {
        if (e.type !== 'result' && e.type !== 'error') printJsonLine(io, e);
      },
      stop: () => undefined,
    };
  }
  if (!io.stderr.isTTY) {
    const last = new Map<string, string>();
    return {
      onEvent: (device, e) => {
        if (e.type !== 'progress') return;
        // About the image (the checksum pass): once, not once per stick.
        const label = device === null ? 'image' : (labels.get(device) ?? device);
        const s = device === null ? reduce(idleSession, e) : fold(device, e as FlashEvent);
        if (s.status !== 'running') return;
        const p = s.progress;
        if (p.phase === 'finishing' || (p.phase === 'preparing' && p.total === null)) return;
        const step = p.percent === null ? Math.floor(p.bytes / 256e6) : Math.floor(p.percent / 10);
        const key = `${p.phase}:${step}`;
        if (last.get(label) === key) return;
        last.set(label, key);
        const d = describeProgress(p);
        io.stderr.write(
          `${[`${label.padEnd(width)}:`, d.phase.trim(), d.percent.trim(), d.amount, d.speed].filter(Boolean).join('  ')}\n`,
        );
      },
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream: io.stderr,
      format: '{label} {phase} |{bar}| {pct} {amount}  {speed}  {left}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    onEvent: (device, e) =>
      each(device, (d) => {
        const s = fold(d, e);
        if (s.status === 'idle') return;
        const p = s.progress;
        const desc = describeProgress(p);
        const payload = {
          label: (labels.get(d) ?? d).padEnd(width),
          phase:
            s.status === 'running' ? desc.phase : s.status === 'done' ? 'done     ' : 'FAILED   ',
          pct: desc.percent,
          amount: desc.amount,
          speed: s.status === 'running' ? desc.speed : '',
          left: s.status === 'running' ? desc.eta : '',
        };
        const total = p.total ?? Math.max(p.bytes, 1);
        let bar = bars.get(d);
        if (!bar) {
          bar = multi.create(total, p.bytes, payload);
          bars.set(d, bar);
        }
        bar.setTotal(total);
        bar.update(p.bytes, payload);
      }),
    stop: () => multi.stop(),
  };
}

const errorOf = (e: ZflashErrorJson) =>
  new ZflashError(e.kind, e.code, e.message, e.hint, e.details ? { ...e.details } : undefined);

export interface FlashManyArgs {
  readonly imagePath: string;
  readonly devices: readonly string[];
  /** The identity every stick shares; each gets its own hostname. */
  readonly identity: NodeIdentity;
  readonly hostnames: readonly string[];
  readonly roster: { readonly path: string; readonly roster: Roster } | null;
  readonly notices: readonly Notice[];
  readonly stdinUsed: boolean;
  readonly yes: boolean;
  readonly json: boolean;
  readonly allowLoop: boolean;
  readonly sha256: string | null;
  readonly verify: boolean;
  readonly eject: boolean;
  readonly requireZeta: boolean;
  readonly lsblk: (device: string) => Promise<string>;
  readonly driveLabel: (d: FlashManyPlan['confirm']['drives'][number]['drive']) => string;
}

/** Runs a many-drive flash and returns the exit code (errors of the whole job are thrown). */
export async function flashMany(io: CliIo, a: FlashManyArgs): Promise<number> {
  // Each name is new in the roster (they are the next free ones; checked all the same).
  if (a.roster) for (const h of a.hostnames) checkNewName(a.roster.roster, h);
  const plan = await prepareFlashMany({
    image: a.imagePath,
    drives: a.devices.map((device, i) => ({
      device,
      identity: { ...a.identity, hostname: validateHostname(a.hostnames[i] ?? '').hostname },
    })),
    sha256: a.sha256,
    verify: a.verify,
    eject: a.eject,
    allowLoop: a.allowLoop,
    requireZeta: a.requireZeta,
    signal: io.signal,
  });
  printNotices(io, [...a.notices, ...plan.notices], a.json);

  if (!a.yes) {
    const parts = await Promise.all(plan.confirm.drives.map((d) => a.lsblk(d.drive.device)));
    await confirmEraseAll(
      io,
      plan.confirm.drives.map((d) => d.drive.device),
      manyConfirmationText(plan, parts),
      { stdinUsed: a.stdinUsed },
    );
  }

  const printer = createManyProgressPrinter(io, a.json, plan.confirm.drives);
  let result;
  try {
    result = await runFlashMany(plan.job, {
      signal: io.signal,
      onEvent: printer.onEvent,
      helper: { env: io.env },
    });
  } finally {
    printer.stop();
  }

  // The roster remembers each stick that became a node; a failed one is not recorded.
  const confirmOf = new Map(plan.confirm.drives.map((d) => [d.device, d]));
  if (a.roster) {
    for (const o of result.drives) {
      if (!o.ok) continue;
      const c = confirmOf.get(o.device);
      try {
        const recorded = await recordFlash(
          a.roster.path,
          flashRecordFor(
            { ...a.identity, hostname: o.hostname },
            {
              image: { path: plan.confirm.image.path, sha256: o.result.imageSha256 },
              medium: {
                kind: 'drive',
                device: o.device,
                model: c?.drive.description || null,
                serial: null,
                size: c?.drive.size ?? null,
              },
              flashedAt: new Date(plan.job.createdAt),
              appVersion: APP.version,
            },
          ),
        );
        printNotices(io, recorded.notices, a.json);
      } catch (err) {
        const e = toZflashError(err);
        printNotices(
          io,
          [
            {
              code: e.code,
              message: `${o.hostname} was flashed, but the roster ${a.roster.path} was not updated: ${e.message}`,
            },
          ],
          a.json,
        );
      }
    }
  }

  if (a.json) {
    for (const o of result.drives) {
      if (o.ok) printJsonLine(io, { ...o.result, hostname: o.hostname });
      else
        printJsonLine(io, {
          type: 'error',
          device: o.device,
          hostname: o.hostname,
          error: { ...o.error, hint: cliHint(o.error) },
        });
    }
    return result.exitCode;
  }
  const width = Math.max(...result.drives.map((o) => o.hostname.length));
  const line = (o: FlashManyOutcome): string[] => {
    const c = confirmOf.get(o.device);
    const where = c ? a.driveLabel(c.drive) : o.device;
    const name = o.hostname.padEnd(width);
    if (!o.ok) {
      const e = errorOf(o.error);
      return [
        `  FAILED  ${name}  ${where}: ${e.message}`,
        `          ${' '.repeat(width)}  hint: ${cliHint(o.error)} (code: ${e.code})`,
      ];
    }
    const r = o.result;
    const eject = c?.drive.isLoop
      ? ''
      : r.ejected
        ? '; ejected'
        : a.eject
          ? '; not ejected: eject it before you unplug it'
          : ' (--no-eject)';
    return [
      `  ok      ${name}  ${where}: ${formatSize(r.bytesWritten)} written${r.verified ? ' and verified' : ' (not verified: --no-verify)'}${eject}`,
    ];
  };
  const ok = result.drives.filter((o) => o.ok);
  const read =
    result.imageBytesRead === null
      ? ''
      : ` (the image read once: ${formatSize(result.imageBytesRead)} for all of them)`;
  io.stdout.write(
    [
      `${plan.confirm.image.name} to ${result.drives.length} sticks${read}:`,
      ...result.drives.flatMap(line),
      ok.length === result.drives.length
        ? `All ${ok.length} sticks are ready.`
        : `${ok.length} of ${result.drives.length} sticks are ready; do not use a failed one as it is.`,
      ok.length
        ? `Boot each node from its stick; it comes up as ssh zeta@<name>.local (${ok.map((o) => o.hostname).join(', ')}).`
        : '',
    ]
      .filter(Boolean)
      .join('\n') + '\n',
  );
  return result.exitCode;
}
