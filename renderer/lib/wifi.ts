/**
 * Wi-Fi in the form: the passphrase is turned into the PSK here, with WebCrypto, and only the
 * PSK leaves the form (IEEE 802.11i H.4: PBKDF2-HMAC-SHA1, the SSID's bytes as salt, 4096
 * iterations, 32 bytes). The rules are the engine's (app/node/wifi.ts), spelled out for a
 * person; the engine checks them again.
 */

export const SSID_RULE = 'The network name as your devices show it: 1 to 32 bytes.';
export const PASSPHRASE_RULE = '8 to 63 characters (letters, digits, spaces, punctuation).';

export function ssidProblem(ssid: string): string | null {
  const bytes = new TextEncoder().encode(ssid).length;
  if (bytes === 0) return 'Type the network name (SSID).';
  if (bytes > 32) return `A network name may be at most 32 bytes; this one has ${bytes}.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(ssid)) return 'The network name holds a control character.';
  return null;
}

const isHexPsk = (p: string) => /^[0-9a-fA-F]{64}$/.test(p);

/** Never echoes the passphrase or its characters: it is a secret. */
export function passphraseProblem(passphrase: string): string | null {
  if (isHexPsk(passphrase)) return null;
  const length = [...passphrase].length;
  if (length === 0) return 'Type the Wi-Fi password.';
  if (!/^[\x20-\x7e]+$/.test(passphrase))
    return 'The Wi-Fi password may hold only letters a–z and A–Z, digits, spaces and punctuation.';
  if (length < 8) return 'The Wi-Fi password is shorter than 8 characters.';
  if (length > 63) return 'The Wi-Fi password is longer than 63 characters.';
  return null;
}

function toHex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The 64-hex-digit PSK for `ssid`; a passphrase that already is 64 hex digits is the PSK. */
export async function derivePsk(ssid: string, passphrase: string): Promise<string> {
  if (isHexPsk(passphrase)) return passphrase.toLowerCase();
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(passphrase), 'PBKDF2', false, [
    'deriveBits',
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-1', salt: enc.encode(ssid), iterations: 4096 },
    key,
    256,
  );
  return toHex(bits);
}
