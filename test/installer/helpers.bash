# shellcheck shell=bash
# helpers.bash — fixture builders for the installer tests: real FAT images made by mkfs.vfat,
# real isohybrid ISOs made by xorriso the way nixpkgs makes the NixOS installer, real GPT disk
# images made by sfdisk. Everything lives in $BATS_TEST_TMPDIR (removed by bats); loop devices
# made here are recorded and detached in teardown, never anyone else's.

# The locale bats runs under (run.sh: C, then en_US.UTF-8), before load_lib's installer sets
# LC_ALL=C in the test shell.
# shellcheck disable=SC2034 # used by hardening.bats
LC_ALL_AT_LOAD="${LC_ALL-}"
REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
SCRIPTS="$REPO/installer-scripts"
# shellcheck disable=SC2034 # used by the .bats files
FIXTURES="$BATS_TEST_DIRNAME/fixtures"
export MTOOLS_SKIP_CHECK=1
bats_require_minimum_version 1.5.0

load_lib() {
  # The installer's own mktemp files and folders (probe logs, identity folders) go where bats
  # removes them after each test, not into /tmp.
  export TMPDIR="$BATS_TEST_TMPDIR"
  # shellcheck source=../../installer-scripts/zeta-install.sh
  ZETA_INSTALL_LIB=1 source "$SCRIPTS/zeta-install.sh"
  # The live system's marker, as nixos/installer/marker.nix makes it (run.sh evaluates it into
  # ZETA_NIX_MARKER; a literal copy when bats runs alone).
  export ZETA_TEST_LIVE_MARKER="$BATS_TEST_TMPDIR/zeta-installer.json"
  if [ -n "${ZETA_NIX_MARKER:-}" ]; then
    cp "$ZETA_NIX_MARKER" "$ZETA_TEST_LIVE_MARKER"
  else
    echo '{"zetaInstaller":1,"version":"0.2.0","payloadSchemas":[1,2],"nixpkgs":{"rev":null},"system":"x86_64-linux"}' >"$ZETA_TEST_LIVE_MARKER"
  fi
}

# needs_root — root-only tests: a skip when not root (run.sh fails the suite on any skip when
# it runs as root, so a skip never hides there).
needs_root() {
  [ "$(id -u)" -eq 0 ] || skip "needs root for losetup"
}

# new_loop FILE [losetup options] — attach FILE, print the device, remember it for teardown.
new_loop() {
  local file="$1" dev
  shift
  dev="$(losetup -f --show "$@" "$file")"
  echo "$dev" >>"$BATS_TEST_TMPDIR/loops"
  echo "$dev"
}

detach_test_loops() {
  local dev
  [ -f "$BATS_TEST_TMPDIR/loops" ] || return 0
  while read -r dev; do
    losetup -d "$dev" 2>/dev/null || true
  done <"$BATS_TEST_TMPDIR/loops"
  rm -f "$BATS_TEST_TMPDIR/loops"
}

# make_esp IMG [KiB] — an ESP like the NixOS ISO's: FAT12, label EFIBOOT, serial 1234-5678.
make_esp() {
  mkfs.vfat --invariant -i 12345678 -n EFIBOOT -C "$1" "${2:-2048}" >/dev/null
  # Something the real ESP has, so the payload is not alone in the root directory.
  mmd -i "$1" ::/EFI ::/EFI/BOOT
}

# esp_put IMG[@@OFFSET] SRC NAME — put one file on the FAT (also how a hand edit is simulated).
esp_put() {
  mcopy -o -i "$1" "$2" "::/$3"
}

# node_json HOST KEYSFILE [ROLE...] — a schema-2 manifest like the engine's; the erase policy
# from ERASE_POLICY (default blank-only) and ERASE_DISK (default none).
node_json() {
  local host="$1" keys="$2"
  shift 2
  jq -n --arg host "$host" --rawfile keys "$keys" --arg policy "${ERASE_POLICY:-blank-only}" \
    --arg disk "${ERASE_DISK:-}" --args '{
    schema: 2, hostname: $host,
    keys: ($keys | split("\n") | map(select(length > 0))),
    roles: $ARGS.positional, wifi: null, passwordHash: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    app: { name: "zeta-flash", version: "0.2.0" }, image: null,
    erase: { policy: $policy, disk: (if $disk == "" then null else $disk end) } }' "$@"
}

# node_json_v1 HOST KEYSFILE [ROLE...] — a schema-1 manifest, as sticks written before the
# erase policy carry it.
node_json_v1() {
  node_json "$@" | jq '.schema = 1 | del(.erase)'
}

# mtools_payload_writer ESP-IMAGE HOST KEYSFILE [ROLE...] — write the payload files with mtools.
mtools_payload_writer() {
  local esp="$1" host="$2" keys="$3"
  shift 3
  printf '%s\n' "$host" >"$BATS_TEST_TMPDIR/zeta-hostname.txt"
  node_json "$host" "$keys" "$@" >"$BATS_TEST_TMPDIR/zeta-node.json"
  esp_put "$esp" "$BATS_TEST_TMPDIR/zeta-hostname.txt" zeta-hostname.txt
  esp_put "$esp" "$keys" zeta-authorized-keys.pub
  esp_put "$esp" "$BATS_TEST_TMPDIR/zeta-node.json" zeta-node.json
}

# zflash_payload_writer IMAGE HOST KEYSFILE [ROLE...] — the real engine (contract test):
# `zflash inject IMAGE --host H --ssh-key FILE [--role R...]`, in place, without mounting.
zflash_payload_writer() {
  local image="$1" host="$2" keys="$3" r
  shift 3
  local args=(inject "$image" --host "$host" --ssh-key "$keys")
  for r in "$@"; do args+=(--role "$r"); done
  if [ -n "${ERASE_POLICY:-}" ]; then args+=(--erase "$ERASE_POLICY"); fi
  if [ -n "${ERASE_DISK:-}" ]; then args+=(--erase-disk "$ERASE_DISK"); fi
  "$ZFLASH_BIN" "${args[@]}"
}

# embed_esp KIND ESP OUT — put the ESP into a stick image:
#   iso  isohybrid ISO as nixpkgs builds it (ESP = MBR entry type 0xEF, GPT basic-data overlap)
#   gpt  GPT disk: a decoy FAT (basic data, no payload) first, then the ESP (C12A7328-...)
#   fat  the bare FAT image itself
# PAD (env, a count) adds that many files to the ISO tree: more directory records before the
# ESP move its offset, as it moved between NixOS builds (LBA 276, later 268).
embed_esp() {
  local kind="$1" esp="$2" out="$3" tree="$BATS_TEST_TMPDIR/tree.$RANDOM" sectors decoy i
  case "$kind" in
    iso)
      mkdir -p "$tree/boot"
      cp "$esp" "$tree/boot/efi.img"
      cp /usr/lib/ISOLINUX/isolinux.bin "$tree/"
      if [ -n "${PAD:-}" ]; then
        mkdir -p "$tree/pad"
        for ((i = 0; i < PAD; i++)); do echo "$i" >"$tree/pad/file-with-a-long-name-$i.txt"; done
      fi
      xorriso -as mkisofs -quiet -V ZETA_TEST_ISO \
        -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
        -c boot.cat -b isolinux.bin -no-emul-boot -boot-load-size 4 -boot-info-table \
        -eltorito-alt-boot -e boot/efi.img -no-emul-boot -isohybrid-gpt-basdat \
        -o "$out" "$tree" 2>/dev/null
      ;;
    gpt)
      sectors=$(($(stat -c %s "$esp") / 512))
      decoy="$BATS_TEST_TMPDIR/decoy.img"
      mkfs.vfat -n DECOY -C "$decoy" 1024 >/dev/null
      truncate -s 8M "$out"
      sfdisk -q "$out" <<EOF
label: gpt
start=2048, size=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7
start=4096, size=$sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
EOF
      dd if="$decoy" of="$out" bs=512 seek=2048 conv=notrunc status=none
      dd if="$esp" of="$out" bs=512 seek=4096 conv=notrunc status=none
      ;;
    fat) cp "$esp" "$out" ;;
  esac
}

# build_stick KIND OUT HOST KEYSFILE [ROLE...] — a stick image carrying a payload. The payload
# writer is pluggable: with ZFLASH_BIN set, the real `zflash inject` writes into the finished
# image (the contract test between app and installer); otherwise mtools writes the same files.
build_stick() {
  local kind="$1" out="$2" esp="$BATS_TEST_TMPDIR/esp.$RANDOM.img"
  shift 2
  make_esp "$esp"
  if [ -n "${ZFLASH_BIN:-}" ]; then
    embed_esp "$kind" "$esp" "$out"
    zflash_payload_writer "$out" "$@"
  else
    mtools_payload_writer "$esp" "$@"
    embed_esp "$kind" "$esp" "$out"
  fi
}

# esp_offset_of IMAGE — byte offset of the ESP, read independently of the code under test.
esp_offset_of() {
  sfdisk -d "$1" | awk -F'[=,]' '/type=ef|C12A7328/ { gsub(/ /, "", $2); print $2 * 512; exit }'
}

# stub_cmd NAME [SCRIPT] — put a stub on PATH that logs its argv to $STUB_LOG, then runs SCRIPT.
stub_cmd() {
  mkdir -p "$BATS_TEST_TMPDIR/stubs"
  {
    echo '#!/usr/bin/env bash'
    # shellcheck disable=SC2016 # $* and $STUB_LOG expand when the stub runs
    printf 'printf "%%s %%s\\n" %q "$*" >>"$STUB_LOG"\n' "$1"
    echo "${2:-exit 0}"
  } >"$BATS_TEST_TMPDIR/stubs/$1"
  chmod +x "$BATS_TEST_TMPDIR/stubs/$1"
}

use_stubs() {
  export STUB_LOG="$BATS_TEST_TMPDIR/stub.log"
  : >"$STUB_LOG"
  export PATH="$BATS_TEST_TMPDIR/stubs:$PATH"
}

# table SECTION — the shared validation table's entries as "BASE64-INPUT|JSON-VERDICT" lines
# (base64: inputs hold newlines, CRs and 1 MB of one character; "|": a tab would collapse the
# empty input's field in `read`).
table() {
  jq -r --arg s "$1" '.[$s][] | [
      (.[0] | if type == "string" then . else .prefix + (.repeat * .times) + .suffix end | @base64),
      (.[1] | tojson)] | join("|")' "$FIXTURES/validation.json"
}

# unb64 B64 — the exact bytes (trailing newlines kept).
unb64() {
  local x
  x="$(base64 -d <<<"$1"; printf x)"
  printf '%s' "${x%x}"
}

# --- disks with something on them (real file systems on real loop devices) ---

# disk_sha FILE — checksum of a whole disk image, to prove nothing was written. CRC-32 (cksum)
# with the size: the writer under test is no adversary, and sha256 of a 1 GiB image costs 13 s
# on this machine's cores, cksum under one.
disk_sha() { cksum <"$1"; }

# make_disk KIND FILE [HOST] — a 64 MiB (zeta: 1 GiB) sparse disk image holding:
#   blank    nothing (sparse)
#   ext4     an ext4 file system on the whole disk, with files and /etc/os-release
#   gptfat   a GPT with one FAT partition (no LVM)
#   luks     a LUKS2 header (cryptsetup)
#   zeta     what a previous Zeta install of HOST leaves: zeta_partition's GPT, ESP ZETABOOT,
#            ext4 zeta-root holding etc/zeta/flake/identity/hostname
make_disk() {
  local kind="$1" img="$2" host="${3:-node-1}" root="$BATS_TEST_TMPDIR/root.$RANDOM" dev
  # zeta: zeta_partition's real layout needs 1 MiB + 512 MiB + a root (sparse, so cheap).
  if [ "$kind" = zeta ]; then truncate -s 1G "$img"; else truncate -s 64M "$img"; fi
  case "$kind" in
    blank) ;;
    ext4)
      mkdir -p "$root/etc" "$root/home/alice"
      printf 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\n' >"$root/etc/os-release"
      echo "thesis draft" >"$root/home/alice/thesis.txt"
      mkfs.ext4 -q -F -L data -d "$root" "$img"
      ;;
    gptfat)
      printf 'label: gpt\nstart=2048, size=20480, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=photos\n' |
        sfdisk -q "$img"
      mkfs.vfat --offset 2048 -n PHOTOS "$img" 10240 >/dev/null
      mcopy -i "$img@@1048576" "$FIXTURES/keys-good.txt" ::/list.txt
      ;;
    luks)
      dev="$(new_loop "$img")"
      printf 'secret' | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 \
        --pbkdf-force-iterations 1000 --key-file - "$dev" >/dev/null
      ;;
    zeta)
      dev="$(new_loop "$img")"
      zeta_partition "$dev" >/dev/null
      mkdir -p "$root/etc/zeta/flake/identity"
      printf '%s\n' "$host" >"$root/etc/zeta/flake/identity/hostname"
      local esp_start esp_sectors root_start root_sectors
      read -r esp_start esp_sectors < <(sfdisk --json "$img" | jq -r '.partitiontable.partitions[1] | "\(.start) \(.size)"')
      read -r root_start root_sectors < <(sfdisk --json "$img" | jq -r '.partitiontable.partitions[2] | "\(.start) \(.size)"')
      mkfs.vfat -I --offset "$esp_start" -n ZETABOOT "$dev" "$((esp_sectors / 2))" >/dev/null
      mkfs.ext4 -q -F -L zeta-root -d "$root" -E offset="$((root_start * 512))" "$dev" "$((root_sectors / 2))k"
      ;;
  esac
}
