# netboot.nix — the Zeta installer booted over the network instead of from a stick, for
# `zflash netboot serve` (docs/netboot.md):
#
#   nix build ./nixos#netboot        result/ holds bzImage, initrd and netboot.ipxe
#
# - nixpkgs' netboot module (netboot-minimal): the kernel, an initrd carrying the whole live
#   system (its store as a squashfs), and netboot.ipxe, whose `init=` zflash keeps.
# - The stick's live installer, unchanged (./iso.nix: the marker in /etc, the scripts,
#   zeta-first-boot on tty1, the install log on ttyS0). iso.nix also sets the ISO's volume
#   ID, contents and menu label; those options are declared below as inert, so one module
#   serves both media.
# - The identity: zflash sends a second initrd holding /zeta/zeta-hostname.txt,
#   zeta-authorized-keys.pub and zeta-node.json (the stick's files, public ones only). The
#   kernel unpacks it into the stage-1 initramfs, which is freed at switch_root, so stage 1
#   copies the files onto the root file system (a tmpfs here), as nix-community's kexec and
#   netboot installers copy their SSH keys in boot.initrd.postMountCommands.
#   installer-scripts/zeta-install.sh reads /zeta when it exists and probes no disk.
# - The live system tells the server the installer started: a POST to the zeta.report= URL
#   zflash put on the kernel command line (a progress line for the operator, nothing more).
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  payloadFiles = [
    "zeta-hostname.txt"
    "zeta-authorized-keys.pub"
    "zeta-node.json"
  ];
  inert = lib.mkOption {
    type = lib.types.anything;
    default = null;
    visible = false;
    description = "Set by iso.nix for the ISO; nothing reads it in the netboot build.";
  };
in
{
  imports = [
    (modulesPath + "/installer/netboot/netboot-minimal.nix")
    # Declares image.baseName, which iso.nix sets (nixpkgs' image modules import it too).
    (modulesPath + "/image/file-options.nix")
    ./iso.nix
  ];

  options.isoImage = {
    appendToMenuLabel = inert;
    volumeID = inert;
    contents = inert;
  };

  config = {
    assertions = [
      {
        # postMountCommands is the scripted stage 1's hook; a systemd stage 1 would skip it.
        assertion = !config.boot.initrd.systemd.enable;
        message = "nixos/installer/netboot.nix copies /zeta in the scripted stage 1: keep boot.initrd.systemd.enable off.";
      }
    ];

    # Regular files only, from the initramfs to the root file system, before switch_root.
    boot.initrd.postMountCommands = ''
      if [ -d /zeta ]; then
        mkdir -m 0755 -p /mnt-root/zeta
        for f in ${lib.concatStringsSep " " payloadFiles}; do
          if [ -f "/zeta/$f" ] && [ ! -L "/zeta/$f" ]; then
            cp "/zeta/$f" "/mnt-root/zeta/$f"
            chmod 0644 "/mnt-root/zeta/$f"
          fi
        done
      fi
    '';

    systemd.services.zeta-netboot-report = {
      description = "Zeta: tell the netboot server that the installer started";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      unitConfig.ConditionKernelCommandLine = "zeta.report";
      path = [
        pkgs.curl
        pkgs.coreutils
      ];
      serviceConfig.Type = "oneshot";
      script = ''
        url=""
        for w in $(cat /proc/cmdline); do
          case "$w" in zeta.report=*) url="''${w#zeta.report=}" ;; esac
        done
        # Only the shape zflash writes: http://<IPv4>:<port>/node/<mac>/installer.
        if [[ "$url" =~ ^http://[0-9.]+:[0-9]+/node/[0-9a-f-]{17}/installer$ ]]; then
          curl -fsS --max-time 5 --retry 10 --retry-delay 3 --retry-connrefused -X POST "$url" || true
        fi
      '';
    };

    # Exactly the three files `zflash netboot serve --artifacts` reads.
    system.build.zetaNetboot = pkgs.linkFarm "zeta-netboot" [
      {
        name = "bzImage";
        path = "${config.system.build.kernel}/${config.system.boot.loader.kernelFile}";
      }
      {
        name = "initrd";
        path = "${config.system.build.netbootRamdisk}/initrd";
      }
      {
        name = "netboot.ipxe";
        path = "${config.system.build.netbootIpxeScript}/netboot.ipxe";
      }
    ];
  };
}
