/**
 * The app's handlers, free of any transport: a factory that takes its side effects (dialogs,
 * clipboard, opening a folder, where settings live, pushing events to windows) and returns
 * one function per channel of the contract, over the engine. Electron's ipcMain and the web
 * shell serve the very same functions.
 *
 * State main keeps for every window: the flashes (one per drive, app/api/sessions.ts), the
 * prepared plans (a flash starts only from a plan main made itself), the last image
 * inspections and drive scan, and each flash's node identity — kept for diagnostics, which
 * show it only as fingerprints, SSID and "password set".
 */
import { randomUUID, type KeyObject } from 'node:crypto';
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
import {
  fetchReleaseManifest,
  downloadImage,
  listCachedImages,
  pickImage,
  type FetchLike,
} from '../../app/catalog/index.js';
import {
  inputError,
  ioError,
  targetError,
  toZflashError,
  ZflashError,
  type ZflashErrorJson,
} from '../../app/errors.js';
import { getImageInfo, type ImageInfo } from '../../app/flash/image-info.js';
import {
  eachDrive,
  prepareFlash,
  prepareFlashMany,
  runFlash,
  runFlashMany,
  type FlashManyPlan,
  type FlashManyResult,
  type FlashPlan,
  type FlashResult,
  type PrepareFlashOptions,
  type RunFlashManyOptions,
  type RunFlashOptions,
} from '../../app/api/plan.js';
import {
  FlashSessions,
  jobDevice,
  type FlashSessionSnapshot,
  type RunJob,
} from '../../app/api/sessions.js';
import {
  HELPER_VERB,
  type WriteJobRequest,
  type WriteManyJobRequest,
} from '../../app/helper/protocol.js';
import {
  browseNodes,
  checkNewName,
  flashRecordFor,
  markOnline,
  openRoster,
  recordFlash,
  sortedNodes,
  toColmenaHive,
  toCsv,
  toJson,
  toSshConfig,
  writeFileAtomic,
  type MdnsSocket,
} from '../../app/roster/index.js';
import { buildNodeIdentity } from '../../app/node/identity.js';
import { listLocalPublicKeys } from '../../app/node/local-keys.js';
import { parseAuthorizedKeys, readSshKeyFile } from '../../app/node/ssh-keys.js';
import type { NodeIdentity, Notice, SshPublicKey } from '../../app/node/types.js';
import { loadSettings, suggestHostname, updateSettings } from '../../app/settings/index.js';
import type { ROSTER_EXPORT_FORMATS } from './contract.js';
import {
  type EventChannel,
  type EventOf,
  type KeySummary,
  type NodeForm,
  type RequestOf,
} from './contract.js';
import type { CallContext, Handlers } from './handle.js';

export interface Dialogs {
  /** A native "open" dialog for an image; null when cancelled. `window` is CallContext.window. */
  pickImage(window: unknown): Promise<string | null>;
  pickKey(window: unknown): Promise<string | null>;
  /** A native "save" dialog; null when cancelled. */
  saveDiagnostics(window: unknown, defaultName: string): Promise<string | null>;
  /** A native "save" dialog for a roster export; the diagnostics one when absent. */
  saveExport?(window: unknown, defaultName: string): Promise<string | null>;
}

/** Where the signed release manifest comes from and which keys sign it (app/catalog). */
export interface CatalogDeps {
  readonly manifestUrl: string;
  /**
   * The trusted release keys, asked for when needed: a build without a release key answers
   * the catalogue with ZFLASH_CATALOG_NO_KEY instead of failing to start.
   */
  readonly keys: readonly KeyObject[] | (() => readonly KeyObject[]);
  readonly fetch?: FetchLike;
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
    /**
     * The cluster roster, shared with the zflash command (app/roster defaultRosterPath);
     * null: flashes are neither checked against nor recorded in a roster.
     */
    readonly roster: string | null;
    /** Where downloaded installers are kept (app/catalog defaultCacheDir). */
    readonly cache: string;
  };
  /** The installer catalogue; absent: the image step offers no download. */
  readonly catalog?: CatalogDeps;
  /** Offer loop devices as drives (ZFLASH_ALLOW_LOOP=1, read by the front end). */
  readonly allowLoop: boolean;
  readonly dialogs: Dialogs;
  readonly clipboard: { writeText(text: string): void | Promise<void> };
  /** Opens a folder in the file manager; false when it could not. */
  readonly openFolder: (path: string) => Promise<boolean>;
  /** The file the OS opened the app with, kept until a window takes it (main/opened-file.ts). */
  readonly openedFile?: { take(): string | null };
  /** Sends a push event to every window. */
  readonly broadcast: <E extends EventChannel>(event: E, payload: EventOf<E>) => void;
  readonly now?: () => Date;
  /** How the privileged helper is started: its command and the environment (PATH for pkexec). */
  readonly helper: RunFlashOptions['helper'];
  /** Drive scanning seams (recorded drivelist outputs in tests). */
  readonly scan?: PrepareFlashOptions['scan'];
  /** Executes a flash; runFlash unless a test scripts it. */
  readonly run?: RunJob;
  /** Executes a many-drive flash (one helper run); runFlashMany unless a test scripts it. */
  readonly runMany?: RunManyJob;
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
  /**
   * Browses mDNS for the roster's nodes that are not online yet until `signal` aborts,
   * marking each online as it is seen and pushing `roster:changed` to every window.
   */
  watchRoster(signal: AbortSignal, socket?: () => MdnsSocket): Promise<void>;
  /** Cancels every flash and waits for them to end (the app quits). */
  dispose(): Promise<void>;
}

interface PreparedPlan {
  readonly plan: FlashPlan;
  readonly identity: NodeIdentity;
  readonly device: string;
  readonly reflash: boolean;
}

export type RunManyJob = (
  job: WriteManyJobRequest,
  opts: RunFlashManyOptions,
) => Promise<FlashManyResult>;

/** A many-drive plan: one job for every drive, each drive its own node. */
interface PreparedManyPlan {
  readonly plan: FlashManyPlan;
  /** By device as the job names it. */
  readonly identities: ReadonlyMap<string, NodeIdentity>;
  readonly devices: readonly string[];
}

/**
 * One helper run that writes several drives, seen by FlashSessions as one flash per drive:
 * each drive's session calls `join` (its RunJob), and the run starts once every drive has
 * joined. Events of one drive go to its session; job-wide ones (the image's checksum pass) to
 * all. The helper has one cancel for the whole run, so cancelling any drive of it stops every
 * drive of it (each then ends cancelled, or with its own result if it had finished).
 */
interface ManyRun {
  join(device: string, opts: RunFlashOptions): Promise<FlashResult>;
  /** The run cannot start (a session could not be made): every drive that joined ends with `err`. */
  abandon(err: unknown): void;
}

const errorFromJson = (e: ZflashErrorJson): ZflashError =>
  new ZflashError(e.kind, e.code, e.message, e.hint, e.details ? { ...e.details } : undefined);

function manyRun(
  job: WriteManyJobRequest,
  run: RunManyJob,
  helper: RunFlashOptions['helper'],
): ManyRun {
  const devices = job.drives.map((d) => d.device);
  const members = new Map<
    string,
    {
      readonly opts: RunFlashOptions;
      readonly resolve: (r: FlashResult) => void;
      readonly reject: (e: unknown) => void;
    }
  >();
  const controller = new AbortController();
  let abandoned: unknown = null;
  const launch = () => {
    const onEvent = eachDrive(devices, (device, e) => members.get(device)?.opts.onEvent?.(e));
    run(job, { signal: controller.signal, onEvent, helper }).then(
      (result) => {
        for (const o of result.drives) {
          const m = members.get(o.device);
          if (!m) continue;
          if (o.ok) m.resolve(o.result);
          else m.reject(errorFromJson(o.error));
        }
      },
      (err: unknown) => {
        for (const m of members.values()) m.reject(err);
      },
    );
  };
  return {
    join: (device, opts) =>
      new Promise<FlashResult>((resolve, reject) => {
        if (abandoned !== null) return reject(abandoned);
        members.set(device, { opts, resolve, reject });
        const abort = () => controller.abort();
        if (opts.signal?.aborted) abort();
        else opts.signal?.addEventListener('abort', abort, { once: true });
        if (members.size === devices.length) launch();
      }),
    abandon: (err) => {
      abandoned = err;
      controller.abort();
      for (const m of members.values()) m.reject(err);
    },
  };
}

/** A drive's own write job inside a many-drive run: what its session is keyed and shown by. */
function driveJobOf(job: WriteManyJobRequest, index: number): WriteJobRequest {
  const d = job.drives[index];
  if (!d) throw new Error(`a many-drive job has no drive ${index}`);
  return {
    version: job.version,
    verb: HELPER_VERB,
    image: job.image,
    drive: { device: d.device, expectedSize: d.expectedSize },
    file: null,
    identity: d.identity,
    createdAt: job.createdAt,
    verify: job.verify,
    eject: job.eject,
    allowLoop: job.allowLoop,
  };
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
    erase: { policy: form.eraseAny ? 'any' : 'blank-only', disk: null },
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
  const manyPlans = new Map<string, PreparedManyPlan>();
  /** Drives whose session joins a many-drive run instead of running a job of its own. */
  const manyRuns = new Map<string, ManyRun>();
  const runOne = deps.run ?? runFlash;
  const runMany = deps.runMany ?? runFlashMany;
  const run: RunJob = (job, opts) => {
    const device = jobDevice(job);
    const group = manyRuns.get(device);
    if (!group) return runOne(job, opts);
    manyRuns.delete(device);
    return group.join(device, opts);
  };
  const identities = new Map<string, NodeIdentity>();
  const reflashes = new Map<string, boolean>();
  const imagesOf = new Map<string, string>();
  const flashedNames = new Set<string>();
  const rosterPath = deps.paths.roster;
  let download: AbortController | null = null;
  /** The roster's nodes not seen online since their latest flash (what mDNS looks for). */
  let wanted: string[] = [];
  const refreshWanted = async () => {
    if (!rosterPath) return;
    const { roster } = await openRoster(rosterPath).catch(() => ({ roster: { nodes: [] } }));
    wanted = roster.nodes.filter((n) => n.status !== 'online').map((n) => n.hostname);
  };

  const rosterView = async () => {
    if (!rosterPath) return { path: null, nodes: [], notices: [] };
    const { roster, notices } = await openRoster(rosterPath);
    return { path: rosterPath, nodes: sortedNodes(roster), notices: [...notices] };
  };
  const announceRoster = async () => {
    deps.broadcast('roster:changed', await rosterView());
  };
  /** A finished flash is recorded: which stick became which node. */
  const record = async (snap: FlashSessionSnapshot) => {
    const identity = identities.get(snap.device);
    if (!rosterPath || !identity || snap.session.status !== 'done') return;
    const drive = drives.find((d) => d.drive.device === snap.device)?.drive;
    const image = snap.session.result.imageSha256;
    await recordFlash(
      rosterPath,
      flashRecordFor(identity, {
        image: { path: imagesOf.get(snap.device) ?? 'image', sha256: image },
        medium: {
          kind: 'drive',
          device: snap.device,
          model: drive?.description || null,
          serial: null,
          size: drive?.size ?? null,
        },
        flashedAt: now(),
        appVersion: deps.app.version,
      }),
      { reflash: reflashes.get(snap.device) ?? false },
    );
    await refreshWanted();
    await announceRoster();
  };
  let currentImage: string | null = null;
  let drives: readonly AssessedDrive[] = [];

  const sessions = new FlashSessions({
    run,
    throttleMs: deps.throttleMs ?? 250,
    now,
    onSnapshot: (s) => {
      if (s.session.status === 'done' && !flashedNames.has(s.hostname)) {
        flashedNames.add(s.hostname);
        // The stick is finished either way; a roster that cannot be written is told in the log.
        record(s).catch(async (err: unknown) => {
          const view = await rosterView().catch(() => ({
            path: rosterPath,
            nodes: [],
            notices: [],
          }));
          deps.broadcast('roster:changed', {
            ...view,
            notices: [
              ...view.notices,
              {
                code: 'ZFLASH_ROSTER_NOT_UPDATED',
                message: `${s.hostname} was flashed, but the roster was not updated: ${toZflashError(err).message}`,
              },
            ],
          });
        });
      }
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

  /** Names given out: flashed in this run, being flashed, in the roster (a failed stick's is free). */
  const takenNames = async (): Promise<string[]> => {
    if (deps.takenNames) return [...(await deps.takenNames())];
    const running = sessions
      .list()
      .filter((s) => s.session.status !== 'failed' && s.session.status !== 'cancelled')
      .map((s) => s.hostname);
    const roster = rosterPath ? (await openRoster(rosterPath)).roster.nodes : [];
    return [...flashedNames, ...running, ...roster.map((n) => n.hostname)];
  };
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

    'app:opened-file': async () => deps.openedFile?.take() ?? null,

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
      return suggestHostname(chosen, await takenNames());
    },

    'flash:prepare': async ({ image, device, node, sha256, reflash }) => {
      const { identity, notices } = identityFromForm(node);
      // A name the roster has is refused for a new node; a re-flash must name a known one.
      if (rosterPath)
        checkNewName((await openRoster(rosterPath)).roster, identity.hostname, {
          reflash: reflash ?? false,
        });
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
      remember(
        plans,
        planId,
        { plan, identity, device: drive.device, reflash: reflash ?? false },
        MAX_PLANS,
      );
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
      reflashes.set(started.device, prepared.reflash);
      imagesOf.set(started.device, prepared.plan.confirm.image.path);
      return started;
    },

    'flash:prepare-many': async ({ image, devices, node, sha256, hostPattern }) => {
      // A new plan for a drive replaces the pending ones that name it (the operator went back
      // and chose again): their names are free again. Other pending plans keep theirs.
      const asked = new Set(devices);
      for (const [id, p] of plans) if (asked.has(p.device)) plans.delete(id);
      for (const [id, p] of manyPlans)
        if (p.devices.some((d) => asked.has(d))) manyPlans.delete(id);
      const pattern = hostPattern ?? (await loadSettings(settingsFolder)).settings.namePattern;
      const taken = [
        ...(await takenNames()),
        ...[...plans.values()].map((p) => p.identity.hostname),
        ...[...manyPlans.values()].flatMap((p) => p.plan.confirm.drives.map((d) => d.hostname)),
      ];
      const hostnames: string[] = [];
      while (hostnames.length < devices.length)
        hostnames.push(suggestHostname(pattern, [...taken, ...hostnames]));
      const built = hostnames.map((hostname) => identityFromForm({ ...node, hostname }));
      const roster = rosterPath ? (await openRoster(rosterPath)).roster : null;
      if (roster) for (const b of built) checkNewName(roster, b.identity.hostname);
      const plan = await prepareFlashMany({
        image,
        drives: devices.map((device, i) => ({
          device,
          identity: (built[i] as (typeof built)[number]).identity,
        })),
        sha256,
        allowLoop: deps.allowLoop,
        now: now(),
        ...(deps.scan ? { scan: deps.scan } : {}),
      });
      const planId = randomUUID();
      remember(
        manyPlans,
        planId,
        {
          plan,
          identities: new Map(plan.job.drives.map((d) => [d.device, d.identity])),
          devices: plan.confirm.drives.map((d) => d.device),
        },
        MAX_PLANS,
      );
      const first = built[0] as (typeof built)[number];
      return {
        planId,
        image: { ...plan.confirm.image },
        node: nodeSummary(first.identity, [...first.notices, ...plan.notices]),
        drives: plan.confirm.drives.map((d) => ({
          device: d.device,
          drive: { drive: d.drive, verdict: d.verdict },
          hostname: d.hostname,
          espFreeBytes: d.espFreeBytes,
        })),
      };
    },

    'flash:start-many': async ({ planId, devices }) => {
      const prepared = manyPlans.get(planId);
      if (!prepared) {
        throw inputError(
          'ZFLASH_CONFIRMATION_REQUIRED',
          'This flash was not prepared, or was already started; nothing was written.',
          'Go back to the stick step and confirm the sticks again.',
          { planId },
        );
      }
      const planned = [...prepared.devices].sort();
      const confirmed = [...devices].sort();
      if (planned.length !== confirmed.length || planned.some((d, i) => d !== confirmed[i])) {
        throw inputError(
          'ZFLASH_CONFIRMATION_REQUIRED',
          `The confirmed drives (${devices.join(', ')}) are not the drives this flash was prepared for (${prepared.devices.join(', ')}); nothing was written.`,
          'Go back to the stick step and confirm the sticks again.',
          { devices, planned: prepared.devices },
        );
      }
      // All or nothing: a drive being written refuses the whole run before any session starts.
      for (const device of prepared.devices)
        if (sessions.isRunning(device))
          throw targetError(
            'ZFLASH_TARGET_BUSY',
            `${device} is already being written by Zeta Flash; one flash per drive at a time.`,
            'Wait for the running flash to finish, or cancel it first.',
            { device },
          );
      manyPlans.delete(planId);
      const { job } = prepared.plan;
      const group = manyRun(job, runMany, deps.helper);
      const started: FlashSessionSnapshot[] = [];
      job.drives.forEach((d, i) => {
        identities.set(d.device, d.identity);
        reflashes.set(d.device, false);
        imagesOf.set(d.device, job.image.path);
        manyRuns.set(d.device, group);
        try {
          started.push(
            sessions.start(driveJobOf(job, i), {
              hostname: d.identity.hostname,
              helper: deps.helper,
            }),
          );
        } catch (err) {
          // Drives whose session started join the abandoned run and end with this error.
          manyRuns.delete(d.device);
          group.abandon(err);
          throw err;
        }
      });
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

    'roster:list': async () => rosterView(),

    'roster:export': async ({ format }, ctx) => {
      if (!rosterPath)
        throw inputError(
          'ZFLASH_USAGE',
          'The roster is turned off, so there is nothing to export.',
          'Turn the roster on in the settings, flash a node, then export.',
        );
      const { roster } = await openRoster(rosterPath);
      const files: Record<(typeof ROSTER_EXPORT_FORMATS)[number], [string, () => string]> = {
        'ssh-config': ['zeta-cluster.ssh-config', () => toSshConfig(roster)],
        json: ['zeta-cluster.json', () => toJson(roster)],
        csv: ['zeta-cluster.csv', () => toCsv(roster)],
        colmena: ['hive.nix', () => toColmenaHive(roster, { nixosPath: deps.paths.nixosFolder })],
      };
      const [name, render] = files[format];
      const ask = deps.dialogs.saveExport ?? deps.dialogs.saveDiagnostics;
      // The path comes from main's own save dialog, never from the page.
      const path = await ask(ctx.window, name);
      if (!path) return { path: null };
      await writeFileAtomic(path, render());
      return { path };
    },

    'catalog:list': async () => {
      const catalog = requireCatalog(deps.catalog);
      const manifest = await fetchReleaseManifest({
        manifestUrl: catalog.manifestUrl,
        keys: keysOf(catalog),
        ...(catalog.fetch ? { fetch: catalog.fetch } : {}),
      });
      const cached = await listCachedImages(deps.paths.cache).catch(() => []);
      return {
        manifestUrl: manifest.manifestUrl,
        version: manifest.version,
        date: manifest.date,
        images: manifest.images.map((i) => ({
          arch: i.arch,
          version: i.version,
          date: i.date,
          size: i.size,
          sha256: i.sha256,
          fileName: i.fileName,
          cachedPath:
            cached.find((c) => c.fileName === i.fileName && !c.partial && c.size === i.size)
              ?.path ?? null,
        })),
      };
    },

    'catalog:download': async ({ arch }) => {
      const catalog = requireCatalog(deps.catalog);
      if (download)
        throw targetError(
          'ZFLASH_TARGET_BUSY',
          'A download of the Zeta installer is already running.',
          'Wait for it to finish, or cancel it first.',
        );
      const controller = new AbortController();
      download = controller;
      try {
        const opts = {
          manifestUrl: catalog.manifestUrl,
          keys: keysOf(catalog),
          signal: controller.signal,
          ...(catalog.fetch ? { fetch: catalog.fetch } : {}),
        };
        const image = pickImage(await fetchReleaseManifest(opts), arch);
        const result = await downloadImage(image, {
          cacheDir: deps.paths.cache,
          signal: controller.signal,
          onProgress: (p) => deps.broadcast('catalog:progress', { ...p }),
          ...(catalog.fetch ? { fetch: catalog.fetch } : {}),
        });
        return { path: result.path, cached: result.cached, resumedFrom: result.resumedFrom };
      } finally {
        download = null;
      }
    },

    'catalog:cancel': async () => {
      const running = download;
      running?.abort();
      return { cancelled: running !== null };
    },
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
    watchRoster: async (signal, socket) => {
      if (!rosterPath) return;
      await refreshWanted();
      await browseNodes({
        signal,
        ...(socket ? { socket } : {}),
        wanted: () => {
          // Read each round from the last view: nodes flashed meanwhile are looked for too.
          return wanted;
        },
        onSighting: async ({ hostname, addresses }) => {
          if (!wanted.includes(hostname)) return;
          await markOnline(rosterPath, hostname, { addresses, now });
          await refreshWanted();
          await announceRoster();
        },
      });
    },
    dispose: async () => {
      download?.abort();
      await sessions.dispose();
    },
  };
}

const keysOf = (c: CatalogDeps): readonly KeyObject[] =>
  typeof c.keys === 'function' ? c.keys() : c.keys;

function requireCatalog(catalog: CatalogDeps | undefined): CatalogDeps {
  if (catalog) return catalog;
  throw ioError(
    'ZFLASH_CATALOG_UNREACHABLE',
    'This build of Zeta Flash has no installer catalogue configured.',
    'Choose an installer image file instead, or build one with nix build ./nixos#installer-iso.',
  );
}
