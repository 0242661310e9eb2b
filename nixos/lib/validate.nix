# Validation of the node identity, shared by the modules.
#
# Why: the identity files come from a USB stick that may have been edited by hand. Keys reach
# NixOS only as data read here (generating Nix source from key text was the seed's
# code-injection hole: `${...}` survives escaping), and only lines that look like OpenSSH public
# keys survive. The same rules are implemented in installer-scripts/zeta-install.sh; this is
# the second gate. Builtins only, so tests evaluate it without nixpkgs. Both are tested against
# one table, test/installer/fixtures/validation.json: what one accepts, the other must too.
#
# Lengths are checked before any `match`: Nix's regex engine recurses per character, and a
# million-character line overflowed its stack. Strings are bytes here, as in the installer
# (which runs its checks under LC_ALL=C): `café` is 5 bytes and no [a-z] matches its `é`.
let
  inherit (builtins)
    elemAt
    filter
    foldl'
    head
    isString
    match
    pathExists
    readFile
    replaceStrings
    split
    stringLength
    substring
    ;

  # Base64 prefix of the SSH wire-format type string each key type must start with: a key whose
  # blob does not encode its own type is not a key.
  keyBlobPrefix = {
    "ssh-ed25519" = "AAAAC3NzaC1lZDI1NTE5";
    "ssh-rsa" = "AAAAB3NzaC1y";
    "ecdsa-sha2-nistp256" = "AAAAE2VjZHNhLXNoYTItbmlzdHAy";
    "ecdsa-sha2-nistp384" = "AAAAE2VjZHNhLXNoYTItbmlzdHAz";
    "ecdsa-sha2-nistp521" = "AAAAE2VjZHNhLXNoYTItbmlzdHA1";
    "sk-ssh-ed25519@openssh.com" = "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t";
    "sk-ecdsa-sha2-nistp256@openssh.com" = "AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5j";
  };

  # type, base64 blob, optional comment of safe characters (no quotes, `$`, `{`, options).
  keyRe =
    "(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa"
    + "|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com)"
    + " (AAAA[A-Za-z0-9+/]+={0,2})( [A-Za-z0-9@._+:,/=-][A-Za-z0-9 @._+:,/=-]*)?";

  # RFC 1123 label, lowercase.
  hostnameRe = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";

  # Longest raw line looked at, before trimming (as the installer: ZETA_MAX_KEY_LINE and
  # ZETA_MAX_HOST_LINE in zeta-install.sh).
  maxKeyLine = 16384;
  maxHostLine = 256;

  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  # ASCII only, as `${h,,}` under LC_ALL=C in the installer.
  toLowerAscii = replaceStrings upper lower;

  knownRoles = [
    "control-plane"
    "worker"
    "gpu"
    "storage"
  ];

  hasPrefix = p: s: substring 0 (stringLength p) s == p;
  elem = x: xs: builtins.elem x xs;
  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];

  # Strip surrounding whitespace, including the CR a Windows editor leaves behind. A line over
  # maxKeyLine bytes comes back untouched (and is refused by every rule below).
  trim =
    s:
    let
      m = match "[[:space:]]*([^[:space:]](.*[^[:space:]])?)[[:space:]]*" s;
    in
    if stringLength s > maxKeyLine then
      s
    else if m == null then
      ""
    else
      head m;

  lines = text: map trim (filter isString (split "\n" text));

  isSshPublicKey =
    line:
    let
      m = match keyRe line;
    in
    stringLength line <= maxKeyLine && m != null && hasPrefix keyBlobPrefix.${elemAt m 0} (elemAt m 1);

  # Optional file inside the identity directory (null dir = no identity at all).
  readOpt =
    dir: name:
    if dir != null && pathExists (dir + "/${name}") then readFile (dir + "/${name}") else null;
in
rec {
  inherit
    isSshPublicKey
    knownRoles
    trim
    lines
    ;

  # Keys text → list of acceptable keys, in order, without duplicates.
  filterKeys = text: unique (filter isSshPublicKey (lines text));

  readKeys =
    dir:
    let
      t = readOpt dir "authorized_keys";
    in
    if t == null then [ ] else filterKeys t;

  # { ok = true; value = "node-1"; } or { ok = false; error = "..."; }
  # First line, at most maxHostLine bytes, trimmed, lowercased (ASCII), RFC 1123 label.
  parseHostname =
    text:
    let
      first = head (split "\n" text);
      raw = if stringLength first > maxHostLine then first else trim first;
      h = toLowerAscii raw;
    in
    if stringLength h <= 63 && match hostnameRe h != null then
      {
        ok = true;
        value = h;
      }
    else
      {
        ok = false;
        error = "'${substring 0 64 raw}' is not a valid hostname (RFC 1123 label: a-z, 0-9, '-', 1 to 63 characters)";
      };

  readHostname =
    dir:
    let
      t = readOpt dir "hostname";
    in
    if t == null then
      {
        ok = false;
        error = "no hostname: the file identity/hostname is missing";
      }
    else
      parseHostname t;

  # Roles file (one per line) → known roles only, each once.
  parseRoles = text: unique (filter (r: elem r knownRoles) (lines text));
  readRoles =
    dir:
    let
      t = readOpt dir "roles";
    in
    if t == null then [ ] else parseRoles t;

  # Runtime path of the password hash file (kept out of the Nix store), or null when the
  # identity sets no password. Only an absolute path of safe characters is accepted.
  readPasswordHashFile =
    dir:
    let
      t = readOpt dir "password-hash-file";
      p = if t == null then "" else trim t;
    in
    if match "/[A-Za-z0-9._/-]+" p != null then p else null;

  # Disk GRUB is installed on, as the installer recorded it.
  readBootDisk =
    dir:
    let
      t = readOpt dir "boot-disk";
      p = if t == null then "" else trim t;
    in
    if match "/dev/[A-Za-z0-9._:+@/-]+" p != null then p else null;

  hardwareConfiguration =
    dir:
    if dir != null && pathExists (dir + "/hardware-configuration.nix") then
      dir + "/hardware-configuration.nix"
    else
      null;
}
