# tests.nix — the module logic, evaluated against the stub lib:
#   nix-instantiate --eval --strict --json tests.nix
# Result: a list of { name, ok, got, want }; run.sh counts and prints them.
let
  lib = import ./stub-lib.nix;
  v = import ../../../nixos/lib/validate.nix;
  fixtures = ../fixtures;
  mods = ../../../nixos/modules;
  missingDir = ../fixtures/does-not-exist;

  readLines = f: builtins.filter (l: builtins.isString l && l != "") (builtins.split "\n" (builtins.readFile f));
  good = readLines (fixtures + "/keys-good.txt");
  bad = readLines (fixtures + "/keys-bad.txt");
  ed = builtins.head good;

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

  # Evaluate one module with the stub lib and a hand-made `config`; return its resolved config.
  evalModule =
    file: dir: config:
    let
      m = import (mods + "/${file}") {
        inherit lib pkgs config;
        zetaIdentityDir = dir;
      };
    in
    lib.resolve (m.config or (removeAttrs m [
      "options"
      "imports"
    ]));
  importsOf =
    file: dir:
    (import (mods + "/${file}") {
      inherit lib pkgs;
      config = { };
      zetaIdentityDir = dir;
    }).imports or [ ];

  fails = x: !(builtins.tryEval (builtins.deepSeq x x)).success;

  # roles.nix with the given roles switched on (as the module system would after merging).
  rolesWith =
    on:
    let
      config.zeta.roles = lib.genAttrs v.knownRoles (r: {
        enable = builtins.elem r on;
      });
    in
    evalModule "roles.nix" null config;
  k3s = on: (rolesWith on).services.k3s.enable or false;
  containerd = on: (rolesWith on).virtualisation.containerd.enable or false;
  ports = on: (rolesWith on).networking.firewall.allowedTCPPorts or [ ];
  hasInfix = needle: s: builtins.match ".*${needle}.*" s != null;

  # flake.nix outputs with nixosSystem stubbed (nixpkgs cannot be fetched here).
  flake = import ../../../nixos/flake.nix;
  stubNixpkgs = {
    outPath = "/nixpkgs";
    lib = {
      inherit (lib) genAttrs;
      nixosSystem = args: {
        inherit args;
        config.system.build = {
          isoImage = "iso-image";
          zetaNetboot = "netboot-tree";
        };
      };
    };
  };
  outputs = flake.outputs {
    self = outputs;
    nixpkgs = stubNixpkgs;
  };
  modulePaths = cfg: builtins.filter builtins.isPath cfg.args.modules;

  # The shared table (also judged by install.bats and app/node/identity.test.ts): each section
  # validate.nix implements, every input, the verdict.
  table = builtins.fromJSON (builtins.readFile (fixtures + "/validation.json"));
  text =
    i:
    if builtins.isString i then
      i
    else
      i.prefix + builtins.concatStringsSep "" (builtins.genList (_: i.repeat) i.times) + i.suffix;
  judge =
    section: f:
    map (e: {
      input = builtins.substring 0 80 (text (builtins.elemAt e 0));
      verdict = f (text (builtins.elemAt e 0));
    }) table.${section};
  expected =
    section:
    map (e: {
      input = builtins.substring 0 80 (text (builtins.elemAt e 0));
      verdict = builtins.elemAt e 1;
    }) table.${section};
  tableCase = section: f: {
    name = "shared table: ${section} (validation.json) judged like the installer";
    got = builtins.filter (x: !(builtins.elem x (expected section))) (judge section f);
    want = [ ];
  };

  # The installer ISO module with just enough of NixOS around it to read what it sets.
  marker = import ../../../nixos/installer/marker.nix {
    nixpkgsRev = "1f08a4df998e21f4e8be8fb6fbf61d11a1a5076a";
  };
  iso = import ../../../nixos/installer/iso.nix {
    inherit lib;
    config = {
      system.build = {
        nixos-install = "nixos-install";
        nixos-generate-config = "nixos-generate-config";
      };
      networking.networkmanager.package = "networkmanager";
      nix.package = "nix";
      i18n.defaultLocale = "en_US.UTF-8";
    };
    pkgs =
      pkgs
      // lib.genAttrs [
        "bashInteractive"
        "coreutils"
        "util-linux"
        "gnugrep"
        "gnused"
        "gawk"
        "findutils"
        "getent"
        "iproute2"
        "systemd"
        "mtools"
        "dosfstools"
        "e2fsprogs"
        "qrencode"
      ] (n: "pkgs.${n}")
      // {
        stdenv.hostPlatform.system = "x86_64-linux";
        runCommand = name: _: _: "/nix/store/${name}";
        writeText = name: text: {
          inherit name text;
          outPath = "/nix/store/${name}";
        };
      };
    zetaFlakeSrc = "/flake";
    zetaNixpkgs = {
      outPath = "/nixpkgs";
      rev = "1f08a4df998e21f4e8be8fb6fbf61d11a1a5076a";
    };
  };
  isoCfg = lib.resolve iso;

  # The netboot module the same way: what stage 1 copies, the report, the tree zflash serves.
  netbootModule = import ../../../nixos/installer/netboot.nix {
    inherit lib;
    modulesPath = "/nixpkgs/nixos/modules";
    config = {
      boot.initrd.systemd.enable = false;
      system.build = {
        kernel = "/nix/store/kernel";
        netbootRamdisk = "/nix/store/ramdisk";
        netbootIpxeScript = "/nix/store/ipxe-script";
      };
      system.boot.loader.kernelFile = "bzImage";
    };
    pkgs = {
      curl = "pkgs.curl";
      coreutils = "pkgs.coreutils";
      linkFarm = name: entries: { inherit name entries; };
    };
  };
  netbootCfg = lib.resolve netbootModule.config;
  lock = builtins.fromJSON (builtins.readFile ../../../nixos/flake.lock);

  cases = [
    {
      name = "flake: nixpkgs pinned to a stable release branch";
      got = flake.inputs.nixpkgs.url;
      want = "github:NixOS/nixpkgs/nixos-25.05";
    }
    {
      name = "flake: outputs node, control-plane, worker, installer, netboot and packages.installer-iso, packages.netboot";
      got = [
        (builtins.attrNames outputs.nixosConfigurations)
        outputs.packages.x86_64-linux.installer-iso
        outputs.packages.x86_64-linux.netboot
        (builtins.elemAt outputs.nixosConfigurations.netboot.args.modules 0)
      ];
      want = [
        [
          "control-plane"
          "installer"
          "netboot"
          "node"
          "worker"
        ]
        "iso-image"
        "netboot-tree"
        ../../../nixos/installer/netboot.nix
      ];
    }
    {
      name = "flake: every module file exists; node configs share the identity dir; conveniences add their role";
      got = [
        (builtins.all builtins.pathExists (
          builtins.concatMap modulePaths (builtins.attrValues outputs.nixosConfigurations)
        ))
        (builtins.length (modulePaths outputs.nixosConfigurations.node))
        (builtins.baseNameOf outputs.nixosConfigurations.node.args.specialArgs.zetaIdentityDir)
        (lib.resolve (builtins.elemAt outputs.nixosConfigurations.control-plane.args.modules 7)).zeta.roles
        (lib.resolve (builtins.elemAt outputs.nixosConfigurations.worker.args.modules 7)).zeta.roles
        (builtins.elemAt outputs.nixosConfigurations.installer.args.modules 0)
      ];
      want = [
        true
        7
        "identity"
        { control-plane.enable = true; }
        { worker.enable = true; }
        "/nixpkgs/nixos/modules/installer/cd-dvd/installation-cd-minimal.nix"
      ];
    }
    (tableCase "hostname" (h: (v.parseHostname h).value or null))
    (tableCase "keyLine" v.isSshPublicKey)
    (tableCase "keysFile" v.filterKeys)
    (tableCase "role" (r: v.parseRoles r != [ ]))

    # --- installer ISO: marker, names, console ---
    {
      name = "marker: volume ID zeta-<version>-<arch> (<= 32), JSON as docs/payload.md says";
      got = [
        marker.volumeID
        (builtins.fromJSON marker.json)
        (builtins.fromJSON (import ../../../nixos/installer/marker.nix { nixpkgsRev = "dirty"; }).json)
        .nixpkgs.rev
      ];
      want = [
        "zeta-0.2.0-x86_64"
        {
          zetaInstaller = 1;
          version = "0.2.0";
          payloadSchemas = [
            1
            2
          ];
          nixpkgs.rev = "1f08a4df998e21f4e8be8fb6fbf61d11a1a5076a";
          system = "x86_64-linux";
        }
        null
      ];
    }
    {
      name = "iso.nix: marker at the ISO root and in /etc, volume ID and file name for Zeta, serial console";
      got = [
        isoCfg.isoImage.volumeID
        isoCfg.image.baseName
        (map (c: {
          inherit (c) target;
          text = c.source.text;
        }) isoCfg.isoImage.contents)
        isoCfg.environment.etc."zeta-installer.json".source.text
        isoCfg.boot.kernelParams
        isoCfg.systemd.services."serial-getty@ttyS0".enable
        isoCfg.systemd.services.zeta-serial-log.serviceConfig.TTYPath
      ];
      want = [
        marker.volumeID
        "zeta-installer-0.2.0-x86_64-linux"
        [
          {
            target = "/zeta-installer.json";
            text = marker.json;
          }
        ]
        marker.json
        [
          "console=ttyS0,115200n8"
          "console=tty1"
        ]
        false
        "/dev/ttyS0"
      ];
    }
    {
      name = "netboot.nix: nixpkgs' netboot + the ISO's live installer; stage 1 copies the payload files of /zeta; the three files zflash serves";
      got = [
        netbootModule.imports
        (builtins.attrNames netbootModule.options.isoImage)
        (map (a: a.assertion) netbootCfg.assertions)
        (hasInfix "for f in zeta-hostname.txt zeta-authorized-keys.pub zeta-node.json; do" netbootCfg.boot.initrd.postMountCommands)
        (hasInfix "cp \"/zeta/[$]f\" \"/mnt-root/zeta/[$]f\"" netbootCfg.boot.initrd.postMountCommands)
        (hasInfix "! -L \"/zeta/[$]f\"" netbootCfg.boot.initrd.postMountCommands)
        netbootCfg.systemd.services.zeta-netboot-report.unitConfig.ConditionKernelCommandLine
        (hasInfix "/node/[[]0-9a-f-[]][{]17[}]/installer[$]" netbootCfg.systemd.services.zeta-netboot-report.script)
        netbootCfg.system.build.zetaNetboot
      ];
      want = [
        [
          "/nixpkgs/nixos/modules/installer/netboot/netboot-minimal.nix"
          "/nixpkgs/nixos/modules/image/file-options.nix"
          ../../../nixos/installer/iso.nix
        ]
        [
          "appendToMenuLabel"
          "contents"
          "volumeID"
        ]
        [ true ]
        true
        true
        true
        "zeta.report"
        true
        {
          name = "zeta-netboot";
          entries = [
            {
              name = "bzImage";
              path = "/nix/store/kernel/bzImage";
            }
            {
              name = "initrd";
              path = "/nix/store/ramdisk/initrd";
            }
            {
              name = "netboot.ipxe";
              path = "/nix/store/ipxe-script/netboot.ipxe";
            }
          ];
        }
      ];
    }
    {
      name = "flake.lock: nixpkgs pinned to a nixos-25.05 revision with its narHash";
      got =
        let
          n = lock.nodes.nixpkgs;
        in
        [
          n.original
          n.locked.type
          (builtins.match "[0-9a-f]{40}" n.locked.rev != null)
          (builtins.match "sha256-[A-Za-z0-9+/]{43}=" n.locked.narHash != null)
          lock.nodes.root.inputs.nixpkgs
        ];
      want = [
        {
          owner = "NixOS";
          repo = "nixpkgs";
          ref = "nixos-25.05";
          type = "github";
        }
        "github"
        true
        true
        "nixpkgs"
      ];
    }

    # --- keys filtering ---
    {
      name = "keys: every good fixture key is accepted";
      got = map v.isSshPublicKey good;
      want = map (_: true) good;
    }
    {
      name = "keys: every bad fixture line is rejected (\${...}, quotes, options, wrong type)";
      got = map v.isSshPublicKey bad;
      want = map (_: false) bad;
    }
    {
      name = "keys: filterKeys keeps good lines in order, drops bad, comments, duplicates";
      got = v.filterKeys (
        builtins.concatStringsSep "\n" (bad ++ [ "# comment" "" ] ++ good ++ [ ed ])
      );
      want = good;
    }
    {
      name = "keys: surrounding spaces and CRLF are trimmed";
      got = v.filterKeys "   ${ed}  \r\n\r\n";
      want = [ ed ];
    }
    {
      name = "keys: very long line does not crash the regex engine and is rejected";
      got = v.isSshPublicKey ("ssh-rsa AAAAB3NzaC1y" + builtins.concatStringsSep "" (builtins.genList (_: "A") 20000));
      want = false;
    }
    {
      name = "operator-ssh-keys.nix: identity file filtered into authorizedKeys";
      got = (evalModule "operator-ssh-keys.nix" (fixtures + "/identity-full") { }).users.users.zeta.openssh.authorizedKeys.keys;
      want = good;
    }
    {
      name = "operator-ssh-keys.nix: hand-edited file with only bad lines gives no key and a warning";
      got =
        let
          c = evalModule "operator-ssh-keys.nix" (fixtures + "/identity-keysonly-bad") { };
        in
        [
          c.users.users.zeta.openssh.authorizedKeys.keys
          (builtins.length c.warnings)
        ];
      want = [
        [ ]
        1
      ];
    }
    {
      name = "operator-ssh-keys.nix: no identity at all gives no key";
      got = (evalModule "operator-ssh-keys.nix" missingDir { }).users.users.zeta.openssh.authorizedKeys.keys;
      want = [ ];
    }

    # --- hostname ---
    {
      name = "node-identity.nix: hostname present";
      got = (evalModule "node-identity.nix" (fixtures + "/identity-full") { }).networking.hostName;
      want = "node-1";
    }
    {
      name = "node-identity.nix: hostname absent stops evaluation";
      got = fails (evalModule "node-identity.nix" missingDir { }).networking.hostName;
      want = true;
    }
    {
      name = "node-identity.nix: invalid hostname stops evaluation";
      got = fails (evalModule "node-identity.nix" (fixtures + "/identity-badhost") { }).networking.hostName;
      want = true;
    }
    {
      name = "hostname: trailing spaces and CR trimmed, lowercased as the installer does; bad ones rejected";
      got = map (h: (v.parseHostname h).value or null) [
        "node-2   \r\n"
        "a"
        "Node-2"
        "-node"
        "node-"
        "no_de"
        "node.lab"
        "\${x}"
        ""
        (builtins.concatStringsSep "" (builtins.genList (_: "a") 64))
      ];
      want = [
        "node-2"
        "a"
        "node-2"
        null
        null
        null
        null
        null
        null
        null
      ];
    }

    # --- password ---
    {
      name = "initial-password.nix: hash given -> hashedPasswordFile, sudo asks, no note";
      got =
        let
          c = evalModule "initial-password.nix" (fixtures + "/identity-full") { };
        in
        [
          c.users.users.zeta
          c.security.sudo.wheelNeedsPassword
          c.zeta.banner.notes
        ];
      want = [
        { hashedPasswordFile = "/etc/zeta/secrets/zeta-password-hash"; }
        true
        [ ]
      ];
    }
    {
      name = "initial-password.nix: no hash -> locked, passwordless sudo, console says how";
      got =
        let
          c = evalModule "initial-password.nix" missingDir { };
        in
        [
          c.users.users.zeta
          c.security.sudo.wheelNeedsPassword
          (builtins.length c.zeta.banner.notes)
          (hasInfix "sudo passwd zeta" (builtins.concatStringsSep "\n" c.zeta.banner.notes))
        ];
      want = [
        { hashedPassword = "!"; }
        false
        2
        true
      ];
    }
    {
      name = "initial-password.nix: a relative hash path is ignored (locked)";
      got = (evalModule "initial-password.nix" (fixtures + "/identity-keysonly-bad") { }).users.users.zeta;
      want = {
        hashedPassword = "!";
      };
    }

    # --- roles ---
    {
      name = "roles.nix: payload roles switched on, unknown and duplicate dropped";
      got =
        (evalModule "roles.nix" (fixtures + "/identity-full") {
          zeta.roles = lib.genAttrs v.knownRoles (_: {
            enable = false;
          });
        }).zeta.roles;
      want = {
        worker.enable = true;
        gpu.enable = true;
      };
    }
    {
      name = "roles.nix: no roles -> nothing role-specific";
      got = [
        (k3s [ ])
        (containerd [ ])
        (ports [ ])
        (rolesWith [ ]).environment.etc."zeta/roles".text
      ];
      want = [
        false
        false
        [ ]
        "\n"
      ];
    }
    {
      name = "roles.nix: control-plane alone -> k3s server, no standalone containerd";
      got = [
        (k3s [ "control-plane" ])
        (rolesWith [ "control-plane" ]).services.k3s.role
        (containerd [ "control-plane" ])
      ];
      want = [
        true
        "server"
        false
      ];
    }
    {
      name = "roles.nix: worker alone -> containerd, forwarding, kubelet port; no k3s server";
      got = [
        (k3s [ "worker" ])
        (containerd [ "worker" ])
        (rolesWith [ "worker" ]).boot.kernel.sysctl."net.ipv4.ip_forward"
        (ports [ "worker" ])
      ];
      want = [
        false
        true
        1
        [ 10250 ]
      ];
    }
    {
      name = "roles.nix: control-plane + worker compose (k3s's containerd, ports merged)";
      got = [
        (k3s [ "control-plane" "worker" ])
        (containerd [ "control-plane" "worker" ])
        (ports [ "control-plane" "worker" ])
      ];
      want = [
        true
        false
        [
          6443
          2379
          2380
          10250
          10250
        ]
      ];
    }
    {
      name = "roles.nix: gpu + storage compose; roles published in /etc and mDNS";
      got =
        let
          c = rolesWith [ "gpu" "storage" ];
        in
        [
          c.hardware.graphics.enable
          c.services.smartd.enable
          c.environment.systemPackages
          c.environment.etc."zeta/roles".text
          (hasInfix "roles=gpu,storage</txt-record>" c.services.avahi.extraServiceFiles.zeta-node)
          (k3s [ "gpu" "storage" ])
        ];
      want = [
        true
        true
        [
          "pkgs.pciutils"
          "pkgs.smartmontools"
          "pkgs.xfsprogs"
          "pkgs.nfs-utils"
        ]
        "gpu\nstorage\n"
        true
        false
      ];
    }
    {
      name = "roles.nix: all four roles at once";
      got = (rolesWith v.knownRoles).environment.etc."zeta/roles".text;
      want = "control-plane\nworker\ngpu\nstorage\n";
    }

    # --- banner, machine, common ---
    {
      name = "login-banner.nix: ssh line with hostname, addresses, notes";
      got =
        let
          c = evalModule "login-banner.nix" null {
            networking.hostName = "node-1";
            zeta.banner.notes = [ "note-a" ];
          };
        in
        c.services.getty.helpLine;
      want = "IP addresses: \\4  \\6\nFrom your laptop:  ssh zeta@node-1.local\nnote-a";
    }
    {
      name = "machine.nix: boot disk and hardware configuration from the identity";
      got = [
        (evalModule "machine.nix" (fixtures + "/identity-full") { }).boot.loader.grub.device
        (builtins.length (importsOf "machine.nix" (fixtures + "/identity-full")))
        (builtins.length (importsOf "machine.nix" missingDir))
      ];
      want = [
        "/dev/disk/by-id/nvme-Zeta_SSD_0001"
        1
        0
      ];
    }
    {
      name = "machine.nix: missing boot disk stops evaluation";
      got = fails (evalModule "machine.nix" missingDir { }).boot.loader.grub.device;
      want = true;
    }
    {
      name = "common.nix: mDNS publishing, sshd keys only, zeta in wheel";
      got =
        let
          c = evalModule "common.nix" null { };
        in
        [
          c.services.avahi.nssmdns4
          c.services.avahi.publish
          c.services.openssh.settings.PasswordAuthentication
          c.services.openssh.settings.KbdInteractiveAuthentication
          (builtins.elem "wheel" c.users.users.zeta.extraGroups)
          c.networking.networkmanager.enable
          c.networking.firewall.enable
        ];
      want = [
        true
        {
          enable = true;
          addresses = true;
          workstation = true;
        }
        false
        false
        true
        true
        true
      ];
    }
  ];
in
map (
  c:
  let
    ok = c.got == c.want;
  in
  {
    inherit (c) name;
    inherit ok;
    got = if ok then null else c.got;
    want = if ok then null else c.want;
  }
) cases
