#!/usr/bin/env bats
# A network boot: the installer finds its identity in a directory (/zeta, from the identity
# initrd `zflash netboot serve` sends; nixos/installer/netboot.nix copies it out of stage 1)
# instead of on a stick's ESP, and otherwise behaves exactly as with a stick. The identity
# initrd is rendered by the real engine (the built dist/) and unpacked with GNU cpio, as the
# kernel unpacks it.

load helpers

setup() {
  load_lib
  GOOD="$FIXTURES/keys-good.txt"
  ROOT="$BATS_TEST_TMPDIR/initramfs"
  OUT="$BATS_TEST_TMPDIR/payload"
  ID="$BATS_TEST_TMPDIR/id"
  mkdir -p "$ROOT"
  export ZETA_IDENTITY_DIR="$ROOT/zeta"
  export ZETA_CMDLINE="$BATS_TEST_TMPDIR/cmdline"
  echo "init=/nix/store/x-nixos-system/init zeta.hostname=node-07" >"$ZETA_CMDLINE"
}

# engine_initrd HOST ROLE... — the identity initrd the engine serves for HOST (keys: GOOD),
# unpacked into $ROOT with cpio.
engine_initrd() {
  local host="$1" dist
  shift
  dist="$(dirname "${ZFLASH_BIN:-$REPO/bin/zflash.js}")/../dist/app"
  [ -f "$dist/netboot/identity.js" ] || skip "the engine is not built (npm run build)"
  # shellcheck disable=SC2016 # JavaScript, not shell
  node --input-type=module -e '
    const [dist, host, keysFile, ...roles] = process.argv.slice(1);
    const { readFileSync, writeFileSync } = await import("node:fs");
    const node = await import(`${dist}/node/index.js`);
    const { identityInitrd } = await import(`${dist}/netboot/identity.js`);
    const keys = node.parseAuthorizedKeys(readFileSync(keysFile, "utf8")).keys;
    const { identity } = node.buildNodeIdentity({ hostname: host, keys, roles,
      wifi: { ssid: "lab-net", passphrase: "correct horse battery" }, password: "a long enough password" });
    process.stdout.write(identityInitrd(identity));
  ' "$dist" "$host" "$GOOD" "$@" >"$BATS_TEST_TMPDIR/identity.cpio"
  (cd "$ROOT" && cpio -idm --quiet <"$BATS_TEST_TMPDIR/identity.cpio")
}

@test "netboot: the identity comes from the directory, and no disk is probed" {
  engine_initrd node-07 worker gpu
  stub_cmd sfdisk
  stub_cmd lsblk
  use_stubs
  run zeta_find_payload "$OUT"
  [ "$status" -eq 0 ]
  [ ! -s "$STUB_LOG" ]
  for f in zeta-hostname.txt zeta-authorized-keys.pub zeta-node.json; do
    cmp "$ROOT/zeta/$f" "$OUT/$f"
  done
  zeta_load_payload "$OUT" "$ID"
  [ "$(cat "$ID/hostname")" = node-07 ]
  diff -u "$GOOD" "$ID/authorized_keys"
  [ "$(cat "$ID/roles")" = "$(printf 'worker\ngpu')" ]
  [ "$(cat "$ID/erase-policy")" = blank-only ]
}

@test "netboot: the identity that crossed the network carries no Wi-Fi PSK and no password hash" {
  engine_initrd node-07 worker
  zeta_find_payload "$OUT"
  zeta_load_payload "$OUT" "$ID"
  [ "$(jq -c '[.wifi, .passwordHash]' "$OUT/zeta-node.json")" = '[null,null]' ]
  [ ! -e "$ID/wifi-psk" ]
  [ ! -e "$ID/wifi-ssid" ]
  [ ! -e "$ID/password-hash" ]
}

@test "netboot: an empty identity directory stops with the diagnostics, no disk probed" {
  mkdir -p "$ZETA_IDENTITY_DIR"
  stub_cmd sfdisk
  use_stubs
  run zeta_find_payload "$OUT"
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = "==== ZETA INSTALLER: PROBLEM ====" ]
  [[ "${lines[1]}" == "reason: the network boot brought no Zeta identity"* ]]
  [[ "$output" == *"zeta-hostname.txt: not found"* ]]
  [ ! -s "$STUB_LOG" ]
}

@test "netboot: symlinks and directories under payload names are not followed" {
  mkdir -p "$ZETA_IDENTITY_DIR/zeta-node.json"
  echo "secret" >"$BATS_TEST_TMPDIR/elsewhere"
  ln -s "$BATS_TEST_TMPDIR/elsewhere" "$ZETA_IDENTITY_DIR/zeta-authorized-keys.pub"
  echo node-07 >"$ZETA_IDENTITY_DIR/zeta-hostname.txt"
  run zeta_find_payload "$OUT"
  [ "$status" -eq 0 ]
  [ -f "$OUT/zeta-hostname.txt" ]
  [ ! -e "$OUT/zeta-authorized-keys.pub" ]
  [ ! -e "$OUT/zeta-node.json" ]
  if zeta_load_payload "$OUT" "$ID"; then false; fi
  [[ "$ZETA_FAIL_REASON" == *"no valid SSH public key"* ]]
}

@test "netboot: an identity for another node than zeta.hostname= names is refused" {
  engine_initrd node-08 worker
  zeta_find_payload "$OUT"
  if zeta_load_payload "$OUT" "$ID"; then false; fi
  [[ "$ZETA_FAIL_REASON" == "the boot names node 'node-07' but the identity names 'node-08'" ]]
  [ ! -e "$ID/hostname" ]
  # Without zeta.hostname= (a stick), the same identity loads.
  echo "quiet" >"$ZETA_CMDLINE"
  zeta_load_payload "$OUT" "$ID"
  [ "$(cat "$ID/hostname")" = node-08 ]
}

@test "no identity directory: the stick's ESP is probed as before" {
  build_stick fat "$BATS_TEST_TMPDIR/esp.img" node-07 "$GOOD"
  [ ! -e "$ZETA_IDENTITY_DIR" ]
  run _zeta_probe_esp "$BATS_TEST_TMPDIR/esp.img" "$OUT"
  [ "$status" -eq 0 ]
  [ "$(cat "$OUT/zeta-hostname.txt")" = node-07 ]
}
