/**
 * How the desktop app starts the privileged helper (app/helper/entry.js). Under plain Node
 * the engine's default (`[process.execPath, entry]`) is right. Inside Electron,
 * `process.execPath` is the Electron binary, which opens a window unless ELECTRON_RUN_AS_NODE
 * is set — and elevation (pkexec, osascript) starts the helper with a clean environment, so
 * the variable is passed through `/usr/bin/env` in the argv itself (an argv array, no shell).
 *
 * Packaging replaces this: the packaged app ships its helper as its own executable and turns
 * the RunAsNode fuse off (security checklist item 19). Windows has no /usr/bin/env and UAC
 * drops the environment, so the development path there needs the packaged helper too.
 */
export interface HelperCommandInput {
  readonly platform: NodeJS.Platform;
  /** process.execPath */
  readonly execPath: string;
  /** process.versions.electron: set inside Electron. */
  readonly electron: string | undefined;
  /** app/helper/client.ts HELPER_ENTRY */
  readonly entry: string;
}

/** The argv before `write --job FILE`, or undefined for the engine's default. */
export function helperCommandFor(input: HelperCommandInput): readonly string[] | undefined {
  if (!input.electron) return undefined;
  if (input.platform === 'win32') return undefined;
  return ['/usr/bin/env', 'ELECTRON_RUN_AS_NODE=1', input.execPath, input.entry];
}
