# iso.nix — the Zeta live USB: the minimal NixOS installer plus an unattended install on tty1.
#
# - zeta-first-boot runs as a systemd service on tty1 (instead of the autologin getty there):
#   it reads the payload from the stick's ESP with mtools, brings up the network and runs
#   zeta-install. Boot with the kernel parameter `zeta.noinstall` to get the plain installer.
# - The bundled flake is at /etc/zeta/flake (the installer copies it to the node and writes the
#   identity into the copy) and the nixpkgs this ISO was built from is named in
#   /etc/zeta/nixpkgs-path, so the node is evaluated with the same nixpkgs.
# - NetworkManager instead of wpa_supplicant (nmtui for a console Wi-Fi choice, keyfiles the
#   installer copies to the node). sshd stays off on the live system: the stick carries no
#   password and nobody should be able to log into a machine that is erasing its disk.
# - The marker (./marker.nix): ISO volume ID `zeta-<version>-<arch>`, /zeta-installer.json at
#   the ISO root for the engine, /etc/zeta-installer.json on the live system for the installer
#   scripts, which refuse to touch any disk without it.
# - Serial console: kernel messages go to ttyS0 and tty1, and ttyS0 follows the install log, so
#   a headless VM shows what the installer does (the questions are asked on tty1 only).
{
  config,
  lib,
  pkgs,
  zetaFlakeSrc,
  zetaNixpkgs,
  ...
}:
let
  marker = import ./marker.nix {
    nixpkgsRev = zetaNixpkgs.rev or null;
    inherit (pkgs.stdenv.hostPlatform) system;
  };
  markerFile = pkgs.writeText "zeta-installer.json" marker.json;

  scripts = pkgs.runCommand "zeta-installer-scripts" { } ''
    install -Dm755 ${../../installer-scripts/zeta-install.sh} $out/bin/zeta-install.sh
    install -Dm755 ${../../installer-scripts/zeta-first-boot.sh} $out/bin/zeta-first-boot.sh
    patchShebangs $out/bin
  '';

  # Everything the scripts call. A systemd unit gets no login PATH, so it is spelled out.
  runtimePath = [
    scripts
    config.system.build.nixos-install
    config.system.build.nixos-generate-config
    config.networking.networkmanager.package
    config.nix.package
    pkgs.bashInteractive
    pkgs.coreutils
    pkgs.util-linux
    pkgs.gnugrep
    pkgs.gnused
    pkgs.gawk
    pkgs.findutils
    pkgs.getent
    pkgs.iproute2
    pkgs.systemd
    pkgs.jq
    pkgs.mtools
    pkgs.dosfstools
    pkgs.e2fsprogs
    pkgs.qrencode
    # blkid, wipefs, lsblk, sfdisk (util-linux above); debugfs (e2fsprogs) reads ext4 without
    # mounting; timeout/od/numfmt (coreutils).
  ];
in
{
  environment.systemPackages = runtimePath;

  environment.etc."zeta/flake".source = zetaFlakeSrc;
  environment.etc."zeta/nixpkgs-path".text = "${zetaNixpkgs}";

  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];

  networking.wireless.enable = lib.mkForce false;
  networking.networkmanager.enable = true;
  services.openssh.enable = lib.mkForce false;

  isoImage.appendToMenuLabel = " (Zeta node installer)";
  # installation-cd-base names the volume and the file for NixOS; the marker's names win.
  isoImage.volumeID = lib.mkForce marker.volumeID;
  image.baseName = lib.mkForce "zeta-installer-${marker.version}-${pkgs.stdenv.hostPlatform.system}";
  isoImage.contents = [
    {
      source = markerFile;
      target = "/zeta-installer.json";
    }
  ];
  environment.etc."zeta-installer.json".source = markerFile;

  # The last console= is /dev/console (systemd's messages): the screen; ttyS0 gets the kernel's.
  boot.kernelParams = [
    "console=ttyS0,115200n8"
    "console=tty1"
  ];
  # ttyS0 shows the install log instead of a login prompt (a getty there would hang up the
  # follower when it starts). Decoupled from the installer: a slow or absent UART never
  # slows the install.
  systemd.services."serial-getty@ttyS0".enable = false;
  systemd.services.zeta-serial-log = {
    description = "Zeta: show the install log on the serial console";
    wantedBy = [ "multi-user.target" ];
    unitConfig.ConditionPathExists = "/dev/ttyS0";
    path = [ pkgs.coreutils ];
    script = ''
      touch /tmp/zeta-install.log
      exec tail -n +1 -F /tmp/zeta-install.log
    '';
    serviceConfig = {
      StandardOutput = "tty";
      TTYPath = "/dev/ttyS0";
      Restart = "always";
      RestartSec = 2;
    };
  };

  # tty1 belongs to the installer; the other consoles keep the autologin shell.
  systemd.services."getty@tty1".enable = false;
  systemd.services."autovt@tty1".enable = false;

  systemd.services.zeta-first-boot = {
    description = "Zeta: install this node from the USB stick's payload";
    wantedBy = [ "multi-user.target" ];
    wants = [ "NetworkManager.service" ];
    after = [
      "systemd-user-sessions.service"
      "systemd-udev-settle.service"
      "NetworkManager.service"
    ];
    unitConfig = {
      ConditionKernelCommandLine = "!zeta.noinstall";
      ConditionPathExists = "/dev/tty1";
    };
    path = runtimePath;
    environment = {
      ZETA_FLAKE_SRC = "/etc/zeta/flake";
      TERM = "linux";
      LOCALE_ARCHIVE = "/run/current-system/sw/lib/locale/locale-archive";
      LANG = config.i18n.defaultLocale;
    };
    serviceConfig = {
      Type = "idle";
      ExecStart = "${scripts}/bin/zeta-first-boot.sh";
      StandardInput = "tty-force";
      StandardOutput = "tty";
      StandardError = "tty";
      TTYPath = "/dev/tty1";
      TTYReset = true;
      TTYVHangup = true;
      # Keep what is on screen: a failure must stay readable for the photo.
      TTYVTDisallocate = false;
      Restart = "no";
      IgnoreSIGPIPE = false;
    };
  };
}
