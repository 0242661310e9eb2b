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
{
  config,
  lib,
  pkgs,
  zetaFlakeSrc,
  zetaNixpkgs,
  ...
}:
let
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
