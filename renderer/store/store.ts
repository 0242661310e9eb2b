/**
 * The window's one store (zustand, vanilla so tests drive it without React), made from slices.
 * The API is injected: window.zflash in the app, a fake in unit tests and `npm run dev:ui`.
 */
import { createStore } from 'zustand/vanilla';
import { settle, type ZflashApi } from '../lib/api.js';
import { catalogActions, initialCatalog } from './catalog-slice.js';
import { clusterActions, initialCluster } from './cluster-slice.js';
import { drivesActions, initialDrives } from './drives-slice.js';
import { flashActions, initialFlash } from './flash-slice.js';
import { imageActions, initialImage } from './image-slice.js';
import { initialKeys, keysActions, summarizeKeyLines } from './keys-slice.js';
import { initialNode, nodeActions } from './node-slice.js';
import { selectCanVisit } from './selectors.js';
import type {
  Actions,
  AppState,
  AppStore,
  DiagnosticsState,
  GetState,
  SetState,
  ShellState,
} from './types.js';

export const initialShell: ShellState = {
  boot: 'loading',
  loaded: false,
  info: null,
  step: { kind: 'image' },
  screen: { kind: 'wizard' },
  notices: [],
};

export const initialDiagnostics: DiagnosticsState = {
  view: null,
  busy: false,
  error: null,
  message: null,
};

function shellActions(
  set: SetState,
  get: GetState,
): Pick<
  Actions,
  | 'start'
  | 'goTo'
  | 'dismissNotice'
  | 'openDiagnostics'
  | 'closeDiagnostics'
  | 'saveDiagnostics'
  | 'copyDiagnostics'
> {
  const patchShell = (p: Partial<ShellState>) => set((s) => ({ shell: { ...s.shell, ...p } }));
  const patchDiag = (p: Partial<DiagnosticsState>) =>
    set((s) => ({ diagnostics: { ...s.diagnostics, ...p } }));
  const request = () => {
    const screen = get().shell.screen;
    return screen.kind === 'diagnostics'
      ? { error: screen.error, device: screen.device, image: get().image.path }
      : { error: null, device: null, image: get().image.path };
  };

  return {
    async start(signal) {
      const api = get().api;
      // Events first, so nothing that happens while the rest loads is missed.
      api.onDriveEvent((e) => get().applyDriveEvent(e), { signal });
      api.onFlashSession((s) => get().applySession(s), { signal });
      api.onShowDiagnostics(() => void get().openDiagnostics(null, null), { signal });
      api.onRosterChanged(
        (view) => set((s) => ({ cluster: { ...s.cluster, view, error: null } })),
        { signal },
      );
      api.onDownloadProgress((progress) => set((s) => ({ catalog: { ...s.catalog, progress } })), {
        signal,
      });
      // A file the OS opened the running app with (a second double-click): main keeps it
      // until a window takes it, so it is used once.
      api.onFileOpened(() => void get().takeOpenedFile(), { signal });

      // What the first screen needs before it takes input; the rest loads behind it.
      // The file the OS opened the app with (a double-clicked image) is asked once, here.
      const [info, settings, flashes, opened] = await Promise.all([
        settle(() => api.appInfo()),
        settle(() => api.getSettings()),
        settle(() => api.flashState()),
        settle(() => api.takeOpenedFile()),
      ]);
      if (signal.aborted) return;
      patchShell({
        info: info.ok ? info.value : null,
        notices: settings.ok ? settings.value.notices : [],
      });

      // A window that reloads during a flash goes back to watching it.
      if (flashes.ok) {
        for (const f of flashes.value) get().applySession(f);
        const running = flashes.value.filter(
          (f) => f.session.status === 'running' || f.session.status === 'idle',
        );
        const first = running[0];
        // Several at once were started together (one run): the window watches them all.
        if (running.length > 1)
          patchShell({
            step: {
              kind: 'flashing-many',
              sticks: running.map((f) => ({ device: f.device, hostname: f.hostname })),
            },
          });
        else if (first)
          patchShell({
            step: { kind: 'flashing', device: first.device, hostname: first.hostname },
          });
      }
      patchShell({ boot: 'ready' });

      const remembered = settings.ok ? settings.value.settings : null;
      await Promise.all([
        // First, so the image it sets wins over the image remembered from the last run.
        opened.ok && opened.value ? get().openImageFile(opened.value) : null,
        get().refreshDrives(),
        get().suggestName(),
        get().loadRoster(),
        (async () => {
          // The keys remembered from the last run come first; ~/.ssh's only key is pre-selected
          // only when nothing was remembered.
          const lines = remembered?.keyLines ?? [];
          const parsed = lines.length ? await summarizeKeyLines(api, lines) : null;
          if (parsed?.ok && get().keys.chosen.length === 0)
            set((s) => ({ keys: { ...s.keys, chosen: parsed.value.keys } }));
          await get().loadLocalKeys();
        })(),
        (async () => {
          // The image chosen last is inspected again; a file that has gone is forgotten quietly.
          if (!remembered?.lastImage || get().image.path) return;
          await get().useImage(remembered.lastImage);
          if (get().image.error?.code === 'ZFLASH_IMAGE_NOT_FOUND')
            set((s) => ({ image: { ...s.image, path: null, error: null } }));
        })(),
      ]);
      if (signal.aborted) return;
      patchShell({ loaded: true });
    },

    goTo(kind) {
      const s = get();
      if (!selectCanVisit(s, kind)) return;
      switch (kind) {
        case 'image':
        case 'node':
        case 'keys':
        case 'drive':
          set((st) => ({
            shell: { ...st.shell, step: { kind } },
            flash: { ...st.flash, error: null },
          }));
          if (kind === 'drive') void get().refreshDrives();
          return;
        case 'review':
          void get().prepare();
          return;
        case 'flashing':
        case 'done':
        case 'review-many':
        case 'flashing-many':
        case 'done-many':
          return;
      }
    },

    dismissNotice(code) {
      patchShell({ notices: get().shell.notices.filter((n) => n.code !== code) });
    },

    async openDiagnostics(error, device) {
      patchShell({ screen: { kind: 'diagnostics', error, device } });
      patchDiag({ view: null, busy: true, error: null, message: null });
      const r = await settle(() => get().api.diagnostics(request()));
      patchDiag(r.ok ? { view: r.value, busy: false } : { busy: false, error: r.error });
    },

    closeDiagnostics() {
      patchShell({ screen: { kind: 'wizard' } });
      patchDiag({ view: null, message: null, error: null });
    },

    async saveDiagnostics() {
      patchDiag({ message: null });
      const r = await settle(() => get().api.saveDiagnostics(request()));
      if (!r.ok) return patchDiag({ error: r.error });
      patchDiag({ message: r.value ? `Saved to ${r.value}` : null });
    },

    async copyDiagnostics() {
      patchDiag({ message: null });
      const r = await settle(() => get().api.copyDiagnostics(request()));
      if (!r.ok) return patchDiag({ error: r.error });
      patchDiag({ message: 'Copied: the text and the QR code’s JSON are on the clipboard.' });
    },
  };
}

export function createAppStore(api: ZflashApi): AppStore {
  return createStore<AppState>()((set, get) => ({
    api,
    shell: initialShell,
    image: initialImage,
    node: initialNode,
    keys: initialKeys,
    drives: initialDrives,
    flash: initialFlash,
    cluster: initialCluster,
    catalog: initialCatalog,
    diagnostics: initialDiagnostics,
    ...shellActions(set, get),
    ...imageActions(set, get),
    ...nodeActions(set, get),
    ...keysActions(set, get),
    ...drivesActions(set, get),
    ...flashActions(set, get),
    ...clusterActions(set, get),
    ...catalogActions(set, get),
  }));
}
