# shellcheck shell=bash
# helpers.bash — fixture builders for the installer tests: real FAT images made by mkfs.vfat,
# real isohybrid ISOs made by xorriso the way nixpkgs makes the NixOS installer, real GPT disk
# images made by sfdisk. Everything lives in $BATS_TEST_TMPDIR (removed by bats); loop devices
# made here are recorded and detached in teardown, never anyone else's.

REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
SCRIPTS="$REPO/installer-scripts"
# shellcheck disable=SC2034 # used by the .bats files
FIXTURES="$BATS_TEST_DIRNAME/fixtures"
export MTOOLS_SKIP_CHECK=1
bats_require_minimum_version 1.5.0

load_lib() {
  # shellcheck source=../../installer-scripts/zeta-install.sh
  ZETA_INSTALL_LIB=1 source "$SCRIPTS/zeta-install.sh"
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

# node_json HOST KEYSFILE [ROLE...] — a schema-1 manifest like the engine's.
node_json() {
  local host="$1" keys="$2"
  shift 2
  jq -n --arg host "$host" --rawfile keys "$keys" --args '{
    schema: 1, hostname: $host,
    keys: ($keys | split("\n") | map(select(length > 0))),
    roles: $ARGS.positional, wifi: null, passwordHash: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    app: { name: "zeta-flash", version: "0.1.0" }, image: null }' "$@"
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
