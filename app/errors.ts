/**
 * Every failure the engine reports carries a stable code, one plain sentence, a hint,
 * and the exit code the CLI (and the helper) ends with. User mistakes (`input`),
 * problems with the image or drive (`target`), write/verify failures (`io`) and
 * cancellation are kept apart so the UI and the diagnostics screen can say which is which.
 *
 * `ERROR_CODES` is the one registry: each code's kind and what it means. A front end can
 * switch over `ErrorCode` exhaustively; `docs/cli.md`'s table is generated from it
 * (`npm run docs:codes`, checked by app/errors.test.ts). Hints the engine gives are worded
 * for any front end; the CLI replaces those that should name its flags (app/cli/hints.ts).
 */

export const ExitCode = {
  ok: 0,
  bug: 1,
  input: 2,
  target: 3,
  io: 4,
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const ERROR_KINDS = ['input', 'target', 'io', 'cancelled', 'bug'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

interface CodeSpec {
  readonly kind: ErrorKind;
  /** What the code means, for docs/cli.md; the message itself says the particulars. */
  readonly doc: string;
}

export const ERROR_CODES = {
  // input: what the operator typed or chose
  ZFLASH_USAGE: { kind: 'input', doc: 'the command line is not understood' },
  ZFLASH_CONFIRMATION_REQUIRED: {
    kind: 'input',
    doc: 'erasing a drive needs a confirmation that could not be asked for',
  },
  ZFLASH_HOSTNAME_MISSING: { kind: 'input', doc: 'no hostname was given' },
  ZFLASH_HOSTNAME_INVALID: { kind: 'input', doc: 'the hostname is not an RFC 1123 label' },
  ZFLASH_NO_KEYS: { kind: 'input', doc: 'no usable SSH public key: the node would be unreachable' },
  ZFLASH_PRIVATE_KEY: { kind: 'input', doc: 'a private key was given where a public key belongs' },
  ZFLASH_KEY_INVALID: { kind: 'input', doc: 'an SSH key line cannot be parsed' },
  ZFLASH_KEY_UNSUPPORTED: { kind: 'input', doc: 'an SSH key type the node does not accept' },
  ZFLASH_KEY_WEAK_RSA: { kind: 'input', doc: 'an RSA key shorter than 2048 bits' },
  ZFLASH_KEY_OPTIONS: { kind: 'input', doc: 'a key line carries authorized_keys options' },
  ZFLASH_KEY_FILE_NOT_FOUND: { kind: 'input', doc: 'the key file does not exist' },
  ZFLASH_KEY_FILE_UNREADABLE: { kind: 'input', doc: 'the key file cannot be read' },
  ZFLASH_KEY_FILE_TOO_LARGE: { kind: 'input', doc: 'the key file is too large to be a key list' },
  ZFLASH_KEY_FILE_BINARY: { kind: 'input', doc: 'the key file is not text' },
  ZFLASH_ROLE_INVALID: { kind: 'input', doc: 'an unknown node role' },
  ZFLASH_WIFI_INCOMPLETE: {
    kind: 'input',
    doc: 'Wi-Fi needs both the network name and the passphrase',
  },
  ZFLASH_WIFI_SSID_INVALID: {
    kind: 'input',
    doc: 'the Wi-Fi network name is empty or longer than 32 bytes',
  },
  ZFLASH_WIFI_PASSPHRASE_INVALID: {
    kind: 'input',
    doc: 'the Wi-Fi passphrase is not 8–63 printable ASCII characters',
  },
  ZFLASH_PASSWORD_TOO_SHORT: { kind: 'input', doc: 'the password is too short' },
  ZFLASH_PASSWORD_TOO_LONG: { kind: 'input', doc: 'the password is too long' },
  ZFLASH_PASSWORD_INVALID: {
    kind: 'input',
    doc: 'the password holds characters a console cannot type',
  },
  ZFLASH_PASSWORD_HASH_INVALID: {
    kind: 'input',
    doc: 'the password hash is not sha512crypt or yescrypt',
  },
  ZFLASH_PASSWORD_CONFLICT: {
    kind: 'input',
    doc: 'both a password and a password hash were given',
  },
  ZFLASH_ERASE_INVALID: {
    kind: 'input',
    doc: 'the erase policy is not blank-only or any, or the target disk is not a serial or by-id name',
  },
  ZFLASH_SECRET_FILE: { kind: 'input', doc: 'a passphrase or password file cannot be read' },
  ZFLASH_CHECKSUM_INVALID: { kind: 'input', doc: 'the given SHA-256 is not 64 hex digits' },
  ZFLASH_IMAGE_NOT_FOUND: { kind: 'input', doc: 'the image file does not exist' },
  ZFLASH_HELPER_USAGE: {
    kind: 'input',
    doc: 'the privileged helper was started with unexpected arguments',
  },
  ZFLASH_HELPER_JOB: {
    kind: 'input',
    doc: 'the privileged helper refused its job file, its folder or its events file',
  },
  ZFLASH_NAME_TAKEN: {
    kind: 'input',
    doc: 'the hostname already belongs to a node in the roster (re-flash it on purpose, or pick another)',
  },
  ZFLASH_NODE_UNKNOWN: { kind: 'input', doc: 'a re-flash names a node the roster does not have' },
  ZFLASH_NAME_PATTERN_INVALID: {
    kind: 'input',
    doc: 'the node name pattern has no number or makes invalid hostnames',
  },
  ZFLASH_DUPLICATE_DRIVE: {
    kind: 'input',
    doc: 'one flash names the same drive twice (also by another path to it)',
  },
  ZFLASH_DUPLICATE_HOSTNAME: {
    kind: 'input',
    doc: 'one flash would give two sticks the same hostname',
  },
  ZFLASH_TOO_MANY_DRIVES: { kind: 'input', doc: 'more drives than one flash writes at once (16)' },
  ZFLASH_MAC_INVALID: {
    kind: 'input',
    doc: 'the MAC address is not six hex pairs of a network card',
  },
  ZFLASH_MAC_TAKEN: {
    kind: 'input',
    doc: 'another roster node already network-boots from this MAC address',
  },
  ZFLASH_NETBOOT_ARTIFACTS: {
    kind: 'input',
    doc: 'the netboot folder is not a NixOS netboot build (bzImage, initrd, netboot.ipxe)',
  },
  ZFLASH_NETBOOT_INTERFACE: {
    kind: 'input',
    doc: 'the network interface to serve on does not exist or has no IPv4 address',
  },
  ZFLASH_NETBOOT_UNSUPPORTED: {
    kind: 'input',
    doc: 'serving network boot works on Linux only',
  },
  ZFLASH_ARCH_UNKNOWN: { kind: 'input', doc: 'an installer architecture Zeta Flash does not know' },
  ZFLASH_CATALOG_URL_INVALID: {
    kind: 'input',
    doc: 'the release manifest URL is not https (http only on this computer)',
  },
  ZFLASH_RELEASE_KEY_INVALID: {
    kind: 'input',
    doc: 'the given release key is not an Ed25519 public key',
  },
  // target: the image, the drive or the file written to
  ZFLASH_IMAGE_UNREADABLE: { kind: 'target', doc: 'the image file cannot be read' },
  ZFLASH_IMAGE_EMPTY: { kind: 'target', doc: 'the image is empty' },
  ZFLASH_IMAGE_TOO_SMALL: {
    kind: 'target',
    doc: 'the image is too small to hold a partition table',
  },
  ZFLASH_IMAGE_TOO_SHORT: {
    kind: 'target',
    doc: 'the image ends before the data its tables describe',
  },
  ZFLASH_IMAGE_TRUNCATED: {
    kind: 'target',
    doc: 'a filesystem in the image claims more bytes than the image holds',
  },
  ZFLASH_IMAGE_CORRUPT: { kind: 'target', doc: 'a compressed image is damaged' },
  ZFLASH_IMAGE_UNSUPPORTED: { kind: 'target', doc: 'an image format Zeta Flash cannot read' },
  ZFLASH_IMAGE_COMPRESSED: {
    kind: 'target',
    doc: 'inject changes an image in place, and this image is compressed',
  },
  ZFLASH_IMAGE_ZIP_AMBIGUOUS: { kind: 'target', doc: 'a zip archive holds no image or several' },
  ZFLASH_CHECKSUM_MISMATCH: {
    kind: 'target',
    doc: "the image's SHA-256 differs from the expected one",
  },
  ZFLASH_NO_ESP: { kind: 'target', doc: 'the image or drive has no EFI System Partition' },
  ZFLASH_MANY_ESPS: { kind: 'target', doc: 'the image or drive has several EFI System Partitions' },
  ZFLASH_GPT_CORRUPT: { kind: 'target', doc: 'the GPT is damaged' },
  ZFLASH_ESP_NOT_FAT: { kind: 'target', doc: 'the EFI System Partition is not FAT' },
  ZFLASH_ESP_CORRUPT: { kind: 'target', doc: "the EFI System Partition's FAT is damaged" },
  ZFLASH_ESP_FULL: {
    kind: 'target',
    doc: 'the EFI System Partition has no room for the node files',
  },
  ZFLASH_ESP_ROOT_FULL: {
    kind: 'target',
    doc: "the EFI System Partition's root directory has no free entries",
  },
  ZFLASH_ESP_NAME_TAKEN: {
    kind: 'target',
    doc: 'a folder or read-only file already has a node file name',
  },
  ZFLASH_ESP_TOO_DEEP: {
    kind: 'target',
    doc: "a compressed image's EFI partition lies too deep to patch in memory",
  },
  ZFLASH_FAT_BAD_NAME: { kind: 'target', doc: 'a file name FAT cannot hold (a bug)' },
  ZFLASH_OUT_OF_RANGE: { kind: 'target', doc: 'a table points outside the image or drive' },
  ZFLASH_TARGET_NOT_FOUND: { kind: 'target', doc: 'the target path does not exist' },
  ZFLASH_TARGET_NOT_A_DISK: {
    kind: 'target',
    doc: 'the target is neither an image file nor a block device',
  },
  ZFLASH_TARGET_NOT_A_FILE: {
    kind: 'target',
    doc: 'the --target path exists and is not a regular file',
  },
  ZFLASH_TARGET_EXISTS: {
    kind: 'target',
    doc: 'the target file exists and overwriting was not asked for',
  },
  ZFLASH_TARGET_FOLDER_MISSING: {
    kind: 'target',
    doc: 'the folder the --target file should go in does not exist',
  },
  ZFLASH_TARGET_IS_IMAGE: {
    kind: 'target',
    doc: 'the --target file is the image itself (same file, a link to it, or a hard link)',
  },
  ZFLASH_TARGET_LINK: {
    kind: 'target',
    doc: 'the --target path is a symbolic link or a file with other hard links',
  },
  ZFLASH_TARGET_READ_ONLY: { kind: 'target', doc: 'the target is read-only or not permitted' },
  ZFLASH_TARGET_BUSY: { kind: 'target', doc: 'the target is in use by another program' },
  ZFLASH_TARGET_EMPTY: { kind: 'target', doc: 'the drive reports no medium' },
  ZFLASH_TARGET_TRUNCATED: { kind: 'target', doc: 'the target ends early' },
  ZFLASH_TARGET_UNREADABLE: { kind: 'target', doc: 'the target cannot be opened' },
  ZFLASH_TARGET_FULL: { kind: 'target', doc: 'the disk holding the target file ran out of space' },
  ZFLASH_DRIVE_REFUSED: { kind: 'target', doc: 'the drive policy refuses this drive' },
  ZFLASH_DRIVE_CHANGED: {
    kind: 'target',
    doc: 'the drive changed between the safety check and the write',
  },
  ZFLASH_DRIVE_MOUNTED: {
    kind: 'target',
    doc: 'a filesystem on the drive is mounted outside the removable-media places',
  },
  ZFLASH_DRIVE_BUSY: {
    kind: 'target',
    doc: 'a filesystem on the drive is in use and could not be unmounted',
  },
  ZFLASH_DRIVE_TOO_SMALL: { kind: 'target', doc: 'the drive is smaller than the image' },
  ZFLASH_ELEVATION_UNAVAILABLE: {
    kind: 'target',
    doc: 'no way to get the rights to write a drive',
  },
  ZFLASH_ELEVATION_DENIED: {
    kind: 'target',
    doc: 'the system refused the rights to write a drive (not authorized, no password prompt)',
  },
  ZFLASH_HELPER_START: { kind: 'target', doc: 'the privileged helper could not be started' },
  ZFLASH_WATCH_TIMEOUT: {
    kind: 'target',
    doc: 'some roster nodes did not come online before the watch timed out',
  },
  ZFLASH_ISO_CORRUPT: { kind: 'target', doc: "the image's ISO 9660 file system is damaged" },
  ZFLASH_NOT_ZETA_INSTALLER: {
    kind: 'target',
    doc: 'the image is not a Zeta installer: nothing on it reads the node identity',
  },
  ZFLASH_INSTALLER_TOO_OLD: {
    kind: 'target',
    doc: 'the Zeta installer does not read the payload schema this Zeta Flash writes',
  },
  ZFLASH_INSTALLER_TOO_NEW: {
    kind: 'target',
    doc: 'the Zeta installer only reads payload schemas newer than this Zeta Flash writes',
  },
  ZFLASH_CATALOG_SIGNATURE: {
    kind: 'target',
    doc: 'the release manifest is not signed by the release key',
  },
  ZFLASH_CATALOG_INVALID: {
    kind: 'target',
    doc: 'the release manifest is not one this Zeta Flash reads (format, fields, size)',
  },
  ZFLASH_CATALOG_NO_IMAGE: {
    kind: 'target',
    doc: 'the release has no installer image for that architecture',
  },
  ZFLASH_CACHE_UNWRITABLE: { kind: 'target', doc: 'the download cache folder cannot be written' },
  // io: writing, reading back, the environment
  ZFLASH_WRITE_FAILED: { kind: 'io', doc: 'a write failed' },
  ZFLASH_READ_FAILED: { kind: 'io', doc: 'a read failed' },
  ZFLASH_FAKE_CAPACITY: { kind: 'io', doc: 'the stick holds less than it claims' },
  ZFLASH_DRIVE_VANISHED: { kind: 'io', doc: 'the drive disappeared while it was written' },
  ZFLASH_VERIFY_MISMATCH: { kind: 'io', doc: 'the drive returned other data than was written' },
  ZFLASH_VERIFY_PAYLOAD: { kind: 'io', doc: 'the node files did not read back as written' },
  ZFLASH_UNMOUNT_FAILED: {
    kind: 'io',
    doc: "the drive's filesystems could not be unmounted (not because they are in use)",
  },
  ZFLASH_DRIVE_SCAN_FAILED: {
    kind: 'io',
    doc: 'the drives or the system tables could not be read',
  },
  ZFLASH_HELPER_DIED: { kind: 'io', doc: 'the privileged helper ended without saying why' },
  ZFLASH_ROSTER_UNREADABLE: { kind: 'io', doc: 'the roster file cannot be read' },
  ZFLASH_ROSTER_CORRUPT: {
    kind: 'io',
    doc: 'the roster and its backup are both damaged; nothing was written',
  },
  ZFLASH_ROSTER_NEWER: {
    kind: 'io',
    doc: 'the roster was written by a newer Zeta Flash; it is left as it is',
  },
  ZFLASH_ROSTER_LOCKED: {
    kind: 'io',
    doc: 'another Zeta Flash held the roster lock for too long',
  },
  ZFLASH_ROSTER_WRITE_FAILED: {
    kind: 'io',
    doc: 'the roster, its lock or an export file cannot be written',
  },
  ZFLASH_MDNS_FAILED: { kind: 'io', doc: 'listening for nodes on the network (mDNS) failed' },
  ZFLASH_NETBOOT_TOOL_MISSING: {
    kind: 'io',
    doc: 'dnsmasq or the iPXE binaries are not installed',
  },
  ZFLASH_NETBOOT_DNSMASQ_FAILED: {
    kind: 'io',
    doc: 'dnsmasq refused the configuration, could not take its ports, or stopped',
  },
  ZFLASH_NETBOOT_HTTP_FAILED: {
    kind: 'io',
    doc: 'the netboot HTTP server cannot listen on the interface',
  },
  ZFLASH_CATALOG_UNREACHABLE: {
    kind: 'io',
    doc: 'the release manifest or its signature could not be downloaded',
  },
  ZFLASH_DOWNLOAD_FAILED: {
    kind: 'io',
    doc: 'the image download failed or stalled; what arrived is kept to resume',
  },
  ZFLASH_DOWNLOAD_CORRUPT: {
    kind: 'io',
    doc: 'the download does not match the signed size or SHA-256; it was deleted',
  },
  // cancelled
  ZFLASH_CANCELLED: {
    kind: 'cancelled',
    doc: 'cancelled by the operator (Ctrl-C, a dismissed prompt, Cancel)',
  },
  // bug
  ZFLASH_INTERNAL: { kind: 'bug', doc: 'an unexpected error: a bug in Zeta Flash' },
  ZFLASH_DECODER_MISSING: {
    kind: 'bug',
    doc: 'a decoder module is missing from this installation',
  },
  ZFLASH_CATALOG_NO_KEY: {
    kind: 'bug',
    doc: 'this build of Zeta Flash carries no release key to check manifests with',
  },
  ZFLASH_NATIVE_MISSING: {
    kind: 'bug',
    doc: 'a native module of this installation failed to load',
  },
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as readonly ErrorCode[] as readonly [
  ErrorCode,
  ...ErrorCode[],
];
/** The codes of one kind, so `inputError` cannot be handed a target code. */
export type CodeOfKind<K extends ErrorKind> = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C]['kind'] extends K ? C : never;
}[ErrorCode];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

export interface ZflashErrorJson {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly hint: string;
  readonly exitCode: ExitCode;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class ZflashError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly hint: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    kind: ErrorKind,
    code: ErrorCode,
    message: string,
    hint: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ZflashError';
    this.kind = kind;
    this.code = code;
    this.hint = hint;
    this.details = details;
  }

  get exitCode(): ExitCode {
    return ExitCode[this.kind];
  }

  toJSON(): ZflashErrorJson {
    return {
      code: this.code,
      kind: this.kind,
      message: this.message,
      hint: this.hint,
      exitCode: this.exitCode,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export const inputError = (
  code: CodeOfKind<'input'>,
  message: string,
  hint: string,
  details?: Record<string, unknown>,
): ZflashError => new ZflashError('input', code, message, hint, details);

export const targetError = (
  code: CodeOfKind<'target'>,
  message: string,
  hint: string,
  details?: Record<string, unknown>,
): ZflashError => new ZflashError('target', code, message, hint, details);

export const ioError = (
  code: CodeOfKind<'io'>,
  message: string,
  hint: string,
  details?: Record<string, unknown>,
): ZflashError => new ZflashError('io', code, message, hint, details);
export const cancelledError = (message = 'The operation was cancelled.'): ZflashError =>
  new ZflashError(
    'cancelled',
    'ZFLASH_CANCELLED',
    message,
    'Nothing was finished; start again when ready.',
  );

/** Turns anything thrown into a ZflashError; unknown errors are reported as bugs, not hidden. */
export function toZflashError(err: unknown): ZflashError {
  if (err instanceof ZflashError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ZflashError(
    'bug',
    'ZFLASH_INTERNAL',
    `Zeta Flash hit an unexpected error: ${message}`,
    'This is a bug in Zeta Flash. Photograph this screen or save the diagnostics and report it.',
    err instanceof Error && err.stack ? { stack: err.stack } : undefined,
    { cause: err },
  );
}

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(value)}`);
}
