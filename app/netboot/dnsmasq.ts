/**
 * dnsmasq as the network-boot engine: proxy DHCP (the router keeps handing out addresses;
 * dnsmasq only adds the boot information, RFC 4578 / PXE) and TFTP for iPXE, on one
 * interface. The recipe is the one LTSP and ipxe.org's dnsmasq notes use: firmware PXE
 * clients get iPXE over TFTP (undionly.kpxe for BIOS, snponly.efi or ipxe.efi for UEFI);
 * iPXE itself (recognised by its DHCP option 175 features) gets `boot.ipxe`, which chains to
 * our HTTP server. In proxy mode dnsmasq sends only what `pxe-service` names.
 */

export interface DnsmasqConfigInput {
  /** The one interface to serve (`enp3s0`). */
  readonly interface: string;
  /** Its IPv4 network and netmask (`192.168.1.0`, `255.255.255.0`). */
  readonly network: string;
  readonly netmask: string;
  /** Absolute path of the TFTP root (holds the iPXE binaries and boot.ipxe). */
  readonly tftpRoot: string;
  /** The iPXE binary for UEFI firmware in the TFTP root, when there is one. */
  readonly uefiLoader: string | null;
  /** The one for BIOS firmware, when there is one. */
  readonly biosLoader: string | null;
}

/** Interface names as Linux allows them (dev_valid_name): no '/', ':' or whitespace. */
export const INTERFACE_NAME = /^(?!\.\.?$)[A-Za-z0-9_.@+-]{1,15}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const PATH = /^\/[A-Za-z0-9._/+-]+$/;
const FILE = /^[A-Za-z0-9._-]+$/;

/** The served script's name in the TFTP root. */
export const BOOT_SCRIPT = 'boot.ipxe';

/**
 * The configuration file. Proxy mode only (`dhcp-range=…,proxy`): dnsmasq never hands out an
 * address, so it can run beside the router's DHCP server. DNS off (`port=0`). Only the chosen
 * interface (plus `except-interface=lo`, so TFTP does not also listen on loopback).
 */
export function dnsmasqConfig(c: DnsmasqConfigInput): string {
  if (!INTERFACE_NAME.test(c.interface)) throw new Error(`bad interface name ${c.interface}`);
  if (!IPV4.test(c.network) || !IPV4.test(c.netmask)) throw new Error('bad network');
  if (!PATH.test(c.tftpRoot)) throw new Error(`bad TFTP root ${c.tftpRoot}`);
  for (const f of [c.biosLoader, c.uefiLoader])
    if (f !== null && !FILE.test(f)) throw new Error(`bad loader name ${f}`);
  const lines = [
    '# Written by zflash netboot serve; removed when it stops.',
    '# DNS off: this dnsmasq only answers network boot requests.',
    'port=0',
    `interface=${c.interface}`,
    'except-interface=lo',
    'bind-interfaces',
    '# Proxy DHCP: boot information only, never an address (the router keeps that job).',
    `dhcp-range=${c.network},proxy,${c.netmask}`,
    'dhcp-leasefile=/dev/null',
    'enable-tftp',
    `tftp-root=${c.tftpRoot}`,
    '# iPXE says what it can do in option 175; one with HTTP and a way to boot gets our script.',
    'dhcp-match=set:ipxe-http,175,19',
    'dhcp-match=set:ipxe-pxe,175,33',
    'dhcp-match=set:ipxe-bzimage,175,24',
    'dhcp-match=set:ipxe-efi,175,36',
    'tag-if=set:ipxe,tag:ipxe-http,tag:ipxe-pxe,tag:ipxe-bzimage',
    'tag-if=set:ipxe,tag:ipxe-http,tag:ipxe-efi',
    '# Firmware without iPXE gets iPXE first (basenames with a suffix: no ".0" added).',
    ...(c.biosLoader ? [`pxe-service=tag:!ipxe,x86PC,"Zeta netboot: iPXE",${c.biosLoader}`] : []),
    ...(c.uefiLoader
      ? [
          `pxe-service=tag:!ipxe,X86-64_EFI,"Zeta netboot: iPXE",${c.uefiLoader}`,
          // BC_EFI (9): what some x86-64 firmware sends by RFC 4578's errata.
          `pxe-service=tag:!ipxe,BC_EFI,"Zeta netboot: iPXE",${c.uefiLoader}`,
        ]
      : []),
    `pxe-service=tag:ipxe,x86PC,"Zeta netboot",${BOOT_SCRIPT}`,
    `pxe-service=tag:ipxe,X86-64_EFI,"Zeta netboot",${BOOT_SCRIPT}`,
    `pxe-service=tag:ipxe,BC_EFI,"Zeta netboot",${BOOT_SCRIPT}`,
    '',
  ];
  return lines.join('\n');
}

export interface DnsmasqArgsInput {
  readonly confFile: string;
  /** The account dnsmasq drops to once its ports are bound. */
  readonly user: string;
  readonly group: string;
}

/**
 * The command line: our file only (`--conf-file` replaces /etc/dnsmasq.conf and its
 * conf-dir), in the foreground (so it is our child and Ctrl-C can stop it), logging to
 * stderr (where we read the progress), no pid file, and dropping root for `user`.
 */
export function dnsmasqArgs(a: DnsmasqArgsInput): string[] {
  return [
    `--conf-file=${a.confFile}`,
    '--keep-in-foreground',
    '--log-facility=-',
    '--pid-file=',
    `--user=${a.user}`,
    `--group=${a.group}`,
  ];
}

/** What one dnsmasq log line says about a booting machine. */
export type DnsmasqLogEvent =
  /** Proxy DHCP answered (firmware or iPXE asking for boot information). */
  | { readonly kind: 'dhcp'; readonly mac: string }
  /** The PXE boot server step named a file: an iPXE loader or, for iPXE, the boot script. */
  | { readonly kind: 'boot-file'; readonly mac: string; readonly ip: string; readonly file: string }
  | { readonly kind: 'tftp-sent'; readonly ip: string; readonly file: string }
  | { readonly kind: 'tftp-failed'; readonly ip: string | null; readonly message: string }
  /** Its sockets are bound and it has dropped root: the last line it logs when it starts. */
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string };

const MAC = '([0-9a-f]{2}(?::[0-9a-f]{2}){5})';
const IP = '(\\d{1,3}(?:\\.\\d{1,3}){3})';
const BODY = /^dnsmasq(?:-(dhcp|tftp))?(?:\[\d+\])?: (.*)$/;

/** Parses a line of dnsmasq's log (`--log-facility=-`); null for lines without news. */
export function parseDnsmasqLine(line: string): DnsmasqLogEvent | null {
  const m = BODY.exec(line.trim());
  if (!m) return null;
  const [, facility, rawText] = m;
  // With --log-dhcp dnsmasq puts a transaction id first; accept it either way.
  const text = (rawText ?? '').replace(/^\d+ /, '');
  if (facility === 'dhcp') {
    const proxy = new RegExp(`^PXE\\([^)]+\\) ${MAC} proxy$`).exec(text);
    if (proxy) return { kind: 'dhcp', mac: proxy[1]! };
    const file = new RegExp(`^PXE\\([^)]+\\) ${IP} ${MAC} (\\S+)$`).exec(text);
    if (file) return { kind: 'boot-file', ip: file[1]!, mac: file[2]!, file: file[3]! };
    return null;
  }
  if (facility === 'tftp') {
    if (/^TFTP root is /.test(text)) return { kind: 'ready' };
    const sent = new RegExp(`^sent (\\S+) to ${IP}$`).exec(text);
    if (sent) return { kind: 'tftp-sent', file: sent[1]!, ip: sent[2]! };
    if (/error|failed|not found|cannot/i.test(text)) {
      const ip = new RegExp(`(?:to|from) ${IP}`).exec(text)?.[1] ?? null;
      return { kind: 'tftp-failed', ip, message: text };
    }
    return null;
  }
  if (/^TFTP root is /.test(text)) return { kind: 'ready' };
  if (/^(failed|FAILED|unknown|bad|cannot|junk|illegal)/i.test(text))
    return { kind: 'failed', message: text };
  return null;
}
