/**
 * The application menu: the usual roles, plus "Diagnostics" (the photo-friendly screen, at any
 * time, not only after a failure) and "Open the Bundled NixOS Folder". Pure data so a test
 * can read it without Electron.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  showDiagnostics(): void;
  openNixosFolder(): void;
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
        label: 'Open the Bundled NixOS Folder',
        click: () => actions.openNixosFolder(),
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
