# roles.nix — composable node roles: control-plane, worker, gpu, storage.
#
# Each role is a switch (zeta.roles.<role>.enable); one node may hold several, and no role is
# tied to a hostname. The payload's roles (identity/roles, one per line, unknown names dropped)
# switch them on by default; flake outputs such as `control-plane` add a role on top.
# The node publishes its roles over mDNS (_zeta-node._tcp, TXT roles=...) so the app can see
# which node came up as what.
{
  config,
  lib,
  pkgs,
  zetaIdentityDir,
  ...
}:
let
  v = import ../lib/validate.nix;
  cfg = config.zeta.roles;
  fromIdentity = v.readRoles zetaIdentityDir;
  active = builtins.filter (r: cfg.${r}.enable) v.knownRoles;
  roleOption = name: {
    enable = lib.mkEnableOption "the Zeta ${name} role";
  };
in
{
  options.zeta.roles = lib.genAttrs v.knownRoles roleOption;

  config = lib.mkMerge [
    {
      zeta.roles = lib.genAttrs fromIdentity (_: {
        enable = lib.mkDefault true;
      });

      environment.etc."zeta/roles".text = lib.concatStringsSep "\n" active + "\n";

      services.avahi.extraServiceFiles.zeta-node = ''
        <?xml version="1.0" standalone='no'?>
        <!DOCTYPE service-group SYSTEM "avahi-service.dtd">
        <service-group>
          <name replace-wildcards="yes">%h</name>
          <service>
            <type>_zeta-node._tcp</type>
            <port>22</port>
            <txt-record>roles=${lib.concatStringsSep "," active}</txt-record>
          </service>
        </service-group>
      '';
    }

    # Kubernetes API server (k3s, which also runs workloads on this node).
    (lib.mkIf cfg.control-plane.enable {
      services.k3s = {
        enable = true;
        role = "server";
      };
      networking.firewall.allowedTCPPorts = [
        6443
        2379
        2380
        10250
      ];
      environment.systemPackages = [ pkgs.kubectl ];
    })

    # Runs workloads: a container runtime and forwarding. On a control-plane node k3s brings
    # its own containerd, so the standalone one is only for pure workers.
    (lib.mkIf cfg.worker.enable {
      virtualisation.containerd.enable = lib.mkIf (!cfg.control-plane.enable) true;
      boot.kernel.sysctl."net.ipv4.ip_forward" = 1;
      boot.kernelModules = [ "br_netfilter" ];
      networking.firewall.allowedTCPPorts = [ 10250 ];
    })

    # GPU: graphics stack and firmware; vendor drivers that are unfree are left to the operator.
    (lib.mkIf cfg.gpu.enable {
      hardware.graphics.enable = true;
      hardware.enableRedistributableFirmware = true;
      environment.systemPackages = [ pkgs.pciutils ];
    })

    # Storage: disk health monitoring and the usual data file systems.
    (lib.mkIf cfg.storage.enable {
      services.smartd.enable = true;
      boot.supportedFilesystems = [ "xfs" ];
      environment.systemPackages = [
        pkgs.smartmontools
        pkgs.xfsprogs
        pkgs.nfs-utils
      ];
    })
  ];
}
