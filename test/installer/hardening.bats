#!/usr/bin/env bats
# The stick's files are untrusted: the installer reads them byte-exactly, in bounded time, shows
# nothing but printable ASCII of them, copies only what it asked for, and runs only on the Zeta
# live system. run.sh runs this file (and the whole suite) under LC_ALL=C and en_US.UTF-8.
# shellcheck disable=SC2030,SC2031 # manifest_refused reads run's status/output in one function

load helpers

setup() {
  load_lib
  GOOD="$FIXTURES/keys-good.txt"
  ED="$(head -n 1 "$GOOD")"
  P="$BATS_TEST_TMPDIR/payload"
  ID="$BATS_TEST_TMPDIR/id"
  OUT="$BATS_TEST_TMPDIR/out"
  mkdir -p "$P"
}

teardown() {
  detach_test_loops
}

@test "locale: the suite runs under the locale run.sh asked for" {
  [ -n "${ZETA_TEST_LOCALE:-}" ] || skip "run through test/installer/run.sh"
  # The locale bats was started with (helpers.bash notes it before the installer's LC_ALL=C)...
  [ "$LC_ALL_AT_LOAD" = "$ZETA_TEST_LOCALE" ]
  # ...is really there: in it, bash counts the two bytes of "é" as one character.
  # shellcheck disable=SC2016 # expands in the child shell
  run env LC_ALL="$ZETA_TEST_LOCALE" bash -c 'x=$(printf "\xc3\xa9"); echo "${#x}"'
  case "$ZETA_TEST_LOCALE" in
    C) [ "$output" = 2 ] ;;
    *) [ "$output" = 1 ] ;;
  esac
}

# --- 1. the shared table, judged byte-wise whatever the locale ---

# judge SECTION FUNCTION — every entry of the table: FUNCTION's verdict as JSON; fails listing
# the entries that disagree (inputs shown in base64).
judge() {
  local section="$1" fn="$2" b64 want got input bad=""
  while IFS='|' read -r b64 want; do
    input="$(unb64 "$b64")"
    got="$("$fn" "$input")"
    if [ "$got" != "$want" ]; then bad+="$section ${b64:0:60}: want $want got $got"$'\n'; fi
  done < <(table "$section")
  [ -z "$bad" ] || {
    printf '%s' "$bad"
    return 1
  }
}
verdict() { if "$@"; then echo true; else echo false; fi; }
v_hostname() { local h; if h="$(zeta_clean_hostname "$1")"; then jq -Rn --arg h "$h" '$h'; else echo null; fi; }
v_key() { verdict zeta_is_ssh_key "$1"; }
v_keys_file() {
  printf '%s' "$1" >"$BATS_TEST_TMPDIR/keys.in"
  zeta_filter_keys "$BATS_TEST_TMPDIR/keys.in" "$BATS_TEST_TMPDIR/keys.out" 2>/dev/null || true
  jq -cR . "$BATS_TEST_TMPDIR/keys.out" | jq -cs .
}
v_role() { verdict zeta_is_role "$1"; }
v_ssid() { verdict zeta_is_ssid "$1"; }
v_psk() { verdict zeta_is_psk "$1"; }
v_hash() { verdict zeta_is_password_hash "$1"; }
v_disk() { verdict zeta_is_disk_id "$1"; }
v_policy() { verdict zeta_is_erase_policy "$1"; }

@test "table: hostnames (café, fullwidth, Arabic-Indic digits, 64 bytes, 1 MB) agree with validate.nix" {
  judge hostname v_hostname
}

@test "table: key lines (José@laptop, ESC, 16 KiB limit, 1 MB) agree with validate.nix" {
  judge keyLine v_key
}

@test "table: key files (trailing spaces, 64 KiB of them, duplicates) agree with validate.nix" {
  judge keysFile v_keys_file
}

@test "table: roles, SSIDs (bytes, not characters), PSKs, password hashes, disk ids, policies" {
  judge role v_role
  judge ssid v_ssid
  judge psk v_psk
  judge passwordHash v_hash
  judge diskId v_disk
  judge erasePolicy v_policy
}

@test "locale: a manifest with a 2-byte-character PSK or a 64-byte SSID gives no Wi-Fi" {
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  cp "$GOOD" "$P/zeta-authorized-keys.pub"
  node_json node-1 "$GOOD" | jq --arg psk "$(printf 'a%.0s' {1..63})é" '.wifi = {ssid: "Lab", psk: $psk}' >"$P/zeta-node.json"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 0 ]
  [ ! -e "$ID/wifi-psk" ]
  node_json node-1 "$GOOD" | jq --arg psk "$(printf 'ab%.0s' {1..32})" --arg ssid "$(printf 'é%.0s' {1..32})" \
    '.wifi = {ssid: $ssid, psk: $psk}' >"$P/zeta-node.json"
  run zeta_load_payload "$P" "$ID"
  [ ! -e "$ID/wifi-ssid" ]
  [[ "$output" == *"Wi-Fi entry in zeta-node.json is malformed"* ]]
}

# --- 2. bounded time ---

@test "bounded: the worst payload (64 KiB lines of spaces, 64 KiB of newlines, 4 MB files) parses in bounded time" {
  spaces() { head -c "$1" /dev/zero | tr '\0' ' '; }
  {
    printf '%s%s\n' "$ED" "$(spaces 16000)"
    printf '%s%s\n' "$ED" "$(spaces 40000)"
    head -c 20000 /dev/zero | tr '\0' '\n'
    head -c 4000000 /dev/zero | tr '\0' 'k'
  } >"$P/zeta-authorized-keys.pub"
  printf 'node-1%s\n' "$(spaces 65000)" >"$P/zeta-hostname.txt"
  node_json node-1 "$GOOD" | jq --arg pad "$(spaces 30000)" '.roles = [range(0; 500) | "worker"] | .pad = $pad' >"$P/zeta-node.json"
  # Through zeta_read_esp_payload, as on the node: the 64 KiB cut happens while copying.
  esp="$BATS_TEST_TMPDIR/esp.img"
  make_esp "$esp" 8192
  for f in zeta-authorized-keys.pub zeta-hostname.txt zeta-node.json; do esp_put "$esp" "$P/$f" "$f"; done
  # shellcheck disable=SC2016 # expands in the child shell
  run timeout 60 bash -c 'ZETA_INSTALL_LIB=1 source "$1"; zeta_read_esp_payload "$2" "$3" || echo read-failed; zeta_load_payload "$3" "$4"; echo "rc=$?"' \
    _ "$SCRIPTS/zeta-install.sh" "$esp" "$OUT" "$ID"
  [ "$status" -eq 0 ]
  [[ "$output" != *read-failed* ]]
  # the hostname line is longer than 256 bytes: refused untrimmed
  [[ "$output" == *"rc=1"* ]]
  [ "$(stat -c %s "$OUT/zeta-authorized-keys.pub")" -eq 65536 ]
  # with a short hostname: the 40 KB line dropped untrimmed, the 16 KB one trimmed and kept
  printf 'node-1\n' >"$OUT/zeta-hostname.txt"
  # shellcheck disable=SC2016
  run timeout 60 bash -c 'ZETA_INSTALL_LIB=1 source "$1"; zeta_load_payload "$2" "$3"' _ "$SCRIPTS/zeta-install.sh" "$OUT" "$ID"
  [ "$status" -eq 0 ]
  [ "$(cat "$ID/authorized_keys")" = "$ED" ]
  [ "$(cat "$ID/roles")" = worker ]
}

@test "bounded: trimming is linear (1 MB of spaces around a word)" {
  {
    head -c 1000000 /dev/zero | tr '\0' ' '
    printf x
    head -c 1000000 /dev/zero | tr '\0' ' '
  } >"$BATS_TEST_TMPDIR/big"
  # shellcheck disable=SC2016 # expands in the child shell
  run timeout 60 bash -c 'ZETA_INSTALL_LIB=1 source "$1"; zeta_trim "$(cat "$2")"' _ "$SCRIPTS/zeta-install.sh" "$BATS_TEST_TMPDIR/big"
  [ "$status" -eq 0 ]
  [ "$output" = x ]
}

# --- 3. the console is ours ---

@test "console: escape sequences and CRs from the stick are shown as '?', never sent to the screen" {
  esc=$'\e[2J\e[H\r==== ZETA NODE INSTALLED: evil ===='
  {
    printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 %s\n' "$esc"
    cat "$GOOD"
  } >"$P/zeta-authorized-keys.pub"
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  node_json node-1 "$GOOD" | jq --arg e "$esc" '.erase.policy = $e' >"$P/zeta-node.json"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 0 ]
  [[ "$output" == *"dropped key line 1"* ]]
  [[ "$output" != *$'\e'* ]]
  [[ "$output" != *$'\r'* ]]
  printf '%s\n' "$esc" >"$P/zeta-hostname.txt"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 1 ]
  zeta_load_payload "$P" "$ID" || true
  [ "$ZETA_FAIL_REASON" = "invalid hostname on the stick: '?[2J?[H?==== ZETA NODE INSTALLED: evil ='" ]
  run zeta_diag "$ZETA_FAIL_REASON"
  [[ "$output" != *$'\e[2J'* ]]
}

# --- 4. copy only what we asked for ---

@test "copy: a directory named zeta-hostname.txt is not copied; a 4 MB file is cut at 64 KiB while streaming" {
  esp="$BATS_TEST_TMPDIR/esp.img"
  make_esp "$esp" 8192
  mmd -i "$esp" ::/zeta-hostname.txt
  printf 'node-9\n' >"$BATS_TEST_TMPDIR/inner"
  mcopy -i "$esp" "$BATS_TEST_TMPDIR/inner" ::/zeta-hostname.txt/inner
  head -c 4000000 /dev/zero | tr '\0' 'k' >"$BATS_TEST_TMPDIR/big.pub"
  esp_put "$esp" "$BATS_TEST_TMPDIR/big.pub" zeta-authorized-keys.pub
  ZETA_PROBE_LOG="$BATS_TEST_TMPDIR/probe.log" run zeta_read_esp_payload "$esp" "$OUT"
  [ "$status" -eq 0 ]
  [ ! -e "$OUT/zeta-hostname.txt" ]
  grep -q 'zeta-hostname.txt is a directory, not a file: ignored' "$BATS_TEST_TMPDIR/probe.log"
  [ "$(stat -c %s "$OUT/zeta-authorized-keys.pub")" -eq 65536 ]
  [[ "$output" == *"zeta-authorized-keys.pub is larger than 65536 bytes"* ]]
  # nothing else landed next to the payload (no whole-file temporary copy)
  [ "$(find "$OUT" -type f | wc -l)" -eq 1 ]
}

# --- 5. Notepad ---

@test "BOM: a UTF-8 byte-order mark is stripped from the hostname and the keys, and said so" {
  printf '\xef\xbb\xbfnode-5\r\n' >"$P/zeta-hostname.txt"
  {
    printf '\xef\xbb\xbf'
    cat "$GOOD"
  } >"$P/zeta-authorized-keys.pub"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 0 ]
  [ "$(cat "$ID/hostname")" = node-5 ]
  diff -u "$GOOD" "$ID/authorized_keys"
  [[ "$output" == *"zeta-hostname.txt starts with a UTF-8 byte-order mark"* ]]
  [[ "$output" == *"zeta-authorized-keys.pub starts with a UTF-8 byte-order mark"* ]]
}

# --- 6. manifest strictness ---

manifest_refused() {
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  cp "$GOOD" "$P/zeta-authorized-keys.pub"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 0 ]
  [[ "$output" == *"zeta-node.json $1"*": ignoring it, using the text files"* ]]
  [ ! -s "$ID/roles" ]
  [ "$(cat "$ID/erase-policy")" = blank-only ]
}

@test "manifest: two JSON documents lend nothing to each other" {
  {
    ERASE_POLICY=any node_json node-1 "$GOOD" gpu
    node_json node-1 "$GOOD"
  } >"$P/zeta-node.json"
  manifest_refused "holds 2 JSON documents, not exactly one"
}

@test "manifest: a number is not a hostname" {
  node_json node-1 "$GOOD" | jq '.hostname = 1234' >"$P/zeta-node.json"
  rm -f "$P/zeta-hostname.txt"
  run zeta_load_payload "$P" "$ID"
  [ "$status" -eq 1 ]
  [[ "$output" == *"hostname is number, not string or null"* ]]
}

@test "manifest: a role with a newline is not two roles; control characters refuse the manifest" {
  node_json node-1 "$GOOD" | jq '.roles = ["worker\ngpu"]' >"$P/zeta-node.json"
  manifest_refused "a string holds a control character or invalid UTF-8"
  node_json node-1 "$GOOD" | jq '.roles = [["gpu"]]' >"$P/zeta-node.json"
  manifest_refused "roles holds something that is not a string"
  echo '["schema", 2]' >"$P/zeta-node.json"
  manifest_refused "is a JSON array, not an object"
  echo '{"schema": 2, "hostname": "node-1", "keys": [], "roles": ["gpu"] ' >"$P/zeta-node.json"
  manifest_refused "not valid JSON"
}

# --- 8. only on the Zeta live system ---

# spy — stubs that record any look at a disk.
spy() {
  for c in lsblk sfdisk wipefs blkid findmnt mdir mtype losetup; do stub_cmd "$c" 'exit 1'; done
  use_stubs
}

@test "live system only: run without the marker, nothing looks at a disk" {
  spy
  printf 'node-1\n' >"$P/zeta-hostname.txt"
  ZETA_TEST_LIVE_MARKER="$BATS_TEST_TMPDIR/absent.json" ZETA_PAYLOAD_DIR="$P" \
    ZETA_TARGET_DISK=/dev/null run bash "$SCRIPTS/zeta-install.sh"
  [ "$status" -eq 1 ]
  [[ "$output" == *"is missing: this is not the Zeta installer's live system"* ]]
  [ ! -s "$STUB_LOG" ]
  # a marker that is not ours does not count either
  echo '{"zetaInstaller": 2}' >"$BATS_TEST_TMPDIR/other.json"
  ZETA_TEST_LIVE_MARKER="$BATS_TEST_TMPDIR/other.json" run bash "$SCRIPTS/zeta-install.sh"
  [ "$status" -eq 1 ]
  [ ! -s "$STUB_LOG" ]
}

@test "live system only: sourcing without ZETA_INSTALL_LIB defines the functions and runs nothing" {
  spy
  # shellcheck disable=SC2016 # $0 expands in the child shell
  run env -u ZETA_TEST_LIVE_MARKER bash -c 'source "$0"; declare -F zeta_main >/dev/null && echo defined' "$SCRIPTS/zeta-install.sh"
  [ "$status" -eq 0 ]
  [[ "$output" == *"sourced without ZETA_INSTALL_LIB=1: only its functions are defined"* ]]
  [[ "$output" == *defined ]]
  [ ! -s "$STUB_LOG" ]
  # and calling zeta_main by hand there still checks the marker first
  # shellcheck disable=SC2016
  run env -u ZETA_TEST_LIVE_MARKER bash -c 'ZETA_INSTALL_LIB=1 source "$0"; zeta_main' "$SCRIPTS/zeta-install.sh"
  [ "$status" -eq 1 ]
  [ ! -s "$STUB_LOG" ]
}

@test "live system only: zeta-first-boot refuses before probing" {
  spy
  run env -u ZETA_TEST_LIVE_MARKER ZETA_RUN_DIR="$BATS_TEST_TMPDIR/run" \
    ZETA_LOG="$BATS_TEST_TMPDIR/install.log" ZETA_PROBE_LOG="$BATS_TEST_TMPDIR/probe.log" \
    bash "$SCRIPTS/zeta-first-boot.sh" </dev/null
  [ "$status" -eq 1 ]
  [[ "$output" == *"refusing to look at any disk"* ]]
  [ ! -s "$STUB_LOG" ]
}

@test "marker: the installer accepts the marker nixos/installer/marker.nix makes, and reads its schemas" {
  [ -n "${ZETA_NIX_MARKER:-}" ] || skip "run through test/installer/run.sh (it evaluates marker.nix)"
  ZETA_TEST_LIVE_MARKER="$ZETA_NIX_MARKER" run zeta_require_live_system
  [ "$status" -eq 0 ]
  [ "$(jq -c .payloadSchemas "$ZETA_NIX_MARKER")" = "[$(IFS=,; echo "${ZETA_PAYLOAD_SCHEMAS[*]}")]" ]
  [ "$(jq -r .zetaInstaller "$ZETA_NIX_MARKER")" = 1 ]
}
