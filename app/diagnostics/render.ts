/**
 * Two renderings of one snapshot. The text is made to be photographed by a phone: under 40
 * lines, at most 72 columns so a large monospace font still fits, the error code and sentence
 * first, then the few facts that explain it, then what to do next — starting with
 * "Photograph this screen", as the Zeta seed's failure blocks did. The compact JSON is what
 * the QR code carries: the same facts, shortened until it fits a code a phone reads from a
 * screen photo, in ASCII only (non-ASCII is \u-escaped) so every QR reader decodes it alike.
 */
import { formatSize } from '../format.js';
import type { DiagnosticsSnapshot } from './snapshot.js';

export const TEXT_WIDTH = 72;
export const MAX_TEXT_LINES = 39;
/**
 * The QR payload budget. 1200 bytes at error correction M is a version-27 code (125 modules):
 * a phone reads it from a photo of a laptop screen; much denser codes start to fail.
 */
export const MAX_QR_BYTES = 1200;
/** For a terminal's 80 columns: a version-15 code at level L holds 520 bytes (./qr.ts). */
export const MAX_TERMINAL_QR_BYTES = 500;

const RULE = '-'.repeat(TEXT_WIDTH);
const LABEL = 7;

/** Word-wraps `text` to `width`, hard-breaking words longer than a line. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (let word of para.split(/\s+/).filter(Boolean)) {
      while (word.length > width) {
        if (line) lines.push(line);
        line = '';
        lines.push(word.slice(0, width));
        word = word.slice(width);
      }
      if (!line) line = word;
      else if (line.length + 1 + word.length <= width) line += ` ${word}`;
      else {
        lines.push(line);
        line = word;
      }
    }
    lines.push(line);
  }
  return lines;
}

function clip(lines: string[], max: number): string[] {
  if (lines.length <= max) return lines;
  const kept = lines.slice(0, max);
  kept[max - 1] = `${(kept[max - 1] ?? '').slice(0, TEXT_WIDTH - 1)}…`;
  return kept;
}

/** A labelled section: `IMAGE  first line`, continuation lines indented under it. */
function section(label: string, parts: readonly string[], maxLines = 4): string[] {
  const body = parts
    .filter(Boolean)
    .flatMap((p) => wrap(p, TEXT_WIDTH - LABEL))
    .filter(Boolean);
  return clip(body, maxLines).map(
    (l, i) => `${i === 0 ? label.padEnd(LABEL) : ' '.repeat(LABEL)}${l}`,
  );
}

const bytes = (n: number) => n.toLocaleString('en-US');
const short = (hex: string) => `${hex.slice(0, 16)}…`;

function imageLines(i: NonNullable<DiagnosticsSnapshot['image']>): string[] {
  const head = [
    i.name,
    i.size !== null ? formatSize(i.size) : null,
    i.format ? (i.format === 'none' ? 'uncompressed' : i.format) : null,
    i.installer,
  ]
    .filter(Boolean)
    .join(' · ');
  return section('IMAGE', [
    head,
    i.esp
      ? `ESP p${i.esp.part} ${i.esp.fat} at byte ${bytes(i.esp.offset)}, ${formatSize(i.esp.free)} free, ${i.esp.fits ? 'node files fit' : 'NO ROOM for node files'}`
      : '',
    i.sha256 ? `SHA-256 ${short(i.sha256)} (${i.sha256From ?? 'given'})` : '',
  ]);
}

function driveLines(d: NonNullable<DiagnosticsSnapshot['drive']>): string[] {
  const head = [
    d.device,
    d.model || 'unnamed drive',
    formatSize(d.size),
    d.bus,
    d.removable ? 'removable' : 'fixed',
    d.readOnly ? 'READ-ONLY' : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const reasons = d.reasons.map((r) => `${r.code}: ${r.message}`);
  return section(
    'DRIVE',
    [
      head,
      `verdict ${d.verdict}${reasons.length ? `: ${reasons.slice(0, 2).join('; ')}` : ''}`,
      d.partitions && d.partitions.length
        ? `partitions ${d.partitions.map((p) => `${p.name} ${formatSize(p.size)} at ${bytes(p.start)}`).join(', ')}`
        : d.partitions
          ? 'no partitions'
          : '',
      d.mounts.length ? `mounted at ${d.mounts.join(', ')}` : '',
    ],
    5,
  );
}

function flashLines(f: NonNullable<DiagnosticsSnapshot['flash']>): string[] {
  if (f.status === 'idle' || f.phase === null) return section('FLASH', ['not started']);
  const where =
    f.bytes === null
      ? ''
      : ` at byte ${bytes(f.bytes)}${f.total !== null ? ` of ${bytes(f.total)}` : ''}${f.percent !== null ? ` (${f.percent} %)` : ''}`;
  const verb = { running: 'running', done: 'finished', failed: 'failed', cancelled: 'cancelled' }[
    f.status
  ];
  return section('FLASH', [
    `${verb ?? f.status} in ${f.phase} (step ${(f.step ?? 0) + 1} of 4)${where}`,
    f.log.length ? `helper said: ${f.log.at(-1)}` : '',
  ]);
}

function nodeLines(n: NonNullable<DiagnosticsSnapshot['node']>): string[] {
  const keys = n.keys.map((k) => `${k.slice(0, 19)}…`);
  return section('NODE', [
    `${n.hostname}${n.roles.length ? ` · ${n.roles.join(', ')}` : ''}`,
    `${n.keys.length} key${n.keys.length === 1 ? '' : 's'}: ${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', …' : ''}`,
    `${n.wifi !== null ? `Wi-Fi "${n.wifi}" (key not shown)` : 'no Wi-Fi'} · ${n.password ? 'password set (hash not shown)' : 'no password'}`,
  ]);
}

/** The photo-friendly screen, as plain text (the app shows it large, the CLI prints it). */
export function renderDiagnosticsText(s: DiagnosticsSnapshot): string {
  const when = `${s.at.slice(0, 16).replace('T', ' ')} UTC`;
  const lines: string[] = [`ZETA FLASH DIAGNOSTICS · ${when}`];
  if (s.error) {
    lines.push(`${s.error.code} (${s.error.kind})`);
    lines.push(...clip(wrap(s.error.message, TEXT_WIDTH), 4));
  } else {
    lines.push('No error. These are the facts as they are now.');
  }
  lines.push(RULE);
  if (s.image) lines.push(...imageLines(s.image));
  if (s.drive) lines.push(...driveLines(s.drive));
  if (s.flash) lines.push(...flashLines(s.flash));
  if (s.node) lines.push(...nodeLines(s.node));
  lines.push(...section('APP', [`${s.app} · ${s.runtime} · ${s.os}`], 2));
  lines.push(RULE);
  lines.push('WHAT TO DO NEXT');
  const steps = [
    'Photograph this screen; the QR code holds the same facts.',
    ...(s.error ? [s.error.hint] : []),
    'Save the diagnostics to a file and attach it to your report.',
  ];
  const budget = MAX_TEXT_LINES - lines.length;
  const next = steps.flatMap((step, i) =>
    wrap(step, TEXT_WIDTH - 3).map((l, j) => (j === 0 ? `${i + 1}. ${l}` : `   ${l}`)),
  );
  lines.push(...clip(next, Math.max(budget, 1)));
  return `${lines.join('\n')}\n`;
}

/** JSON with every non-ASCII character \u-escaped: the same value, readable by any QR decoder. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * Each step drops or shortens what matters least, until the JSON fits the QR budget. The
 * error code, the app version and the verdict survive every step.
 */
const SHRINK: ((s: DiagnosticsSnapshot) => DiagnosticsSnapshot)[] = [
  (s) =>
    s.flash
      ? { ...s, flash: { ...s.flash, log: s.flash.log.slice(-2).map((l) => cut(l, 120)) } }
      : s,
  (s) =>
    s.error?.details ? { ...s, error: { ...s.error, details: shortDetails(s.error.details) } } : s,
  (s) => (s.flash ? { ...s, flash: { ...s.flash, log: [] } } : s),
  (s) =>
    s.error
      ? {
          ...s,
          error: {
            code: s.error.code,
            kind: s.error.kind,
            message: s.error.message,
            hint: s.error.hint,
          },
        }
      : s,
  (s) =>
    s.drive
      ? {
          ...s,
          drive: {
            ...s.drive,
            partitions: s.drive.partitions?.slice(0, 4) ?? null,
            mounts: s.drive.mounts.slice(0, 2),
          },
        }
      : s,
  (s) =>
    s.drive
      ? {
          ...s,
          drive: {
            ...s.drive,
            reasons: s.drive.reasons.map((r) => ({ code: r.code, message: cut(r.message, 60) })),
          },
        }
      : s,
  (s) => (s.node ? { ...s, node: { ...s.node, keys: s.node.keys.slice(0, 2) } } : s),
  (s) =>
    s.error
      ? {
          ...s,
          error: { ...s.error, message: cut(s.error.message, 200), hint: cut(s.error.hint, 120) },
        }
      : s,
  (s) => (s.image ? { ...s, image: { ...s.image, path: cut(s.image.path, 60), label: null } } : s),
  (s) =>
    s.drive
      ? {
          ...s,
          drive: {
            ...s.drive,
            partitions: null,
            mounts: [],
            reasons: s.drive.reasons.map((r) => ({ code: r.code, message: '' })),
          },
        }
      : s,
  (s) => ({ ...s, node: null, flash: s.flash ? { ...s.flash, log: [] } : null }),
];

/** Scalars only, strings shortened: enough to read, never a whole stack trace. */
function shortDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (k === 'stack' && typeof v === 'string')
      out[k] = cut(v.split('\n').slice(0, 3).join(' | '), 240);
    else if (typeof v === 'string') out[k] = cut(v, 80);
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v;
  }
  return out;
}

/** The snapshot as ASCII JSON of at most `maxBytes`, shortened step by step when needed. */
export function compactDiagnosticsJson(s: DiagnosticsSnapshot, maxBytes = MAX_QR_BYTES): string {
  let current = s;
  let json = asciiJson(current);
  for (const step of SHRINK) {
    if (json.length <= maxBytes) return json;
    current = step(current);
    json = asciiJson(current);
  }
  if (json.length <= maxBytes) return json;
  // Last resort: the code, the sentence and where it ran; everything else is in the saved file.
  return asciiJson({
    v: s.v,
    at: s.at,
    app: s.app,
    os: cut(s.os, 60),
    error: s.error ? { code: s.error.code, message: cut(s.error.message, 300) } : null,
  });
}
