#!/usr/bin/env bash
# run.sh — every check of the installer side, one entry point (wired into `npm test`):
#   1. shellcheck on every script under installer-scripts/ and test/installer/
#   2. `nix-instantiate --parse` on every .nix file under nixos/ and test/installer/
#   3. the module logic, `nix-instantiate --eval --strict` against a stub lib (nix/tests.nix),
#      and the evaluation-time messages for a missing identity
#   4. bats test/installer/ (real FAT/ISO/GPT images, loop devices when root), twice: under
#      LC_ALL=C and under en_US.UTF-8 (the live ISO's locale; built with localedef when the
#      machine lacks it), because bash's [a-z] and ${#x} follow the locale
# Exits non-zero on any failure; the last line is "N passed, M failed, K skipped". A skip is a
# skip, never a pass; run as root (CI), any skip fails the suite.
# ZFLASH_BIN (the built `zflash`, as `npm run test:installer` sets it) is required: the
# contract test writes the payload with the real engine.
# Needs: shellcheck bats nix-bin (nix-instantiate) jq mtools dosfstools xorriso isolinux
# fdisk (sfdisk) qrencode util-linux e2fsprogs cryptsetup-bin locales.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# nix-instantiate keeps state and reads config; point it at a scratch dir so a clean CI clone
# (as root or not) needs no /nix and nothing on this machine is touched.
export NIX_STATE_DIR="$tmp/nix/state" NIX_LOG_DIR="$tmp/nix/log" NIX_CONF_DIR="$tmp/nix/conf"
export NIX_STORE_DIR="$tmp/nix/store" HOME="$tmp/home" XDG_CACHE_HOME="$tmp/cache"
mkdir -p "$NIX_STATE_DIR" "$NIX_LOG_DIR" "$NIX_CONF_DIR" "$NIX_STORE_DIR" "$HOME"
nixi() { nix-instantiate --readonly-mode "$@"; }

passed=0
failed=0
skipped=0
pass() {
  passed=$((passed + 1))
  printf 'ok     %s\n' "$1"
}
fail() {
  failed=$((failed + 1))
  printf 'FAIL   %s\n' "$1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/       /'; fi
}

for tool in shellcheck bats nix-instantiate jq mcopy mkfs.vfat xorriso sfdisk debugfs cryptsetup localedef; do
  command -v "$tool" >/dev/null || fail "tool present: $tool (install the Debian packages in docs/nixos.md)"
done

echo "== shellcheck"
while IFS= read -r f; do
  if out="$(shellcheck -x -P SCRIPTDIR "$f" 2>&1)"; then pass "shellcheck $f"; else fail "shellcheck $f" "$out"; fi
done < <(find installer-scripts test/installer -type f \( -name '*.sh' -o -name '*.bash' -o -name '*.bats' \) | sort)

echo "== nix-instantiate --parse"
while IFS= read -r f; do
  if out="$(nixi --parse "$f" 2>&1 >/dev/null)"; then pass "parse $f"; else fail "parse $f" "$out"; fi
done < <(find nixos test/installer -type f -name '*.nix' | sort)

echo "== module logic (nix-instantiate --eval --strict, stub lib)"
if json="$(nixi --eval --strict --json test/installer/nix/tests.nix 2>"$tmp/eval.err")"; then
  while IFS=$'\t' read -r ok name detail; do
    if [ "$ok" = true ]; then pass "nix: $name"; else fail "nix: $name" "$detail"; fi
  done < <(jq -r '.[] | [(.ok|tostring), .name, (if .ok then "" else "got \(.got|tojson) want \(.want|tojson)" end)] | @tsv' <<<"$json")
else
  fail "nix: tests.nix evaluates" "$(cat "$tmp/eval.err")"
fi

# The evaluation-time messages themselves (tryEval in tests.nix only sees that evaluation fails).
expect_eval_error() {
  local name="$1" pattern="$2" expr="$3" out
  if out="$(nixi --eval --strict -E "$expr" 2>&1)"; then
    fail "$name" "evaluation succeeded: $out"
  elif grep -qF -- "$pattern" <<<"$out"; then
    pass "$name"
  else
    fail "$name" "$out"
  fi
}
mod="let lib = import $repo/test/installer/nix/stub-lib.nix; m = f: d: import f { inherit lib; pkgs = { }; config = { }; zetaIdentityDir = d; }; in"
expect_eval_error "nix: missing hostname says what to write where" \
  "no hostname: the file identity/hostname is missing. The Zeta installer writes identity/hostname" \
  "$mod (m $repo/nixos/modules/node-identity.nix $repo/test/installer/fixtures/none).networking.hostName"
expect_eval_error "nix: invalid hostname is named in the message" \
  "'Bad_Host!' is not a valid hostname" \
  "$mod (m $repo/nixos/modules/node-identity.nix $repo/test/installer/fixtures/identity-badhost).networking.hostName"
expect_eval_error "nix: missing boot disk says what to write where" \
  "identity/boot-disk is missing" \
  "$mod (m $repo/nixos/modules/machine.nix null).boot.loader.grub.device"

if [ -z "${ZFLASH_BIN:-}" ] || [ ! -x "${ZFLASH_BIN%% *}" ]; then
  fail "ZFLASH_BIN names the built zflash (npm run build; npm run test:installer sets it)" \
    "got: '${ZFLASH_BIN:-}'"
fi

# The live system's marker as the Nix side makes it: the bats tests run the installer with it.
export ZETA_NIX_MARKER="$tmp/zeta-installer.json"
if nixi --eval --strict --json -E "(import $repo/nixos/installer/marker.nix { }).json" 2>"$tmp/marker.err" |
  jq -r . >"$ZETA_NIX_MARKER"; then
  pass "nix: marker.nix evaluates to the live system's marker"
else
  fail "nix: marker.nix evaluates to the live system's marker" "$(cat "$tmp/marker.err")"
fi

# en_US.UTF-8 as the live ISO has it; built into a scratch LOCPATH when the machine lacks it.
utf8_env=(LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8)
if ! locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then
  mkdir -p "$tmp/locale"
  if localedef -i en_US -f UTF-8 "$tmp/locale/en_US.UTF-8" 2>"$tmp/localedef.err"; then
    utf8_env+=(LOCPATH="$tmp/locale")
  else
    fail "localedef builds en_US.UTF-8 (Debian package locales)" "$(cat "$tmp/localedef.err")"
  fi
fi

run_bats() {
  local name="$1" line
  shift
  echo "== bats test/installer/ ($name)"
  while IFS= read -r line; do
    case "$line" in
      "ok "*"# skip"*)
        skipped=$((skipped + 1))
        printf 'skip   [%s] %s\n' "$name" "${line#ok }"
        if [ "$(id -u)" -eq 0 ]; then fail "[$name] skipped as root: ${line#ok }"; fi
        ;;
      "ok "*) pass "[$name] bats: ${line#ok }" ;;
      "not ok "*) fail "[$name] bats: ${line#not ok }" ;;
      "#"*) printf '       %s\n' "$line" ;;
    esac
  # BATS_TEST_TIMEOUT: a hung test (a quadratic loop on a stick's file) fails instead of
  # stalling the suite; generous, this is no timing assertion.
  done < <(env "$@" ZETA_TEST_LOCALE="$name" BATS_TEST_TIMEOUT=300 bats --tap test/installer/ 2>&1 ||
    echo "not ok bats exited non-zero")
}
run_bats C LANG=C LC_ALL=C
run_bats en_US.UTF-8 "${utf8_env[@]}"

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
