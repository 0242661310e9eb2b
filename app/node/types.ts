/**
 * The node model: everything the operator chooses for one cluster node, already
 * validated and canonical. Only these readonly shapes travel further (payload
 * rendering, IPC, the helper's job file); raw user input never does.
 */

export const ROLES = ['control-plane', 'worker', 'gpu', 'storage'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Key types a Zeta node accepts. DSA is absent on purpose: OpenSSH disabled it by
 * default in 7.0 and removed it in 9.8, so such a key would leave the node unreachable.
 */
export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** Something the operator should see, but that did not stop validation. */
export interface Notice {
  readonly code: string;
  readonly message: string;
}

export interface SshPublicKey {
  /** e.g. 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa', 'sk-ssh-ed25519@openssh.com' */
  readonly type: string;
  /** Canonical base64 of the key blob, re-serialized from the parsed key, never copied from input. */
  readonly base64: string;
  /** '' if none; control characters removed, whitespace collapsed, trimmed. */
  readonly comment: string;
  /** `${type} ${base64}` + (comment ? ` ${comment}` : '') */
  readonly line: string;
  /** 'SHA256:…' exactly as `ssh-keygen -lf` prints it (unpadded base64). */
  readonly fingerprint: string;
  /** Key size as `ssh-keygen -l` prints it. */
  readonly bits: number;
}

export interface WifiConfig {
  readonly ssid: string;
  /** 64 lowercase hex digits; the passphrase itself is never kept. */
  readonly psk: string;
}

/**
 * What the installer on the node may erase. `blank-only` (the default): only a disk with no
 * partition table and no file system, RAID, LVM or LUKS signature (or only a previous Zeta
 * install of the same hostname); any other disk stops the installer, which then asks at the
 * console. `any`: the chosen disk is erased after the countdown, whatever it holds.
 */
export const ERASE_POLICIES = ['blank-only', 'any'] as const;
export type ErasePolicyName = (typeof ERASE_POLICIES)[number];

/**
 * A disk's identity as the installer matches it: the serial number `lsblk` shows, the WWN, or
 * a /dev/disk/by-id name without its directory. Characters udev leaves in by-id names only
 * (no '/', no spaces, nothing a shell or a console would interpret); never a partition.
 */
export const DISK_ID_PATTERN = /^(?!.*-part[0-9]+$)[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export interface ErasePolicy {
  readonly policy: ErasePolicyName;
  /** The disk to install to (see DISK_ID_PATTERN); null lets the installer pick. */
  readonly disk: string | null;
}

export const DEFAULT_ERASE_POLICY: ErasePolicy = Object.freeze({
  policy: 'blank-only',
  disk: null,
});

export interface NodeIdentity {
  readonly hostname: string;
  readonly keys: readonly SshPublicKey[];
  readonly roles: readonly Role[];
  readonly wifi: WifiConfig | null;
  readonly passwordHash: string | null;
  readonly erase: ErasePolicy;
}
