# node-identity.nix — the node's hostname, from the identity the installer wrote.
#
# Where the identity lives: zeta-install.sh copies this flake to /etc/zeta/flake on the node
# and writes identity/hostname (plus keys, roles, ...) INSIDE it, then installs from
# `path:/etc/zeta/flake#node`. The identity is therefore part of the flake source and
# evaluation stays pure: reading /etc/zeta/... at evaluation time would need --impure, and pure
# evaluation silently treats such files as missing (a hostname silently falling back to
# "nixos" is exactly the failure this avoids).
#
# Missing or invalid hostname: evaluation stops with a message saying what to write where.
{ zetaIdentityDir, ... }:
let
  v = import ../lib/validate.nix;
  h = v.readHostname zetaIdentityDir;
in
{
  networking.hostName =
    if h.ok then
      h.value
    else
      throw (
        "zeta node-identity.nix: ${h.error}. The Zeta installer writes identity/hostname "
        + "from the stick's zeta-hostname.txt. On a machine set up by hand, write the hostname "
        + "into nixos/identity/hostname; if the flake is a git checkout, `git add -f` it "
        + "(flakes do not see untracked files) or use a path: flake reference."
      );
}
