/**
 * What the roster turns into for the tools an operator uses next: an ssh config snippet,
 * JSON and CSV inventories, and a colmena hive. Pure functions of the roster; nodes are
 * listed in natural order (node-2 before node-10) so the same roster gives the same bytes.
 */
import { ROSTER_VERSION, type Roster, type RosterNode } from './schema.js';

/** The SSH user every Zeta node has (nixos/modules/common.nix). */
export const NODE_USER = 'zeta';

const collator = new Intl.Collator('en', { numeric: true });
export const sortedNodes = (roster: Roster): RosterNode[] =>
  [...roster.nodes].sort((a, b) => collator.compare(a.hostname, b.hostname));

/**
 * `Host <name>` → `<name>.local`, user zeta. Hostnames are RFC 1123 labels (the schema
 * guarantees it), so nothing here can smuggle another ssh option into the file.
 */
export function toSshConfig(roster: Roster): string {
  const nodes = sortedNodes(roster);
  const out = [
    `# Zeta cluster: ${nodes.length} node${nodes.length === 1 ? '' : 's'}, from the Zeta Flash roster.`,
    '# Save as ~/.ssh/zeta-nodes.conf and add `Include zeta-nodes.conf` at the top of ~/.ssh/config.',
  ];
  for (const n of nodes) {
    out.push('');
    if (n.roles.length) out.push(`# roles: ${n.roles.join(', ')}`);
    if (n.status === 're-flashed' || n.history.length > 0)
      out.push(
        `# re-flashed: the node has a new host key; forget the old one with: ssh-keygen -R ${n.hostname}.local`,
      );
    out.push(`Host ${n.hostname}`, `  HostName ${n.hostname}.local`, `  User ${NODE_USER}`);
  }
  return `${out.join('\n')}\n`;
}

/** The roster itself, nodes sorted: the exact data, for scripts. */
export function toJson(roster: Roster): string {
  return `${JSON.stringify({ version: ROSTER_VERSION, nodes: sortedNodes(roster) }, null, 2)}\n`;
}

export const CSV_COLUMNS = [
  'hostname',
  'status',
  'roles',
  'address',
  'first_seen',
  'flashed_at',
  'image_name',
  'image_sha256',
  'medium',
  'drive_model',
  'drive_serial',
  'size_bytes',
  'key_fingerprints',
  'app_version',
  'flash_count',
] as const;

/**
 * One RFC 4180 field. Cells starting with = + - @ or a tab/CR are prefixed with `'`
 * (OWASP's CSV-injection advice): a drive's model and serial come from the stick's own
 * USB descriptors, and a spreadsheet would run `=HYPERLINK(...)` as a formula.
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A spreadsheet inventory (RFC 4180: CRLF line ends, quoted fields); roles and keys separated by spaces. */
export function toCsv(roster: Roster): string {
  const rows = sortedNodes(roster).map((n) => [
    n.hostname,
    n.status,
    n.roles.join(' '),
    n.online?.address ?? '',
    n.online?.firstSeen ?? '',
    n.flashedAt,
    n.image.name,
    n.image.sha256 ?? '',
    n.medium.kind === 'drive' ? n.medium.device : n.medium.path,
    n.medium.kind === 'drive' ? (n.medium.model ?? '') : '',
    n.medium.kind === 'drive' ? (n.medium.serial ?? '') : '',
    n.medium.size === null ? '' : String(n.medium.size),
    n.keys.map((k) => k.fingerprint).join(' '),
    n.appVersion,
    String(n.history.length + 1),
  ]);
  return [[...CSV_COLUMNS], ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/**
 * The node modules of the bundled flake (`nodeModules` in nixos/flake.nix), in its order;
 * test/roster-hive.test.ts checks this list against the flake itself.
 */
export const NODE_MODULES = [
  'common.nix',
  'machine.nix',
  'node-identity.nix',
  'operator-ssh-keys.nix',
  'initial-password.nix',
  'roles.nix',
  'login-banner.nix',
] as const;

/** A Nix string literal: `\`, `"` and `${` escaped, so a path cannot close the string or interpolate. */
export function nixString(s: string): string {
  return `"${s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\$\{/g, '\\${')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')}"`;
}

/** A Nix path expression for a folder: absolute as is, otherwise relative to the hive file. */
export function nixPath(p: string): string {
  const path = p.replace(/\/+$/, '') || '/';
  if (path.startsWith('/')) return path === '/' ? '/.' : `/. + ${nixString(path)}`;
  const rel = path.replace(/^\.\/+/, '');
  return rel === '.' || rel === '' ? './.' : `./. + ${nixString(`/${rel}`)}`;
}

export interface HiveOptions {
  /** The bundled `nixos/` folder (absolute, or relative to the hive file). */
  readonly nixosPath?: string;
  /** Where each node's identity folder is copied to (`<identityPath>/<hostname>`). */
  readonly identityPath?: string;
  /** Stamped in the header comment. */
  readonly appVersion?: string;
}

/**
 * A colmena hive (`hive.nix`): one entry per node with deployment.targetHost
 * `<name>.local` and targetUser zeta (in wheel and a trusted Nix user on every node), the
 * bundled flake's node modules, and the node's roles switched on. The modules read the
 * node's machine facts (hardware configuration, boot disk) from its identity folder, which
 * only the node has: the hive passes `identity/<name>` as `zetaIdentityDir` and says how to
 * copy it when it is missing. nixpkgs is the revision nixos/flake.lock pins, else
 * `<nixpkgs>` from NIX_PATH.
 */
export function toColmenaHive(roster: Roster, opts: HiveOptions = {}): string {
  const nodes = sortedNodes(roster);
  const nixos = nixPath(opts.nixosPath ?? './nixos');
  const identity = nixPath(opts.identityPath ?? './identity');
  const lines: string[] = [
    `# hive.nix — the Zeta cluster for colmena: ${nodes.length} node${nodes.length === 1 ? '' : 's'} from the Zeta Flash roster${opts.appVersion ? ` (Zeta Flash ${opts.appVersion})` : ''}.`,
    '#',
    '#   colmena apply                 build every node here and switch it over ssh',
    '#   colmena apply --on @gpu       only the nodes with a role (tags are the roles)',
    '#',
    '# Each node imports the bundled flake’s node modules (nixos/modules) and reads its machine',
    '# facts (hardware configuration, boot disk) from identity/<name>, which only the node has.',
    '# Copy it once before the first deployment, for example:',
    '#   scp -r zeta@node-01.local:/etc/zeta/flake/identity identity/node-01',
    '# Regenerate this file after flashing: zflash roster export --format colmena --output hive.nix',
    'let',
    `  zeta = ${nixos};`,
    `  identities = ${identity};`,
    '  nodeModules = map (m: zeta + "/modules/${m}") [',
    ...NODE_MODULES.map((m) => `    ${nixString(m)}`),
    '  ];',
    '  # nixpkgs: the revision nixos/flake.lock pins (as `nix flake lock` wrote it), else <nixpkgs>.',
    '  lockFile = zeta + "/flake.lock";',
    '  nixpkgsSrc =',
    '    if builtins.pathExists lockFile then',
    '      let',
    '        lock = builtins.fromJSON (builtins.readFile lockFile);',
    '        locked = lock.nodes.${lock.nodes.${lock.root}.inputs.nixpkgs}.locked;',
    '      in',
    '      builtins.fetchTarball {',
    '        url = "https://github.com/${locked.owner}/${locked.repo}/archive/${locked.rev}.tar.gz";',
    '        sha256 = locked.narHash;',
    '      }',
    '    else',
    '      <nixpkgs>;',
    '  identityOf =',
    '    name:',
    '    let',
    '      dir = identities + "/${name}";',
    '    in',
    '    if builtins.pathExists (dir + "/hostname") then',
    '      dir',
    '    else',
    '      throw "hive.nix: no identity for ${name} in ${toString dir}. Copy it from the node: scp -r zeta@${name}.local:/etc/zeta/flake/identity ${toString dir}";',
    'in',
    '{',
    '  meta = {',
    `    description = ${nixString(`Zeta cluster (${nodes.length} node${nodes.length === 1 ? '' : 's'})`)};`,
    '    nixpkgs = import nixpkgsSrc { system = "x86_64-linux"; };',
    '    nodeSpecialArgs = {',
    ...nodes.map(
      (n) =>
        `      ${nixString(n.hostname)}.zetaIdentityDir = identityOf ${nixString(n.hostname)};`,
    ),
    '    };',
    '  };',
  ];
  for (const n of nodes) {
    lines.push(
      '',
      `  ${nixString(n.hostname)} = {`,
      `    deployment.targetHost = ${nixString(`${n.hostname}.local`)};`,
      `    deployment.targetUser = ${nixString(NODE_USER)};`,
      `    deployment.tags = [${n.roles.map((r) => ` ${nixString(r)}`).join('')} ];`,
      '    imports = nodeModules;',
      ...n.roles.map((r) => `    zeta.roles.${nixString(r)}.enable = true;`),
      '  };',
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
