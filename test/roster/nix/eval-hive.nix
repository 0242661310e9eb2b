# eval-hive.nix — evaluates a generated hive.nix as colmena would use it, with the stub lib
# standing in for nixpkgs (which cannot be fetched here):
#
#   nix-instantiate --eval --strict --json eval-hive.nix \
#     --arg hive /abs/hive.nix --arg nixos /abs/nixos \
#     --arg evalNames '[ "node-01" ]' --arg missingNames '[ "node-02" ]' -I nixpkgs=/abs/stub
#
# For each node in evalNames: its deployment settings, the modules it imports, and what those
# modules make of the node's identity folder and roles (each module evaluated on its own, the
# way test/installer/nix/tests.nix does). missingNames: nodes whose identity folder is absent,
# whose evaluation must stop with the hive's message.
{
  hive,
  nixos,
  evalNames,
  missingNames,
}:
let
  lib = import ./stub-lib.nix;
  v = import (nixos + "/lib/validate.nix");
  h = import hive;
  pkgs = lib.genAttrs [
    "git"
    "htop"
    "jq"
    "vim"
    "kubectl"
    "pciutils"
    "smartmontools"
    "xfsprogs"
    "nfs-utils"
  ] (n: "pkgs.${n}");

  # The flake's own node module list, with nixosSystem stubbed, to compare with the hive's.
  flake = import (nixos + "/flake.nix");
  outputs = flake.outputs {
    self = outputs;
    nixpkgs = {
      outPath = "/nixpkgs";
      lib = {
        inherit (lib) genAttrs;
        nixosSystem = args: {
          inherit args;
          config.system.build.isoImage = "iso";
        };
      };
    };
  };
  flakeNodeModules = map baseNameOf (
    builtins.filter builtins.isPath outputs.nixosConfigurations.node.args.modules
  );

  evalNode =
    name:
    let
      node = h.${name};
      special = h.meta.nodeSpecialArgs.${name};
      dir = special.zetaIdentityDir;
      # The module system would merge the hive's switches with identity/roles (mkDefault true).
      enabled = r: (node.zeta.roles.${r}.enable or false) || builtins.elem r (v.readRoles dir);
      config = {
        zeta.roles = lib.genAttrs v.knownRoles (r: {
          enable = enabled r;
        });
        zeta.banner.notes = [ ];
        networking.hostName = name;
      };
      modules = builtins.listToAttrs (
        map (f: {
          name = baseNameOf f;
          value =
            let
              m = import f ({ inherit lib pkgs config; } // special);
            in
            lib.resolve (m.config or (removeAttrs m [
              "options"
              "imports"
            ]));
        }) node.imports
      );
    in
    {
      inherit (node.deployment) targetHost targetUser tags;
      imports = map baseNameOf node.imports;
      importsExist = builtins.all builtins.pathExists node.imports;
      hostName = modules."node-identity.nix".networking.hostName;
      keys = modules."operator-ssh-keys.nix".users.users.zeta.openssh.authorizedKeys.keys;
      bootDisk = modules."machine.nix".boot.loader.grub.device;
      k3s = modules."roles.nix".services.k3s.enable or false;
      rolesFile = modules."roles.nix".environment.etc."zeta/roles".text;
      zetaUser = modules."common.nix".users.users.zeta.isNormalUser;
    };
in
{
  inherit flakeNodeModules;
  names = builtins.filter (n: n != "meta") (builtins.attrNames h);
  description = h.meta.description;
  nixpkgs = h.meta.nixpkgs;
  nodes = lib.genAttrs evalNames evalNode;
  missing = map (n: (builtins.tryEval h.meta.nodeSpecialArgs.${n}.zetaIdentityDir).success) missingNames;
}
