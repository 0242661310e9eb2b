#!/usr/bin/env bash
# zeta-install.sh — install one Zeta node, unattended, from the payload on the stick's ESP.
#
# Run by zeta-first-boot on the live USB (as root), or by hand:   zeta-install.sh
# Tests and zeta-first-boot load the functions only:   ZETA_INSTALL_LIB=1 source zeta-install.sh
# (sourcing never runs the installer, with or without ZETA_INSTALL_LIB).
#
# What it does, in order: make sure it runs on the Zeta live system (its marker file), find the
# stick's ESP by partition type and read the payload with mtools at the ESP's byte offset (no
# mount), validate it again, pick the target disk, check that the disk is blank unless the stick
# allows erasing data (else ask at the console), partition + format + mount it, write the
# identity as DATA into a copy of the bundled flake, run `nixos-install --flake`, keep the log on
# the node, print the final banner.
#
# Network: needed. Only the flake's evaluation works offline (the ISO carries the nixpkgs source
# it was built from); every store path of the node's system that is not already on the live
# system (its kernel, k3s, ...) is downloaded from the binary cache.
#
# Environment (all optional; kernel parameters zeta.disk= and zeta.countdown= also work):
#   ZETA_PAYLOAD_DIR   payload already read (zeta-first-boot passes it); else probe the disks
#   ZETA_IDENTITY_DIR  where a network boot put the payload (default /zeta: the identity initrd
#                      of `zflash netboot serve`, copied out of stage 1 by
#                      nixos/installer/netboot.nix); when it exists, no disk is probed
#   ZETA_TARGET_DISK   install here instead of picking (must still not be the boot stick, and is
#                      still checked for data like zeta.disk=)
#   ZETA_ROOT          mount point of the target (default /mnt)
#   ZETA_FLAKE_SRC     bundled flake (default /etc/zeta/flake, put there by the installer ISO)
#   ZETA_NIXPKGS       nixpkgs the ISO was built from (default: contents of /etc/zeta/nixpkgs-path)
#   ZETA_COUNTDOWN     seconds to wait before wiping the target (default 10)
#   ZETA_LOG           install log (default /tmp/zeta-install.log; copied to the node)
# For tests only:
#   ZETA_TEST_LIVE_MARKER  marker file to accept instead of /etc/zeta-installer.json
#   ZETA_BY_ID_DIR         where to look up disk ids (default /dev/disk/by-id)
#
# Every failure prints a photo-friendly diagnostics block by itself (zeta_diag): the seed's
# lesson was that "something went wrong" with no facts cannot be fixed remotely.

# Locale: the live ISO runs with LANG=en_US.UTF-8, where bash's [a-z], [0-9a-fA-F] and ${#x}
# follow the locale: `café`, fullwidth letters, Arabic-Indic digits and 2-byte characters would
# pass checks that nixos/lib/validate.nix (byte-wise) refuses after the disk was wiped. Every
# check here is byte-wise; zeta-first-boot gives nmtui its locale back.
export LC_ALL=C

# ---------------------------------------------------------------------------------------------
# Validation rules. The same rules live in nixos/lib/validate.nix (defence in depth: the stick
# may have been edited by hand, and the Nix side must never see anything but plain data);
# test/installer/fixtures/validation.json is the one table both are tested against.
# ---------------------------------------------------------------------------------------------

# OpenSSH public key: known type, base64 blob whose first bytes encode that same type, optional
# comment of safe characters. Options, quotes, `$`, `{` never pass: generating Nix from key text
# was the seed's code-injection hole (`${...}` survives escaping).
ZETA_KEY_RE='^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) (AAAA[A-Za-z0-9+/]+={0,2})( [A-Za-z0-9@._+:,/=-][A-Za-z0-9 @._+:,/=-]*)?$'
# RFC 1123 label, lowercase (mDNS names are case-insensitive; we normalise to lowercase).
ZETA_HOSTNAME_RE='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
ZETA_ROLES=(control-plane worker gpu storage)
# A disk named by the stick: serial, WWN or /dev/disk/by-id name (app/node/types.ts
# DISK_ID_PATTERN), never a path or a partition.
ZETA_DISK_ID_RE='^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'
# Partition types of an ESP: MBR 0xEF (the NixOS isohybrid ISO: boot/efi.img is MBR entry 2,
# while a GPT with overlapping "basic data" entries is also present) and the GPT ESP GUID.
ZETA_ESP_GUID='C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
ZETA_PAYLOAD_FILES=(zeta-hostname.txt zeta-authorized-keys.pub zeta-node.json)
# Manifest schemas zeta_load_payload reads; the ISO's marker (nixos/installer/marker.nix)
# announces the same list as payloadSchemas.
ZETA_PAYLOAD_SCHEMAS=(1 2)
# Limits, checked before any loop or regex touches the data (a 64 KiB line of spaces once kept
# a quadratic trim busy for five minutes with nothing on screen).
ZETA_MAX_FILE=65536
ZETA_MAX_KEY_LINE=16384
ZETA_MAX_HOST_LINE=256

# Base64 prefix of the SSH wire-format type string each key type must start with.
zeta_key_blob_prefix() {
  case "$1" in
    ssh-ed25519) echo AAAAC3NzaC1lZDI1NTE5 ;;
    ssh-rsa) echo AAAAB3NzaC1y ;;
    ecdsa-sha2-nistp256) echo AAAAE2VjZHNhLXNoYTItbmlzdHAy ;;
    ecdsa-sha2-nistp384) echo AAAAE2VjZHNhLXNoYTItbmlzdHAz ;;
    ecdsa-sha2-nistp521) echo AAAAE2VjZHNhLXNoYTItbmlzdHA1 ;;
    sk-ssh-ed25519@openssh.com) echo AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t ;;
    sk-ecdsa-sha2-nistp256@openssh.com) echo AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5j ;;
    *) return 1 ;;
  esac
}

zeta_log() { printf 'zeta: %s\n' "$*" >&2; }

# zeta_safe TEXT [MAX] — TEXT cut to MAX bytes (default 60) with everything but printable ASCII
# shown as '?': whatever came from the stick or a foreign disk may hold escape sequences that
# clear the screen, fake the success banner or hide the diagnostics.
zeta_safe() {
  printf '%s' "${1:0:${2:-60}}" | tr -c ' -~' '?'
}

# zeta_trim TEXT — TEXT without surrounding whitespace (space, tab, CR from Windows editors, VT,
# FF). One anchored regex: linear in the length, unlike ${s%%[![:space:]]*}, which is quadratic.
# Callers check the length first.
zeta_trim() {
  if [[ "$1" =~ ^[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  fi
}

# zeta_is_ssh_key LINE — 0 when LINE (already trimmed) is an acceptable public key.
zeta_is_ssh_key() {
  local line="$1" prefix
  [ "${#line}" -le "$ZETA_MAX_KEY_LINE" ] || return 1
  [[ "$line" =~ $ZETA_KEY_RE ]] || return 1
  prefix="$(zeta_key_blob_prefix "${BASH_REMATCH[1]}")" || return 1
  [[ "${BASH_REMATCH[2]}" == "$prefix"* ]]
}

# zeta_filter_keys IN OUT — keep acceptable keys (deduplicated, in order), one per line with a
# trailing LF; report dropped lines on stderr (the first few, printable ASCII only). Returns 1
# when no key is left. A raw line longer than ZETA_MAX_KEY_LINE is dropped untrimmed.
zeta_filter_keys() {
  local in="$1" out="$2" raw line n=0 kept=0 dropped=0
  local -A seen=()
  : >"$out"
  while IFS= read -r raw || [ -n "$raw" ]; do
    n=$((n + 1))
    if [ "${#raw}" -gt "$ZETA_MAX_KEY_LINE" ]; then
      line="$raw"
    else
      # zeta_trim's regex in place: a command substitution per line forks, and a file of
      # 20 000 blank lines then took about a minute.
      line=""
      if [[ "$raw" =~ ^[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]]; then line="${BASH_REMATCH[1]}"; fi
      [ -n "$line" ] || continue
      case "$line" in '#'*) continue ;; esac
    fi
    if zeta_is_ssh_key "$line"; then
      if [ -z "${seen[$line]:-}" ]; then
        seen[$line]=1
        printf '%s\n' "$line" >>"$out"
        kept=$((kept + 1))
      fi
    else
      dropped=$((dropped + 1))
      if [ "$dropped" -le 5 ]; then
        zeta_log "dropped key line $n (not a plain OpenSSH public key, ${#raw} bytes): $(zeta_safe "$line" 40)..."
      fi
    fi
  done <"$in"
  if [ "$dropped" -gt 5 ]; then zeta_log "dropped $((dropped - 5)) more key lines"; fi
  [ "$kept" -gt 0 ]
}

# zeta_clean_hostname RAW — print the normalised hostname (first line, trimmed, lowercased),
# or return 1. A first line over ZETA_MAX_HOST_LINE bytes is refused untrimmed.
zeta_clean_hostname() {
  local first="" h
  IFS= read -r first <<<"$1" || true
  [ "${#first}" -le "$ZETA_MAX_HOST_LINE" ] || return 1
  h="$(zeta_trim "$first")"
  h="${h,,}"
  [[ "$h" =~ $ZETA_HOSTNAME_RE ]] || return 1
  printf '%s\n' "$h"
}

zeta_is_role() {
  local r
  for r in "${ZETA_ROLES[@]}"; do [ "$1" = "$r" ] && return 0; done
  return 1
}

# SSID: 1 to 32 bytes (IEEE 802.11; any UTF-8, as the engine allows), no control character.
zeta_is_ssid() {
  [ -n "$1" ] && [ "${#1}" -le 32 ] || return 1
  # C0 controls and DEL as bytes; C1 controls (U+0080..U+009F) as their UTF-8 encoding.
  [[ "$1" != *[[:cntrl:]]* ]] && [[ "$1" != *$'\xc2'[$'\x80'-$'\x9f']* ]]
}

# PSK: the 64-hex-digit form the engine stores (never the passphrase).
zeta_is_psk() { [[ "$1" =~ ^[0-9a-fA-F]{64}$ ]]; }

# crypt(3) hashes only: no ':', space or newline can reach /etc/shadow.
zeta_is_password_hash() { [[ "$1" =~ ^\$(6|5|y|2b|7)\$[A-Za-z0-9./\$=,-]+$ ]]; }

zeta_is_disk_id() { [[ "$1" =~ $ZETA_DISK_ID_RE ]] && [[ ! "$1" =~ -part[0-9]+$ ]]; }

zeta_is_erase_policy() { [ "$1" = blank-only ] || [ "$1" = any ]; }

# ---------------------------------------------------------------------------------------------
# Reading the ESP. Never by mounting first: on the live installer the ESP is not mounted and
# /dev/disk/by-label/<iso label> can resolve to the whole disk (udev race on the duplicated
# ISO label: partitions unmountable in 3 of 5 seed runs), macOS/Linux desktops refuse type 0xEF.
# mtools reads the FAT at a byte offset of the whole device or image file instead.
# ---------------------------------------------------------------------------------------------

ZETA_PROBE_LOG="${ZETA_PROBE_LOG:-}"
zeta_probe_note() {
  if [ -n "$ZETA_PROBE_LOG" ]; then printf '%s\n' "$*" >>"$ZETA_PROBE_LOG"; fi
}

# zeta_esp_offsets DEV — print "offset description" for each ESP found in the partition table
# (sfdisk reads image files and block devices alike); "0 ..." when DEV has no partitions
# (a bare FAT image, or the ESP partition device itself). Never hard-code an offset: the ESP
# start moved between NixOS builds (LBA 276, later 268).
zeta_esp_offsets() {
  local dev="$1" json err lbl
  err="$(mktemp)"
  if ! json="$(sfdisk --json "$dev" 2>"$err")"; then
    zeta_probe_note "$dev: sfdisk: $(head -c 200 "$err" | tr -s ' \n' '  ')"
    rm -f "$err"
    echo "0 no partition table, trying a bare FAT"
    return 0
  fi
  rm -f "$err"
  lbl="$(jq -r '.partitiontable.label // "none"' <<<"$json")"
  jq -r --arg guid "$ZETA_ESP_GUID" --arg lbl "$lbl" '
    .partitiontable as $t
    | ($t.sectorsize // 512) as $ss
    | [($t.partitions // [])[]
       | select((.type | ascii_downcase) == "ef" or (.type | ascii_upcase) == $guid)
       | "\(.start * $ss) \($lbl) partition \(.node) type \(.type) at sector \(.start)"]
    | if length == 0 and (($t.partitions // []) | length) == 0
      then ["0 \($lbl) table without partitions, trying a bare FAT"]
      else . end
    | .[]' <<<"$json"
}

# zeta_copy_capped OUT NAME — stdin → OUT, streamed and cut at ZETA_MAX_FILE bytes (a 4 MB
# file must not be copied whole into /run, a tmpfs, first). Says so when it cut.
zeta_copy_capped() {
  local out="$1" name="$2" size
  head -c "$((ZETA_MAX_FILE + 1))" >"$out"
  size="$(stat -c %s "$out")"
  if [ "$size" -gt "$ZETA_MAX_FILE" ]; then
    truncate -s "$ZETA_MAX_FILE" "$out"
    zeta_log "$name is larger than $ZETA_MAX_FILE bytes: only its first $ZETA_MAX_FILE bytes are read"
  fi
}

# zeta_fat_entries IMG@@OFFSET — the root directory's entries, one per line, lowercased, "/"
# after directories (mdir -b); FAT names are case-insensitive.
zeta_fat_entries() {
  MTOOLS_SKIP_CHECK=1 mdir -b -a -i "$1" ::/ 2>/dev/null | sed -n 's|^::/||p' | tr '[:upper:]' '[:lower:]'
}

# _zeta_probe_esp DEV OUT — copy payload files from DEV's ESP into OUT. Quiet: facts go to
# ZETA_PROBE_LOG. Returns 0 when at least one payload file was copied. Regular files only: a
# directory named zeta-hostname.txt is refused (mtype would print every file inside it).
_zeta_probe_esp() {
  local dev="$1" out="$2" found=1 offset desc f err mnt entries rc
  if [ ! -e "$dev" ]; then
    zeta_probe_note "$dev: does not exist"
    return 1
  fi
  mkdir -p "$out"
  err="$(mktemp)"
  while read -r offset desc; do
    [ -n "$offset" ] || continue
    zeta_probe_note "$dev: $desc (byte $offset)"
    # MTOOLS_SKIP_CHECK: mtools otherwise rejects FAT12 images whose geometry fields look odd.
    if ! MTOOLS_SKIP_CHECK=1 mdir -b -i "$dev@@$offset" ::/ >/dev/null 2>"$err"; then
      zeta_probe_note "  mtools: $(head -c 200 "$err" | tr -s ' \n' '  ')"
      # Fallback only when mtools cannot read the FAT at all: a read-only loop mount at the
      # same offset (fails on kernels without vfat; the error goes into the diagnostics).
      mnt="$(mktemp -d)"
      if mount -t vfat -o ro,nosuid,nodev,noexec,loop,offset="$offset" "$dev" "$mnt" 2>"$err"; then
        for f in "${ZETA_PAYLOAD_FILES[@]}"; do
          if [ -f "$mnt/$f" ] && [ ! -L "$mnt/$f" ]; then
            zeta_copy_capped "$out/$f" "$f" <"$mnt/$f" && found=0
          elif [ -e "$mnt/$f" ]; then
            zeta_probe_note "  $f is not a regular file: ignored"
          fi
        done
        umount "$mnt" 2>/dev/null || true
        zeta_probe_note "  mount fallback: ok"
      else
        zeta_probe_note "  mount fallback: $(head -c 200 "$err" | tr -s ' \n' '  ')"
      fi
      rmdir "$mnt" 2>/dev/null || true
      [ "$found" -eq 0 ] && break
      continue
    fi
    entries="$(zeta_fat_entries "$dev@@$offset")"
    for f in "${ZETA_PAYLOAD_FILES[@]}"; do
      if grep -qxF -- "$f/" <<<"$entries"; then
        zeta_probe_note "  $f is a directory, not a file: ignored"
        continue
      fi
      if ! grep -qxF -- "$f" <<<"$entries"; then
        zeta_probe_note "  $f: not found"
        continue
      fi
      # mtype's status goes through a file: the left side of a pipe is a subshell.
      {
        if MTOOLS_SKIP_CHECK=1 mtype -i "$dev@@$offset" "::/$f" 2>"$err"; then
          echo 0 >"$err.rc"
        else
          echo "$?" >"$err.rc"
        fi
      } | zeta_copy_capped "$out/$f" "$f"
      rc="$(cat "$err.rc")"
      rm -f "$err.rc"
      # 141: mtype stopped by SIGPIPE once the copy was cut at the limit.
      if [ "$rc" -eq 0 ] || [ "$rc" -eq 141 ]; then
        found=0
        zeta_probe_note "  found $f"
      else
        rm -f "$out/$f"
        zeta_probe_note "  mtools $f: $(head -c 120 "$err" | tr -s ' \n' '  ')"
      fi
    done
    [ "$found" -eq 0 ] && break
  done < <(zeta_esp_offsets "$dev")
  rm -f "$err"
  return "$found"
}

# zeta_read_esp_payload DEV-OR-IMAGE OUT-DIR — the contract with `zflash inject`: copy the
# payload files from the ESP of a whole disk, an isohybrid image, a bare FAT image or a loop
# device into OUT-DIR. Exit 0 when found; exit 1 with a diagnostics block otherwise.
zeta_read_esp_payload() {
  local dev="$1" out="$2" own_log=""
  if [ -z "$ZETA_PROBE_LOG" ]; then
    ZETA_PROBE_LOG="$(mktemp)"
    own_log=1
  fi
  if _zeta_probe_esp "$dev" "$out"; then
    [ -n "$own_log" ] && { rm -f "$ZETA_PROBE_LOG"; ZETA_PROBE_LOG=""; }
    return 0
  fi
  zeta_diag "no Zeta payload on the ESP of $dev" \
    "The stick's EFI partition must hold zeta-hostname.txt and zeta-authorized-keys.pub." \
    "Re-flash this stick with Zeta Flash (or run: zflash inject on it) and boot it again."
  [ -n "$own_log" ] && { rm -f "$ZETA_PROBE_LOG"; ZETA_PROBE_LOG=""; }
  return 1
}

# zeta_candidate_media — whole disks to probe for the payload, the live medium first (loop
# devices are the live system's own squashfs: probing them only buries the useful facts).
zeta_candidate_media() {
  local live
  live="$(zeta_boot_disks | head -n 1)"
  [ -n "$live" ] && echo "$live"
  lsblk -dnpo PATH,TYPE 2>/dev/null | awk '$2 == "disk" { print $1 }' |
    grep -vxF -- "${live:-/nonexistent}" || true
}

# zeta_read_dir_payload DIR OUT — the payload a network boot brought: the same files as on the
# stick's ESP, in DIR. Regular files only (a symlink or a directory under a payload name is
# refused), each cut at ZETA_MAX_FILE. Returns 0 when at least one payload file was there.
zeta_read_dir_payload() {
  local dir="$1" out="$2" f found=1
  mkdir -p "$out"
  for f in "${ZETA_PAYLOAD_FILES[@]}"; do
    if [ -L "$dir/$f" ] || { [ -e "$dir/$f" ] && [ ! -f "$dir/$f" ]; }; then
      zeta_probe_note "$dir/$f is not a regular file: ignored"
    elif [ -f "$dir/$f" ]; then
      zeta_copy_capped "$out/$f" "$f" <"$dir/$f"
      found=0
      zeta_probe_note "found $dir/$f"
    else
      zeta_probe_note "$dir/$f: not found"
    fi
  done
  return "$found"
}

# zeta_find_payload OUT — the payload a network boot brought (ZETA_IDENTITY_DIR), else probe
# every candidate disk; 1 + diagnostics when there is none.
zeta_find_payload() {
  local out="$1" dev id_dir="${ZETA_IDENTITY_DIR:-/zeta}"
  : "${ZETA_PROBE_LOG:=$(mktemp)}"
  if [ -d "$id_dir" ]; then
    # Booted from the network: the identity came with the kernel; there is no stick to find.
    zeta_probe_note "network boot: identity folder $id_dir"
    if zeta_read_dir_payload "$id_dir" "$out"; then
      ZETA_PAYLOAD_DEVICE=""
      return 0
    fi
    zeta_diag "the network boot brought no Zeta identity ($id_dir holds no payload file)" \
      "The netboot server sends it with the kernel (zflash netboot serve)." \
      "Check that this machine's MAC address is in the roster, then boot it again."
    return 1
  fi
  while read -r dev; do
    [ -n "$dev" ] || continue
    if _zeta_probe_esp "$dev" "$out"; then
      ZETA_PAYLOAD_DEVICE="$dev"
      return 0
    fi
  done < <(zeta_candidate_media)
  zeta_diag "no Zeta payload found on any disk" \
    "The stick's EFI partition must hold zeta-hostname.txt and zeta-authorized-keys.pub." \
    "Re-flash this stick with Zeta Flash and boot it again."
  return 1
}

# ---------------------------------------------------------------------------------------------
# Payload → normalised identity (plain data files, never Nix source).
# ---------------------------------------------------------------------------------------------

# Exactly one JSON object; each field the installer uses of the type it must have; no control
# character (nor U+FFFD, what jq makes of invalid UTF-8) in any string. Prints the problem, or
# nothing. `jq -e '.schema == 1'` alone looked at the last of several documents and let a
# number pass as a hostname and a newline split one role into two.
# shellcheck disable=SC2016 # jq program, not shell
ZETA_MANIFEST_CHECK='
  def bad_string: explode | any(. < 32 or . == 127 or (. >= 128 and . < 160) or . == 65533);
  def want(f; t): (f | type) as $t | if ($t | IN(t)) then empty else "\(path(f) | map(tostring) | join(".")) is \($t), not \([t] | join(" or "))" end;
  def strings_in(f): f | if type == "array" then (map(type == "string") | all) else true end;
  if length != 1 then "holds \(length) JSON documents, not exactly one"
  else .[0] |
    if type != "object" then "is a JSON \(type), not an object"
    elif (.schema | type) != "number" or ([.schema] | inside($schemas) | not) then
      "schema \(.schema | tojson | .[0:20]) is not one this installer reads (\($schemas | map(tostring) | join(", ")))"
    else
      ([ want(.hostname; "string", "null"),
         want(.keys; "array", "null"),
         want(.roles; "array", "null"),
         want(.wifi; "object", "null"),
         want(.passwordHash; "string", "null"),
         (if .schema == 2 then want(.erase; "object"), want(.erase.policy; "string"),
            want(.erase.disk; "string", "null") else empty end),
         (if .wifi | type == "object" then want(.wifi.ssid; "string"), want(.wifi.psk; "string")
          else empty end),
         (if strings_in(.keys) then empty else "keys holds something that is not a string" end),
         (if strings_in(.roles) then empty else "roles holds something that is not a string" end),
         (if [.. | strings | bad_string] | any then "a string holds a control character or invalid UTF-8" else empty end)
       ] | first // empty)
    end
  end'

# zeta_strip_bom FILE — Notepad saves UTF-8 with a byte-order mark; as the engine does, drop
# it (it made the hostname "invalid" and the first key line unreadable) and say so.
zeta_strip_bom() {
  local f="$1"
  [ -s "$f" ] || return 0
  if [ "$(head -c 3 "$f" | od -An -tx1 | tr -d ' \n')" = efbbbf ]; then
    tail -c +4 "$f" >"$f.nobom" && mv "$f.nobom" "$f"
    zeta_log "$(basename "$f") starts with a UTF-8 byte-order mark (as Notepad saves it): ignored the mark"
  fi
}

# zeta_load_payload PAYLOAD-DIR IDENT-DIR — validate again (the stick may have been edited by
# hand) and write: hostname, authorized_keys, roles, erase-policy (blank-only or any), and when
# present erase-disk, wifi-ssid, wifi-psk, password-hash. Sets ZETA_FAIL_REASON and returns 1
# when the node cannot be installed. A manifest that fails its checks is ignored as a whole
# (the text files still name the node; the erase policy stays blank-only).
zeta_load_payload() {
  local p="$1" id="$2" json="" raw="" host keys_in role psk ssid hash problem policy disk f boot_host
  mkdir -p "$id"
  ZETA_FAIL_REASON=""
  for f in "${ZETA_PAYLOAD_FILES[@]}"; do zeta_strip_bom "$p/$f"; done
  if [ -s "$p/zeta-node.json" ]; then
    if ! problem="$(head -c "$ZETA_MAX_FILE" "$p/zeta-node.json" |
      jq -rs --argjson schemas "[$(IFS=,; echo "${ZETA_PAYLOAD_SCHEMAS[*]}")]" "$ZETA_MANIFEST_CHECK" 2>&1)"; then
      problem="not valid JSON ($(zeta_safe "$problem" 80))"
    fi
    if [ -z "$problem" ]; then
      json="$id/manifest.json"
      head -c "$ZETA_MAX_FILE" "$p/zeta-node.json" | jq -s '.[0]' >"$json"
    else
      zeta_log "zeta-node.json $(zeta_safe "$problem" 120): ignoring it, using the text files"
    fi
  fi

  # Hostname: zeta-hostname.txt wins (the file the seed and hand-editors use), else manifest.
  if [ -s "$p/zeta-hostname.txt" ]; then
    raw="$(head -c "$ZETA_MAX_FILE" "$p/zeta-hostname.txt")"
  elif [ -n "$json" ]; then
    raw="$(jq -r '.hostname // empty' "$json")"
  fi
  if ! host="$(zeta_clean_hostname "$raw")"; then
    ZETA_FAIL_REASON="invalid hostname on the stick: '$(zeta_safe "${raw%%$'\n'*}" 40)'"
    return 1
  fi
  # A network boot names the node on the kernel command line too (zflash netboot serve):
  # an identity for another node is refused, whatever sent it.
  boot_host="$(zeta_kernel_param zeta.hostname | tail -n 1)"
  if [ -n "$boot_host" ] && [ "$boot_host" != "$host" ]; then
    ZETA_FAIL_REASON="the boot names node '$(zeta_safe "$boot_host" 63)' but the identity names '$host'"
    return 1
  fi
  printf '%s\n' "$host" >"$id/hostname"

  # Keys: zeta-authorized-keys.pub wins (a hand-removed key must stay removed), else manifest.
  keys_in="$(mktemp)"
  if [ -s "$p/zeta-authorized-keys.pub" ]; then
    head -c "$ZETA_MAX_FILE" "$p/zeta-authorized-keys.pub" >"$keys_in"
  elif [ -n "$json" ]; then
    jq -r '.keys // [] | .[]' "$json" >"$keys_in"
  fi
  if ! zeta_filter_keys "$keys_in" "$id/authorized_keys"; then
    rm -f "$keys_in"
    ZETA_FAIL_REASON="no valid SSH public key on the stick (zeta-authorized-keys.pub)"
    return 1
  fi
  rm -f "$keys_in"

  : >"$id/roles"
  rm -f "$id/erase-disk" "$id/wifi-ssid" "$id/wifi-psk" "$id/password-hash"
  printf 'blank-only\n' >"$id/erase-policy"
  [ -n "$json" ] || return 0

  # Roles: only the known ones, each at most once.
  while IFS= read -r role; do
    if zeta_is_role "$role" && ! grep -qxF -- "$role" "$id/roles"; then
      printf '%s\n' "$role" >>"$id/roles"
    fi
  done < <(jq -r '.roles // [] | .[]' "$json")

  # Erase policy (schema 2; schema 1 predates it and means blank-only). An unknown policy or a
  # malformed disk falls back to the safe side: blank-only, the installer picks the disk.
  if [ "$(jq -r .schema "$json")" = 2 ]; then
    policy="$(jq -r '.erase.policy' "$json")"
    disk="$(jq -r '.erase.disk // empty' "$json")"
    if zeta_is_erase_policy "$policy"; then
      printf '%s\n' "$policy" >"$id/erase-policy"
    else
      zeta_log "erase policy '$(zeta_safe "$policy" 20)' in zeta-node.json is unknown: using blank-only"
    fi
    if [ -n "$disk" ]; then
      if zeta_is_disk_id "$disk"; then
        printf '%s\n' "$disk" >"$id/erase-disk"
      else
        zeta_log "target disk '$(zeta_safe "$disk" 40)' in zeta-node.json is not a serial or by-id name: ignoring it"
      fi
    fi
  fi

  # Wi-Fi: the engine stores the derived PSK (64 hex), never the passphrase.
  if [ "$(jq -r '.wifi | type' "$json")" = object ]; then
    ssid="$(jq -r '.wifi.ssid' "$json")"
    psk="$(jq -r '.wifi.psk' "$json")"
    if zeta_is_ssid "$ssid" && zeta_is_psk "$psk"; then
      printf '%s\n' "$ssid" >"$id/wifi-ssid"
      (umask 077 && printf '%s\n' "${psk,,}" >"$id/wifi-psk")
    else
      zeta_log "Wi-Fi entry in zeta-node.json is malformed (need an SSID of 1-32 bytes and a 64-hex psk): ignoring it"
    fi
  fi

  hash="$(jq -r '.passwordHash // empty' "$json")"
  if [ -n "$hash" ]; then
    if zeta_is_password_hash "$hash"; then
      (umask 077 && printf '%s\n' "$hash" >"$id/password-hash")
    else
      zeta_log "passwordHash in zeta-node.json is not a crypt hash: password login stays locked"
    fi
  fi
  return 0
}

# zeta_nm_keyfile SSID PSK FILE — a NetworkManager keyfile (0600: NM ignores keyfiles others
# can read). The PSK stays in its 64-hex form, which NM passes to wpa_supplicant as raw PSK.
zeta_nm_keyfile() {
  local ssid="$1" psk="$2" file="$3" esc uuid
  # GKeyFile escaping: backslash first, then a leading space.
  esc="${ssid//\\/\\\\}"
  [[ "$esc" == " "* ]] && esc="\\s${esc:1}"
  uuid="$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo 7a6f6574-6100-4000-8000-000000000001)"
  mkdir -p "$(dirname "$file")"
  (
    umask 077
    cat >"$file" <<EOF
[connection]
id=zeta-wifi
uuid=$uuid
type=wifi
autoconnect=true

[wifi]
mode=infrastructure
ssid=$esc

[wifi-security]
key-mgmt=wpa-psk
psk=$psk

[ipv4]
method=auto

[ipv6]
method=auto
EOF
  )
  chmod 600 "$file"
}

# zeta_copy_nm_profiles SRC DST — keep what the operator set up in nmtui on the live system.
zeta_copy_nm_profiles() {
  local src="$1" dst="$2" f
  [ -d "$src" ] || return 0
  mkdir -p "$dst"
  for f in "$src"/*.nmconnection; do
    [ -f "$f" ] || continue
    install -m 600 "$f" "$dst/$(basename "$f")"
  done
}

# zeta_write_identity IDENT-DIR ROOT BOOT-DISK — copy the bundled flake to ROOT/etc/zeta/flake
# and put the identity inside it (flake-dir/identity/*), so `nixos-install --flake` evaluates
# purely: modules reading /etc/zeta/... at evaluation time would need --impure and pure
# evaluation silently treats those files as missing.
zeta_write_identity() {
  local id="$1" root="$2" disk="$3" flake="$2/etc/zeta/flake" src="${ZETA_FLAKE_SRC:-/etc/zeta/flake}"
  mkdir -p "$root/etc/zeta"
  rm -rf "$flake"
  cp -rL "$src" "$flake"
  # The source may sit in the read-only Nix store; the node must be able to edit its flake.
  chmod -R u+w "$flake"
  mkdir -p "$flake/identity"
  install -m 644 "$id/hostname" "$flake/identity/hostname"
  install -m 644 "$id/authorized_keys" "$flake/identity/authorized_keys"
  install -m 644 "$id/roles" "$flake/identity/roles"
  printf '%s\n' "$disk" >"$flake/identity/boot-disk"
  rm -f "$flake/identity/password-hash-file"
  if [ -s "$id/password-hash" ]; then
    # The hash stays out of the world-readable Nix store: the module points
    # hashedPasswordFile at this runtime path.
    mkdir -p "$root/etc/zeta/secrets"
    chmod 700 "$root/etc/zeta/secrets"
    install -m 600 "$id/password-hash" "$root/etc/zeta/secrets/zeta-password-hash"
    echo /etc/zeta/secrets/zeta-password-hash >"$flake/identity/password-hash-file"
  fi
  if [ -s "$id/wifi-psk" ]; then
    zeta_nm_keyfile "$(cat "$id/wifi-ssid")" "$(cat "$id/wifi-psk")" \
      "$root/etc/NetworkManager/system-connections/zeta-wifi.nmconnection"
  fi
  zeta_copy_nm_profiles "${ZETA_LIVE_NM_DIR:-/etc/NetworkManager/system-connections}" \
    "$root/etc/NetworkManager/system-connections"
}

# ---------------------------------------------------------------------------------------------
# Disks.
# ---------------------------------------------------------------------------------------------

# zeta_boot_disks — whole disks holding the live medium (the /iso mount of the NixOS ISO, the
# device the payload was read from). Never a target.
zeta_boot_disks() {
  local src pk
  for src in "$(findmnt -nvo SOURCE /iso 2>/dev/null || true)" \
    "$(findmnt -nvo SOURCE /nix/.ro-store 2>/dev/null || true)" "${ZETA_PAYLOAD_DEVICE:-}"; do
    [ -b "$src" ] || continue
    pk="$(lsblk -ndo PKNAME "$src" 2>/dev/null || true)"
    if [ -n "$pk" ]; then echo "/dev/$pk"; else echo "$src"; fi
  done | awk '!seen[$0]++'
}

# zeta_eligible_disks LSBLK-JSON [EXCLUDED-DISK...] — the disks that may be picked, best first,
# one "PATH SIZE" per line. LSBLK-JSON is `lsblk -J -b -d -o PATH,NAME,TYPE,SIZE,RM,HOTPLUG,RO,
# TRAN,MODEL`. Never a removable, hot-plugged, USB, read-only, virtual (zram, loop) or excluded
# disk, never < 8 GiB. NVMe first, then the smallest (storage nodes keep their big disks for
# data).
zeta_eligible_disks() {
  local json="$1"
  shift
  jq -r --argjson excl "$(printf '%s\n' "$@" | jq -R . | jq -s .)" '
    def truthy: . == true or . == "1" or . == 1;
    [.blockdevices[]
     | select(.type == "disk")
     | select((.name | test("^(zram|loop|ram|sr|fd)")) | not)
     | select((.rm | truthy) | not)
     | select((.hotplug | truthy) | not)
     | select((.ro | truthy) | not)
     | select((.tran // "") != "usb")
     | select((.size | tonumber) >= 8589934592)
     | select(.path as $p | $excl | index($p) | not)]
    | sort_by([(if .tran == "nvme" then 0 else 1 end), (.size | tonumber)])
    | .[] | "\(.path) \(.size | tonumber)"' <<<"$json"
}

# zeta_pick_target_disk LSBLK-JSON [EXCLUDED-DISK...] — print the disk to install to, or nothing.
zeta_pick_target_disk() {
  zeta_eligible_disks "$@" | awk 'NR == 1 { print $1 }'
}

# zeta_pick_reason LSBLK-JSON [EXCLUDED-DISK...] — one line for the countdown screen: why the
# first eligible disk was chosen, and which others there were.
zeta_pick_reason() {
  local -a eligible
  mapfile -t eligible < <(zeta_eligible_disks "$@")
  if [ "${#eligible[@]}" -le 1 ]; then
    echo "the only internal disk of 8 GiB or more"
  else
    printf 'NVMe first, then the smallest, of %s internal disks (also here:%s)\n' "${#eligible[@]}" \
      "$(printf '%s\n' "${eligible[@]:1}" | head -n 3 |
        while read -r p sz; do printf ' %s %s' "$p" "$(numfmt --to=iec "$sz")"; done)"
  fi
}

# zeta_find_disk_by_id ID — the whole disk the stick names (serial, WWN or by-id name), or
# return 1. Exact matches only; the id was checked against ZETA_DISK_ID_RE (no '/').
zeta_find_disk_by_id() {
  local id="$1" dir="${ZETA_BY_ID_DIR:-/dev/disk/by-id}" dev
  zeta_is_disk_id "$id" || return 1
  if [ -e "$dir/$id" ]; then
    dev="$(readlink -f "$dir/$id")"
    # Whole disks only, never a partition. (udev makes no by-id link to a loop device; the
    # tests point one at theirs.)
    case "$(lsblk -dno TYPE "$dev" 2>/dev/null)" in
      disk | loop)
        echo "$dev"
        return 0
        ;;
    esac
    return 1
  fi
  dev="$(lsblk -J -d -o PATH,TYPE,SERIAL,WWN 2>/dev/null | jq -r --arg id "$id" '
    [.blockdevices[] | select(.type == "disk")
     | select(.serial == $id or .wwn == $id or ("wwn-" + (.wwn // "")) == $id)]
    | if length == 1 then .[0].path else empty end')" || true
  [ -n "$dev" ] || return 1
  echo "$dev"
}

# ---------------------------------------------------------------------------------------------
# What is on a disk. A stick left in the wrong machine must not wipe it: unless the stick says
# `erase any`, only a blank disk is erased without asking. Blank = no partition table and no
# file system, RAID, LVM or LUKS signature (wipefs on the disk, blkid -p on each partition), or
# only what a previous Zeta install of the same hostname left (the node being re-provisioned).
# Everything is read, nothing mounted: blkid/wipefs/sfdisk read the disk, debugfs reads ext4
# files (read-only, no journal replay).
# ---------------------------------------------------------------------------------------------

ZETA_BIOS_GUID='21686148-6449-6E6F-744E-656564454649'
ZETA_LINUX_GUID='0FC63DAF-8483-4772-8E79-3D477DE4C5E4'

# zeta_ext_read DEV OFFSET PATH — print a small file (<= 4 KiB) from the ext2/3/4 file system at
# byte OFFSET of DEV, following symlinks (os-release is one on most systems; on NixOS a chain of
# them). Paths from the disk are accepted only in plain characters: they go into a debugfs
# command line.
zeta_ext_read() {
  local dev="$1?offset=$2" path="$3" i st dest
  for i in 1 2 3 4 5 6 7 8; do
    [[ "$path" =~ ^/[A-Za-z0-9._/+-]*$ ]] || return 1
    st="$(timeout 20 debugfs -c -R "stat $path" "$dev" 2>/dev/null | head -n 40)" || return 1
    case "$st" in
      *"Type: symlink"*)
        dest="$(sed -n 's/^Fast link dest: "\(.*\)"$/\1/p' <<<"$st")"
        if [ -z "$dest" ]; then
          dest="$(timeout 20 debugfs -c -R "cat $path" "$dev" 2>/dev/null | head -c 1024)" || return 1
        fi
        case "$dest" in
          /*) path="$dest" ;;
          *) path="${path%/*}/$dest" ;;
        esac
        ;;
      *"Type: regular"*)
        timeout 20 debugfs -c -R "cat $path" "$dev" 2>/dev/null | head -c 4096
        return 0
        ;;
      *) return 1 ;;
    esac
  done
  return 1
}

# zeta_ext_os DEV OFFSET — the os-release name of the system on that ext file system, if any.
zeta_ext_os() {
  local rel f name
  for f in /etc/os-release /usr/lib/os-release; do
    rel="$(zeta_ext_read "$1" "$2" "$f")" || continue
    name="$(sed -n 's/^PRETTY_NAME=//p' <<<"$rel" | head -n 1)"
    [ -n "$name" ] || name="$(sed -n 's/^NAME=//p' <<<"$rel" | head -n 1)"
    name="${name#[\"\']}"
    name="${name%[\"\']}"
    if [ -n "$name" ]; then
      zeta_safe "$name" 40
      return 0
    fi
  done
  return 1
}

# _zeta_blkid DEV OFFSET SIZE — "FSTYPE<US>LABEL" of what blkid finds there ("" when nothing;
# "unreadable"/"ambivalent" when blkid could not say: both count as not blank).
_zeta_blkid() {
  local out rc=0 t l
  out="$(blkid -p -o export -O "$2" -S "$3" "$1" 2>/dev/null)" || rc=$?
  case "$rc" in
    0)
      t="$(sed -n 's/^TYPE=//p' <<<"$out" | head -n 1)"
      l="$(sed -n 's/^LABEL=//p' <<<"$out" | head -n 1)"
      [ -n "$t" ] || t="$(sed -n 's/^PTTYPE=//p' <<<"$out" | head -n 1)"
      printf '%s%s%s\n' "$(zeta_safe "$t" 24)" "$ZETA_US" "$(zeta_safe "$l" 32)"
      ;;
    2) printf '%s\n' "$ZETA_US" ;;
    8) printf 'ambivalent%s\n' "$ZETA_US" ;;
    *) printf 'unreadable%s\n' "$ZETA_US" ;;
  esac
}

# Survey fields are separated by ASCII US (0x1f): not whitespace, so empty fields survive
# `read` (tabs would collapse), and zeta_safe keeps it out of every field.
ZETA_US=$'\x1f'

# zeta_disk_survey DISK OUT — what is on DISK, as ZETA_US-separated lines in OUT (all text from
# the disk reduced to printable ASCII):
#   sig    TYPE  OFFSET        every signature wipefs finds on the whole disk
#   table  LABEL               the partition table (gpt, dos)
#   part   N  SIZE  PARTTYPE  NAME  FSTYPE  FSLABEL  OS  ZETAHOST
# N is "-" for a file system on the whole disk. ZETAHOST: the hostname a previous Zeta install
# recorded (identity/hostname in the flake copy on its root). Nothing at all = blank.
# zeta_survey_line OUT FIELD... — one survey line.
zeta_survey_line() {
  local out="$1"
  shift
  (
    IFS="$ZETA_US"
    printf '%s\n' "$*"
  ) >>"$out"
}

zeta_disk_survey() {
  local disk="$1" out="$2" sigs="" json="" ss n start size ptype pname fs off t l os zh disksize
  : >"$out"
  if ! sigs="$(wipefs --no-act --noheadings --output TYPE,OFFSET "$disk" 2>&1)"; then
    printf 'unreadable%s%s\n' "$ZETA_US" "$(zeta_safe "$sigs" 80)" >>"$out"
    return 0
  fi
  while read -r t off; do
    [ -z "$t" ] || zeta_survey_line "$out" sig "$(zeta_safe "$t" 24)" "$(zeta_safe "$off" 20)"
  done <<<"$sigs"
  disksize="$(blockdev --getsize64 "$disk" 2>/dev/null || stat -c %s "$disk")"
  if json="$(sfdisk --json "$disk" 2>/dev/null)"; then
    zeta_survey_line "$out" table "$(jq -r '.partitiontable.label' <<<"$json" | tr -c 'a-z0-9\n' '?')"
    ss="$(jq -r '.partitiontable.sectorsize // 512' <<<"$json")"
    while IFS="$ZETA_US" read -r n start size ptype pname; do
      off=$((start * ss))
      size=$((size * ss))
      IFS="$ZETA_US" read -r fs l < <(_zeta_blkid "$disk" "$off" "$size")
      os=""
      zh=""
      case "$fs" in
        ext2 | ext3 | ext4)
          os="$(zeta_ext_os "$disk" "$off")" || true
          if [ "$l" = zeta-root ]; then
            zh="$(zeta_ext_read "$disk" "$off" /etc/zeta/flake/identity/hostname | head -n 1)" || true
            zh="$(zeta_safe "$zh" 63)"
          fi
          ;;
      esac
      zeta_survey_line "$out" part "$n" "$size" "$(zeta_safe "$ptype" 36)" \
        "$(zeta_safe "$pname" 36)" "$fs" "$l" "$os" "$zh"
    done < <(jq -r '(.partitiontable.partitions // []) | to_entries[]
      | [(.value.node | capture("(?<n>[0-9]+)$").n // (.key + 1 | tostring)),
         .value.start, .value.size, .value.type, (.value.name // "")]
      | map(tostring | explode | map(if . < 32 then 63 else . end) | implode) | join("\u001f")' <<<"$json")
  elif [ -n "$sigs" ]; then
    IFS="$ZETA_US" read -r fs l < <(_zeta_blkid "$disk" 0 "$disksize")
    os=""
    case "$fs" in ext2 | ext3 | ext4) os="$(zeta_ext_os "$disk" 0)" || true ;; esac
    zeta_survey_line "$out" part - "$disksize" "" "" "$fs" "$l" "$os" ""
  fi
}

# zeta_blank_reason SURVEY HOST — 0 and why, when the surveyed disk may be erased unasked.
zeta_blank_reason() {
  local survey="$1" host="$2" kind a b c d e f g h parts=0 ok=1
  if [ ! -s "$survey" ]; then
    echo "blank: no partition table, no file system, RAID, LVM or LUKS signature"
    return 0
  fi
  # A previous Zeta install of this very node: exactly the layout zeta_partition makes, its
  # ESP and root formatted as the installer formats them, and identity/hostname = HOST.
  while IFS="$ZETA_US" read -r kind a b c d e f g h; do
    case "$kind" in
      sig) case "$a" in PMBR | gpt) ;; *) ok=0 ;; esac ;;
      table) [ "$a" = gpt ] || ok=0 ;;
      part)
        parts=$((parts + 1))
        case "$a:$c:$d:$e:$f" in
          "1:$ZETA_BIOS_GUID:bios::") ;;
          "2:$ZETA_ESP_GUID:ESP:vfat:ZETABOOT") ;;
          "3:$ZETA_LINUX_GUID:zeta-root:ext4:zeta-root") [ -n "$h" ] && [ "$h" = "$host" ] || ok=0 ;;
          *) ok=0 ;;
        esac
        ;;
      *) ok=0 ;;
    esac
  done <"$survey"
  : "$b" "$g"
  if [ "$ok" -eq 1 ] && [ "$parts" -eq 3 ]; then
    echo "re-install: only a previous Zeta install of $host is on it"
    return 0
  fi
  return 1
}

# zeta_part_type_name TYPE — a readable name for common GPT GUIDs and MBR type bytes.
zeta_part_type_name() {
  case "$1" in
    "$ZETA_ESP_GUID" | ef) echo "EFI system" ;;
    "$ZETA_BIOS_GUID") echo "BIOS boot" ;;
    "$ZETA_LINUX_GUID" | 83) echo "Linux" ;;
    E6D6D379-F507-44C2-A23C-238F2A3DF928 | 8e) echo "Linux LVM" ;;
    A19D880F-05FC-4D3B-A006-743F0F84911E | fd) echo "Linux RAID" ;;
    0657FD6D-A4AB-43C4-84E5-0933C84B4F4F | 82) echo "Linux swap" ;;
    CA7D7CCB-63ED-4C53-861C-1742536059CC) echo "Linux LUKS" ;;
    EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 | 7) echo "Windows data" ;;
    E3C9E316-0B5C-4DB8-817D-F92DF00215AE) echo "Windows reserved" ;;
    DE94BBA4-06D1-4D40-A16A-BFD50179D6AC | 27) echo "Windows recovery" ;;
    b | c) echo "FAT32" ;;
    *) zeta_safe "$1" 36 ;;
  esac
}

# zeta_survey_lines SURVEY — the survey as short screen lines.
zeta_survey_lines() {
  local kind a b c d e f g h sigs=""
  while IFS="$ZETA_US" read -r kind a b c d e f g h; do
    case "$kind" in
      unreadable) echo "  cannot be read: $a" ;;
      sig) sigs="$sigs $a" ;;
      table) echo "  partition table: $a" ;;
      part)
        printf '  %-2s %7s  %-16s %-11s %s%s%s\n' "$a" "$(numfmt --to=iec "$b")" \
          "$(zeta_part_type_name "$c")" "${e:-(no fs)}" "${f:+\"$f\" }" "${g:+OS: $g }" \
          "${h:+Zeta node $h}"
        ;;
    esac
  done <"$1"
  [ -z "$sigs" ] || echo "  signatures:$sigs"
}

# zeta_disk_facts DISK — "model, size, serial" for the screens (printable ASCII).
zeta_disk_facts() {
  lsblk -J -b -d -o MODEL,SIZE,SERIAL "$1" 2>/dev/null | jq -r '.blockdevices[0] |
    "\((.model // "unknown model") | gsub("^ +| +$"; "")), \(.size | tonumber), serial \(.serial // "none")"' |
    awk -F', ' '{ cmd = "numfmt --to=iec " $2; cmd | getline h; close(cmd); print $1 ", " h ", " $3 }' |
    tr -c ' -~\n' '?' | head -c 120 || true
}

# zeta_erase_word DISK — what the operator types to erase a disk that holds data: the last four
# letters and digits of its serial (printed on the disk's label too), else its kernel name.
zeta_erase_word() {
  local serial
  serial="$(lsblk -dno SERIAL "$1" 2>/dev/null)" || true
  zeta_erase_word_for "$serial" "$(basename "$1")"
}

# zeta_erase_word_for SERIAL NAME — the rule itself.
zeta_erase_word_for() {
  local serial name
  serial="$(printf '%s' "$1" | tr -cd 'A-Za-z0-9')"
  name="$(printf '%s' "$2" | tr -cd 'A-Za-z0-9')"
  if [ "${#serial}" -ge 4 ]; then
    serial="${serial: -4}"
    echo "${serial^^}"
  else
    echo "$name"
  fi
}

# zeta_confirm_erase DISK SURVEY HOST — the disk holds data and the stick only allows erasing
# blank disks: show what is on it and offer exactly two ways on. Returns 0 only when the word
# shown was typed; no timeout ever erases anything.
zeta_confirm_erase() {
  local disk="$1" survey="$2" host="$3" word answer
  word="$(zeta_erase_word "$disk")"
  echo "==== ZETA INSTALLER: DISK HOLDS DATA - NOTHING ERASED ===="
  echo "reason: $disk is not blank, and this stick only erases blank disks"
  echo "-- disk --"
  echo "  $disk: $(zeta_disk_facts "$disk")"
  echo "-- what is on it --"
  zeta_survey_lines "$survey"
  echo "-- what to do next --"
  echo "Photograph this screen and check it is the machine meant for node $host."
  echo "  ERASE IT NOW and install $host:   type  $word  and press Enter"
  echo "  keep the data:                    type  off    (powers off), remove the stick"
  echo "To skip this question: Zeta Flash, erase policy 'any' or the disk named, re-inject."
  if command -v qrencode >/dev/null 2>&1; then
    {
      echo "ZETA: $disk holds data, nothing erased, node $host"
      zeta_disk_facts "$disk"
      echo
      zeta_survey_lines "$survey" | tr -s ' ' | head -n 4
    } | head -c 200 | qrencode -t ANSIUTF8 -m 1 -l L || true
  fi
  while true; do
    printf 'Type %s to erase %s, or off: ' "$word" "$disk"
    if ! IFS= read -r answer; then
      echo
      echo "zeta: no answer (no console input): nothing was erased."
      return 1
    fi
    answer="$(zeta_trim "${answer:0:64}")"
    if [ "${answer^^}" = "${word^^}" ]; then
      echo "zeta: confirmed at the console: erasing $disk."
      return 0
    fi
    case "${answer,,}" in
      off | poweroff)
        echo "zeta: nothing was erased. Powering off; remove the stick."
        systemctl poweroff || true
        return 1
        ;;
    esac
    echo "zeta: that is not the word: nothing was erased."
  done
}

# zeta_stable_disk_path DISK — a /dev/disk/by-id name for DISK when udev made one: kernel names
# (sda, nvme0n1) can change between boots, and GRUB is installed by this name on every rebuild.
zeta_stable_disk_path() {
  local l
  for l in /dev/disk/by-id/wwn-* /dev/disk/by-id/nvme-eui.* /dev/disk/by-id/*; do
    [ -e "$l" ] || continue
    case "$l" in *-part[0-9]*) continue ;; esac
    if [ "$(readlink -f "$l")" = "$(readlink -f "$1")" ]; then
      echo "$l"
      return 0
    fi
  done
  echo "$1"
}

# zeta_part_path DISK N — /dev/sda → /dev/sda2, /dev/nvme0n1 → /dev/nvme0n1p2.
zeta_part_path() {
  case "$1" in
    *[0-9]) echo "${1}p$2" ;;
    *) echo "$1$2" ;;
  esac
}

# zeta_partition DISK — GPT: 1 MiB BIOS boot + 512 MiB ESP + root. GRUB is installed for BIOS
# and as the removable EFI loader, so the node boots whichever way its firmware is set and no
# NVRAM write is needed.
zeta_partition() {
  local disk="$1"
  wipefs -a -q "$disk" || return 1
  sfdisk --wipe always --label gpt "$disk" <<EOF
size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios
size=512MiB, type=$ZETA_ESP_GUID, name=ESP
type=0FC63DAF-8483-4772-8E79-3D477DE4C5E4, name=zeta-root
EOF
}

# zeta_format_and_mount DISK ROOT — ESP (FAT32, on /boot) and ext4 root, mounted at ROOT.
zeta_format_and_mount() {
  local disk="$1" root="$2" esp rootp i
  partx -u "$disk" 2>/dev/null || true
  udevadm settle 2>/dev/null || true
  esp="$(zeta_part_path "$disk" 2)"
  rootp="$(zeta_part_path "$disk" 3)"
  # Wait for the partition nodes by path, not by label (labels race in udev; see ANCHORS).
  for i in $(seq 1 20); do
    [ -b "$esp" ] && [ -b "$rootp" ] && break
    sleep 0.5
    [ "$i" -eq 20 ] && { echo "partitions $esp / $rootp did not appear" >&2; return 1; }
  done
  mkfs.vfat -F 32 -n ZETABOOT "$esp" || return 1
  mkfs.ext4 -F -q -L zeta-root "$rootp" || return 1
  mkdir -p "$root" && mount "$rootp" "$root" || return 1
  mkdir -p "$root/boot" && mount "$esp" "$root/boot"
}

# ---------------------------------------------------------------------------------------------
# Screens.
# ---------------------------------------------------------------------------------------------

zeta_ips() {
  ip -o -4 addr show scope global 2>/dev/null | awk '{ split($4, a, "/"); printf "%s ", a[1] }'
}

zeta_kernel_param() {
  local kv words=()
  read -r -a words 2>/dev/null <"${ZETA_CMDLINE:-/proc/cmdline}" || true
  for kv in "${words[@]}"; do
    case "$kv" in "$1="*) echo "${kv#*=}" ;; esac
  done
}

# zeta_diag REASON [NEXT-STEP...] — the photo-friendly block: reason first, raw facts in a few
# labelled sections (ESP probe = the real mtools/mount errors), what to do next, then a QR code
# of the same facts, condensed so text + code fit one screen photo (~50 rows on a console;
# 200 bytes is a version-9 code, 28 rows).
zeta_diag() {
  local reason line disks probe net
  # Reasons and probe notes quote the stick (file names, hostnames): printable ASCII only.
  reason="$(zeta_safe "$1" 200)"
  shift
  disks="$(lsblk -dno NAME,SIZE,TYPE,RM,TRAN,MODEL 2>&1 | grep -v '^zram' | head -n 6 | cut -c1-70 |
    tr -c ' -~\n' '?')"
  if [ -n "${ZETA_PROBE_LOG:-}" ] && [ -s "$ZETA_PROBE_LOG" ]; then
    probe="$(tail -n 8 "$ZETA_PROBE_LOG" | cut -c1-110 | tr -c ' -~\n' '?')"
  else
    probe="(no probe made)"
  fi
  net="$({
    ip -brief addr 2>&1 | grep -v '^lo ' | head -n 3
    ip route show default 2>&1 | head -n 1
  } | cut -c1-100)"
  echo "==== ZETA INSTALLER: PROBLEM ===="
  echo "reason: $reason"
  echo "-- block devices --"
  printf '%s\n' "$disks"
  echo "-- ESP probe --"
  printf '%s\n' "$probe"
  echo "-- network --"
  printf '%s\n' "$net"
  echo "-- what to do next --"
  echo "Photograph this screen (text and QR code) and send it to whoever runs the cluster."
  for line in "$@"; do echo "$line"; done
  echo "A shell follows; the full log is ${ZETA_LOG:-/tmp/zeta-install.log}."
  if command -v qrencode >/dev/null 2>&1; then
    {
      echo "ZETA: $reason"
      printf '%s\n' "$disks" | awk '{ printf "%s %s %s %s|", $1, $2, $4, $5 } END { print "" }'
      printf '%s\n' "$probe" | tail -n 3 | tr -s ' '
      printf '%s\n' "$net" | awk '{ print $1, $2, $3 }' | head -n 2
    } | head -c 200 | qrencode -t ANSIUTF8 -m 1 -l L || echo "(QR code failed to render)"
  else
    echo "(qrencode not installed: no QR code)"
  fi
}

zeta_final_banner() {
  local host="$1"
  echo "=================================================================="
  echo " ZETA NODE INSTALLED: $host"
  echo " IP addresses (installer): $(zeta_ips)"
  echo " After reboot, from your laptop:   ssh zeta@$host.local"
  echo " Log on the node: /var/log/zeta-install.log"
  echo "=================================================================="
}

# ---------------------------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------------------------

ZETA_LIVE_MARKER=/etc/zeta-installer.json

# zeta_require_live_system — 0 only on the Zeta installer's live system: its marker file
# (environment.etc."zeta-installer.json", nixos/installer/iso.nix) says zetaInstaller 1. On a
# workstation this installer would probe the disks and, with a payload present, erase one.
# Checked before anything looks at a disk.
zeta_require_live_system() {
  local m="${ZETA_TEST_LIVE_MARKER:-$ZETA_LIVE_MARKER}"
  if [ -f "$m" ] && [ "$(head -c 4096 "$m" | jq -r '.zetaInstaller == 1' 2>/dev/null)" = true ]; then
    return 0
  fi
  echo "zeta-install: $m is missing: this is not the Zeta installer's live system." >&2
  echo "zeta-install: refusing to look at any disk. (Boot the Zeta installer stick to install a node.)" >&2
  return 1
}

zeta_fail() {
  zeta_diag "$@"
  exit 1
}

# zeta_choose_disk IDENT-DIR BOOT-DISK... — set ZETA_DISK and ZETA_DISK_WHY, or fail with the
# diagnostics. zeta.disk= (or ZETA_TARGET_DISK) overrides the choice; a disk named on the stick
# is used exactly, or the installer stops; else the best eligible internal disk.
zeta_choose_disk() {
  local ident="$1" named lsjson b
  shift
  ZETA_DISK="${ZETA_TARGET_DISK:-$(zeta_kernel_param zeta.disk)}"
  ZETA_DISK_WHY="zeta.disk= on the kernel command line"
  [ -z "${ZETA_TARGET_DISK:-}" ] || ZETA_DISK_WHY="ZETA_TARGET_DISK set by hand"
  named="$(cat "$ident/erase-disk" 2>/dev/null || true)"
  if [ -n "$ZETA_DISK" ]; then
    :
  elif [ -n "$named" ]; then
    if ! ZETA_DISK="$(zeta_find_disk_by_id "$named")"; then
      zeta_fail "the stick names disk $named, which is not in this machine" \
        "Check that this is the machine meant for node $(cat "$ident/hostname")." \
        "Or boot with zeta.disk=/dev/XXX, or re-inject the stick without a disk."
    fi
    ZETA_DISK_WHY="named on the stick: $named"
  else
    lsjson="$(lsblk -J -b -d -o PATH,NAME,TYPE,SIZE,RM,HOTPLUG,RO,TRAN,MODEL)"
    ZETA_DISK="$(zeta_pick_target_disk "$lsjson" "$@")"
    ZETA_DISK_WHY="$(zeta_pick_reason "$lsjson" "$@")"
  fi
  if [ -z "$ZETA_DISK" ] || [ ! -b "$ZETA_DISK" ]; then
    zeta_fail "no internal disk to install to (need >= 8 GiB, not removable, not USB)" \
      "Connect an internal disk, or boot with the kernel parameter zeta.disk=/dev/XXX."
  fi
  for b in "$@"; do
    [ "$b" = "$ZETA_DISK" ] && zeta_fail "target $ZETA_DISK is the boot stick itself" \
      "Boot with zeta.disk= set to an internal disk."
  done
  return 0
}

zeta_main() {
  set -Eeuo pipefail
  export LC_ALL=C
  zeta_require_live_system || exit 1
  # Even an unforeseen failing command ends in the diagnostics block, not a bare exit.
  trap 'zeta_diag "internal error: \"$BASH_COMMAND\" failed" "This is a bug in the Zeta installer: the photo helps to fix it."' ERR
  local root="${ZETA_ROOT:-/mnt}" payload ident host countdown nixpkgs rc survey policy blank
  local -a boot
  ZETA_LOG="${ZETA_LOG:-/tmp/zeta-install.log}"
  ZETA_PROBE_LOG="${ZETA_PROBE_LOG:-$(mktemp)}"
  exec > >(tee -a "$ZETA_LOG") 2>&1

  payload="${ZETA_PAYLOAD_DIR:-}"
  if [ -z "$payload" ]; then
    payload="$(mktemp -d)"
    zeta_find_payload "$payload" || exit 1
  fi
  ident="$(mktemp -d)"
  if ! zeta_load_payload "$payload" "$ident"; then
    zeta_fail "$ZETA_FAIL_REASON" \
      "Fix the file on the stick (Zeta Flash: re-inject this node) and boot it again."
  fi
  host="$(cat "$ident/hostname")"
  policy="$(cat "$ident/erase-policy")"
  echo "zeta: node $host, roles: $(tr '\n' ' ' <"$ident/roles"), erase policy: $policy"

  mapfile -t boot < <(zeta_boot_disks)
  zeta_choose_disk "$ident" "${boot[@]}"

  survey="$(mktemp)"
  zeta_disk_survey "$ZETA_DISK" "$survey"
  countdown="${ZETA_COUNTDOWN:-$(zeta_kernel_param zeta.countdown)}"
  [[ "$countdown" =~ ^[0-9]+$ ]] || countdown=10
  if blank="$(zeta_blank_reason "$survey" "$host")"; then
    :
  elif [ "$policy" = any ]; then
    blank="HOLDS DATA, erased because the stick's erase policy is 'any':"
  elif zeta_confirm_erase "$ZETA_DISK" "$survey" "$host"; then
    blank="HOLDS DATA, erase confirmed at the console"
    countdown=0
  else
    exit 1
  fi
  echo "==== ZETA: INSTALLING NODE $host ===="
  echo "disk   $ZETA_DISK: $(zeta_disk_facts "$ZETA_DISK")"
  echo "why    $ZETA_DISK_WHY"
  echo "state  $blank"
  case "$blank" in HOLDS*) zeta_survey_lines "$survey" ;; esac
  echo "zeta: ERASING $ZETA_DISK in $countdown s (Ctrl+C to stop)"
  sleep "$countdown"

  if ! zeta_partition "$ZETA_DISK" || ! zeta_format_and_mount "$ZETA_DISK" "$root"; then
    zeta_fail "partitioning or formatting $ZETA_DISK failed" \
      "The disk may be failing or write-protected; try another disk (zeta.disk=)."
  fi
  zeta_write_identity "$ident" "$root" "$(zeta_stable_disk_path "$ZETA_DISK")"
  # Machine facts (file systems, kernel modules) from the real hardware, as nixos-generate-config
  # writes them; the only generated Nix in the identity, produced from hardware, not the stick.
  if ! nixos-generate-config --root "$root" --show-hardware-config \
    >"$root/etc/zeta/flake/identity/hardware-configuration.nix"; then
    zeta_fail "nixos-generate-config failed" "The hardware may be unsupported by this NixOS."
  fi

  nixpkgs="${ZETA_NIXPKGS:-$(cat /etc/zeta/nixpkgs-path 2>/dev/null || true)}"
  local args=(--root "$root" --no-root-passwd --no-channel-copy
    --flake "path:$root/etc/zeta/flake#node")
  # Evaluate with the nixpkgs the ISO was built from: evaluation then needs no network. The
  # build does: store paths not already on the live system come from the binary cache.
  [ -n "$nixpkgs" ] && [ -d "$nixpkgs" ] && args+=(--override-input nixpkgs "path:$nixpkgs")
  rc=0
  nixos-install "${args[@]}" || rc=$?
  mkdir -p "$root/var/log"
  cp "$ZETA_LOG" "$root/var/log/zeta-install.log" 2>/dev/null || true
  # The log so far is copied; the last screen is appended directly (the tee may lag behind).
  if [ "$rc" -ne 0 ]; then
    zeta_diag "nixos-install failed (exit $rc)" \
      "Check the network (cache.nixos.org must be reachable) and boot the stick again." \
      "The end of the log above shows the failing step." | tee -a "$root/var/log/zeta-install.log"
    exit 1
  fi
  zeta_final_banner "$host" | tee -a "$root/var/log/zeta-install.log"
}

# Run only when executed as a program; sourcing only defines the functions (a workstation that
# sources this file by mistake must not have its disks probed). `return` works at the top level
# of a sourced file only; comparing BASH_SOURCE with $0 is fooled by `bash -c 'source f' f`.
if (return 0 2>/dev/null); then
  if [ -z "${ZETA_INSTALL_LIB:-}" ]; then
    echo "zeta-install.sh: sourced without ZETA_INSTALL_LIB=1: only its functions are defined." >&2
  fi
elif [ -z "${ZETA_INSTALL_LIB:-}" ]; then
  zeta_main "$@"
fi
