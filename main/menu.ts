/**
 * The application menu: the usual roles, plus "Diagnostics" (the photo-friendly screen, at any
 * time, not only after a failure) and the bundled NixOS flake (a dialog that opens its folder
 * and says how to build the installer ISO from it: main/resources.ts isoBuildHelp). Pure data so
 * a test can read it without Electron.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  showDiagnostics(): void;
  /** Says where the bundled flake is and how to build the ISO; offers to open the folder. */
  showNixosFolder(): void;
}

export function menuTemplate(
  actions: MenuActions,
  platform: NodeJS.Platform,
): MenuItemConstructorOptions[] {
  const help: MenuItemConstructorOptions = {
    label: 'Help',
    submenu: [
      {
        id: 'diagnostics',
        label: 'Diagnostics',
        accelerator: 'CmdOrCtrl+Shift+D',
        click: () => actions.showDiagnostics(),
      },
      {
        id: 'nixos-folder',
        label: 'Bundled NixOS Flake and Installer ISO…',
        click: () => actions.showNixosFolder(),
      },
    ],
  };
  return [
    ...(platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    { role: 'fileMenu' },
    { role: 'editMenu' },
    { role: 'windowMenu' },
    help,
  ];
}
