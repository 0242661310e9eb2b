# common.nix — what every Zeta node has, whatever its roles.
#
# - NetworkManager: the installer copies its keyfiles (Wi-Fi from the stick, profiles made in
#   nmtui on the live USB) to the node, so the node comes up on the same network.
# - Avahi publishes the node's addresses and a workstation record, and nss-mdns resolves
#   *.local: the promise of the app is `ssh zeta@<hostname>.local` with no DNS set up.
# - sshd with keys only: password and keyboard-interactive login off, no root login.
# - user `zeta` in wheel; its keys and password come from operator-ssh-keys.nix and
#   initial-password.nix.
{ lib, pkgs, ... }:
{
  networking.networkmanager.enable = true;
  networking.firewall.enable = true;

  services.avahi = {
    enable = true;
    nssmdns4 = true;
    openFirewall = true;
    publish = {
      enable = true;
      addresses = true;
      workstation = true;
    };
  };

  services.openssh = {
    enable = true;
    openFirewall = true;
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "no";
    };
  };

  users.users.zeta = {
    isNormalUser = true;
    description = "Zeta operator";
    extraGroups = [
      "wheel"
      "networkmanager"
    ];
  };

  # The node keeps its flake in /etc/zeta/flake: `sudo nixos-rebuild switch --flake
  # path:/etc/zeta/flake#node` must work on it without further setup.
  nix.settings = {
    experimental-features = [
      "nix-command"
      "flakes"
    ];
    trusted-users = [
      "root"
      "@wheel"
    ];
  };

  environment.systemPackages = with pkgs; [
    git
    htop
    jq
    vim
  ];

  time.timeZone = lib.mkDefault "UTC";
  system.stateVersion = "25.05";
}
