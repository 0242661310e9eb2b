# machine.nix — the facts of the physical machine the installer recorded in identity/:
# hardware-configuration.nix (from `nixos-generate-config --show-hardware-config`, generated
# from the hardware, never from the stick's text) and boot-disk (data).
#
# GRUB is installed both for BIOS and as the removable EFI loader (no NVRAM write, which some
# firmware refuses), so the node boots whichever way its firmware is set. The installer's
# layout: 1 MiB BIOS boot partition, 512 MiB ESP on /boot, ext4 root.
{ lib, zetaIdentityDir, ... }:
let
  v = import ../lib/validate.nix;
  hardware = v.hardwareConfiguration zetaIdentityDir;
  bootDisk = v.readBootDisk zetaIdentityDir;
in
{
  imports = lib.optional (hardware != null) hardware;

  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";

  boot.loader.grub = {
    enable = true;
    device =
      if bootDisk != null then
        bootDisk
      else
        throw (
          "zeta machine.nix: identity/boot-disk is missing or not a /dev path. The Zeta "
          + "installer writes it; on a machine installed by hand write the disk GRUB goes on "
          + "(for example /dev/disk/by-id/...) into nixos/identity/boot-disk."
        );
    efiSupport = true;
    efiInstallAsRemovable = true;
  };
  boot.loader.efi.canTouchEfiVariables = false;
}
