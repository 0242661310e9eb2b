/**
 * The app's handlers, free of any transport: a factory that takes its side effects (dialogs,
 * clipboard, opening a folder, where settings live, pushing events to windows) and returns
 * one function per channel of the contract, over the engine. Electron's ipcMain and the web
 * shell serve the very same functions.
 *
 * State main keeps for every window: the flashes (one per drive, app/flash/sessions.ts), the
 * prepared plans (a flash starts only from a plan main made itself), the last image
 * inspections and drive scan, and each flash's node identity — kept for diagnostics, which
 * show it only as fingerprints, SSID and "password set".
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import {
  buildDiagnostics,
  diagnosticsFile,
  diagnosticsView,
  listPartitions as sysfsPartitions,
  type DiagnosticsSnapshot,
  type PartitionFact,
} from '../../app/diagnostics/index.js';
import {
  scanDrives,
  watchDrives,
  type AssessedDrive,
  type ScanOptions,
} from '../../app/drives/index.js';
import { inputError } from '../../app/errors.js';
import { getImageInfo, type ImageInfo } from '../../app/flash/image-info.js';
import {
  prepareFlash,
  runFlash,
  type FlashPlan,
  type PrepareFlashOptions,
  type RunFlashOptions,
} from '../../app/flash/plan.js';
import { FlashSessions, type RunJob } from '../../app/flash/sessions.js';
import { buildNodeIdentity } from '../../app/node/identity.js';
import { listLocalPublicKeys } from '../../app/node/local-keys.js';
import { parseAuthorizedKeys, readSshKeyFile } from '../../app/node/ssh-keys.js';
import type { NodeIdentity, Notice, SshPublicKey } from '../../app/node/types.js';
import { loadSettings, suggestHostname, updateSettings } from '../../app/settings/index.js';
import type { EventChannel, EventOf, KeySummary, NodeForm, RequestOf } from './contract.js';
import type { CallContext, Handlers } from './handle.js';

export interface Dialogs {
  /** A native "open" dialog for an image; null when cancelled. `window` is CallContext.window. */
  pickImage(window: unknown): Promise<string | null>;
  pickKey(window: unknown): Promise<string | null>;
  /** A native "save" dialog; null when cancelled. */
  saveDiagnostics(window: unknown, defaultName: string): Promise<string | null>;
}

export interface HandlerDeps {
  readonly app: { readonly name: string; readonly version: string };
  /** What the front end runs on, for diagnostics: `electron 41.7.1, node 22.x` … */
  readonly runtime: string;
  readonly transport: 'electron' | 'web';
  readonly os: { readonly platform: string; readonly release: string; readonly arch: string };
  readonly paths: {
    /** Where settings live (Electron's userData folder). */
    readonly userData: string;
    /** The operator's home folder, for ~/.ssh. */
    readonly home: string;
    /** The bundled NixOS flake (resources/nixos when packaged, ./nixos in development). */
    readonly nixosFolder: string;
  };
  /** Offer loop devices as drives (ZFLASH_ALLOW_LOOP=1, read by the front end). */
  readonly allowLoop: boolean;
  readonly dialogs: Dialogs;
  readonly clipboard: { writeText(text: string): void | Promise<void> };
  /** Opens a folder in the file manager; false when it could not. */
  readonly openFolder: (path: string) => Promise<boolean>;
  /** Sends a push event to every window. */
  readonly broadcast: <E extends EventChannel>(event: E, payload: EventOf<E>) => void;
  readonly now?: () => Date;
  /** How the privileged helper is started: its command and the environment (PATH for pkexec). */
  readonly helper: RunFlashOptions['helper'];
  /** Drive scanning seams (recorded drivelist outputs in tests). */
  readonly scan?: PrepareFlashOptions['scan'];
  /** Executes a flash; runFlash unless a test scripts it. */
  readonly run?: RunJob;
  /**
   * Hostnames already given out, for "the next free name". Seam for the roster (app/roster,
   * being built); by default the names flashed during this run.
   */
  readonly takenNames?: () => Promise<readonly string[]>;
  readonly listPartitions?: (device: string) => Promise<readonly PartitionFact[] | null>;
  /** Minimum gap between two flash snapshots pushed to windows; default 250 ms. */
  readonly throttleMs?: number;
  readonly driveWatchIntervalMs?: number;
}

export interface MainService {
  readonly handlers: Handlers;
  readonly sessions: FlashSessions;
  /** Polls drives until `signal` aborts, pushing `drives:event` to every window. */
  watchDrives(signal: AbortSignal): Promise<void>;
  /** Builds a diagnostics snapshot (the menu item, a crash report). */
  snapshot(request: RequestOf<'diagnostics:snapshot'>): Promise<DiagnosticsSnapshot>;
  /** Cancels every flash and waits for them to end (the app quits). */
  dispose(): Promise<void>;
}

interface PreparedPlan {
  readonly plan: FlashPlan;
  readonly identity: NodeIdentity;
  readonly device: string;
}

const MAX_PLANS = 16;
const MAX_IMAGES = 8;

export const keySummary = (k: SshPublicKey): KeySummary => ({
  type: k.type,
  fingerprint: k.fingerprint,
  comment: k.comment,
  bits: k.bits,
  line: k.line,
});

/** Keeps the newest `max` entries of a Map (insertion order). */
function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}

/**
 * The node identity from the form. The PSK arrives already derived (64 hex digits); the
 * engine's validateWifi takes a 64-hex "passphrase" as the PSK itself (IEEE 802.11i allows
 * either), so the passphrase never reaches main and no engine change is needed.
 */
export function identityFromForm(form: NodeForm): { identity: NodeIdentity; notices: Notice[] } {
  const parsed = form.keys.length
    ? parseAuthorizedKeys(form.keys.join('\n'), 'the key list')
    : { keys: [], notices: [] };
  const built = buildNodeIdentity({
    hostname: form.hostname,
    keys: parsed.keys,
    roles: form.roles,
    wifi: form.wifi ? { ssid: form.wifi.ssid, passphrase: form.wifi.psk } : null,
    password: form.password,
  });
  return { identity: built.identity, notices: [...parsed.notices, ...built.notices] };
}

function nodeSummary(identity: NodeIdentity, notices: readonly Notice[]) {
  return {
    hostname: identity.hostname,
    keys: identity.keys.map(keySummary),
    roles: [...identity.roles],
    wifi: identity.wifi ? { ssid: identity.wifi.ssid } : null,
    password: identity.passwordHash !== null,
    notices: [...notices],
  };
}

export function createMainService(deps: HandlerDeps): MainService {
  const now = deps.now ?? (() => new Date());
  const imageInfos = new Map<string, ImageInfo>();
  const plans = new Map<string, PreparedPlan>();
  const identities = new Map<string, NodeIdentity>();
  const flashedNames = new Set<string>();
  let currentImage: string | null = null;
  let drives: readonly AssessedDrive[] = [];

  const sessions = new FlashSessions({
    run: deps.run ?? runFlash,
    throttleMs: deps.throttleMs ?? 250,
    now,
    onSnapshot: (s) => {
      if (s.session.status === 'done') flashedNames.add(s.hostname);
      deps.broadcast('flash:session', s);
    },
  });

  const scanOptions = (): ScanOptions => {
    const info = currentImage ? imageInfos.get(currentImage) : undefined;
    return {
      ...deps.scan,
      allowLoop: deps.allowLoop,
      ...(currentImage ? { imagePath: currentImage, imageSize: info?.size ?? null } : {}),
    };
  };
  const scan = async () => {
    drives = await scanDrives(scanOptions());
    return drives;
  };

  const settingsFolder = deps.paths.userData;
  const partitionsOf = deps.listPartitions ?? ((device: string) => sysfsPartitions(device));

  async function snapshot(req: RequestOf<'diagnostics:snapshot'>): Promise<DiagnosticsSnapshot> {
    const device = req.device;
    const imagePath = req.image ?? currentImage;
    let drive: AssessedDrive | null = null;
    if (device) {
      drive = drives.find((d) => d.drive.device === device) ?? null;
      // A fresh scan only if the drive is not known yet; a failing scan must not stop diagnostics.
      if (!drive)
        drive = (await scan().catch(() => [])).find((d) => d.drive.device === device) ?? null;
    }
    const planned = device
      ? [...plans.values()].reverse().find((p) => p.device === device)
      : undefined;
    return buildDiagnostics({
      now: now(),
      app: deps.app,
      runtime: deps.runtime,
      os: deps.os,
      error: req.error,
      image: imagePath ? (imageInfos.get(imagePath) ?? { path: imagePath }) : null,
      drive,
      partitions: device ? await partitionsOf(device).catch(() => null) : null,
      session: device ? sessions.get(device) : null,
      identity: device ? (identities.get(device) ?? planned?.identity ?? null) : null,
    });
  }

  const handlers: Handlers = {
    'app:info': async () => ({
      name: deps.app.name,
      version: deps.app.version,
      platform: deps.os.platform,
      transport: deps.transport,
      allowLoop: deps.allowLoop,
      nixosFolder: deps.paths.nixosFolder,
    }),

    'drives:list': async () => [...(await scan())],

    'image:pick': async (_req, ctx: CallContext) => deps.dialogs.pickImage(ctx.window),

    'image:inspect': async ({ path }) => {
      const info = await getImageInfo(path);
      remember(imageInfos, info.path, info, MAX_IMAGES);
      currentImage = info.path;
      // Remembering the image is a convenience: a settings folder that cannot be written
      // must not make a good image look bad.
      await updateSettings(settingsFolder, { lastImage: info.path }).catch(() => undefined);
      return { ...info, esp: { ...info.esp }, notices: [...info.notices] };
    },

    'keys:pick': async (_req, ctx) => deps.dialogs.pickKey(ctx.window),

    // Main reads the file; a private key is refused by the engine (ZFLASH_PRIVATE_KEY) without
    // a byte of it in the error, and nothing of the file is logged or returned but public keys.
    'keys:read': async ({ path }) => {
      const { keys, notices } = await readSshKeyFile(path);
      return { keys: keys.map(keySummary), notices };
    },

    'keys:local': async () => {
      const { keys, notices } = await listLocalPublicKeys(deps.paths.home);
      return { keys: keys.map((k) => ({ ...keySummary(k), file: k.file })), notices };
    },

    'node:validate': async (form) => {
      const { identity, notices } = identityFromForm(form);
      return nodeSummary(identity, notices);
    },

    'node:suggest-name': async ({ pattern }) => {
      const chosen = pattern ?? (await loadSettings(settingsFolder)).settings.namePattern;
      const taken = deps.takenNames
        ? await deps.takenNames()
        : [...flashedNames, ...sessions.list().map((s) => s.hostname)];
      return suggestHostname(chosen, taken);
    },

    'flash:prepare': async ({ image, device, node, sha256 }) => {
      const { identity, notices } = identityFromForm(node);
      const plan = await prepareFlash({
        image,
        target: { kind: 'drive', device },
        identity,
        sha256,
        allowLoop: deps.allowLoop,
        now: now(),
        ...(deps.scan ? { scan: deps.scan } : {}),
      });
      const { drive, verdict } = plan.confirm;
      if (!drive || !verdict) throw new Error('a drive plan came back without its drive');
      const planId = randomUUID();
      remember(plans, planId, { plan, identity, device: drive.device }, MAX_PLANS);
      return {
        planId,
        drive: { drive, verdict },
        image: { ...plan.confirm.image },
        node: nodeSummary(identity, [...notices, ...plan.notices]),
        espFreeBytes: plan.confirm.espFreeBytes,
      };
    },

    'flash:start': async ({ planId, device }) => {
      const prepared = plans.get(planId);
      if (!prepared) {
        throw inputError(
          'ZFLASH_CONFIRMATION_REQUIRED',
          'This flash was not prepared, or was already started; nothing was written.',
          'Go back to the drive step and confirm the drive again.',
          { planId },
        );
      }
      if (prepared.device !== device) {
        throw inputError(
          'ZFLASH_CONFIRMATION_REQUIRED',
          `The confirmed drive ${device} is not the drive this flash was prepared for (${prepared.device}); nothing was written.`,
          'Go back to the drive step and confirm the drive again.',
          { device, planned: prepared.device },
        );
      }
      const started = sessions.start(prepared.plan.job, {
        hostname: prepared.identity.hostname,
        helper: deps.helper,
      });
      plans.delete(planId);
      identities.set(started.device, prepared.identity);
      return started;
    },

    'flash:cancel': async ({ device }) => ({ cancelled: sessions.cancel(device) }),

    'flash:state': async () => sessions.list(),

    'flash:dismiss': async ({ device }) => {
      const dismissed = sessions.dismiss(device);
      if (dismissed) identities.delete(device);
      return { dismissed };
    },

    'diagnostics:snapshot': async (req) => {
      const { text, json, qrSvg } = await diagnosticsView(await snapshot(req));
      return { text, json, qrSvg };
    },

    'diagnostics:save': async (req, ctx) => {
      const s = await snapshot(req);
      const name = `zflash-diagnostics-${s.at.replace(/[:.]/g, '-')}.txt`;
      // The path comes from main's own save dialog, never from the page.
      const path = await deps.dialogs.saveDiagnostics(ctx.window, name);
      if (!path) return null;
      await writeFile(path, diagnosticsFile(s), { mode: 0o644 });
      return path;
    },

    'diagnostics:copy': async (req) => {
      const { text, json } = await diagnosticsView(await snapshot(req));
      await deps.clipboard.writeText(`${text}\n${json}\n`);
      return {};
    },

    'settings:get': async () => {
      const { settings, notices } = await loadSettings(settingsFolder);
      return { settings, notices: [...notices] };
    },

    'settings:set': async (patch) => {
      // Key lines are checked here so a bad one is refused with its engine code, not dropped.
      if (patch.keyLines?.length) parseAuthorizedKeys(patch.keyLines.join('\n'), 'the key list');
      const { settings, notices } = await updateSettings(settingsFolder, patch);
      return { settings, notices: [...notices] };
    },

    'nixos:open': async () => ({
      path: deps.paths.nixosFolder,
      opened: await deps.openFolder(deps.paths.nixosFolder).catch(() => false),
    }),
  };

  return {
    handlers,
    sessions,
    snapshot,
    watchDrives: (signal) =>
      watchDrives({
        signal,
        ...(deps.driveWatchIntervalMs !== undefined
          ? { intervalMs: deps.driveWatchIntervalMs }
          : {}),
        scan,
        onEvent: (e) => deps.broadcast('drives:event', e),
      }),
    dispose: () => sessions.dispose(),
  };
}
