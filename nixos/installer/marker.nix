# marker.nix — what a Zeta installer ISO says about itself, so the engine can tell it from any
# other image without mounting it (docs/payload.md, "Installer marker"):
#   - the ISO 9660 volume ID starts with `zeta-` (read from the primary volume descriptor);
#   - /zeta-installer.json at the root of the ISO 9660 tree, the JSON below;
#   - the live system carries the same file as /etc/zeta-installer.json, which
#     installer-scripts/zeta-install.sh requires before it looks at any disk.
# Builtins only: test/installer/nix/tests.nix evaluates it without nixpkgs.
{
  # nixpkgs revision the ISO is built from (a flake input's `rev`); null when unknown.
  nixpkgsRev ? null,
  system ? "x86_64-linux",
}:
let
  # The installer's own version: bump it when what the installer reads or does changes.
  # 0.2.0: manifest schema 2 (erase policy), refuses to run outside the live system.
  version = "0.2.0";
  arch = builtins.head (builtins.split "-" system);
  rev =
    if builtins.isString nixpkgsRev && builtins.match "[0-9a-f]{40}" nixpkgsRev != null then
      nixpkgsRev
    else
      null;
  volumeID = "zeta-${version}-${arch}";
in
assert builtins.stringLength volumeID <= 32;
{
  inherit version volumeID;
  # Manifest schemas (zeta-node.json) this installer reads: ZETA_PAYLOAD_SCHEMAS in
  # installer-scripts/zeta-install.sh.
  payloadSchemas = [
    1
    2
  ];
  json = builtins.toJSON {
    zetaInstaller = 1;
    inherit version system;
    payloadSchemas = [
      1
      2
    ];
    nixpkgs = {
      inherit rev;
    };
  };
}
