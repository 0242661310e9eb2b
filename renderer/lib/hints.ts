/**
 * What to do next, worded for this window: the engine's hints are written for any front end
 * (and the CLI's name flags); here they name the app's own steps and buttons. One entry per
 * code of the engine's registry (app/errors.ts) — the Record's type makes a new code a compile
 * error until it is worded here.
 */
import type { ErrorCode, ErrorJson } from './api.js';

/** Where the operator fixes it: the step to go back to, if any. */
export type FixAt = 'image' | 'node' | 'keys' | 'drive' | null;

interface Advice {
  readonly hint: string;
  readonly fixAt: FixAt;
}

const a = (hint: string, fixAt: FixAt = null): Advice => ({ hint, fixAt });
const ENGINE = null;
const REPORT =
  'This is a bug in Zeta Flash. Photograph this screen (or save the diagnostics) and send it to us.';

/** A refusal because the drive is gone reads differently from one of a drive that is there. */
const refusedDrive = (e: ErrorJson): Advice =>
  /DRIVE_NOT_FOUND|DRIVE_NOT_LISTED|DRIVE_CHANGED/.test(JSON.stringify(e.details ?? {}))
    ? a('The stick is gone. Plug it in again and pick it; nothing was written.', 'drive')
    : a('Pick another stick: Zeta Flash will not erase this one.', 'drive');

const ADVICE: Record<ErrorCode, Advice | ((e: ErrorJson) => Advice) | typeof ENGINE> = {
  // input
  ZFLASH_USAGE: a(REPORT),
  ZFLASH_CONFIRMATION_REQUIRED: a(
    'Go back to the drive step and confirm the stick again.',
    'drive',
  ),
  ZFLASH_HOSTNAME_MISSING: a('Type a name for this node.', 'node'),
  ZFLASH_HOSTNAME_INVALID: a(
    'Change the node name: letters a–z, digits and hyphens, no hyphen at either end.',
    'node',
  ),
  ZFLASH_NO_KEYS: a(
    'Add at least one SSH public key (.pub): without one nobody can log in to the node.',
    'keys',
  ),
  ZFLASH_PRIVATE_KEY: a(
    'That was a private key: it stays on this computer. Choose the .pub file next to it.',
    'keys',
  ),
  ZFLASH_KEY_INVALID: a('Choose the .pub file again; this one is not an SSH public key.', 'keys'),
  ZFLASH_KEY_UNSUPPORTED: a(
    'Use an ed25519, ECDSA or RSA key. To make one: ssh-keygen -t ed25519.',
    'keys',
  ),
  ZFLASH_KEY_WEAK_RSA: a(
    'Use a stronger key. To make one: ssh-keygen -t ed25519 (or RSA with 3072 bits).',
    'keys',
  ),
  ZFLASH_KEY_OPTIONS: a('Choose the plain .pub file, not a line from authorized_keys.', 'keys'),
  ZFLASH_KEY_FILE_NOT_FOUND: a('The key file is gone; choose it again.', 'keys'),
  ZFLASH_KEY_FILE_UNREADABLE: a('Zeta Flash cannot read that file; choose another copy.', 'keys'),
  ZFLASH_KEY_FILE_TOO_LARGE: a(
    'Choose the small .pub file, not a whole folder or archive.',
    'keys',
  ),
  ZFLASH_KEY_FILE_BINARY: a('Choose the .pub file: it is a single line of text.', 'keys'),
  ZFLASH_ROLE_INVALID: a('Untick the role and tick it again.', 'node'),
  ZFLASH_WIFI_INCOMPLETE: a(
    'Type both the network name and its password, or turn Wi-Fi off.',
    'node',
  ),
  ZFLASH_WIFI_SSID_INVALID: a(
    'Check the network name: 1 to 32 bytes, as your devices show it.',
    'node',
  ),
  ZFLASH_WIFI_PASSPHRASE_INVALID: a('Check the Wi-Fi password: 8 to 63 characters.', 'node'),
  ZFLASH_PASSWORD_TOO_SHORT: a('Choose a longer console password, or leave it off.', 'node'),
  ZFLASH_PASSWORD_TOO_LONG: a('Choose a shorter console password.', 'node'),
  ZFLASH_PASSWORD_INVALID: a(
    'Use only characters a keyboard at the node can type (plain letters, digits, punctuation).',
    'node',
  ),
  ZFLASH_PASSWORD_HASH_INVALID: a('Type the password itself; Zeta Flash hashes it.', 'node'),
  ZFLASH_PASSWORD_CONFLICT: a('Give the password once.', 'node'),
  ZFLASH_SECRET_FILE: a('Type the password into the form instead.', 'node'),
  ZFLASH_CHECKSUM_INVALID: a('Check the .sha256 file beside the image: 64 hex digits.', 'image'),
  ZFLASH_IMAGE_NOT_FOUND: a('The image file is gone; choose it again.', 'image'),
  ZFLASH_HELPER_USAGE: a(REPORT),
  ZFLASH_HELPER_JOB: a('Try again. If it happens again, photograph this screen and tell us.'),
  ZFLASH_NAME_TAKEN: a('Choose another name: every node needs its own.', 'node'),
  // Only `zflash inject` changes an image in place; the app always flashes (it decompresses on the way).
  ZFLASH_IMAGE_COMPRESSED: ENGINE,
  ZFLASH_DUPLICATE_DRIVE: a('The same stick was chosen twice: pick each stick once.', 'drive'),
  ZFLASH_DUPLICATE_HOSTNAME: a('Two sticks got the same name: give each node its own.', 'node'),
  ZFLASH_TOO_MANY_DRIVES: a('Choose at most 16 sticks at a time.', 'drive'),
  // The netboot server is a command-line feature (zflash netboot serve): its words are the engine's.
  ZFLASH_MAC_INVALID: ENGINE,
  ZFLASH_MAC_TAKEN: ENGINE,
  ZFLASH_NETBOOT_ARTIFACTS: ENGINE,
  ZFLASH_NETBOOT_INTERFACE: ENGINE,
  ZFLASH_NETBOOT_UNSUPPORTED: ENGINE,
  ZFLASH_NETBOOT_TOOL_MISSING: ENGINE,
  ZFLASH_NETBOOT_DNSMASQ_FAILED: ENGINE,
  ZFLASH_NETBOOT_HTTP_FAILED: ENGINE,
  ZFLASH_NODE_UNKNOWN: a('Pick the node from the cluster list again.', 'node'),
  ZFLASH_NAME_PATTERN_INVALID: a('Use a name pattern such as node-{nn}.', 'node'),
  ZFLASH_ERASE_INVALID: a(
    'Set the node’s disk option again (erase only an empty disk, or erase it anyway).',
    'node',
  ),
  ZFLASH_ARCH_UNKNOWN: a(
    'Choose the installer for this computer type (x86_64 or aarch64).',
    'image',
  ),
  ZFLASH_CATALOG_URL_INVALID: ENGINE,
  ZFLASH_RELEASE_KEY_INVALID: ENGINE,
  // target
  ZFLASH_IMAGE_UNREADABLE: a('Zeta Flash cannot read the image; download it again.', 'image'),
  ZFLASH_IMAGE_EMPTY: a('The image file is empty; download it again.', 'image'),
  ZFLASH_IMAGE_TOO_SMALL: a('This is not a disk image; choose the installer .iso.', 'image'),
  ZFLASH_IMAGE_TOO_SHORT: a('The image is incomplete; download it again.', 'image'),
  ZFLASH_IMAGE_TRUNCATED: a('The image is incomplete; download it again.', 'image'),
  ZFLASH_IMAGE_CORRUPT: a('The compressed image is damaged; download it again.', 'image'),
  ZFLASH_IMAGE_UNSUPPORTED: a(
    'Choose an .iso or .img (it may be compressed: .xz, .zst, .gz).',
    'image',
  ),
  ZFLASH_IMAGE_ZIP_AMBIGUOUS: a('Unpack the zip and choose the image inside it.', 'image'),
  ZFLASH_CHECKSUM_MISMATCH: a(
    'The image differs from its .sha256: download it again. The stick was not changed.',
    'image',
  ),
  ZFLASH_NO_ESP: a('Choose a NixOS installer image: this one has no EFI partition.', 'image'),
  ZFLASH_MANY_ESPS: a(
    'Choose the NixOS installer image: this one has several EFI partitions.',
    'image',
  ),
  ZFLASH_GPT_CORRUPT: a('The image is damaged; download it again.', 'image'),
  ZFLASH_ESP_NOT_FAT: a('Choose a NixOS installer image; its EFI partition is not FAT.', 'image'),
  ZFLASH_ESP_CORRUPT: a('The image is damaged; download it again.', 'image'),
  ZFLASH_ESP_FULL: a(
    'Use fewer SSH keys, or the Zeta installer image, which leaves room.',
    'image',
  ),
  ZFLASH_ESP_ROOT_FULL: a(
    'Use the Zeta installer image, which leaves room for the node files.',
    'image',
  ),
  ZFLASH_ESP_NAME_TAKEN: a(
    'Use the plain installer image, not one that was changed by hand.',
    'image',
  ),
  ZFLASH_ESP_TOO_DEEP: a('Decompress the image first and choose the uncompressed file.', 'image'),
  ZFLASH_FAT_BAD_NAME: a(REPORT),
  ZFLASH_OUT_OF_RANGE: a('The image is damaged; download it again.', 'image'),
  ZFLASH_TARGET_NOT_FOUND: a('The stick is gone. Plug it in again and pick it.', 'drive'),
  ZFLASH_TARGET_NOT_A_DISK: a('Pick a USB stick from the list.', 'drive'),
  ZFLASH_TARGET_NOT_A_FILE: a('Pick a USB stick from the list.', 'drive'),
  ZFLASH_TARGET_EXISTS: ENGINE,
  ZFLASH_TARGET_READ_ONLY: a(
    'The stick is write-protected: slide its lock switch, or use another stick.',
    'drive',
  ),
  ZFLASH_TARGET_BUSY: a(
    'Close programs that use the stick (a file window, a copy in progress), then try again.',
    'drive',
  ),
  ZFLASH_TARGET_EMPTY: a(
    'The reader has no card in it; insert one, or use another stick.',
    'drive',
  ),
  ZFLASH_TARGET_TRUNCATED: a('Use another stick: this one ends early.', 'drive'),
  ZFLASH_TARGET_UNREADABLE: a('Unplug the stick, plug it in again, and pick it again.', 'drive'),
  ZFLASH_TARGET_FULL: ENGINE,
  ZFLASH_TARGET_FOLDER_MISSING: ENGINE,
  ZFLASH_TARGET_IS_IMAGE: a('Pick a stick: this is the drive the image itself is on.', 'drive'),
  ZFLASH_TARGET_LINK: ENGINE,
  ZFLASH_DRIVE_REFUSED: refusedDrive,
  ZFLASH_DRIVE_CHANGED: a(
    'The stick changed after it was checked. Pick it again; nothing was written.',
    'drive',
  ),
  ZFLASH_DRIVE_TOO_SMALL: a('Use a bigger stick: the image does not fit on this one.', 'drive'),
  ZFLASH_DRIVE_MOUNTED: a(
    'Something on the stick is open in a place Zeta Flash does not unmount. Eject it in your file manager, then try again.',
    'drive',
  ),
  ZFLASH_DRIVE_BUSY: a(
    'A program is using files on the stick. Close it (a file window, a copy), then try again.',
    'drive',
  ),
  ZFLASH_ELEVATION_UNAVAILABLE: ENGINE,
  ZFLASH_ELEVATION_DENIED: a(
    'Writing a stick needs your administrator password. Try again and accept the prompt.',
  ),
  ZFLASH_HELPER_START: a('Restart Zeta Flash and try again.'),
  ZFLASH_WATCH_TIMEOUT: ENGINE,
  ZFLASH_ISO_CORRUPT: a('The image is damaged; download it again.', 'image'),
  ZFLASH_NOT_ZETA_INSTALLER: a(
    'Use the Zeta installer image: a plain NixOS installer ignores the node settings.',
    'image',
  ),
  ZFLASH_INSTALLER_TOO_OLD: a('Use the Zeta installer of this release.', 'image'),
  ZFLASH_INSTALLER_TOO_NEW: a('Update Zeta Flash, or use the installer of this release.', 'image'),
  ZFLASH_CATALOG_SIGNATURE: ENGINE,
  ZFLASH_CATALOG_INVALID: ENGINE,
  ZFLASH_CATALOG_NO_IMAGE: ENGINE,
  ZFLASH_CACHE_UNWRITABLE: ENGINE,
  // io
  ZFLASH_WRITE_FAILED: a(
    'Plug the stick into another port, or use another stick, and flash again.',
    'drive',
  ),
  ZFLASH_READ_FAILED: a('Unplug the stick, plug it in again, and flash again.', 'drive'),
  ZFLASH_FAKE_CAPACITY: a(
    'Use another stick. This one holds less than it claims and loses data past that point.',
    'drive',
  ),
  ZFLASH_DRIVE_VANISHED: a('Keep the stick plugged in; plug it in again and flash again.', 'drive'),
  ZFLASH_VERIFY_MISMATCH: a(
    'The stick returned other data than was written: use another stick.',
    'drive',
  ),
  ZFLASH_VERIFY_PAYLOAD: a(
    'Flash the stick again; if it happens again, use another stick.',
    'drive',
  ),
  ZFLASH_UNMOUNT_FAILED: a(
    'Eject the stick in your file manager, plug it in again, and retry.',
    'drive',
  ),
  ZFLASH_DRIVE_SCAN_FAILED: a('Unplug and replug the stick; the list refreshes by itself.'),
  ZFLASH_HELPER_DIED: a('Flash again. If it happens again, photograph this screen and tell us.'),
  ZFLASH_ROSTER_UNREADABLE: ENGINE,
  ZFLASH_ROSTER_CORRUPT: ENGINE,
  ZFLASH_ROSTER_NEWER: ENGINE,
  ZFLASH_ROSTER_LOCKED: a('Close the other Zeta Flash window, then try again.'),
  ZFLASH_ROSTER_WRITE_FAILED: ENGINE,
  ZFLASH_MDNS_FAILED: ENGINE,
  ZFLASH_CATALOG_UNREACHABLE: a('Check the internet connection, then try again.'),
  ZFLASH_DOWNLOAD_FAILED: a('Try again: the download resumes where it stopped.'),
  ZFLASH_DOWNLOAD_CORRUPT: a('Download it again.'),
  // cancelled
  ZFLASH_CANCELLED: a('Nothing was finished. Start again when you are ready.'),
  // bug
  ZFLASH_INTERNAL: a(REPORT),
  ZFLASH_DECODER_MISSING: a('Reinstall Zeta Flash, or decompress the image first.', 'image'),
  ZFLASH_CATALOG_NO_KEY: a(REPORT),
  ZFLASH_NATIVE_MISSING: a('Reinstall Zeta Flash: a part of it is missing.'),
};

/** The renderer's wording of what to do next; the engine's hint where ours adds nothing. */
export function adviceFor(error: ErrorJson): Advice {
  const advice = ADVICE[error.code];
  if (typeof advice === 'function') return advice(error);
  return advice ?? { hint: error.hint, fixAt: null };
}

/** Failures a person fixes in a form stay inline; the others deserve the diagnostics screen. */
export function isFailure(error: ErrorJson): boolean {
  switch (error.kind) {
    case 'input':
    case 'cancelled':
      return false;
    case 'target':
    case 'io':
    case 'bug':
      return true;
  }
}
