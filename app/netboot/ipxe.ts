/**
 * The iPXE side: reading the `netboot.ipxe` that nixpkgs' netboot module writes, and the
 * scripts this server hands out.
 *
 * nixpkgs (nixos/modules/installer/netboot/netboot.nix) writes
 *   kernel bzImage init=/nix/store/…-nixos-system-…/init initrd=initrd <boot.kernelParams> ${cmdline}
 *   initrd initrd
 *   boot
 * The `init=` argument is what makes the initrd's stage 1 find the system, so every argument
 * is kept as it is; only `initrd=` (ours names two initrds) and iPXE's `${cmdline}` variable
 * are replaced.
 *
 * Everything the scripts contain is either ours or checked here: iPXE expands `${…}` in every
 * script line, so a `$` from anywhere else never reaches one.
 */

export interface NetbootKernel {
  /** The kernel file the script names (`bzImage`). */
  readonly image: string;
  /** Its arguments without `initrd=…` and `${cmdline}`, `init=…` among them. */
  readonly args: readonly string[];
  /** The initrd file names the script loads (`initrd`). */
  readonly initrds: readonly string[];
}

export type NetbootScriptParse =
  | { readonly ok: true; readonly kernel: NetbootKernel }
  | { readonly ok: false; readonly problem: string };

// A kernel argument we pass on: printable ASCII without quotes, `$`, `\` or spaces.
const SAFE_ARG = /^[!#%&(-[\]-~]+$/;
const FILE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Reads a NixOS `netboot.ipxe`. */
export function parseNetbootIpxe(text: string): NetbootScriptParse {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const kernels = lines.filter((l) => /^(kernel|chain|imgexec)\s/.test(l));
  if (kernels.length !== 1 || !kernels[0]!.startsWith('kernel '))
    return { ok: false, problem: 'it has no single "kernel" line' };
  const [, image, ...rest] = kernels[0]!.split(/\s+/);
  if (!image || !FILE_NAME.test(image))
    return {
      ok: false,
      problem: `its kernel line names "${(image ?? '').slice(0, 40)}", not a file`,
    };
  const args = rest.filter((a) => a !== '${cmdline}' && !a.startsWith('initrd='));
  const bad = args.find((a) => !SAFE_ARG.test(a));
  if (bad !== undefined)
    return {
      ok: false,
      problem: `its kernel argument "${bad.replace(/[^\x20-\x7e]/g, '?').slice(0, 60)}" holds a character this server does not pass on`,
    };
  if (!args.some((a) => /^init=\/\S+$/.test(a)))
    return { ok: false, problem: 'its kernel line has no init=/nix/store/… argument' };
  const initrds = lines
    .filter((l) => l.startsWith('initrd '))
    .map((l) => l.split(/\s+/).filter((w) => !w.startsWith('-'))[1] ?? '');
  if (initrds.length !== 1 || !FILE_NAME.test(initrds[0]!))
    return { ok: false, problem: 'it does not load exactly one initrd file' };
  return { ok: true, kernel: { image, args, initrds } };
}

/** Kernel arguments are our own or checked: a hostname, a URL we built. */
const checked = (value: string, what: string): string => {
  if (!SAFE_ARG.test(value)) throw new Error(`unsafe ${what} for an iPXE script: ${value}`);
  return value;
};

/** What a node's script loads, all on this server. */
export interface NodeScriptInput {
  readonly hostname: string;
  readonly mac: string;
  /** `http://10.0.0.2:8086/node/52-54-00-12-34-56` (no trailing slash). */
  readonly base: string;
  readonly kernel: NetbootKernel;
}

/** The names iPXE gives the two initrds; UEFI kernels load them by these `initrd=` names. */
export const INITRD_NAMES = { system: 'initrd', identity: 'zeta.cpio' } as const;

/**
 * A roster node's script: the NixOS kernel with its own arguments plus `zeta.hostname=` and
 * where to report that the installer started, the NixOS initrd, then our identity initrd
 * (the kernel unpacks both into one initramfs, ours last). A failed download stops at a
 * message instead of falling through to whatever the machine boots next.
 */
export function nodeScript(input: NodeScriptInput): string {
  const b = checked(input.base, 'URL');
  const args = [
    ...input.kernel.args,
    `initrd=${INITRD_NAMES.system}`,
    `initrd=${INITRD_NAMES.identity}`,
    `zeta.hostname=${checked(input.hostname, 'hostname')}`,
    `zeta.report=${b}/installer`,
  ];
  return [
    '#!ipxe',
    `echo Zeta netboot: installing node ${input.hostname} (${input.mac})`,
    `kernel ${b}/kernel ${args.join(' ')} || goto failed`,
    `initrd --name ${INITRD_NAMES.system} ${b}/initrd || goto failed`,
    `initrd --name ${INITRD_NAMES.identity} ${b}/identity || goto failed`,
    'boot || goto failed',
    ':failed',
    `echo Zeta netboot: loading the installer for ${input.hostname} failed (see above). Nothing was installed.`,
    'prompt Press a key to try again',
    `chain ${b}.ipxe`,
    '',
  ].join('\n');
}

/**
 * For a MAC the roster does not have: say so, with the MAC, and wait. Nothing is loaded; a
 * key press leaves network boot, and the firmware goes on to its next boot device.
 */
export function refusalScript(mac: string): string {
  // Lines under 80 columns: iPXE wraps at the console's edge, mid-word.
  return [
    '#!ipxe',
    'echo',
    'echo ==== ZETA NETBOOT: THIS MACHINE IS NOT IN THE ROSTER ====',
    `echo MAC address: ${mac}`,
    'echo Nothing was installed on it. To install it, on the Zeta Flash computer run',
    `echo   zflash roster set NAME --mac ${mac}`,
    'echo and restart this machine.',
    ':wait',
    'prompt Press a key to boot from the next device instead || goto wait',
    'exit 1',
    '',
  ].join('\n');
}

/**
 * The script served over TFTP to every iPXE: asks this server for the machine's own script,
 * by the MAC of the card it booted from (`netX`: the last one opened).
 */
export function bootScript(httpBase: string): string {
  return [
    '#!ipxe',
    "echo Zeta netboot: asking for this machine's script",
    `chain ${checked(httpBase, 'URL')}/node/\${netX/mac:hexhyp}.ipxe`,
    '',
  ].join('\n');
}
