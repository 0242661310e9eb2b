#!/usr/bin/env bash
# zeta-first-boot.sh — what the Zeta installer USB does on tty1 after it boots.
#
# Started by the systemd unit zeta-first-boot.service (nixos/installer/iso.nix) on tty1.
#  1. read the payload from the stick's ESP (mtools, no mount: see zeta-install.sh),
#  2. bring up the network: Wi-Fi from the payload when present, wait up to 30 s for a link
#     with a default route, else open nmtui so someone at the console can pick a network,
#  3. run zeta-install.sh unattended,
#  4. on success: final banner, reboot after a countdown; on any failure: the diagnostics block
#     (printed by the failing step itself), then an interactive shell — never a dead end.
#
# Runs only on the Zeta live system (zeta_require_live_system: the ISO's marker file), checked
# before any disk is looked at. Everything it prints from the stick is printable ASCII only.
#
# Environment: ZETA_NET_WAIT (seconds, default 30), ZETA_NO_REBOOT=1 (stay up after success),
# ZETA_INSTALL_SCRIPT (default: zeta-install.sh beside this script); for tests: ZETA_RUN_DIR
# (default /run/zeta), ZETA_LIVE_NM_DIR (default /etc/NetworkManager/system-connections),
# ZETA_TEST_LIVE_MARKER (see zeta-install.sh).
set -uo pipefail

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
ZETA_INSTALL_SCRIPT="${ZETA_INSTALL_SCRIPT:-$here/zeta-install.sh}"
export ZETA_LOG="${ZETA_LOG:-/tmp/zeta-install.log}"
export ZETA_PROBE_LOG="${ZETA_PROBE_LOG:-/tmp/zeta-esp-probe.log}"

# shellcheck source=zeta-install.sh
ZETA_INSTALL_LIB=1 source "$ZETA_INSTALL_SCRIPT"
zeta_require_live_system || exit 1
: >"$ZETA_PROBE_LOG"

# Never a dead end: after the diagnostics, hand the console to a shell.
zeta_rescue_shell() {
  echo
  echo "Type 'exit' to leave this shell; other consoles: Alt+F2 .. Alt+F6."
  exec bash --login
}

# zeta_have_network — a default route and a resolvable binary cache.
zeta_have_network() {
  [ -n "$(ip route show default 2>/dev/null)" ] && getent ahosts cache.nixos.org >/dev/null 2>&1
}

# zeta_wait_network SECONDS
zeta_wait_network() {
  local i
  for ((i = 0; i < $1; i++)); do
    zeta_have_network && return 0
    sleep 1
  done
  zeta_have_network
}

# zeta_live_wifi IDENT-DIR — use the payload's Wi-Fi on the live system too.
zeta_live_wifi() {
  local id="$1"
  [ -s "$id/wifi-psk" ] || return 1
  echo "zeta: joining Wi-Fi '$(zeta_safe "$(cat "$id/wifi-ssid")" 32)' from the stick"
  zeta_nm_keyfile "$(cat "$id/wifi-ssid")" "$(cat "$id/wifi-psk")" \
    "${ZETA_LIVE_NM_DIR:-/etc/NetworkManager/system-connections}/zeta-wifi.nmconnection"
  nmcli connection reload >/dev/null 2>&1 || true
  nmcli connection up id zeta-wifi >/dev/null 2>&1 || true
}

zeta_first_boot() {
  local run="${ZETA_RUN_DIR:-/run/zeta}" wait="${ZETA_NET_WAIT:-30}" tries
  local payload="$run/payload" ident="$run/identity"
  mkdir -p "$payload" "$ident"
  chmod 700 "$run"
  # Ctrl+C (during a countdown, say) lands in a shell, not on a blank console.
  trap zeta_rescue_shell INT
  echo "==== Zeta node installer ===="

  # Udev may still be creating device nodes for the stick when tty1 starts.
  udevadm settle --timeout=15 2>/dev/null || true
  # The diagnostics also go to the install log, which a serial console follows (iso.nix).
  if ! zeta_find_payload "$payload" >"$run/find.out" 2>&1; then
    tee -a "$ZETA_LOG" <"$run/find.out"
    zeta_rescue_shell
  fi
  if ! zeta_load_payload "$payload" "$ident"; then
    zeta_diag "$ZETA_FAIL_REASON" \
      "Fix the file on the stick (Zeta Flash: re-inject this node) and boot it again." |
      tee -a "$ZETA_LOG"
    zeta_rescue_shell
  fi
  echo "zeta: this stick installs node '$(cat "$ident/hostname")'"

  zeta_live_wifi "$ident" || true
  echo "zeta: waiting up to $wait s for the network..."
  tries=0
  until zeta_wait_network "$wait"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 2 ]; then
      zeta_diag "no network (no default route or cache.nixos.org does not resolve)" \
        "The node's system is downloaded from the binary cache: the install needs Internet." \
        "Plug in an Ethernet cable with DHCP and Internet access, then boot the stick again," \
        "or add Wi-Fi for this node in Zeta Flash and re-inject the stick." | tee -a "$ZETA_LOG"
      zeta_rescue_shell
    fi
    echo "zeta: no network after $wait s. Opening the network setup (nmtui):"
    echo "      choose 'Activate a connection', pick your Wi-Fi, then 'Quit'."
    sleep 3
    # nmtui draws with the console's own locale (zeta-install.sh set LC_ALL=C for its checks).
    env -u LC_ALL nmtui || true
  done

  if ! ZETA_PAYLOAD_DIR="$payload" ZETA_PAYLOAD_DEVICE="${ZETA_PAYLOAD_DEVICE:-}" \
    bash "$ZETA_INSTALL_SCRIPT"; then
    # zeta-install.sh printed its own diagnostics block.
    zeta_rescue_shell
  fi
  if [ -n "${ZETA_NO_REBOOT:-}" ]; then
    zeta_rescue_shell
  fi
  echo "Remove the USB stick. Rebooting in 30 s (Enter: reboot now, Ctrl+C: stay here)."
  read -r -t 30 || true
  systemctl reboot
}

zeta_first_boot "$@"
