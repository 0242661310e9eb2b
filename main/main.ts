/**
 * The Electron main process: glue between Electron and the engine. It never runs as root;
 * flashing goes through the engine's privileged one-shot helper (app/helper), started per
 * flash. Security settings live in ./security.ts as data, checked item by item by
 * ./security.test.ts; this file wires them in:
 *
 * - one instance (a second launch focuses the first window, and hands it the file it was
 *   opened with);
 * - the file the OS opened the app with (argv, macOS `open-file`, a second launch's argv) is
 *   kept until the window takes it (`app:opened-file`), and pushed when it arrives later;
 * - the renderer is served by the `app://zflash` protocol with a strict CSP, never file://;
 * - every permission request is denied; navigation, new windows and <webview> are refused;
 * - IPC: one handle per channel of the contract, each checking the sender frame first.
 */
import {
  DEFAULT_MANIFEST_URL,
  RELEASE_PUBLIC_KEYS,
  defaultCacheDir,
  trustedKeys,
} from '../app/catalog/index.js';
import { rosterPathFromEnv } from '../app/roster/paths.js';
import { arch, homedir, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  app,
  BrowserWindow,
  clipboard,
  dialog,
  Menu,
  protocol,
  session,
  shell,
  type OpenDialogOptions,
} from 'electron';
import { HELPER_ENTRY } from '../app/helper/client.js';
import { APP } from '../app/version.js';
import { absolutePath } from './ipc/contract.js';
import { broadcastToWindows, registerIpc } from './ipc/electron-ipc.js';
import { createMainService, type Dialogs } from './ipc/handlers.js';
import { helperLaunchFor, stageHelper } from './helper-command.js';
import { menuTemplate } from './menu.js';
import { isRegularFile, OpenedFile, openedFileFromArgv } from './opened-file.js';
import { appResources, isoBuildHelp, missingResources, type AppResources } from './resources.js';
import {
  APP_SCHEME,
  builtPaths,
  denyAllPermissions,
  hardenContents,
  RENDERER_URL,
  serveAppRequest,
  windowOptions,
} from './security.js';

const DIST = dirname(dirname(fileURLToPath(import.meta.url)));
const BUILT = builtPaths(DIST);

// Before `ready`: app:// behaves like https (standard, secure), with no fetch or CORS powers.
protocol.registerSchemesAsPrivileged([
  {
    scheme: APP_SCHEME,
    privileges: { standard: true, secure: true, supportFetchAPI: false, corsEnabled: false },
  },
]);

const IMAGE_FILTERS = [
  { name: 'Installer images', extensions: ['iso', 'img', 'raw', 'xz', 'zst', 'gz', 'bz2', 'zip'] },
  { name: 'All files', extensions: ['*'] },
];

async function openOne(window: unknown, options: OpenDialogOptions): Promise<string | null> {
  const result =
    window instanceof BrowserWindow
      ? await dialog.showOpenDialog(window, options)
      : await dialog.showOpenDialog(options);
  return result.canceled ? null : (result.filePaths[0] ?? null);
}

const dialogs: Dialogs = {
  pickImage: (window) =>
    openOne(window, {
      title: 'Choose the installer image',
      properties: ['openFile'],
      filters: IMAGE_FILTERS,
    }),
  pickKey: (window) =>
    openOne(window, {
      title: 'Choose an SSH public key (.pub)',
      defaultPath: join(homedir(), '.ssh'),
      properties: ['openFile', 'showHiddenFiles'],
      filters: [
        { name: 'Public keys', extensions: ['pub'] },
        { name: 'All files', extensions: ['*'] },
      ],
    }),
  saveDiagnostics: async (window, defaultName) => {
    const options = {
      title: 'Save diagnostics',
      defaultPath: join(app.getPath('documents'), defaultName),
    };
    const result =
      window instanceof BrowserWindow
        ? await dialog.showSaveDialog(window, options)
        : await dialog.showSaveDialog(options);
    return result.canceled || !result.filePath ? null : result.filePath;
  },
};

function createWindow(): BrowserWindow {
  // Electronegativity cannot see into windowOptions() (main/security.ts): contextIsolation and
  // sandbox are on there, checked item by item by security.test.ts, and every new window (the
  // middle-click "auxclick" one too) is denied by hardenContents on every WebContents.
  const win = new BrowserWindow(windowOptions(BUILT.preload, { devTools: !app.isPackaged })); // eng-disable CONTEXT_ISOLATION_JS_CHECK SANDBOX_JS_CHECK AUXCLICK_JS_CHECK
  win.once('ready-to-show', () => win.show());
  void win.loadURL(RENDERER_URL);
  return win;
}

function focusWindow(): void {
  const [win] = BrowserWindow.getAllWindows();
  if (!win) return;
  if (win.isMinimized()) win.restore();
  win.focus();
}

/** The image the OS opened the app with (electron-builder.yml fileAssociations), until taken. */
const openedFile = new OpenedFile();

/** Where a launch's argv is read from: packaged `[app, file]`, or `electron . file`. */
const argvFile = (argv: readonly string[], cwd: string): string | null =>
  openedFileFromArgv(argv, { platform: process.platform, isPackaged: app.isPackaged, cwd });

/**
 * A launch or an open request from the OS, with the file it carries (null: none, or not an
 * image file). Before the window runs the file is only kept: the page asks for it when it
 * starts. Later it is also pushed, and the window comes to the front either way.
 */
function fileOpened(path: string | null): void {
  if (path !== null && absolutePath.safeParse(path).success && isRegularFile(path)) {
    openedFile.remember(path);
    if (app.isReady()) broadcastToWindows('app:file-opened', { path });
  }
  if (app.isReady()) focusWindow();
}

/**
 * The helper's argv (main/helper-command.ts). An AppImage's helper is first copied out of the
 * FUSE mount root cannot read, into XDG_RUNTIME_DIR (else our userData), for this run.
 */
async function resolveHelperCommand(
  resources: AppResources,
): Promise<readonly string[] | undefined> {
  const launch = helperLaunchFor({
    platform: process.platform,
    execPath: process.execPath,
    electron: process.versions.electron,
    entry: HELPER_ENTRY,
    isPackaged: app.isPackaged,
    helperDir: resources.helper,
    appImage: process.env['APPIMAGE'],
  });
  switch (launch.kind) {
    case 'engine-default':
      return undefined;
    case 'command':
      return launch.command;
    case 'staged': {
      try {
        const staged = await stageHelper({
          source: launch.source,
          executable: launch.executable,
          base: process.env['XDG_RUNTIME_DIR'] ?? app.getPath('userData'),
        });
        app.on('will-quit', () => staged.dispose());
        return staged.command;
      } catch (err) {
        // The window still opens; a flash then fails with pkexec's own reason, in the app.
        console.error(`zeta-flash: could not copy the helper out of the AppImage: ${String(err)}`);
        return [join(launch.source, launch.executable)];
      }
    }
  }
}

/** Help menu: where the bundled flake is, how to build the ISO; open the folder or copy. */
async function showNixosFolder(resources: AppResources): Promise<void> {
  const help = isoBuildHelp(resources, process.platform);
  const options = {
    type: 'info' as const,
    title: help.title,
    message: help.message,
    detail: help.detail,
    buttons: ['Open Folder', 'Copy Command', 'Close'],
    defaultId: 0,
    cancelId: 2,
    noLink: true,
  };
  const win = BrowserWindow.getFocusedWindow() ?? BrowserWindow.getAllWindows()[0];
  const { response } = win
    ? await dialog.showMessageBox(win, options)
    : await dialog.showMessageBox(options);
  if (response === 0) await shell.openPath(resources.nixos);
  if (response === 1) clipboard.writeText(help.command);
}

async function start(): Promise<void> {
  denyAllPermissions(session.defaultSession);
  protocol.handle(APP_SCHEME, (request) => serveAppRequest(BUILT.renderer, request));

  const resources = appResources({
    isPackaged: app.isPackaged,
    resourcesPath: process.resourcesPath,
    appPath: app.getAppPath(),
  });
  const missing = missingResources(resources);
  if (missing.length > 0) console.error(`zeta-flash: missing resources: ${missing.join(', ')}`);
  const nixosFolder = resources.nixos;
  const helperCommand = await resolveHelperCommand(resources);
  const service = createMainService({
    app: APP,
    runtime: `electron ${process.versions.electron ?? '?'}, node ${process.versions.node}`,
    transport: 'electron',
    os: { platform: process.platform, release: release(), arch: arch() },
    paths: {
      userData: app.getPath('userData'),
      home: homedir(),
      nixosFolder,
      // The same roster and download cache as the zflash command: one cluster, one cache.
      roster: rosterPathFromEnv({
        platform: process.platform,
        env: process.env,
        homedir: homedir(),
      }),
      cache: defaultCacheDir({ platform: process.platform, env: process.env, homedir: homedir() }),
    },
    catalog: {
      manifestUrl: process.env['ZFLASH_MANIFEST_URL'] || DEFAULT_MANIFEST_URL,
      keys: () => trustedKeys(RELEASE_PUBLIC_KEYS),
    },
    allowLoop: process.platform === 'linux' && process.env['ZFLASH_ALLOW_LOOP'] === '1',
    dialogs,
    clipboard: { writeText: (text) => clipboard.writeText(text) },
    openFolder: async (path) => (await shell.openPath(path)) === '',
    openedFile,
    broadcast: broadcastToWindows,
    // main/ is a front end: the environment (PATH, to find pkexec) is passed from here.
    helper: { env: process.env, ...(helperCommand ? { helperCommand } : {}) },
  });
  registerIpc(service.handlers, { validateResponses: !app.isPackaged });

  const watching = new AbortController();
  void service.watchDrives(watching.signal);
  // Nodes coming online (mDNS): a network that forbids multicast only means none are seen.
  void service.watchRoster(watching.signal).catch(() => undefined);
  app.on('will-quit', () => watching.abort());
  // A quit in the middle of a flash cancels it (the helper leaves no table on a cancelled
  // stick, so it cannot pass for a finished one) and waits for the helper to stop.
  let quitting = false;
  app.on('before-quit', (e) => {
    if (quitting || !service.sessions.list().some((s) => service.sessions.isRunning(s.device)))
      return;
    e.preventDefault();
    quitting = true;
    void service.dispose().finally(() => app.quit());
  });

  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      menuTemplate(
        {
          showDiagnostics: () => {
            const win = BrowserWindow.getFocusedWindow() ?? BrowserWindow.getAllWindows()[0];
            win?.webContents.send('app:show-diagnostics', {});
          },
          showNixosFolder: () => void showNixosFolder(resources),
        },
        process.platform,
      ),
    ),
  );
  createWindow();
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  // Windows and Linux: the double-clicked file is on the command line. macOS: `open-file`,
  // before `ready` when it launched the app, so it is listened for from the start.
  fileOpened(argvFile(process.argv, process.cwd()));
  app.on('open-file', (e, path) => {
    e.preventDefault();
    fileOpened(path);
  });
  app.on('second-instance', (_e, argv, workingDirectory) =>
    fileOpened(argvFile(argv, workingDirectory)),
  );
  // Every WebContents, including any a page might try to create, gets the same locks.
  app.on('web-contents-created', (_e, contents) => hardenContents(contents));
  app.on('window-all-closed', () => app.quit());
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  void app.whenReady().then(start);
}
