/**
 * The store's shape, one slice per concern. Each slice keeps its data under its own key (read
 * through the selectors in ./selectors.ts) and its actions at the top level. Slices reach the
 * engine only through `api` (window.zflash, or a fake in tests), injected when the store is
 * made — nothing here touches a global.
 */
import type { StoreApi } from 'zustand';
import type {
  AppInfo,
  Arch,
  AssessedDrive,
  Catalog,
  DiagnosticsView,
  DriveEvent,
  ErrorJson,
  FlashSnapshot,
  ImageInfo,
  KeySummary,
  LocalKey,
  Notice,
  DownloadProgress,
  ExportFormat,
  Role,
  RosterView,
  ZflashApi,
} from '../lib/api.js';
import type { Screen, Step, StepKind } from './steps.js';

export interface ShellState {
  /** `ready`: the first screen has its data and takes input (the rest may still load). */
  readonly boot: 'loading' | 'ready';
  /** Everything the window loads at start is in (drives, keys, the name, the last image). */
  readonly loaded: boolean;
  readonly info: AppInfo | null;
  readonly step: Step;
  readonly screen: Screen;
  /** Quiet notes (a damaged settings file, a lowercased name): shown once, dismissable. */
  readonly notices: readonly Notice[];
}

export interface ImageState {
  readonly path: string | null;
  readonly info: ImageInfo | null;
  readonly busy: boolean;
  readonly error: ErrorJson | null;
  /** A plain sentence about a drop that could not be used (a folder, no path in a browser). */
  readonly dropMessage: string | null;
}

export interface NodeState {
  readonly hostname: string;
  /** The name main suggested last; the field follows it until the operator types. */
  readonly suggested: string | null;
  readonly edited: boolean;
  readonly roles: readonly Role[];
  readonly wifiOn: boolean;
  readonly ssid: string;
  /** Kept in this window only, to derive the PSK; never sent. */
  readonly passphrase: string;
  readonly psk: string | null;
  readonly passwordOn: boolean;
  readonly password: string;
  readonly eraseAny: boolean;
  /** Re-flashing a node the roster has, on purpose (chosen on the Cluster screen). */
  readonly reflash: boolean;
  readonly error: ErrorJson | null;
}

export interface KeysState {
  /** The keys that go on the stick, in the order chosen. */
  readonly chosen: readonly KeySummary[];
  /** ~/.ssh/*.pub, once listed. */
  readonly local: readonly LocalKey[] | null;
  readonly busy: boolean;
  /** The calm refusal of a dropped private key (no byte of it is kept). */
  readonly refusal: string | null;
  readonly error: ErrorJson | null;
  readonly notices: readonly Notice[];
}

export interface DrivesState {
  readonly list: readonly AssessedDrive[];
  readonly loaded: boolean;
  readonly selected: string | null;
  /** "Several sticks at once": `chosen` is what gets flashed, not `selected`. */
  readonly multi: boolean;
  /** The sticks ticked for a several-stick flash, in the order ticked. */
  readonly chosen: readonly string[];
  /** The operator picked by hand: no automatic pick overrides it. */
  readonly userChose: boolean;
  /** Drives whose warnings the operator acknowledged (by device). */
  readonly acknowledged: readonly string[];
  /** Drives flashed in this run: never picked by themselves again. */
  readonly used: readonly string[];
  /** Drives present when "Flash next node" was clicked; a stick plugged in after is the next. */
  readonly baseline: readonly string[] | null;
  readonly scanError: ErrorJson | null;
}

export interface FlashState {
  readonly sessions: Readonly<Record<string, FlashSnapshot>>;
  readonly busy: 'preparing' | 'starting' | 'cancelling' | null;
  /** An error the operator fixes in a form (shown inline on the drive or review step). */
  readonly error: ErrorJson | null;
  readonly message: string | null;
  /** Nodes flashed in this run, oldest first. */
  readonly flashed: readonly { readonly device: string; readonly hostname: string }[];
}

export interface ClusterState {
  /** The roster as main last sent it (roster:list, roster:changed); null until loaded. */
  readonly view: RosterView | null;
  readonly error: ErrorJson | null;
  readonly message: string | null;
}

export interface CatalogState {
  /** The signed release manifest, once asked for; null before or when unavailable. */
  readonly catalog: Catalog | null;
  /** Why there is no catalogue (none configured, unreachable, not signed). */
  readonly error: ErrorJson | null;
  readonly loading: boolean;
  /** The download running now, and its last progress. */
  readonly downloading: Arch | null;
  readonly progress: DownloadProgress | null;
}

export interface DiagnosticsState {
  readonly view: DiagnosticsView | null;
  readonly busy: boolean;
  readonly error: ErrorJson | null;
  readonly message: string | null;
}

export interface Actions {
  /** Loads what the window needs; subscribes to push events until `signal` aborts. */
  start(signal: AbortSignal): Promise<void>;
  goTo(step: StepKind): void;
  dismissNotice(code: string): void;

  pickImage(): Promise<void>;
  useImage(path: string): Promise<void>;
  dropImage(file: File): Promise<void>;
  /** Asks main for the file the OS opened the app with (once) and opens it. */
  takeOpenedFile(): Promise<void>;
  /** A file the OS opened the app with: used as a pick in the image step, unless a flash runs. */
  openImageFile(path: string): Promise<void>;

  setHostname(value: string): void;
  suggestName(): Promise<void>;
  toggleRole(role: Role): void;
  setWifi(patch: { on?: boolean; ssid?: string; passphrase?: string }): void;
  setPassword(patch: { on?: boolean; value?: string }): void;
  setEraseAny(on: boolean): void;
  submitNode(): Promise<boolean>;

  loadLocalKeys(): Promise<void>;
  toggleKey(key: KeySummary): void;
  removeKey(fingerprint: string): void;
  pickKeyFile(): Promise<void>;
  dropKeyFile(file: File): Promise<void>;
  clearKeyRefusal(): void;

  applyDriveEvent(e: DriveEvent): void;
  refreshDrives(): Promise<void>;
  selectDrive(device: string): void;
  /** Several sticks at once: on ticks every ready stick; off goes back to one. */
  setMulti(on: boolean): void;
  chooseDrive(device: string, on: boolean): void;
  acknowledge(device: string, on: boolean): void;

  prepare(): Promise<void>;
  startFlash(): Promise<void>;
  cancelFlash(): Promise<void>;
  applySession(s: FlashSnapshot): void;
  flashNext(): Promise<void>;

  loadRoster(): Promise<void>;
  openCluster(): void;
  closeCluster(): void;
  exportRoster(format: ExportFormat): Promise<void>;
  /** Re-flash a node of the roster: its name and roles, erase anyway, then the stick step. */
  reflashNode(hostname: string): Promise<void>;

  loadCatalog(): Promise<void>;
  downloadInstaller(arch: Arch): Promise<void>;
  cancelDownload(): Promise<void>;

  openDiagnostics(error: ErrorJson | null, device: string | null): Promise<void>;
  closeDiagnostics(): void;
  saveDiagnostics(): Promise<void>;
  copyDiagnostics(): Promise<void>;
}

export interface AppState extends Actions {
  readonly api: ZflashApi;
  readonly shell: ShellState;
  readonly image: ImageState;
  readonly node: NodeState;
  readonly keys: KeysState;
  readonly drives: DrivesState;
  readonly flash: FlashState;
  readonly cluster: ClusterState;
  readonly catalog: CatalogState;
  readonly diagnostics: DiagnosticsState;
}

export type AppStore = StoreApi<AppState>;
export type SetState = StoreApi<AppState>['setState'];
export type GetState = StoreApi<AppState>['getState'];
