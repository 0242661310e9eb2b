# initial-password.nix — console password for user `zeta`, only if the operator chose one.
#
# With a hash in the payload the installer stores it in /etc/zeta/secrets (0600, outside the
# world-readable Nix store) and records that path in identity/password-hash-file; the account
# gets it through hashedPasswordFile. Without one, password login stays locked ("!"): SSH key
# only, and the console says how to set a password. No shared default password (the seed's
# `zeta-change-me` is what not to do). With users.mutableUsers (the default) the password is
# only set when the account is created, so a later `passwd` sticks.
{ lib, zetaIdentityDir, ... }:
let
  v = import ../lib/validate.nix;
  hashFile = v.readPasswordHashFile zetaIdentityDir;
  locked = hashFile == null;
in
{
  users.users.zeta =
    if locked then { hashedPassword = "!"; } else { hashedPasswordFile = hashFile; };

  # Locked password: the SSH key is the authentication, so sudo must not ask for a password
  # nobody has (otherwise `sudo passwd zeta` would be impossible).
  security.sudo.wheelNeedsPassword = lib.mkDefault (!locked);

  zeta.banner.notes = lib.optionals locked [
    "No password is set for 'zeta': console login is off, SSH key login only."
    "To allow console login: ssh in, then run: sudo passwd zeta"
  ];
}
