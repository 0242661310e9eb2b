# login-banner.nix — what the console shows before login: hostname, IP addresses, and the
# line to type on the operator's laptop. The getty fills in \n (hostname), \4 and \6 (IPv4 and
# IPv6 addresses) itself and refreshes them when the network changes, so the banner is right
# even when DHCP answers after boot.
{ config, lib, ... }:
{
  options.zeta.banner.notes = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    description = "Extra lines shown under the login banner (initial-password.nix adds some).";
  };

  config.services.getty = {
    greetingLine = "<<< Zeta node \\n >>>";
    helpLine = lib.concatStringsSep "\n" (
      [
        "IP addresses: \\4  \\6"
        "From your laptop:  ssh zeta@${config.networking.hostName}.local"
      ]
      ++ config.zeta.banner.notes
    );
  };
}
