#!/usr/bin/env bats
# The contract between the app and the installer: the payload written onto a stick's ESP is
# read back by zeta_read_esp_payload from every layout a stick can have, with mtools at the
# ESP's byte offset, and validated again. Real images (mkfs.vfat, xorriso, sfdisk), real loop
# devices; nothing on this machine is mounted or changed.

load helpers

setup() {
  load_lib
  GOOD="$FIXTURES/keys-good.txt"
  OUT="$BATS_TEST_TMPDIR/out"
}

teardown() {
  detach_test_loops
}

assert_payload_read_back() {
  [ -f "$OUT/zeta-hostname.txt" ]
  [ "$(cat "$OUT/zeta-hostname.txt")" = "node-1" ]
  diff -u "$GOOD" "$OUT/zeta-authorized-keys.pub"
  jq -e '.schema == 2 and .hostname == "node-1"' "$OUT/zeta-node.json" >/dev/null
}

@test "sourcing with ZETA_INSTALL_LIB=1 defines the functions and runs nothing" {
  # shellcheck disable=SC2016 # $0 expands in the child shell
  run env -i PATH="$PATH" bash -c 'ZETA_INSTALL_LIB=1 source "$0"; declare -F zeta_read_esp_payload zeta_main zeta_load_payload' "$SCRIPTS/zeta-install.sh"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "zeta_read_esp_payload" ]
  [ "${#lines[@]}" -eq 3 ]
}

@test "isohybrid ISO (ESP = MBR entry type 0xEF, overlapping GPT present): payload read back" {
  build_stick iso "$BATS_TEST_TMPDIR/stick.iso" node-1 "$GOOD" worker gpu
  sfdisk -d "$BATS_TEST_TMPDIR/stick.iso" | grep -q 'type=ef'
  run zeta_read_esp_payload "$BATS_TEST_TMPDIR/stick.iso" "$OUT"
  [ "$status" -eq 0 ]
  assert_payload_read_back
  [ "$(jq -c .roles "$OUT/zeta-node.json")" = '["worker","gpu"]' ]
}

@test "ESP offset is read from the table, never hard-coded (it moves between builds)" {
  build_stick iso "$BATS_TEST_TMPDIR/a.iso" node-1 "$GOOD"
  PAD=300 build_stick iso "$BATS_TEST_TMPDIR/b.iso" node-1 "$GOOD"
  a="$(esp_offset_of "$BATS_TEST_TMPDIR/a.iso")"
  b="$(esp_offset_of "$BATS_TEST_TMPDIR/b.iso")"
  [ -n "$a" ]
  [ -n "$b" ]
  [ "$a" != "$b" ]
  zeta_read_esp_payload "$BATS_TEST_TMPDIR/a.iso" "$OUT"
  assert_payload_read_back
  rm -rf "$OUT"
  zeta_read_esp_payload "$BATS_TEST_TMPDIR/b.iso" "$OUT"
  assert_payload_read_back
}

@test "bare FAT image (the ESP itself): payload read back" {
  build_stick fat "$BATS_TEST_TMPDIR/esp.img" node-1 "$GOOD"
  run zeta_read_esp_payload "$BATS_TEST_TMPDIR/esp.img" "$OUT"
  [ "$status" -eq 0 ]
  assert_payload_read_back
}

@test "GPT disk: the ESP is chosen by type GUID, not the first FAT partition" {
  build_stick gpt "$BATS_TEST_TMPDIR/disk.img" node-1 "$GOOD"
  run zeta_read_esp_payload "$BATS_TEST_TMPDIR/disk.img" "$OUT"
  [ "$status" -eq 0 ]
  assert_payload_read_back
}

@test "loop block device of an isohybrid ISO: payload read back (no mount)" {
  needs_root
  build_stick iso "$BATS_TEST_TMPDIR/stick.iso" node-1 "$GOOD"
  dev="$(new_loop "$BATS_TEST_TMPDIR/stick.iso" --read-only)"
  [ -b "$dev" ]
  run zeta_read_esp_payload "$dev" "$OUT"
  [ "$status" -eq 0 ]
  assert_payload_read_back
  run ! grep -q "$BATS_TEST_TMPDIR" /proc/mounts
}

@test "empty ESP: exit 1 with the diagnostics block and the real mtools error" {
  make_esp "$BATS_TEST_TMPDIR/esp.img"
  embed_esp iso "$BATS_TEST_TMPDIR/esp.img" "$BATS_TEST_TMPDIR/empty.iso"
  run zeta_read_esp_payload "$BATS_TEST_TMPDIR/empty.iso" "$OUT"
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = "==== ZETA INSTALLER: PROBLEM ====" ]
  [[ "${lines[1]}" == "reason: no Zeta payload on the ESP of "* ]]
  [[ "$output" == *"-- block devices --"* ]]
  [[ "$output" == *"-- ESP probe --"*"partition"*"type ef"*"zeta-hostname.txt"*"not found"* ]]
  [[ "$output" == *"-- network --"* ]]
  [[ "$output" == *"-- what to do next --"*"Photograph this screen"* ]]
  [[ "$output" != *"now run"* ]]
  [ ! -e "$OUT/zeta-hostname.txt" ]
}

@test "not a FAT at all: mtools error, then the mount fallback's own error, in the block" {
  # Text, not random bytes: random data sometimes ends its first sector in 55 AA (sfdisk then
  # reads an MBR of junk partitions and nothing is probed) — once in a CI run.
  yes 'not a FAT at all' | head -c 2097152 >"$BATS_TEST_TMPDIR/junk.img"
  run zeta_read_esp_payload "$BATS_TEST_TMPDIR/junk.img" "$OUT"
  [ "$status" -eq 1 ]
  [[ "$output" == *"-- ESP probe --"*"mtools:"*"mount fallback:"* ]]
}

@test "missing device: exit 1 with diagnostics" {
  run zeta_read_esp_payload "$BATS_TEST_TMPDIR/nope" "$OUT"
  [ "$status" -eq 1 ]
  [[ "$output" == *"does not exist"* ]]
}

@test "diagnostics fit a photo: text under 40 lines, then a QR code (or one line without qrencode)" {
  run zeta_diag "test reason" "step one"
  [ "$status" -eq 0 ]
  text="$(printf '%s\n' "$output" | grep -v $'\e\\[' | grep -cv '[▀▄█]' || true)"
  [ "$text" -lt 40 ]
  [[ "$output" == *"▄"* ]]
  qr_rows="$(printf '%s\n' "$output" | grep -c '[▀▄█]')"
  [ "$qr_rows" -le 32 ]
  mkdir -p "$BATS_TEST_TMPDIR/noqr"
  for t in lsblk ip grep head tail cut awk tr cat; do ln -sf "$(command -v $t)" "$BATS_TEST_TMPDIR/noqr/$t"; done
  PATH="$BATS_TEST_TMPDIR/noqr" run zeta_diag "test reason"
  [ "$status" -eq 0 ]
  [[ "$output" == *"(qrencode not installed: no QR code)"* ]]
}

@test "hand-edited stick: \${...}, quotes and options in key lines and a hostname with trailing spaces" {
  esp="$BATS_TEST_TMPDIR/esp.img"
  make_esp "$esp"
  first="$(head -n 1 "$GOOD")"
  {
    printf '%s\r\n' "$first"
    cat "$FIXTURES/keys-bad.txt"
    printf '   %s   \n' "$(sed -n 2p "$GOOD")"
    # shellcheck disable=SC2016 # a literal ${...}, as a hand edit would leave it
    printf 'ssh-ed25519 %s ${pkgs.runCommand "x" {} "touch /pwned"}\n' "$(echo "$first" | cut -d' ' -f2)"
    printf '# a comment someone added\n\n'
  } >"$BATS_TEST_TMPDIR/edited.pub"
  printf 'node-7   \r\n' >"$BATS_TEST_TMPDIR/host.txt"
  esp_put "$esp" "$BATS_TEST_TMPDIR/edited.pub" zeta-authorized-keys.pub
  esp_put "$esp" "$BATS_TEST_TMPDIR/host.txt" zeta-hostname.txt
  embed_esp iso "$esp" "$BATS_TEST_TMPDIR/edited.iso"

  zeta_read_esp_payload "$BATS_TEST_TMPDIR/edited.iso" "$OUT"
  run zeta_load_payload "$OUT" "$BATS_TEST_TMPDIR/id"
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/id/hostname")" = "node-7" ]
  [ "$(wc -l <"$BATS_TEST_TMPDIR/id/authorized_keys")" -eq 2 ]
  [ "$(sed -n 1p "$BATS_TEST_TMPDIR/id/authorized_keys")" = "$first" ]
  [ "$(sed -n 2p "$BATS_TEST_TMPDIR/id/authorized_keys")" = "$(sed -n 2p "$GOOD")" ]
  [[ "$output" == *"dropped key line"* ]]
  run ! grep -q '[$"'\''`{}]' "$BATS_TEST_TMPDIR/id/authorized_keys"
  run ! grep -q $'\r' "$BATS_TEST_TMPDIR/id/authorized_keys"
}

@test "contract: the payload zflash inject writes is identical after the installer's own filter" {
  # The real engine, never a stand-in: run.sh refuses to run without ZFLASH_BIN.
  [ -n "${ZFLASH_BIN:-}" ]
  ERASE_POLICY=any ERASE_DISK=nvme-Zeta_SSD_S4EWNX0R123456A \
    build_stick iso "$BATS_TEST_TMPDIR/stick.iso" node-1 "$GOOD" control-plane storage
  zeta_read_esp_payload "$BATS_TEST_TMPDIR/stick.iso" "$OUT"
  zeta_load_payload "$OUT" "$BATS_TEST_TMPDIR/id"
  diff -u "$GOOD" "$BATS_TEST_TMPDIR/id/authorized_keys"
  [ "$(cat "$BATS_TEST_TMPDIR/id/hostname")" = "node-1" ]
  [ "$(cat "$BATS_TEST_TMPDIR/id/roles")" = "$(printf 'control-plane\nstorage')" ]
  # the manifest's keys agree with the .pub file
  diff -u <(jq -r '.keys[]' "$OUT/zeta-node.json") "$GOOD"
  # the erase policy the engine wrote is the one the installer acts on
  [ "$(jq -r .schema "$OUT/zeta-node.json")" = 2 ]
  [ "$(cat "$BATS_TEST_TMPDIR/id/erase-policy")" = any ]
  [ "$(cat "$BATS_TEST_TMPDIR/id/erase-disk")" = nvme-Zeta_SSD_S4EWNX0R123456A ]
}
