# operator-ssh-keys.nix — the operators' SSH public keys for user `zeta`.
#
# Reads identity/authorized_keys as DATA (never generated Nix source: the seed once turned keys
# into Nix code and `${...}` in a key comment survived escaping) and keeps only lines that look
# like OpenSSH public keys (type, base64 blob encoding that type, safe comment). The installer
# filters with the same rules first; this is the second gate for a hand-edited file.
{ lib, zetaIdentityDir, ... }:
let
  v = import ../lib/validate.nix;
  keys = v.readKeys zetaIdentityDir;
in
{
  users.users.zeta.openssh.authorizedKeys.keys = keys;

  warnings = lib.optional (keys == [ ]) (
    "zeta operator-ssh-keys.nix: identity/authorized_keys holds no valid OpenSSH public key; "
    + "`ssh zeta@<host>.local` will refuse every login."
  );
}
