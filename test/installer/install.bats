#!/usr/bin/env bats
# zeta-install.sh and zeta-first-boot.sh beyond the ESP probe: payload validation, the
# NetworkManager keyfile, target-disk choice, the identity written into the flake copy, the
# partition layout (real sfdisk on a loop device of a temp file), and the whole flow with only
# the commands stubbed that would change this machine (mkfs/mount of the target, nixos-install).

load helpers

setup() {
  load_lib
  GOOD="$FIXTURES/keys-good.txt"
  P="$BATS_TEST_TMPDIR/payload"
  ID="$BATS_TEST_TMPDIR/id"
  mkdir -p "$P"
}

teardown() {
  detach_test_loops
}

@test "load_payload: manifest-only stick (no .txt/.pub) still yields hostname, keys, roles" {
  node_json node-9 "$GOOD" storage bogus storage gpu >"$P/zeta-node.json"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 0 ]
  [ "$(cat "$ID/hostname")" = "node-9" ]
  diff -u "$GOOD" "$ID/authorized_keys"
  [ "$(cat "$ID/roles")" = "$(printf 'storage\ngpu')" ]
  [ ! -e "$ID/password-hash" ]
  [ ! -e "$ID/wifi-psk" ]
  [ "$(cat "$ID/erase-policy")" = blank-only ]
  [ ! -e "$ID/erase-disk" ]
}

@test "load_payload: Wi-Fi (hex PSK) and password hash from the manifest" {
  psk="$(printf 'ab%.0s' {1..32})"
  node_json node-1 "$GOOD" worker |
    jq --arg psk "$psk" '.wifi = {ssid: "Lab Net", psk: $psk} | .passwordHash = "$6$salt$abcdefghijklmnopqrstuvwxyz0123456789./ABCDEFGHIJKLMNOPQRSTUV"' >"$P/zeta-node.json"
  zeta_load_payload "$P" "$ID"
  [ "$(cat "$ID/wifi-ssid")" = "Lab Net" ]
  [ "$(cat "$ID/wifi-psk")" = "$psk" ]
  [ "$(stat -c %a "$ID/password-hash")" = 600 ]
  # shellcheck disable=SC2016 # a literal crypt prefix
  [[ "$(cat "$ID/password-hash")" == '$6$salt$'* ]]
}

@test "load_payload: bad Wi-Fi, bad hash and an unknown manifest schema are ignored, not fatal" {
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  cp "$GOOD" "$P/zeta-authorized-keys.pub"
  node_json node-1 "$GOOD" | jq '.wifi = {ssid: "x", psk: "hunter2"} | .passwordHash = "plain:text"' >"$P/zeta-node.json"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 0 ]
  [ ! -e "$ID/wifi-psk" ]
  [ ! -e "$ID/password-hash" ]
  echo '{"schema": 3, "roles": ["gpu"]}' >"$P/zeta-node.json"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 0 ]
  [ ! -s "$ID/roles" ]
}

@test "load_payload: invalid hostname or no valid key fails with a reason" {
  printf 'Bad_Host!\n' >"$P/zeta-hostname.txt"
  cp "$GOOD" "$P/zeta-authorized-keys.pub"
  zeta_load_payload "$P" "$ID" || rc=$?
  [ "${rc:-0}" -eq 1 ]
  [[ "$ZETA_FAIL_REASON" == "invalid hostname on the stick: 'Bad_Host!'" ]]
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  cp "$FIXTURES/keys-bad.txt" "$P/zeta-authorized-keys.pub"
  rc=0
  zeta_load_payload "$P" "$ID" 2>/dev/null || rc=$?
  [ "$rc" -eq 1 ]
  [[ "$ZETA_FAIL_REASON" == "no valid SSH public key"* ]]
}

@test "hostname rules: trailing spaces/CR trimmed, lowercased, RFC 1123 enforced" {
  [ "$(zeta_clean_hostname $'node-2   \r')" = node-2 ]
  [ "$(zeta_clean_hostname 'Node-2')" = node-2 ]
  # shellcheck disable=SC2016 # a literal ${x}, as a hand edit would leave it
  for bad in '' '-a' 'a-' 'a_b' 'a.b' '${x}' "$(printf 'a%.0s' {1..64})"; do
    run zeta_clean_hostname "$bad"
    [ "$status" -eq 1 ]
  done
}

@test "key rules agree with nixos/lib/validate.nix on the shared fixtures" {
  while IFS= read -r k; do zeta_is_ssh_key "$k"; done <"$GOOD"
  while IFS= read -r k; do
    run zeta_is_ssh_key "$k"
    [ "$status" -eq 1 ]
  done <"$FIXTURES/keys-bad.txt"
}

@test "NetworkManager keyfile: 0600, WPA-PSK in hex form, SSID escaped" {
  psk="$(printf '0f%.0s' {1..32})"
  zeta_nm_keyfile ' Lab\Net' "$psk" "$BATS_TEST_TMPDIR/nm/zeta-wifi.nmconnection"
  f="$BATS_TEST_TMPDIR/nm/zeta-wifi.nmconnection"
  [ "$(stat -c %a "$f")" = 600 ]
  grep -qx 'key-mgmt=wpa-psk' "$f"
  grep -qx "psk=$psk" "$f"
  grep -qxF 'ssid=\sLab\\Net' "$f"
  grep -qx 'type=wifi' "$f"
}

@test "target disk: never USB, removable, hotplug, read-only, zram, small or the boot stick" {
  json='{"blockdevices":[
    {"path":"/dev/sda","name":"sda","type":"disk","size":64000000000,"rm":false,"hotplug":false,"ro":false,"tran":"usb"},
    {"path":"/dev/sdb","name":"sdb","type":"disk","size":500000000000,"rm":true,"hotplug":false,"ro":false,"tran":"sata"},
    {"path":"/dev/sdc","name":"sdc","type":"disk","size":500000000000,"rm":false,"hotplug":true,"ro":false,"tran":"sata"},
    {"path":"/dev/zram0","name":"zram0","type":"disk","size":16000000000,"rm":false,"hotplug":false,"ro":false,"tran":null},
    {"path":"/dev/sdd","name":"sdd","type":"disk","size":4000000000,"rm":false,"hotplug":false,"ro":false,"tran":"sata"},
    {"path":"/dev/sde","name":"sde","type":"disk","size":2000000000000,"rm":false,"hotplug":false,"ro":true,"tran":"sata"},
    {"path":"/dev/sdf","name":"sdf","type":"disk","size":250000000000,"rm":false,"hotplug":false,"ro":false,"tran":"sata"},
    {"path":"/dev/sdg","name":"sdg","type":"disk","size":120000000000,"rm":false,"hotplug":false,"ro":false,"tran":"sata"}]}'
  [ "$(zeta_pick_target_disk "$json")" = /dev/sdg ]
  [ "$(zeta_pick_target_disk "$json" /dev/sdg)" = /dev/sdf ]
  [ -z "$(zeta_pick_target_disk "$json" /dev/sdg /dev/sdf)" ]
  nvme='{"blockdevices":[
    {"path":"/dev/sda","name":"sda","type":"disk","size":120000000000,"rm":"0","hotplug":"0","ro":"0","tran":"sata"},
    {"path":"/dev/nvme0n1","name":"nvme0n1","type":"disk","size":1000000000000,"rm":"0","hotplug":"0","ro":"0","tran":"nvme"}]}'
  [ "$(zeta_pick_target_disk "$nvme")" = /dev/nvme0n1 ]
  [ "$(zeta_part_path /dev/nvme0n1 2)" = /dev/nvme0n1p2 ]
  [ "$(zeta_part_path /dev/sda 2)" = /dev/sda2 ]
}

@test "partition layout on a real (loop) disk: BIOS boot, 512 MiB ESP, root" {
  needs_root
  truncate -s 1G "$BATS_TEST_TMPDIR/target.img"
  dev="$(new_loop "$BATS_TEST_TMPDIR/target.img")"
  zeta_partition "$dev" >/dev/null
  t="$(sfdisk --json "$BATS_TEST_TMPDIR/target.img")"
  [ "$(jq -r .partitiontable.label <<<"$t")" = gpt ]
  [ "$(jq -r '[.partitiontable.partitions[].type] | join(" ")' <<<"$t")" = \
    "21686148-6449-6E6F-744E-656564454649 C12A7328-F81F-11D2-BA4B-00A0C93EC93B 0FC63DAF-8483-4772-8E79-3D477DE4C5E4" ]
  [ "$(jq -r '.partitiontable.partitions[1].size' <<<"$t")" -eq 1048576 ]
}

@test "write_identity: flake copy with identity as data, hash outside the store, NM profiles" {
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  cp "$GOOD" "$P/zeta-authorized-keys.pub"
  node_json node-1 "$GOOD" worker gpu |
    jq --arg psk "$(printf 'cd%.0s' {1..32})" '.wifi = {ssid: "Lab", psk: $psk} | .passwordHash = "$6$s$hash"' >"$P/zeta-node.json"
  zeta_load_payload "$P" "$ID"
  mkdir -p "$BATS_TEST_TMPDIR/livenm"
  printf '[connection]\nid=cafe\n' >"$BATS_TEST_TMPDIR/livenm/cafe.nmconnection"
  root="$BATS_TEST_TMPDIR/root"
  ZETA_FLAKE_SRC="$REPO/nixos" ZETA_LIVE_NM_DIR="$BATS_TEST_TMPDIR/livenm" \
    zeta_write_identity "$ID" "$root" /dev/disk/by-id/ata-TEST
  fl="$root/etc/zeta/flake"
  [ -f "$fl/flake.nix" ]
  [ -f "$fl/modules/roles.nix" ]
  [ "$(cat "$fl/identity/hostname")" = node-1 ]
  diff -u "$GOOD" "$fl/identity/authorized_keys"
  [ "$(cat "$fl/identity/roles")" = "$(printf 'worker\ngpu')" ]
  [ "$(cat "$fl/identity/boot-disk")" = /dev/disk/by-id/ata-TEST ]
  [ "$(cat "$fl/identity/password-hash-file")" = /etc/zeta/secrets/zeta-password-hash ]
  [ "$(stat -c %a "$root/etc/zeta/secrets/zeta-password-hash")" = 600 ]
  run ! grep -rq 'hash' "$fl/identity/hostname" "$fl/identity/authorized_keys" "$fl/identity/roles"
  [ "$(stat -c %a "$root/etc/NetworkManager/system-connections/zeta-wifi.nmconnection")" = 600 ]
  [ "$(stat -c %a "$root/etc/NetworkManager/system-connections/cafe.nmconnection")" = 600 ]
  # nothing but plain data went into the flake: no .nix file in identity/
  [ -z "$(find "$fl/identity" -name '*.nix')" ]
}

# The whole install on a loop "disk": real probe, validation, partitioning; stubbed formatting
# and mounting (no vfat in this kernel, and the target partitions of a loop device only appear
# with udev), nixos-generate-config and nixos-install.
run_main() {
  truncate -s 1G "$BATS_TEST_TMPDIR/target.img"
  TARGET="$(new_loop "$BATS_TEST_TMPDIR/target.img")"
  build_stick iso "$BATS_TEST_TMPDIR/stick.iso" node-1 "$GOOD" control-plane
  PAYLOAD="$BATS_TEST_TMPDIR/read"
  zeta_read_esp_payload "$BATS_TEST_TMPDIR/stick.iso" "$PAYLOAD"
  stub_cmd nixos-install "exit \${NIXOS_INSTALL_RC:-0}"
  stub_cmd nixos-generate-config 'echo "{ ... }: { }"'
  use_stubs
  mkdir -p "$BATS_TEST_TMPDIR/nixpkgs"
  ROOT="$BATS_TEST_TMPDIR/mnt"
  zeta_format_and_mount() { echo "format_and_mount $*" >>"$STUB_LOG"; mkdir -p "$2/boot"; }
  export -f zeta_format_and_mount
  ZETA_PAYLOAD_DIR="$PAYLOAD" ZETA_TARGET_DISK="$TARGET" ZETA_ROOT="$ROOT" ZETA_COUNTDOWN=0 \
    ZETA_FLAKE_SRC="$REPO/nixos" ZETA_NIXPKGS="$BATS_TEST_TMPDIR/nixpkgs" \
    ZETA_LIVE_NM_DIR="$BATS_TEST_TMPDIR/none" ZETA_LOG="$BATS_TEST_TMPDIR/install.log" \
    ZETA_CMDLINE=/dev/null run zeta_main
}

@test "zeta_main: unattended install ends in the banner, log kept on the node" {
  needs_root
  run_main
  [ "$status" -eq 0 ]
  [[ "$output" == *"ZETA NODE INSTALLED: node-1"* ]]
  [[ "$output" == *"ssh zeta@node-1.local"* ]]
  grep -qx "nixos-install --root $ROOT --no-root-passwd --no-channel-copy --flake path:$ROOT/etc/zeta/flake#node --override-input nixpkgs path:$BATS_TEST_TMPDIR/nixpkgs" "$STUB_LOG"
  grep -qx "format_and_mount $TARGET $ROOT" "$STUB_LOG"
  [ "$(jq -r '.partitiontable.partitions | length' <<<"$(sfdisk --json "$BATS_TEST_TMPDIR/target.img")")" -eq 3 ]
  [ "$(cat "$ROOT/etc/zeta/flake/identity/hostname")" = node-1 ]
  [ "$(cat "$ROOT/etc/zeta/flake/identity/roles")" = control-plane ]
  [ "$(cat "$ROOT/etc/zeta/flake/identity/hardware-configuration.nix")" = "{ ... }: { }" ]
  [ ! -e "$ROOT/etc/zeta/flake/identity/password-hash-file" ]
  grep -q "ZETA NODE INSTALLED" "$ROOT/var/log/zeta-install.log"
}

@test "zeta_main: nixos-install failure prints the diagnostics block, exit 1" {
  needs_root
  NIXOS_INSTALL_RC=7 run_main
  [ "$status" -eq 1 ]
  [[ "$output" == *"==== ZETA INSTALLER: PROBLEM ===="*"reason: nixos-install failed (exit 7)"*"Photograph this screen"* ]]
  [ -f "$ROOT/var/log/zeta-install.log" ]
}

@test "zeta_main: refuses a target that is not a block device, with diagnostics" {
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  cp "$GOOD" "$P/zeta-authorized-keys.pub"
  ZETA_PAYLOAD_DIR="$P" ZETA_TARGET_DISK="$BATS_TEST_TMPDIR/not-a-disk" ZETA_CMDLINE=/dev/null \
    ZETA_LOG="$BATS_TEST_TMPDIR/install.log" run zeta_main
  [ "$status" -eq 1 ]
  [[ "$output" == *"reason: no internal disk to install to"* ]]
}

# zeta-first-boot.sh with the live system's commands stubbed; the install itself is a stub that
# records what it was given (the real one is tested above).
first_boot() {
  stub_cmd udevadm
  stub_cmd nmcli
  stub_cmd nmtui
  stub_cmd systemctl
  stub_cmd getent
  stub_cmd findmnt 'exit 1'
  stub_cmd ip "if [ \"\$*\" = 'route show default' ]; then \${NO_NET:+exit 0}; echo 'default via 10.0.0.1 dev eth0'; fi"
  stub_cmd lsblk "if [ \"\$1\" = -dnpo ]; then echo '$BATS_TEST_TMPDIR/stick.iso disk'; else echo 'sda 20G disk 0 sata TEST'; fi"
  use_stubs
  cat >"$BATS_TEST_TMPDIR/fake-install.sh" <<EOF
if [ -n "\${ZETA_INSTALL_LIB:-}" ]; then source "$SCRIPTS/zeta-install.sh"; return 0; fi
echo "fake-install payload=\$(ls "\$ZETA_PAYLOAD_DIR" | tr '\n' ' ')" >>"\$STUB_LOG"
exit \${FAKE_INSTALL_RC:-0}
EOF
  ZETA_INSTALL_SCRIPT="$BATS_TEST_TMPDIR/fake-install.sh" ZETA_RUN_DIR="$BATS_TEST_TMPDIR/run" \
    ZETA_LIVE_NM_DIR="$BATS_TEST_TMPDIR/livenm" ZETA_NO_REBOOT="${ZETA_NO_REBOOT-1}" ZETA_NET_WAIT=1 \
    ZETA_LOG="$BATS_TEST_TMPDIR/install.log" ZETA_PROBE_LOG="$BATS_TEST_TMPDIR/probe.log" \
    run bash "$SCRIPTS/zeta-first-boot.sh" </dev/null
}

@test "first boot: payload found, Wi-Fi from the stick joined, install run, then a shell" {
  esp="$BATS_TEST_TMPDIR/esp.img"
  make_esp "$esp"
  mtools_payload_writer "$esp" node-1 "$GOOD" worker
  jq --arg psk "$(printf 'ee%.0s' {1..32})" '.wifi = {ssid: "Lab", psk: $psk}' \
    "$BATS_TEST_TMPDIR/zeta-node.json" >"$BATS_TEST_TMPDIR/n.json"
  esp_put "$esp" "$BATS_TEST_TMPDIR/n.json" zeta-node.json
  embed_esp iso "$esp" "$BATS_TEST_TMPDIR/stick.iso"
  first_boot
  [ "$status" -eq 0 ]
  [[ "$output" == *"this stick installs node 'node-1'"* ]]
  [[ "$output" == *"joining Wi-Fi 'Lab'"* ]]
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/livenm/zeta-wifi.nmconnection")" = 600 ]
  grep -q '^nmcli connection up id zeta-wifi' "$STUB_LOG"
  grep -qx 'fake-install payload=zeta-authorized-keys.pub zeta-hostname.txt zeta-node.json ' "$STUB_LOG"
  run ! grep -q '^nmtui' "$STUB_LOG"
}

@test "first boot: no payload -> diagnostics, then a shell; nothing installed" {
  make_esp "$BATS_TEST_TMPDIR/esp.img"
  embed_esp iso "$BATS_TEST_TMPDIR/esp.img" "$BATS_TEST_TMPDIR/stick.iso"
  first_boot
  [[ "$output" == *"reason: no Zeta payload found on any disk"* ]]
  [[ "$output" == *"Type 'exit' to leave this shell"* ]]
  run ! grep -q '^fake-install' "$STUB_LOG"
}

@test "first boot: no network -> nmtui offered, then diagnostics and a shell" {
  build_stick iso "$BATS_TEST_TMPDIR/stick.iso" node-1 "$GOOD"
  NO_NET=1 first_boot
  [[ "$output" == *"Opening the network setup (nmtui)"* ]]
  [[ "$output" == *"reason: no network"*"-- network --"*"Photograph this screen"* ]]
  [ "$(grep -c '^nmtui' "$STUB_LOG")" -eq 2 ]
  run ! grep -q '^fake-install' "$STUB_LOG"
}

@test "first boot: a failed install lands in a shell, never a reboot" {
  build_stick iso "$BATS_TEST_TMPDIR/stick.iso" node-1 "$GOOD"
  ZETA_NO_REBOOT='' FAKE_INSTALL_RC=1 first_boot
  [[ "$output" == *"Type 'exit' to leave this shell"* ]]
  run ! grep -q '^systemctl reboot' "$STUB_LOG"
}
