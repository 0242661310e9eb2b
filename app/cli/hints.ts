/**
 * The CLI's own words for the hints that should name its flags and commands. The engine
 * gives every error a hint any front end could show ("choose another drive"); here the CLI
 * says how to do it with `zflash`. The desktop app words its own in the renderer.
 */
import type { ErrorCode, ZflashErrorJson } from '../errors.js';

const CLI_HINTS: Partial<Record<ErrorCode, string>> = {
  ZFLASH_DRIVE_REFUSED:
    'Choose a removable stick: `zflash drives` shows which drives are safe, and why.',
  ZFLASH_DRIVE_CHANGED: 'Replug the stick, look at `zflash drives` again, and flash again.',
  ZFLASH_TARGET_EXISTS: 'Give a new file name, or add --force to replace it.',
  ZFLASH_TARGET_NOT_A_FILE: 'Give a new file name for --target, or use --drive for a drive.',
  ZFLASH_TARGET_NOT_FOUND: 'Check the path; `zflash drives` lists the drives plugged in.',
  ZFLASH_CHECKSUM_MISMATCH:
    'Download the image again; if you gave --sha256, check you copied it from the same release.',
  ZFLASH_ELEVATION_UNAVAILABLE: 'Run the command as root, for example with sudo.',
  ZFLASH_CONFIRMATION_REQUIRED: 'Run it in a terminal to confirm, or add --yes in scripts.',
  ZFLASH_NO_KEYS:
    'Add --ssh-key ~/.ssh/id_ed25519.pub (the .pub file), or --ssh-key - to read keys from standard input (ssh-add -L | zflash …).',
  ZFLASH_HELPER_DIED:
    'Flash again; if it happens again, run with --json and report what it prints.',
};

/** The hint to print for an error: the CLI's wording where it has one, the engine's otherwise. */
export function cliHint(e: Pick<ZflashErrorJson, 'code' | 'hint'>): string {
  return CLI_HINTS[e.code] ?? e.hint;
}
