# Zeta nodes: the node configuration and the installer ISO that installs it.
#
#   nix build ./nixos#installer-iso          the live USB (from a git checkout of the repo:
#                                            the ISO bundles ../installer-scripts)
#   nix build ./nixos#netboot                the same installer for network boot: bzImage,
#                                            initrd, netboot.ipxe for `zflash netboot serve`
#   nixos-install --flake path:/mnt/etc/zeta/flake#node   what zeta-install.sh runs
#
# The node's identity (hostname, keys, roles, ...) is data in ./identity, written there by the
# installer in the copy of this flake it installs from; see ./identity/README.md and
# docs/nixos.md. nixpkgs: the stable release branch below, pinned in flake.lock by
# `nix flake lock` (update: `nix flake update`).
{
  description = "Zeta cluster nodes: node configuration and unattended installer ISO";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      zetaIdentityDir = ./identity;

      nodeModules = [
        ./modules/common.nix
        ./modules/machine.nix
        ./modules/node-identity.nix
        ./modules/operator-ssh-keys.nix
        ./modules/initial-password.nix
        ./modules/roles.nix
        ./modules/login-banner.nix
      ];

      # A node whose roles come from identity/roles, plus the roles listed here.
      mkNode =
        extraRoles:
        nixpkgs.lib.nixosSystem {
          specialArgs = { inherit zetaIdentityDir; };
          modules = nodeModules ++ [
            { zeta.roles = nixpkgs.lib.genAttrs extraRoles (_: { enable = true; }); }
          ];
        };
    in
    {
      nixosConfigurations = {
        node = mkNode [ ];
        control-plane = mkNode [ "control-plane" ];
        worker = mkNode [ "worker" ];

        installer = nixpkgs.lib.nixosSystem {
          specialArgs = {
            zetaFlakeSrc = ./.;
            zetaNixpkgs = nixpkgs;
          };
          modules = [
            "${nixpkgs}/nixos/modules/installer/cd-dvd/installation-cd-minimal.nix"
            ./installer/iso.nix
            { nixpkgs.hostPlatform = system; }
          ];
        };

        netboot = nixpkgs.lib.nixosSystem {
          specialArgs = {
            zetaFlakeSrc = ./.;
            zetaNixpkgs = nixpkgs;
          };
          modules = [
            ./installer/netboot.nix
            { nixpkgs.hostPlatform = system; }
          ];
        };
      };

      packages.${system} = {
        installer-iso = self.nixosConfigurations.installer.config.system.build.isoImage;
        netboot = self.nixosConfigurations.netboot.config.system.build.zetaNetboot;
      };
    };
}
