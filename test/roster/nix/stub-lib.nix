# Copied from test/installer/nix/stub-lib.nix (owned by the installer tests) for the hive test.
# stub-lib.nix — just enough of nixpkgs' `lib` to evaluate the Zeta modules without nixpkgs
# (nixpkgs cannot be fetched here), plus `resolve`, a tiny stand-in for the module system's
# merge: mkIf/mkMerge/mkOverride become plain values so tests can compare them.
let
  absent = {
    _zetaAbsent = true;
  };
  isAbsent = v: builtins.isAttrs v && v ? _zetaAbsent;
  isProp = v: builtins.isAttrs v && v ? _type && builtins.elem v._type [ "if" "merge" "override" ];

  merge =
    a: b:
    if isAbsent a then
      b
    else if isAbsent b then
      a
    else if builtins.isAttrs a && builtins.isAttrs b then
      a // builtins.mapAttrs (n: bv: if a ? ${n} then merge a.${n} bv else bv) b
    else if builtins.isList a && builtins.isList b then
      a ++ b
    else
      b;

  dropAbsent = s: removeAttrs s (builtins.filter (n: isAbsent s.${n}) (builtins.attrNames s));
in
rec {
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption =
    name:
    mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
  types = {
    bool = "bool";
    str = "str";
    lines = "lines";
    listOf = t: "listOf ${t}";
    nullOr = t: "nullOr ${t}";
  };

  optional = c: x: if c then [ x ] else [ ];
  optionals = c: xs: if c then xs else [ ];
  optionalString = c: s: if c then s else "";
  concatStringsSep = builtins.concatStringsSep;
  genAttrs =
    names: f:
    builtins.listToAttrs (
      map (n: {
        name = n;
        value = f n;
      }) names
    );

  # Module config → plain values. Priorities are not compared: each test looks at one module.
  resolve =
    v:
    if isProp v then
      if v._type == "if" then
        (if v.condition then resolve v.content else absent)
      else if v._type == "merge" then
        builtins.foldl' merge absent (map resolve v.contents)
      else
        resolve v.content
    else if builtins.isAttrs v && !(v ? outPath) then
      dropAbsent (builtins.mapAttrs (_: resolve) v)
    else
      v;
}
