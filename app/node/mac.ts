/**
 * A node's boot MAC address: how the netboot server tells roster nodes from any other machine
 * that PXE-boots on the same network. Stored and compared in one form, lowercase and
 * colon-separated (`52:54:00:12:34:56`), as dnsmasq logs it and iPXE's `${net0/mac}` prints it.
 */

/** The stored form. */
export const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * Operator input → the stored form, or a reason it is not a boot MAC address. Accepts the
 * spellings people copy from firmware screens, `ip link`, Windows and switch consoles:
 * `52:54:00:12:34:56`, `52-54-00-12-34-56`, `5254.0012.3456`, `525400123456`, any case.
 */
export function parseMac(input: string): { mac: string } | { problem: string } {
  const raw = input.trim();
  const hex = raw.replace(/[:.-]/g, '');
  const shaped =
    /^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$/.test(raw) ||
    /^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/.test(raw) ||
    /^[0-9A-Fa-f]{12}$/.test(raw);
  if (!shaped || hex.length !== 12)
    return { problem: 'it is not six pairs of hex digits (like 52:54:00:12:34:56)' };
  const mac = hex.toLowerCase().replace(/(..)(?!$)/g, '$1:');
  const first = parseInt(hex.slice(0, 2), 16);
  // IEEE 802: the lowest bit of the first octet marks group (multicast/broadcast) addresses;
  // no network card boots with one.
  if (first & 1) return { problem: 'it is a multicast or broadcast address, not a network card' };
  if (/^0+$/.test(hex)) return { problem: 'it is all zeros' };
  return { mac };
}

/** `52:54:00:12:34:56` → `52-54-00-12-34-56`, the form in our URLs (iPXE's `:hexhyp`). */
export const macToUrl = (mac: string): string => mac.replace(/:/g, '-');

/** The URL form back to the stored form; null when it is not one. */
export function macFromUrl(text: string): string | null {
  if (!/^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/.test(text)) return null;
  return text.replace(/-/g, ':');
}
