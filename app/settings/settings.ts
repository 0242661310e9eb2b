/**
 * The desktop app's remembered choices (last image, the operator's public keys, the hostname
 * pattern) in one JSON file in a folder the front end names (Electron's userData folder).
 *
 * Writes are atomic: a temporary file in the same folder, fsync, rename over the old file,
 * then fsync the folder — a crash or a full disk leaves either the old file or the new one,
 * never half of one. A file that cannot be read or parsed is never fatal: it is moved aside
 * (kept for a bug report), reported as a notice, and the defaults are used.
 *
 * Only public material is kept: key lines are re-parsed on load and save, so nothing but
 * canonical public keys can be remembered (a private key pasted by mistake is refused by the
 * key parser, never written here).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { parseAuthorizedKeys } from '../node/ssh-keys.js';
import type { Notice } from '../node/types.js';
import { DEFAULT_NAME_PATTERN, namePatternProblem } from './name-pattern.js';

export const SETTINGS_FILE = 'settings.json';
export const SETTINGS_VERSION = 1;

export const settingsSchema = z
  .object({
    /** The image chosen last, as an absolute path (re-inspected before use, never trusted). */
    lastImage: z
      .string()
      .max(4096)
      .refine((p) => isAbsolute(p) && !p.includes('\0'), 'an absolute path')
      .nullable(),
    /** Public key lines the operator used last (each a canonical `type base64 [comment]`). */
    keyLines: z.array(z.string().max(16 * 1024)).max(64),
    /** How the next node is named, e.g. `node-{nn}` (see name-pattern.ts). */
    namePattern: z
      .string()
      .max(64)
      .superRefine((p, ctx) => {
        const problem = namePatternProblem(p);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
  })
  .strict();
export type Settings = z.infer<typeof settingsSchema>;

const fileSchema = z.object({ version: z.literal(SETTINGS_VERSION), settings: z.unknown() });

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  lastImage: null,
  keyLines: [],
  namePattern: DEFAULT_NAME_PATTERN,
});

export interface LoadedSettings {
  readonly settings: Settings;
  readonly notices: readonly Notice[];
}

/** Keeps only key lines that parse as public keys, canonically re-serialized. */
function canonicalKeyLines(lines: readonly string[]): { lines: string[]; dropped: number } {
  const out: string[] = [];
  let dropped = 0;
  for (const line of lines) {
    try {
      for (const key of parseAuthorizedKeys(line).keys)
        if (!out.includes(key.line)) out.push(key.line);
    } catch {
      dropped++;
    }
  }
  return { lines: out, dropped };
}

/** Field by field: one bad field costs that field, not every setting. */
function salvage(raw: unknown): { settings: Settings; dropped: string[] } {
  const obj = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const dropped: string[] = [];
  const pick = <K extends keyof Settings>(key: K): Settings[K] => {
    const parsed = settingsSchema.shape[key].safeParse(obj[key]);
    if (parsed.success) return parsed.data as Settings[K];
    if (key in obj) dropped.push(key);
    return DEFAULT_SETTINGS[key];
  };
  return {
    settings: {
      lastImage: pick('lastImage'),
      keyLines: pick('keyLines'),
      namePattern: pick('namePattern'),
    },
    dropped,
  };
}

async function moveAside(path: string, now: Date): Promise<string | null> {
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  try {
    await rename(path, aside);
    return aside;
  } catch {
    return null;
  }
}

/** Never throws for a missing or damaged file: defaults plus a notice saying what happened. */
export async function loadSettings(
  folder: string,
  opts: { now?: Date } = {},
): Promise<LoadedSettings> {
  const path = join(folder, SETTINGS_FILE);
  const now = opts.now ?? new Date();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { settings: DEFAULT_SETTINGS, notices: [] };
    return {
      settings: DEFAULT_SETTINGS,
      notices: [
        {
          code: 'ZFLASH_SETTINGS_UNREADABLE',
          message: `The settings file ${path} could not be read (${code ?? 'error'}); the defaults are used.`,
        },
      ],
    };
  }
  let parsed: z.infer<typeof fileSchema> | null = null;
  try {
    const result = fileSchema.safeParse(JSON.parse(text));
    if (result.success) parsed = result.data;
  } catch {
    parsed = null;
  }
  if (!parsed) {
    const aside = await moveAside(path, now);
    return {
      settings: DEFAULT_SETTINGS,
      notices: [
        {
          code: 'ZFLASH_SETTINGS_CORRUPT',
          message: `The settings file was damaged and the defaults are used${aside ? `; the damaged file was kept as ${aside}` : ''}.`,
        },
      ],
    };
  }
  const { settings, dropped } = salvage(parsed.settings);
  const keys = canonicalKeyLines(settings.keyLines);
  const notices: Notice[] = [];
  if (dropped.length > 0) {
    notices.push({
      code: 'ZFLASH_SETTINGS_CORRUPT',
      message: `Some remembered settings were not valid and were reset: ${dropped.join(', ')}.`,
    });
  }
  if (keys.dropped > 0) {
    notices.push({
      code: 'ZFLASH_SETTINGS_CORRUPT',
      message: `${keys.dropped} remembered key line${keys.dropped === 1 ? ' was' : 's were'} not a valid public key and ${keys.dropped === 1 ? 'was' : 'were'} forgotten.`,
    });
  }
  return { settings: { ...settings, keyLines: keys.lines }, notices };
}

/**
 * Validates (throws the zod error for a bug-shaped value; key lines that do not parse are
 * dropped) and writes atomically. Returns what was written.
 */
export async function saveSettings(folder: string, settings: Settings): Promise<Settings> {
  const valid = settingsSchema.parse(settings);
  const clean: Settings = { ...valid, keyLines: canonicalKeyLines(valid.keyLines).lines };
  const path = join(folder, SETTINGS_FILE);
  const tmp = join(folder, `.${SETTINGS_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  const body = `${JSON.stringify({ version: SETTINGS_VERSION, settings: clean }, null, 2)}\n`;
  // 'wx': never follow or reuse a file someone put at the temporary name.
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(body, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The rename is durable only once the folder's entry is on disk too.
  const dir = await open(folder, 'r').catch(() => null);
  if (dir) {
    await dir.sync().catch(() => undefined);
    await dir.close();
  }
  return clean;
}

/** Merges a partial update into the current settings and saves the result. */
export async function updateSettings(
  folder: string,
  patch: Partial<Settings>,
): Promise<LoadedSettings> {
  const current = await loadSettings(folder);
  const saved = await saveSettings(folder, { ...current.settings, ...patch });
  return { settings: saved, notices: current.notices };
}
