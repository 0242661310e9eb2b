#!/usr/bin/env bats
# The erase policy on the node (docs/payload.md, `erase`): a stick left in the wrong machine
# must not wipe it. Real disks: sparse files on loop devices this test attaches and formats
# (ext4 with files, a GPT with a FAT partition, a LUKS header, a previous Zeta install), judged
# by the live USB's own commands (wipefs, blkid, sfdisk, lsblk, debugfs), nothing stubbed but
# what would install (formatting/mounting of the target, nixos-install) or power off.

load helpers

setup() {
  load_lib
  GOOD="$FIXTURES/keys-good.txt"
}

teardown() {
  detach_test_loops
}

# disk KIND [HOST] — a loop device holding KIND (make_disk), its backing file in $IMG.
disk() {
  IMG="$BATS_TEST_TMPDIR/$1.img"
  make_disk "$1" "$IMG" "${2:-}"
  DEV="$(new_loop "$IMG")"
}

survey_says() {
  zeta_disk_survey "$DEV" "$BATS_TEST_TMPDIR/survey"
  run zeta_blank_reason "$BATS_TEST_TMPDIR/survey" "${1:-node-1}"
}

@test "blank check: a blank sparse disk is blank" {
  needs_root
  disk blank
  survey_says
  [ "$status" -eq 0 ]
  [[ "$output" == "blank: no partition table"* ]]
}

@test "blank check: ext4 with files is not blank; the screen names its label and OS" {
  needs_root
  disk ext4
  survey_says
  [ "$status" -eq 1 ]
  run zeta_survey_lines "$BATS_TEST_TMPDIR/survey"
  [[ "$output" == *'ext4'*'"data"'*'OS: Ubuntu 24.04.1 LTS'* ]]
}

@test "blank check: a GPT with a FAT partition is not blank; type and label are listed" {
  needs_root
  disk gptfat
  survey_says
  [ "$status" -eq 1 ]
  run zeta_survey_lines "$BATS_TEST_TMPDIR/survey"
  [[ "$output" == *"partition table: gpt"* ]]
  [[ "$output" == *"Windows data"*"vfat"*'"PHOTOS"'* ]]
}

@test "blank check: a LUKS header (cryptsetup) is not blank" {
  needs_root
  disk luks
  survey_says
  [ "$status" -eq 1 ]
  grep -q 'crypto_LUKS' "$BATS_TEST_TMPDIR/survey"
}

@test "blank check: a previous Zeta install counts as blank for the same hostname only" {
  needs_root
  disk zeta node-1
  survey_says node-1
  [ "$status" -eq 0 ]
  [[ "$output" == "re-install: only a previous Zeta install of node-1"* ]]
  survey_says node-2
  [ "$status" -eq 1 ]
  run zeta_survey_lines "$BATS_TEST_TMPDIR/survey"
  [[ "$output" == *"Zeta node node-1"* ]]
}

@test "blank check: a Zeta layout with anything else on it is not blank" {
  needs_root
  disk zeta node-1
  # a file system someone made in the BIOS boot partition after the install
  mkfs.vfat -I -F 12 --offset 2048 -n EXTRA "$DEV" 1024 >/dev/null
  survey_says node-1
  [ "$status" -eq 1 ]
}

@test "erase word: last four letters/digits of the serial, else the disk's kernel name" {
  needs_root
  disk blank
  run zeta_erase_word "$DEV"
  [ "$output" = "$(basename "$DEV")" ]
  [ "$(zeta_erase_word_for S4EWNX0R123456a nvme0n1)" = 456A ]
  [ "$(zeta_erase_word_for ' WD-WCC4N1 2-9 ' sda)" = N129 ]
  [ "$(zeta_erase_word_for $'\e[2J' sdb)" = sdb ]
  [ "$(zeta_erase_word_for '' sdc)" = sdc ]
}

@test "several eligible disks: the countdown names the chosen one and why" {
  json='{"blockdevices":[
    {"path":"/dev/sda","name":"sda","type":"disk","size":2000398934016,"rm":false,"hotplug":false,"ro":false,"tran":"sata"},
    {"path":"/dev/sdb","name":"sdb","type":"disk","size":120034123776,"rm":false,"hotplug":false,"ro":false,"tran":"sata"},
    {"path":"/dev/nvme0n1","name":"nvme0n1","type":"disk","size":1000204886016,"rm":false,"hotplug":false,"ro":false,"tran":"nvme"}]}'
  [ "$(zeta_pick_target_disk "$json")" = /dev/nvme0n1 ]
  run zeta_pick_reason "$json"
  [ "$output" = "NVMe first, then the smallest, of 3 internal disks (also here: /dev/sdb 112G /dev/sda 1.9T)" ]
  run zeta_pick_reason "$json" /dev/sda /dev/sdb
  [ "$output" = "the only internal disk of 8 GiB or more" ]
}

# --- the whole installer on such a disk ---

# main_on KIND [HOST-ON-DISK] — zeta_main with a payload for node-1
# (ERASE_POLICY/ERASE_DISK from the environment) on a KIND disk. TARGET_HOW: env
# (ZETA_TARGET_DISK, the default), cmdline (zeta.disk=), named (the disk the stick names, made
# findable as /dev/disk/by-id/$BY_ID_NAME). Console input: the lines in ANSWER; ANSWER_WORD=1
# types the disk's erase word (its kernel name: loop devices have no serial) after them.
main_on() {
  disk "$@"
  P="$BATS_TEST_TMPDIR/payload"
  mkdir -p "$P"
  node_json node-1 "$GOOD" worker >"$P/zeta-node.json"
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  cp "$GOOD" "$P/zeta-authorized-keys.pub"
  stub_cmd nixos-install
  stub_cmd nixos-generate-config 'echo "{ ... }: { }"'
  stub_cmd systemctl
  use_stubs
  ROOT="$BATS_TEST_TMPDIR/mnt"
  zeta_format_and_mount() { echo "format_and_mount $*" >>"$STUB_LOG"; mkdir -p "$2/boot"; }
  local cmdline="$BATS_TEST_TMPDIR/cmdline" input="$BATS_TEST_TMPDIR/console"
  : >"$cmdline"
  unset ZETA_TARGET_DISK ZETA_BY_ID_DIR
  case "${TARGET_HOW:-env}" in
    env) export ZETA_TARGET_DISK="$DEV" ;;
    cmdline) echo "quiet zeta.disk=$DEV" >"$cmdline" ;;
    named)
      mkdir -p "$BATS_TEST_TMPDIR/by-id"
      if [ -n "${BY_ID_NAME:-}" ]; then ln -s "$DEV" "$BATS_TEST_TMPDIR/by-id/$BY_ID_NAME"; fi
      export ZETA_BY_ID_DIR="$BATS_TEST_TMPDIR/by-id"
      ;;
  esac
  if [ -n "${ANSWER:-}" ]; then printf '%s\n' "$ANSWER" >"$input"; else : >"$input"; fi
  if [ -n "${ANSWER_WORD:-}" ]; then basename "$DEV" >>"$input"; fi
  BEFORE="$(disk_sha "$IMG")"
  # In this shell, so that formatting and mounting stay stubbed (no vfat driver here, and the
  # host must not mount anything).
  ZETA_PAYLOAD_DIR="$P" ZETA_ROOT="$ROOT" ZETA_COUNTDOWN=0 \
    ZETA_FLAKE_SRC="$REPO/nixos" ZETA_LIVE_NM_DIR="$BATS_TEST_TMPDIR/none" \
    ZETA_LOG="$BATS_TEST_TMPDIR/install.log" ZETA_CMDLINE="$cmdline" \
    run zeta_main <"$input"
}

erased() { [ "$(sfdisk --json "$IMG" | jq -r '[.partitiontable.partitions[].name] | join(",")')" = "bios,ESP,zeta-root" ]; }

@test "blank-only + a disk holding data: nothing written, the screen lists the disk, no timeout" {
  needs_root
  main_on ext4
  [ "$status" -eq 1 ]
  [ "$(disk_sha "$IMG")" = "$BEFORE" ]
  [[ "$output" == *"==== ZETA INSTALLER: DISK HOLDS DATA - NOTHING ERASED ===="* ]]
  [[ "$output" == *"reason: $DEV is not blank, and this stick only erases blank disks"* ]]
  [[ "$output" == *"$DEV: unknown model, 64M, serial none"* ]]
  [[ "$output" == *'ext4'*'"data"'*'OS: Ubuntu 24.04.1 LTS'* ]]
  [[ "$output" == *"type  $(basename "$DEV")  and press Enter"* ]]
  [[ "$output" == *"no answer (no console input): nothing was erased"* ]]
  run ! grep -q '^format_and_mount\|^nixos-install' "$STUB_LOG"
}

@test "blank-only: a wrong word erases nothing" {
  needs_root
  ANSWER=$'yes\nERASE' main_on gptfat
  [ "$status" -eq 1 ]
  [ "$(disk_sha "$IMG")" = "$BEFORE" ]
  [ "$(grep -c 'that is not the word: nothing was erased' <<<"$output")" -eq 2 ]
  run ! grep -q '^nixos-install' "$STUB_LOG"
}

@test "blank-only: 'off' powers off and erases nothing" {
  needs_root
  ANSWER=off main_on luks
  [ "$status" -eq 1 ]
  [ "$(disk_sha "$IMG")" = "$BEFORE" ]
  grep -qx 'systemctl poweroff' "$STUB_LOG"
  run ! grep -q '^nixos-install' "$STUB_LOG"
}

@test "blank-only: the word shown erases the disk and the install goes on" {
  needs_root
  ANSWER=nope ANSWER_WORD=1 main_on ext4
  [ "$status" -eq 0 ]
  [[ "$output" == *"that is not the word: nothing was erased"* ]]
  [[ "$output" == *"confirmed at the console: erasing $DEV"* ]]
  [[ "$output" == *"state  HOLDS DATA, erase confirmed at the console"* ]]
  erased
  grep -q '^nixos-install' "$STUB_LOG"
  [[ "$output" == *"ZETA NODE INSTALLED: node-1"* ]]
}

@test "erase any: a disk holding data is erased after the countdown, its contents listed first" {
  needs_root
  ERASE_POLICY=any main_on ext4
  [ "$status" -eq 0 ]
  [[ "$output" != *"DISK HOLDS DATA - NOTHING ERASED"* ]]
  [[ "$output" == *"state  HOLDS DATA, erased because the stick's erase policy is 'any'"* ]]
  [[ "$output" == *'OS: Ubuntu 24.04.1 LTS'* ]]
  [[ "$output" == *"zeta: ERASING $DEV in 0 s (Ctrl+C to stop)"* ]]
  erased
}

@test "blank disk: zero typing, the countdown shows model, size, serial and why" {
  needs_root
  TARGET_HOW=cmdline main_on blank
  [ "$status" -eq 0 ]
  [[ "$output" == *"disk   $DEV: unknown model, 64M, serial none"* ]]
  [[ "$output" == *"why    zeta.disk= on the kernel command line"* ]]
  [[ "$output" == *"state  blank: no partition table"* ]]
  erased
}

@test "re-provisioning the same node: its previous Zeta install is erased without a question" {
  needs_root
  main_on zeta node-1
  [ "$status" -eq 0 ]
  [[ "$output" == *"state  re-install: only a previous Zeta install of node-1"* ]]
}

@test "another node's Zeta install: the installer stops and asks" {
  needs_root
  main_on zeta node-7
  [ "$status" -eq 1 ]
  [ "$(disk_sha "$IMG")" = "$BEFORE" ]
  [[ "$output" == *"Zeta node node-7"* ]]
}

@test "zeta.disk= overrides the choice but not the blank check" {
  needs_root
  TARGET_HOW=cmdline main_on ext4
  [ "$status" -eq 1 ]
  [ "$(disk_sha "$IMG")" = "$BEFORE" ]
  [[ "$output" == *"reason: $DEV is not blank"* ]]
}

@test "a disk named on the stick is used exactly (by-id), and still checked for data" {
  needs_root
  BY_ID_NAME=ata-Zeta_Test_Disk_ZT0001 ERASE_DISK=ata-Zeta_Test_Disk_ZT0001 TARGET_HOW=named \
    main_on blank
  [ "$status" -eq 0 ]
  [[ "$output" == *"why    named on the stick: ata-Zeta_Test_Disk_ZT0001"* ]]
  erased
  BY_ID_NAME=ata-Zeta_Test_Disk_ZT0002 ERASE_DISK=ata-Zeta_Test_Disk_ZT0002 TARGET_HOW=named \
    main_on gptfat
  [ "$status" -eq 1 ]
  [ "$(disk_sha "$IMG")" = "$BEFORE" ]
  [[ "$output" == *"reason: $DEV is not blank"* ]]
}

@test "a disk named on the stick that is not in this machine: stop, nothing written" {
  needs_root
  ERASE_DISK=ata-Not_Here_ZT9999 ERASE_POLICY=any TARGET_HOW=named main_on blank
  [ "$status" -eq 1 ]
  [ "$(disk_sha "$IMG")" = "$BEFORE" ]
  [[ "$output" == *"reason: the stick names disk ata-Not_Here_ZT9999, which is not in this machine"* ]]
  run ! grep -q '^format_and_mount' "$STUB_LOG"
}

@test "schema 1 manifests read as blank-only" {
  P="$BATS_TEST_TMPDIR/p1"
  mkdir -p "$P"
  ERASE_POLICY=any node_json_v1 node-1 "$GOOD" >"$P/zeta-node.json"
  jq -e '.schema == 1 and (has("erase") | not)' "$P/zeta-node.json"
  zeta_load_payload "$P" "$BATS_TEST_TMPDIR/id"
  [ "$(cat "$BATS_TEST_TMPDIR/id/erase-policy")" = blank-only ]
  # a schema-1 file that carries an erase field anyway does not get to loosen the policy
  jq '.erase = {policy: "any", disk: null}' "$P/zeta-node.json" >"$P/m"
  mv "$P/m" "$P/zeta-node.json"
  zeta_load_payload "$P" "$BATS_TEST_TMPDIR/id"
  [ "$(cat "$BATS_TEST_TMPDIR/id/erase-policy")" = blank-only ]
}

@test "schema 2: policy and disk read; an unknown policy or a bad disk falls back to the safe side" {
  P="$BATS_TEST_TMPDIR/p2"
  mkdir -p "$P"
  ERASE_POLICY=any ERASE_DISK=wwn-0x5002538e40a1b2c3 node_json node-1 "$GOOD" >"$P/zeta-node.json"
  zeta_load_payload "$P" "$BATS_TEST_TMPDIR/id"
  [ "$(cat "$BATS_TEST_TMPDIR/id/erase-policy")" = any ]
  [ "$(cat "$BATS_TEST_TMPDIR/id/erase-disk")" = wwn-0x5002538e40a1b2c3 ]
  ERASE_POLICY=everything ERASE_DISK=../sda node_json node-1 "$GOOD" >"$P/zeta-node.json"
  run zeta_load_payload "$P" "$BATS_TEST_TMPDIR/id"
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/id/erase-policy")" = blank-only ]
  [ ! -e "$BATS_TEST_TMPDIR/id/erase-disk" ]
  [[ "$output" == *"erase policy 'everything' in zeta-node.json is unknown: using blank-only"* ]]
}
