#!/usr/bin/env bash
# zeta-install.sh — install one Zeta node, unattended, from the payload on the stick's ESP.
#
# Run by zeta-first-boot on the live USB (as root), or by hand:   zeta-install.sh
# Tests and zeta-first-boot load the functions only:   ZETA_INSTALL_LIB=1 source zeta-install.sh
#
# What it does, in order: find the stick's ESP by partition type and read the payload with
# mtools at the ESP's byte offset (no mount), validate it again, pick the internal target disk,
# partition + format + mount it, write the identity as DATA into a copy of the bundled flake,
# run `nixos-install --flake`, keep the log on the node, print the final banner.
#
# Environment (all optional; kernel parameters zeta.disk= and zeta.countdown= also work):
#   ZETA_PAYLOAD_DIR   payload already read (zeta-first-boot passes it); else probe the disks
#   ZETA_TARGET_DISK   install here instead of picking (must still not be the boot stick)
#   ZETA_ROOT          mount point of the target (default /mnt)
#   ZETA_FLAKE_SRC     bundled flake (default /etc/zeta/flake, put there by the installer ISO)
#   ZETA_NIXPKGS       nixpkgs the ISO was built from (default: contents of /etc/zeta/nixpkgs-path)
#   ZETA_COUNTDOWN     seconds to wait before wiping the target (default 10)
#   ZETA_LOG           install log (default /tmp/zeta-install.log; copied to the node)
#
# Every failure prints a photo-friendly diagnostics block by itself (zeta_diag): the seed's
# lesson was that "something went wrong" with no facts cannot be fixed remotely.

# ---------------------------------------------------------------------------------------------
# Validation rules. The same rules live in nixos/lib/validate.nix (defence in depth: the stick
# may have been edited by hand, and the Nix side must never see anything but plain data).
# ---------------------------------------------------------------------------------------------

# OpenSSH public key: known type, base64 blob whose first bytes encode that same type, optional
# comment of safe characters. Options, quotes, `$`, `{` never pass: generating Nix from key text
# was the seed's code-injection hole (`${...}` survives escaping).
ZETA_KEY_RE='^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) (AAAA[A-Za-z0-9+/]+={0,2})( [A-Za-z0-9@._+:,/=-][A-Za-z0-9 @._+:,/=-]*)?$'
# RFC 1123 label, lowercase (mDNS names are case-insensitive; we normalise to lowercase).
ZETA_HOSTNAME_RE='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
ZETA_ROLES=(control-plane worker gpu storage)
# Partition types of an ESP: MBR 0xEF (the NixOS isohybrid ISO: boot/efi.img is MBR entry 2,
# while a GPT with overlapping "basic data" entries is also present) and the GPT ESP GUID.
ZETA_ESP_GUID='C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
ZETA_PAYLOAD_FILES=(zeta-hostname.txt zeta-authorized-keys.pub zeta-node.json)

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

# Trim leading/trailing whitespace (incl. CR from Windows editors) from one line.
zeta_trim() {
  local s="$1"
  s="${s#"${s%%[![:space:]]*}"}"
  s="${s%"${s##*[![:space:]]}"}"
  printf '%s' "$s"
}

# zeta_is_ssh_key LINE — 0 when LINE (already trimmed) is an acceptable public key.
zeta_is_ssh_key() {
  local line="$1" prefix
  [ "${#line}" -le 16384 ] || return 1
  [[ "$line" =~ $ZETA_KEY_RE ]] || return 1
  prefix="$(zeta_key_blob_prefix "${BASH_REMATCH[1]}")" || return 1
  [[ "${BASH_REMATCH[2]}" == "$prefix"* ]]
}

# zeta_filter_keys IN OUT — keep acceptable keys (deduplicated, in order), one per line with a
# trailing LF; report each dropped line on stderr. Returns 1 when no key is left.
zeta_filter_keys() {
  local in="$1" out="$2" line n=0 kept=0
  : >"$out"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="$(zeta_trim "$line")"
    [ -n "$line" ] || continue
    case "$line" in '#'*) continue ;; esac
    if zeta_is_ssh_key "$line"; then
      if ! grep -qxF -- "$line" "$out"; then
        printf '%s\n' "$line" >>"$out"
        kept=$((kept + 1))
      fi
    else
      zeta_log "dropped key line $n (not a plain OpenSSH public key): ${line:0:40}..."
    fi
  done <"$in"
  [ "$kept" -gt 0 ]
}

# zeta_clean_hostname RAW — print the normalised hostname, or return 1.
zeta_clean_hostname() {
  local h
  h="$(zeta_trim "$(printf '%s' "$1" | head -n 1)")"
  h="${h,,}"
  [[ "$h" =~ $ZETA_HOSTNAME_RE ]] || return 1
  printf '%s\n' "$h"
}

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

# _zeta_probe_esp DEV OUT — copy payload files from DEV's ESP into OUT. Quiet: facts go to
# ZETA_PROBE_LOG. Returns 0 when at least one payload file was copied.
_zeta_probe_esp() {
  local dev="$1" out="$2" found=1 offset desc f err mnt
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
          if [ -f "$mnt/$f" ]; then head -c 65536 "$mnt/$f" >"$out/$f" && found=0; fi
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
    for f in "${ZETA_PAYLOAD_FILES[@]}"; do
      if MTOOLS_SKIP_CHECK=1 mcopy -n -o -i "$dev@@$offset" "::/$f" "$out/$f.tmp" 2>"$err"; then
        head -c 65536 "$out/$f.tmp" >"$out/$f"
        rm -f "$out/$f.tmp"
        found=0
        zeta_probe_note "  found $f"
      else
        rm -f "$out/$f.tmp"
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

# zeta_find_payload OUT — probe every candidate disk; 1 + diagnostics when none holds a payload.
zeta_find_payload() {
  local out="$1" dev
  : "${ZETA_PROBE_LOG:=$(mktemp)}"
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

# zeta_load_payload PAYLOAD-DIR IDENT-DIR — validate again (the stick may have been edited by
# hand) and write: hostname, authorized_keys, roles, and when present wifi-ssid, wifi-psk,
# password-hash. Sets ZETA_FAIL_REASON and returns 1 when the node cannot be installed.
zeta_load_payload() {
  local p="$1" id="$2" json="" raw host keys_in role r psk ssid hash
  mkdir -p "$id"
  ZETA_FAIL_REASON=""
  if [ -s "$p/zeta-node.json" ]; then
    if jq -e '.schema == 1' "$p/zeta-node.json" >/dev/null 2>&1; then
      json="$p/zeta-node.json"
    else
      zeta_log "zeta-node.json is not a schema-1 manifest: ignoring it, using the text files"
    fi
  fi

  # Hostname: zeta-hostname.txt wins (the file the seed and hand-editors use), else manifest.
  raw=""
  if [ -s "$p/zeta-hostname.txt" ]; then
    raw="$(head -c 256 "$p/zeta-hostname.txt")"
  elif [ -n "$json" ]; then
    raw="$(jq -r '.hostname // empty' "$json")"
  fi
  if ! host="$(zeta_clean_hostname "$raw")"; then
    ZETA_FAIL_REASON="invalid hostname on the stick: '$(printf '%s' "$raw" | head -n 1 | tr -cd '[:print:]' | head -c 40)'"
    return 1
  fi
  printf '%s\n' "$host" >"$id/hostname"

  # Keys: zeta-authorized-keys.pub wins (a hand-removed key must stay removed), else manifest.
  keys_in="$(mktemp)"
  if [ -s "$p/zeta-authorized-keys.pub" ]; then
    cp "$p/zeta-authorized-keys.pub" "$keys_in"
  elif [ -n "$json" ]; then
    jq -r '.keys // [] | .[] | strings' "$json" >"$keys_in"
  fi
  if ! zeta_filter_keys "$keys_in" "$id/authorized_keys"; then
    rm -f "$keys_in"
    ZETA_FAIL_REASON="no valid SSH public key on the stick (zeta-authorized-keys.pub)"
    return 1
  fi
  rm -f "$keys_in"

  # Roles: only the known ones, each at most once.
  : >"$id/roles"
  if [ -n "$json" ]; then
    while IFS= read -r role; do
      for r in "${ZETA_ROLES[@]}"; do
        if [ "$role" = "$r" ] && ! grep -qxF -- "$r" "$id/roles"; then echo "$r" >>"$id/roles"; fi
      done
    done < <(jq -r '.roles // [] | .[] | strings' "$json")

    # Wi-Fi: the engine stores the derived PSK (64 hex), never the passphrase.
    if jq -e '.wifi | type == "object"' "$json" >/dev/null 2>&1; then
      ssid="$(jq -r '.wifi.ssid // empty' "$json")"
      psk="$(jq -r '.wifi.psk // empty' "$json")"
      if [[ "$psk" =~ ^[0-9a-fA-F]{64}$ ]] && [ -n "$ssid" ] && [ "${#ssid}" -le 32 ] &&
        [[ "$ssid" != *[[:cntrl:]]* ]]; then
        printf '%s\n' "$ssid" >"$id/wifi-ssid"
        printf '%s\n' "${psk,,}" >"$id/wifi-psk"
        chmod 600 "$id/wifi-psk"
      else
        zeta_log "Wi-Fi entry in zeta-node.json is malformed (need ssid and a 64-hex psk): ignoring it"
      fi
    fi

    hash="$(jq -r '.passwordHash // empty' "$json")"
    if [ -n "$hash" ]; then
      # crypt(3) hashes only: no ':' or newline can reach /etc/shadow.
      if [[ "$hash" =~ ^\$(6|5|y|2b|7)\$[A-Za-z0-9./\$=,-]+$ ]]; then
        (umask 077 && printf '%s\n' "$hash" >"$id/password-hash")
      else
        zeta_log "passwordHash in zeta-node.json is not a crypt hash: password login stays locked"
      fi
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

# zeta_pick_target_disk LSBLK-JSON [EXCLUDED-DISK...] — print the disk to install to.
# LSBLK-JSON is `lsblk -J -b -d -o PATH,NAME,TYPE,SIZE,RM,HOTPLUG,RO,TRAN,MODEL`. Never a
# removable, hot-plugged, USB, read-only, virtual (zram, loop) or excluded disk, never < 8 GiB.
# Among the rest: NVMe first, then the smallest (storage nodes keep their big disks for data).
zeta_pick_target_disk() {
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
    | .[0].path // empty' <<<"$json"
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
  local reason="$1" line disks probe net
  shift
  disks="$(lsblk -dno NAME,SIZE,TYPE,RM,TRAN,MODEL 2>&1 | grep -v '^zram' | head -n 6 | cut -c1-70)"
  if [ -n "${ZETA_PROBE_LOG:-}" ] && [ -s "$ZETA_PROBE_LOG" ]; then
    probe="$(tail -n 8 "$ZETA_PROBE_LOG" | cut -c1-110)"
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

zeta_fail() {
  zeta_diag "$@"
  exit 1
}

zeta_main() {
  set -Eeuo pipefail
  # Even an unforeseen failing command ends in the diagnostics block, not a bare exit.
  trap 'zeta_diag "internal error: \"$BASH_COMMAND\" failed" "This is a bug in the Zeta installer: the photo helps to fix it."' ERR
  local root="${ZETA_ROOT:-/mnt}" payload ident host disk countdown nixpkgs rc lsjson b
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
  echo "zeta: node $host, roles: $(tr '\n' ' ' <"$ident/roles")"

  mapfile -t boot < <(zeta_boot_disks)
  disk="${ZETA_TARGET_DISK:-$(zeta_kernel_param zeta.disk)}"
  if [ -z "$disk" ]; then
    lsjson="$(lsblk -J -b -d -o PATH,NAME,TYPE,SIZE,RM,HOTPLUG,RO,TRAN,MODEL)"
    disk="$(zeta_pick_target_disk "$lsjson" "${boot[@]}")"
  fi
  if [ -z "$disk" ] || [ ! -b "$disk" ]; then
    zeta_fail "no internal disk to install to (need >= 8 GiB, not removable, not USB)" \
      "Connect an internal disk, or boot with the kernel parameter zeta.disk=/dev/XXX."
  fi
  for b in "${boot[@]}"; do
    [ "$b" = "$disk" ] && zeta_fail "target $disk is the boot stick itself" \
      "Boot with zeta.disk= set to an internal disk."
  done

  countdown="${ZETA_COUNTDOWN:-$(zeta_kernel_param zeta.countdown)}"
  [[ "$countdown" =~ ^[0-9]+$ ]] || countdown=10
  echo "zeta: ERASING $disk ($(lsblk -dno SIZE,MODEL "$disk" 2>/dev/null | xargs)) in $countdown s — Ctrl+C to stop"
  sleep "$countdown"

  if ! zeta_partition "$disk" || ! zeta_format_and_mount "$disk" "$root"; then
    zeta_fail "partitioning or formatting $disk failed" \
      "The disk may be failing or write-protected; try another disk (zeta.disk=)."
  fi
  zeta_write_identity "$ident" "$root" "$(zeta_stable_disk_path "$disk")"
  # Machine facts (file systems, kernel modules) from the real hardware, as nixos-generate-config
  # writes them; the only generated Nix in the identity, produced from hardware, not the stick.
  if ! nixos-generate-config --root "$root" --show-hardware-config \
    >"$root/etc/zeta/flake/identity/hardware-configuration.nix"; then
    zeta_fail "nixos-generate-config failed" "The hardware may be unsupported by this NixOS."
  fi

  nixpkgs="${ZETA_NIXPKGS:-$(cat /etc/zeta/nixpkgs-path 2>/dev/null || true)}"
  local args=(--root "$root" --no-root-passwd --no-channel-copy
    --flake "path:$root/etc/zeta/flake#node")
  # Evaluate with the nixpkgs the ISO was built from: offline-capable, and most store paths
  # then come from the live system instead of the network.
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

if [ -z "${ZETA_INSTALL_LIB:-}" ]; then
  zeta_main "$@"
fi
