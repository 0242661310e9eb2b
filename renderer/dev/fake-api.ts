/**
 * An in-memory `window.zflash` for `npm run dev:ui` and the renderer's unit tests: the same
 * type as the real API (so it cannot drift without a compile error), plausible answers, and
 * a `control` handle to plug sticks in, drive a flash, or make it fail. Never part of the
 * production bundle (vite.config.ts builds index.html alone; this is reached from dev/ only).
 *
 * It is a stand-in for development, not a model of the engine: the e2e specs test the real
 * thing through the web shell.
 */
import type {
  Arch,
  AssessedDrive,
  Catalog,
  DownloadProgress,
  DriveEvent,
  ErrorJson,
  FlashSnapshot,
  ImageInfo,
  KeySummary,
  LocalKey,
  NodeForm,
  Result,
  RosterNode,
  RosterView,
  Settings,
  ZflashApi,
} from '../lib/api.js';

type Listener<T> = (payload: T) => void;

export interface FakeOptions {
  /** Flash progress runs by itself on timers (dev) or only through `control` (tests). */
  readonly auto?: boolean;
  readonly drives?: readonly AssessedDrive[];
  readonly localKeys?: readonly LocalKey[];
  readonly settings?: Partial<Settings>;
  /** What `pickImage` and `pickKey` answer (null: cancelled). */
  readonly picks?: { image?: string | null; key?: string | null };
  readonly roster?: readonly RosterNode[];
  /** The installer catalogue; null: none configured (catalog:list fails as it does then). */
  readonly catalog?: Catalog | null;
  /** The file the OS opened the app with (a double-clicked image); taken once. */
  readonly openedFile?: string | null;
}

export interface FakeControl {
  plug(drive: AssessedDrive): void;
  unplug(device: string): void;
  /** Moves a running flash on: to `percent` of writing, or to its end. */
  progress(device: string, phase: 'writing' | 'verifying', percent: number): void;
  finish(device: string, outcome: 'done' | ErrorJson | 'cancelled'): void;
  /** Moves a running download on, or ends it with its path. */
  downloadProgress(p: DownloadProgress): void;
  finishDownload(): void;
  /** A node answers on the network (mDNS). */
  online(hostname: string, address: string): void;
  /** The OS opens the running app with a file (a second double-click): kept and pushed. */
  openFile(path: string): void;
  /** Every request the page made, in order (channel and request). */
  readonly calls: { method: string; request: unknown }[];
  readonly settings: Settings;
}

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const err = (
  code: ErrorJson['code'],
  kind: ErrorJson['kind'],
  message: string,
  hint: string,
): Result<never> => ({
  ok: false,
  error: { code, kind, message, hint, exitCode: kind === 'input' ? 2 : kind === 'io' ? 4 : 3 },
});

export function stick(
  device: string,
  description: string,
  size: number,
  verdict: AssessedDrive['verdict'] = { status: 'eligible', reasons: [] },
  extra: Partial<AssessedDrive['drive']> = {},
): AssessedDrive {
  return {
    drive: {
      device,
      raw: device,
      size,
      description,
      busType: 'USB',
      isUSB: true,
      isRemovable: true,
      isVirtual: false,
      isSystem: false,
      isReadOnly: false,
      mountpoints: [],
      isLoop: false,
      blockSize: 512,
      logicalBlockSize: 512,
      partitionTableType: 'mbr',
      ...extra,
    },
    verdict,
  };
}

export const SAMPLE_DRIVES: readonly AssessedDrive[] = [
  stick(
    '/dev/nvme0n1',
    'Samsung SSD 980 PRO 1TB',
    1_000_204_886_016,
    {
      status: 'refused',
      reasons: [
        {
          code: 'DRIVE_SYSTEM',
          severity: 'refused',
          message: 'This computer runs from this drive (/ is mounted from it).',
        },
      ],
    },
    { busType: 'NVMe', isUSB: false, isRemovable: false, isSystem: true, mountpoints: ['/'] },
  ),
  stick('/dev/sdb', 'SanDisk Ultra USB 3.0', 30_752_636_928),
  stick('/dev/sdc', 'WD Elements 25A3', 2_000_365_289_472, {
    status: 'warn',
    reasons: [
      {
        code: 'DRIVE_LARGE',
        severity: 'warn',
        message:
          'This drive is large (2.0 TB) for an installer stick: make sure it is not a backup disk.',
      },
    ],
  }),
];

const SAMPLE_KEY_LINE =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm7QpY9l0zTqv9rD0a5v1Hk0s6m4y2bq6ZQ7yq1m8Xw op@laptop';

export const SAMPLE_LOCAL_KEYS: readonly LocalKey[] = [
  {
    type: 'ssh-ed25519',
    fingerprint: 'SHA256:3f1yqM7d9ZkQm2d8b0nUuI0wVY1o8wq9Jk2q8Hc5xgA',
    comment: 'op@laptop',
    bits: 256,
    line: SAMPLE_KEY_LINE,
    file: '~/.ssh/id_ed25519.pub',
  },
];

/** A deterministic stand-in fingerprint (the engine computes the real SHA-256 one). */
function fakeFingerprint(blob: string): string {
  let h = 2166136261;
  for (const c of blob) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let out = '';
  for (let i = 0; i < 43; i++) {
    h = Math.imul(h ^ i, 2654435761) >>> 0;
    out += alphabet[h % 64];
  }
  return `SHA256:${out}`;
}

function parseLines(lines: readonly string[]): Result<KeySummary[]> {
  const keys: KeySummary[] = [];
  for (const line of lines) {
    if (/PRIVATE KEY/.test(line))
      return err(
        'ZFLASH_PRIVATE_KEY',
        'input',
        'This is a private key.',
        'Use the .pub file next to it.',
      );
    const [type, blob, ...rest] = line.trim().split(/\s+/);
    if (!type || !blob || !/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521))$/.test(type))
      return err(
        'ZFLASH_KEY_INVALID',
        'input',
        `"${line.slice(0, 30)}…" is not an SSH public key line.`,
        'Use the contents of a .pub file.',
      );
    keys.push({
      type,
      fingerprint: fakeFingerprint(blob),
      comment: rest.join(' '),
      bits: type === 'ssh-rsa' ? 3072 : 256,
      line: `${type} ${blob}${rest.length ? ` ${rest.join(' ')}` : ''}`,
    });
  }
  return ok(keys);
}

function imageInfo(path: string): ImageInfo {
  const name = path.split('/').pop() ?? path;
  const nixos = /nixos/i.test(name) && !/zeta/i.test(name);
  const other = /other|debian/i.test(name);
  return {
    path,
    name,
    compression: name.endsWith('.zst') ? 'zstd' : name.endsWith('.xz') ? 'xz' : 'none',
    fileSize: 1_024_458_752,
    size: 1_024_458_752,
    sizeIsExact: true,
    sha256: /nosum/.test(name)
      ? null
      : 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    sha256Source: /nosum/.test(name) ? null : 'sidecar',
    installer: nixos
      ? { kind: 'nixos', volumeLabel: 'nixos-minimal-25.11-x86_64', problem: null }
      : other
        ? { kind: 'other', volumeLabel: 'Debian 12', problem: null }
        : {
            kind: 'zeta',
            volumeLabel: 'zeta-0.2.0-x86_64',
            version: '0.2.0',
            payloadSchemas: [1, 2],
            nixpkgsRev: 'a'.repeat(40),
            system: 'x86_64-linux',
            problem: null,
          },
    installerSummary: nixos
      ? 'NixOS installer without Zeta (nixos-minimal-25.11-x86_64)'
      : other
        ? 'other image (ISO "Debian 12"): not a NixOS or Zeta installer'
        : 'Zeta installer v0.2.0 (reads payload schemas 1, 2; x86_64-linux)',
    nixosRelease: nixos ? '25.11' : null,
    esp: {
      partition: 2,
      source: 'mbr',
      offset: 137_216,
      size: 3_145_728,
      fatType: 'FAT12',
      label: 'EFIBOOT',
      serial: '1234-5678',
      freeBytes: 1_212_416,
      clusterSize: 2048,
      fatsIdentical: true,
      payloadFits: true,
      payloadProblem: null,
    },
    existingHostname: null,
    notices: [],
  };
}

export function rosterNode(hostname: string, extra: Partial<RosterNode> = {}): RosterNode {
  return {
    hostname,
    status: 'flashed',
    roles: [],
    keys: [
      {
        type: 'ssh-ed25519',
        fingerprint: SAMPLE_LOCAL_KEYS[0]?.fingerprint ?? '',
        comment: 'op@laptop',
      },
    ],
    image: { name: 'zeta-installer-0.2.0-x86_64.iso', sha256: null },
    medium: {
      kind: 'drive',
      device: '/dev/sdb',
      model: 'SanDisk Ultra USB 3.0',
      serial: null,
      size: 30_752_636_928,
    },
    flashedAt: '2026-12-01T06:30:00.000Z',
    appVersion: '0.1.0',
    online: null,
    history: [],
    ...extra,
  };
}

export const SAMPLE_CATALOG: Catalog = {
  manifestUrl: 'https://github.com/zeta/releases/latest/download/manifest.json',
  version: '0.2.0',
  date: '2026-11-20T12:00:00Z',
  images: [
    {
      arch: 'x86_64-linux',
      version: '0.2.0',
      date: '2026-11-20T12:00:00Z',
      size: 1_024_458_752,
      sha256: 'ab'.repeat(32),
      fileName: 'zeta-installer-0.2.0-x86_64-linux.iso',
      cachedPath: null,
    },
    {
      arch: 'aarch64-linux',
      version: '0.2.0',
      date: '2026-11-20T12:00:00Z',
      size: 998_244_352,
      sha256: 'cd'.repeat(32),
      fileName: 'zeta-installer-0.2.0-aarch64-linux.iso',
      cachedPath: null,
    },
  ],
};

const QR_PLACEHOLDER =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 21 21" shape-rendering="crispEdges"><rect width="21" height="21" fill="#fff"/><path d="M1 1h7v7H1zM13 1h7v7h-7zM1 13h7v7H1z" fill="none" stroke="#000"/><path d="M3 3h3v3H3zM15 3h3v3h-3zM3 15h3v3H3zM10 10h2v2h-2z" fill="#000"/></svg>';

export function createFakeApi(opts: FakeOptions = {}): { api: ZflashApi; control: FakeControl } {
  const auto = opts.auto ?? true;
  let drives: AssessedDrive[] = [...(opts.drives ?? SAMPLE_DRIVES)];
  const localKeys = [...(opts.localKeys ?? SAMPLE_LOCAL_KEYS)];
  const settings: Settings = {
    lastImage: null,
    keyLines: [],
    namePattern: 'node-{nn}',
    ...opts.settings,
  };
  const picks = {
    image: '/home/op/Downloads/zeta-installer-0.2.0-x86_64.iso',
    key: null,
    ...opts.picks,
  };
  const driveListeners = new Set<Listener<DriveEvent>>();
  const flashListeners = new Set<Listener<FlashSnapshot>>();
  const diagListeners = new Set<Listener<Record<string, never>>>();
  const rosterListeners = new Set<Listener<RosterView>>();
  const downloadListeners = new Set<Listener<DownloadProgress>>();
  const fileListeners = new Set<Listener<{ path: string }>>();
  let openedFile: string | null = opts.openedFile ?? null;
  let roster: RosterNode[] = [...(opts.roster ?? [])];
  const catalog: Catalog | null = opts.catalog === undefined ? SAMPLE_CATALOG : opts.catalog;
  let download: {
    arch: Arch;
    resolve: (r: Result<{ path: string; cached: boolean; resumedFrom: number }>) => void;
  } | null = null;
  const rosterView = (): RosterView => ({
    path: '/home/op/.local/share/zeta-flash/roster.json',
    nodes: [...roster],
    notices: [],
  });
  const announceRoster = () => {
    for (const l of rosterListeners) l(rosterView());
  };
  const sessions = new Map<string, FlashSnapshot>();
  const plans = new Map<string, { device: string; hostname: string }>();
  const manyPlans = new Map<string, { device: string; hostname: string }[]>();
  /** The drives written by one helper run together: cancelling one cancels them all. */
  const runsOf = new Map<string, readonly string[]>();
  const flashedNames = new Set<string>();
  const timers = new Map<string, ReturnType<typeof setInterval>>();
  const calls: { method: string; request: unknown }[] = [];
  let planCounter = 0;

  const later = <T>(value: T): Promise<T> =>
    new Promise((resolve) => setTimeout(() => resolve(value), auto ? 60 : 0));
  const record = (method: string, request: unknown = {}) => calls.push({ method, request });

  function emitSession(s: FlashSnapshot) {
    sessions.set(s.device, s);
    if (s.session.status === 'done' && !flashedNames.has(s.hostname)) {
      flashedNames.add(s.hostname);
      const known = roster.find((n) => n.hostname === s.hostname);
      const record = rosterNode(s.hostname, {
        status: known ? 're-flashed' : 'flashed',
        flashedAt: new Date().toISOString(),
        medium: { kind: 'drive', device: s.device, model: null, serial: null, size: null },
      });
      roster = [...roster.filter((n) => n.hostname !== s.hostname), record];
      announceRoster();
    }
    for (const l of flashListeners) l(s);
  }

  function progress(device: string, phase: 'writing' | 'verifying', percent: number) {
    const s = sessions.get(device);
    if (!s) return;
    const total = 1_024_458_752;
    const bytes = Math.round((total * percent) / 100);
    emitSession({
      ...s,
      session: {
        status: 'running',
        progress: {
          phase,
          step: phase === 'writing' ? 1 : 3,
          bytes,
          total,
          speed: 38_400_000,
          eta: (total - bytes) / 38_400_000,
          percent,
        },
        log: [],
      },
    });
  }

  function finish(device: string, outcome: 'done' | ErrorJson | 'cancelled') {
    const s = sessions.get(device);
    const t = timers.get(device);
    if (t) clearInterval(t);
    timers.delete(device);
    if (!s) return;
    const base = s.session.status === 'running' ? s.session : null;
    const prog = base?.progress ?? {
      phase: 'writing' as const,
      step: 1,
      bytes: 0,
      total: null,
      speed: 0,
      eta: null,
      percent: 0,
    };
    if (outcome === 'done') {
      emitSession({
        ...s,
        session: {
          status: 'done',
          progress: { ...prog, phase: 'verifying', percent: 100, eta: 0 },
          log: [],
          result: {
            type: 'result',
            device,
            bytesWritten: 1_024_458_752,
            digest: 'xxh64:0123456789abcdef',
            verified: true,
            imageSha256: null,
            esp: { partition: 2, offset: 137_216, fatType: 'FAT12', freeBytes: 1_190_000 },
            ejected: false,
          },
        },
      });
    } else {
      const error: ErrorJson =
        outcome === 'cancelled'
          ? {
              code: 'ZFLASH_CANCELLED',
              kind: 'cancelled',
              message: 'The flash was cancelled.',
              hint: 'Nothing was finished.',
              exitCode: 130,
            }
          : outcome;
      emitSession({
        ...s,
        session: {
          status: outcome === 'cancelled' ? 'cancelled' : 'failed',
          progress: prog,
          log: [],
          error,
        },
      });
    }
  }

  function run(device: string) {
    let percent = 0;
    let phase: 'writing' | 'verifying' = 'writing';
    timers.set(
      device,
      setInterval(() => {
        percent += 7;
        if (percent >= 100 && phase === 'writing') {
          phase = 'verifying';
          percent = 0;
        }
        if (percent >= 100) return finish(device, 'done');
        if (drives.find((d) => d.drive.device === device)?.drive.description.includes('Fake'))
          if (percent > 40)
            return finish(device, {
              code: 'ZFLASH_FAKE_CAPACITY',
              kind: 'io',
              message: `The stick stopped taking data at 409.6 MB although it reports 64.0 GB: it holds less than it claims (a fake-capacity stick) or is failing there.`,
              hint: 'Use another stick; this one loses data past that point.',
              exitCode: 4,
              details: { offset: 409_600_000 },
            });
        progress(device, phase, percent);
      }, 250),
    );
  }

  const nextName = (skip: readonly string[] = [], pattern = 'node-{nn}') => {
    for (let n = 1; n < 100; n++) {
      const name = pattern.replace(/\{n+\}/, (m) => String(n).padStart(m.length - 2, '0'));
      if (
        !skip.includes(name) &&
        !flashedNames.has(name) &&
        !roster.some((r) => r.hostname === name) &&
        ![...sessions.values()].some(
          (s) =>
            s.hostname === name &&
            s.session.status !== 'failed' &&
            s.session.status !== 'cancelled',
        )
      )
        return name;
    }
    return 'node-99';
  };
  const imageSummary = (path: string) => ({
    path,
    name: path.split('/').pop() ?? path,
    compression: 'none',
    size: 1_024_458_752,
    sizeIsExact: true,
    sha256: null,
    sha256Source: null,
  });

  const validate = (form: NodeForm) => {
    const parsed = parseLines(form.keys);
    if (!parsed.ok) return parsed;
    if (!parsed.value.length)
      return err('ZFLASH_NO_KEYS', 'input', 'No SSH public key was given.', 'Add a .pub file.');
    if (!/^(?!-)[a-z0-9-]{1,63}(?<!-)$/.test(form.hostname))
      return err(
        'ZFLASH_HOSTNAME_INVALID',
        'input',
        `"${form.hostname}" is not a valid hostname.`,
        'Use a-z, 0-9 and hyphens.',
      );
    return ok({
      hostname: form.hostname,
      keys: parsed.value,
      roles: [...form.roles],
      wifi: form.wifi ? { ssid: form.wifi.ssid } : null,
      password: form.password !== null,
      notices: [],
    });
  };

  const api: ZflashApi = {
    async appInfo() {
      record('appInfo');
      return later(
        ok({
          name: 'zeta-flash',
          version: '0.1.0',
          platform: 'linux',
          transport: 'web' as const,
          allowLoop: false,
          nixosFolder: '/opt/zeta-flash/nixos',
        }),
      );
    },
    async takeOpenedFile() {
      record('takeOpenedFile');
      const path = openedFile;
      openedFile = null;
      return later(ok(path));
    },
    async listDrives() {
      record('listDrives');
      return later(ok([...drives]));
    },
    async pickImage() {
      record('pickImage');
      return later(ok(picks.image));
    },
    async inspectImage({ path }) {
      record('inspectImage', { path });
      if (/missing/.test(path))
        return later(
          err('ZFLASH_IMAGE_NOT_FOUND', 'input', `${path} does not exist.`, 'Choose it again.'),
        );
      settings.lastImage = path;
      return later(ok(imageInfo(path)));
    },
    async pickKey() {
      record('pickKey');
      return later(ok(picks.key));
    },
    async readKey({ path }) {
      record('readKey', { path });
      if (!path.endsWith('.pub'))
        return later(
          err(
            'ZFLASH_PRIVATE_KEY',
            'input',
            `${path} is a private key.`,
            'Use the .pub file next to it.',
          ),
        );
      const r = parseLines([SAMPLE_KEY_LINE.replace('op@laptop', path.split('/').pop() ?? '')]);
      return later(r.ok ? ok({ keys: r.value, notices: [] }) : r);
    },
    async localKeys() {
      record('localKeys');
      return later(ok({ keys: [...localKeys], notices: [] }));
    },
    async validateNode(form) {
      record('validateNode', form);
      return later(validate(form));
    },
    async suggestName(req) {
      record('suggestName', req);
      return later(ok(nextName()));
    },
    async prepareFlash(req) {
      record('prepareFlash', req);
      const drive = drives.find((d) => d.drive.device === req.device);
      if (!drive)
        return later(
          err('ZFLASH_TARGET_NOT_FOUND', 'target', `${req.device} is gone.`, 'Plug it in again.'),
        );
      if (drive.verdict.status === 'refused')
        return later(
          err(
            'ZFLASH_DRIVE_REFUSED',
            'target',
            `${req.device} is refused: ${drive.verdict.reasons[0]?.message ?? ''}`,
            'Pick another drive.',
          ),
        );
      const node = validate(req.node);
      if (!node.ok) return later(node);
      if (roster.some((n) => n.hostname === req.node.hostname) && !req.reflash)
        return later(
          err(
            'ZFLASH_NAME_TAKEN',
            'input',
            `${req.node.hostname} is already in the roster.`,
            'Pick another name or re-flash it on purpose.',
          ),
        );
      const planId = `plan-${++planCounter}`;
      plans.set(planId, { device: req.device, hostname: req.node.hostname });
      return later(
        ok({
          planId,
          drive,
          image: {
            path: req.image,
            name: req.image.split('/').pop() ?? req.image,
            compression: 'none',
            size: 1_024_458_752,
            sizeIsExact: true,
            sha256: null,
            sha256Source: null,
          },
          node: node.value,
          espFreeBytes: 1_190_000,
        }),
      );
    },
    async startFlash({ planId, device }) {
      record('startFlash', { planId, device });
      const plan = plans.get(planId);
      plans.delete(planId);
      if (!plan || plan.device !== device)
        return later(
          err(
            'ZFLASH_CONFIRMATION_REQUIRED',
            'input',
            'This flash was not prepared.',
            'Confirm again.',
          ),
        );
      const snapshot: FlashSnapshot = {
        device,
        hostname: plan.hostname,
        startedAt: new Date().toISOString(),
        session: { status: 'idle' },
      };
      sessions.set(device, snapshot);
      runsOf.delete(device);
      if (auto) run(device);
      return later(ok(snapshot));
    },
    async prepareFlashMany(req) {
      record('prepareFlashMany', req);
      if (req.devices.length > 16)
        return later(
          err(
            'ZFLASH_TOO_MANY_DRIVES',
            'input',
            `${req.devices.length} drives were given; one flash writes at most 16.`,
            'Flash them in batches of up to 16.',
          ),
        );
      if (new Set(req.devices).size !== req.devices.length)
        return later(
          err('ZFLASH_DUPLICATE_DRIVE', 'input', 'A drive is named twice.', 'Name each once.'),
        );
      const chosen = [];
      for (const device of req.devices) {
        const drive = drives.find((d) => d.drive.device === device);
        if (!drive)
          return later(
            err('ZFLASH_TARGET_NOT_FOUND', 'target', `${device} is gone.`, 'Plug it in again.'),
          );
        if (drive.verdict.status === 'refused')
          return later(
            err(
              'ZFLASH_DRIVE_REFUSED',
              'target',
              `${device} is refused: ${drive.verdict.reasons[0]?.message ?? ''}`,
              'Pick another drive.',
            ),
          );
        chosen.push(drive);
      }
      for (const [id, p] of manyPlans)
        if (p.some((x) => req.devices.includes(x.device))) manyPlans.delete(id);
      const pending = [...plans.values(), ...[...manyPlans.values()].flat()].map((p) => p.hostname);
      const names: string[] = [];
      for (const _drive of chosen)
        names.push(nextName([...pending, ...names], req.hostPattern ?? undefined));
      const node = validate({ ...req.node, hostname: names[0] ?? 'node-01' });
      if (!node.ok) return later(node);
      const planId = `plan-${++planCounter}`;
      manyPlans.set(
        planId,
        chosen.map((d, i) => ({ device: d.drive.device, hostname: names[i] ?? '' })),
      );
      return later(
        ok({
          planId,
          image: imageSummary(req.image),
          node: node.value,
          drives: chosen.map((d, i) => ({
            device: d.drive.device,
            drive: d,
            hostname: names[i] ?? '',
            espFreeBytes: 1_190_000,
          })),
        }),
      );
    },
    async startFlashMany({ planId, devices }) {
      record('startFlashMany', { planId, devices });
      const plan = manyPlans.get(planId);
      manyPlans.delete(planId);
      const planned = plan?.map((p) => p.device).sort() ?? [];
      if (!plan || planned.join('\n') !== [...devices].sort().join('\n'))
        return later(
          err(
            'ZFLASH_CONFIRMATION_REQUIRED',
            'input',
            'This flash was not prepared.',
            'Confirm again.',
          ),
        );
      const snapshots = plan.map(({ device, hostname }): FlashSnapshot => {
        const snapshot: FlashSnapshot = {
          device,
          hostname,
          startedAt: new Date().toISOString(),
          session: { status: 'idle' },
        };
        sessions.set(device, snapshot);
        runsOf.set(device, planned);
        if (auto) run(device);
        return snapshot;
      });
      return later(ok(snapshots));
    },
    async cancelFlash({ device }) {
      record('cancelFlash', { device });
      const running = sessions.get(device)?.session.status === 'running';
      // One helper run writes a whole batch: cancelling one stick of it stops them all.
      if (running)
        setTimeout(() => {
          for (const d of runsOf.get(device) ?? [device])
            if (sessions.get(d)?.session.status === 'running') finish(d, 'cancelled');
        }, 0);
      return later(ok({ cancelled: running }));
    },
    async flashState() {
      record('flashState');
      return later(ok([...sessions.values()]));
    },
    async dismissFlash({ device }) {
      record('dismissFlash', { device });
      return later(ok({ dismissed: sessions.delete(device) }));
    },
    async diagnostics(req) {
      record('diagnostics', req);
      const lines = [
        'ZETA FLASH DIAGNOSTICS · 2026-12-01 06:30 UTC',
        req.error
          ? `${req.error.code} (${req.error.kind})`
          : 'No error. These are the facts as they are now.',
        ...(req.error ? [req.error.message] : []),
        '-'.repeat(72),
        `IMAGE  ${req.image ?? 'none'}`,
        `DRIVE  ${req.device ?? 'none'}`,
        'APP    zeta-flash 0.1.0 · fake api (npm run dev:ui) · linux',
        '-'.repeat(72),
        'WHAT TO DO NEXT',
        '1. Photograph this screen; the QR code holds the same facts.',
      ];
      return later(
        ok({
          text: `${lines.join('\n')}\n`,
          json: JSON.stringify({ v: 1, code: req.error?.code ?? null, device: req.device }),
          qrSvg: QR_PLACEHOLDER,
        }),
      );
    },
    async saveDiagnostics(req) {
      record('saveDiagnostics', req);
      return later(ok('/home/op/zflash-diagnostics.txt'));
    },
    async copyDiagnostics(req) {
      record('copyDiagnostics', req);
      return later(ok({}));
    },
    async getSettings() {
      record('getSettings');
      return later(ok({ settings: { ...settings }, notices: [] }));
    },
    async setSettings(patch) {
      record('setSettings', patch);
      Object.assign(settings, patch);
      return later(ok({ settings: { ...settings }, notices: [] }));
    },
    async listRoster() {
      record('listRoster');
      return later(ok(rosterView()));
    },
    async exportRoster(req) {
      record('exportRoster', req);
      return later(ok({ path: `/home/op/zeta-cluster.${req.format}` }));
    },
    async listInstallers() {
      record('listInstallers');
      return later(
        catalog
          ? ok(catalog)
          : err(
              'ZFLASH_CATALOG_UNREACHABLE',
              'io',
              'This build of Zeta Flash has no installer catalogue configured.',
              'Choose an installer image file instead.',
            ),
      );
    },
    async downloadInstaller({ arch }) {
      record('downloadInstaller', { arch });
      if (!catalog)
        return later(
          err('ZFLASH_CATALOG_UNREACHABLE', 'io', 'No installer catalogue.', 'Choose a file.'),
        );
      return new Promise((resolve) => {
        download = { arch, resolve };
        if (auto) {
          const total = catalog.images.find((i) => i.arch === arch)?.size ?? 1e9;
          let bytes = 0;
          const t = setInterval(() => {
            bytes = Math.min(total, bytes + total / 12);
            control.downloadProgress({ phase: 'download', bytes, total, resumedFrom: 0 });
            if (bytes >= total) {
              clearInterval(t);
              control.finishDownload();
            }
          }, 200);
        }
      });
    },
    async cancelDownload() {
      record('cancelDownload');
      const running = download;
      download = null;
      running?.resolve(
        err('ZFLASH_CANCELLED', 'cancelled', 'The download was cancelled.', 'Start it again.'),
      );
      return later(ok({ cancelled: running !== null }));
    },
    async openNixosFolder() {
      record('openNixosFolder');
      return later(ok({ path: '/opt/zeta-flash/nixos', opened: false }));
    },
    onDriveEvent(listener, { signal }) {
      if (signal.aborted) return;
      driveListeners.add(listener);
      signal.addEventListener('abort', () => driveListeners.delete(listener), { once: true });
    },
    onFlashSession(listener, { signal }) {
      if (signal.aborted) return;
      flashListeners.add(listener);
      signal.addEventListener('abort', () => flashListeners.delete(listener), { once: true });
    },
    onShowDiagnostics(listener, { signal }) {
      if (signal.aborted) return;
      diagListeners.add(listener);
      signal.addEventListener('abort', () => diagListeners.delete(listener), { once: true });
    },
    onFileOpened(listener, { signal }) {
      if (signal.aborted) return;
      fileListeners.add(listener);
      signal.addEventListener('abort', () => fileListeners.delete(listener), { once: true });
    },
    onRosterChanged(listener, { signal }) {
      if (signal.aborted) return;
      rosterListeners.add(listener);
      signal.addEventListener('abort', () => rosterListeners.delete(listener), { once: true });
    },
    onDownloadProgress(listener, { signal }) {
      if (signal.aborted) return;
      downloadListeners.add(listener);
      signal.addEventListener('abort', () => downloadListeners.delete(listener), { once: true });
    },
    pathForFile() {
      // Like the web shell: a page is never told where a dropped file lives.
      return '';
    },
  };

  const control: FakeControl = {
    openFile(path) {
      openedFile = path;
      for (const l of fileListeners) l({ path });
    },
    plug(drive) {
      drives = [...drives.filter((d) => d.drive.device !== drive.drive.device), drive];
      for (const l of driveListeners) l({ type: 'attach', drive });
    },
    unplug(device) {
      const drive = drives.find((d) => d.drive.device === device);
      drives = drives.filter((d) => d.drive.device !== device);
      if (drive) for (const l of driveListeners) l({ type: 'detach', drive });
    },
    progress,
    finish,
    downloadProgress(p) {
      for (const l of downloadListeners) l(p);
    },
    finishDownload() {
      const running = download;
      download = null;
      const image = catalog?.images.find((i) => i.arch === running?.arch);
      running?.resolve(
        ok({
          path: `/home/op/.cache/zeta-flash/${image?.fileName ?? 'zeta.iso'}`,
          cached: false,
          resumedFrom: 0,
        }),
      );
    },
    online(hostname, address) {
      const now = new Date().toISOString();
      roster = roster.map((n) =>
        n.hostname === hostname
          ? {
              ...n,
              status: 'online',
              online: { address, addresses: [address], firstSeen: now, lastSeen: now },
            }
          : n,
      );
      announceRoster();
    },
    calls,
    settings,
  };
  return { api, control };
}
