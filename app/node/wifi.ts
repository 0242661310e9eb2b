/**
 * Wi-Fi credentials go onto a stick that may be lost, so only the derived WPA PSK is
 * kept, never the passphrase (it is the same secret for wpa_supplicant, but it is not
 * the string the operator may reuse elsewhere). Rules are IEEE 802.11i's: SSID 1–32
 * bytes, passphrase 8–63 printable ASCII, or the 64-hex-digit PSK itself.
 */
import { pbkdf2Sync } from 'node:crypto';
import { inputError } from '../errors.js';
import type { WifiConfig } from './types.js';

export const PSK_PATTERN = /^[0-9a-f]{64}$/;

/** Why an SSID is unusable, or null. Shared with the identity schema. */
export function ssidProblem(ssid: string): string | null {
  const bytes = Buffer.byteLength(ssid, 'utf8');
  if (bytes === 0) return 'The Wi-Fi network name (SSID) is empty.';
  if (bytes > 32) {
    return `A Wi-Fi network name (SSID) may be at most 32 bytes of UTF-8; this one has ${bytes}.`;
  }
  // Lone surrogates would be silently replaced by U+FFFD and name a different network.
  if (/\p{Cs}/u.test(ssid)) return 'The Wi-Fi network name (SSID) contains invalid Unicode.';
  // Legal on air but not typeable, and the renderer would have to escape them into the config.
  if (/\p{Cc}/u.test(ssid)) return 'The Wi-Fi network name (SSID) contains a control character.';
  return null;
}

function checkSsid(ssid: string): void {
  const problem = ssidProblem(ssid);
  if (problem) {
    throw inputError(
      'ZFLASH_WIFI_SSID_INVALID',
      problem,
      'Type the network name exactly as your devices show it (1 to 32 bytes, no control characters).',
    );
  }
}

/** Never echoes the passphrase, its length or the offending character: it is a secret. */
function checkPassphrase(passphrase: string): void {
  const length = [...passphrase].length;
  if (length < 8 || length > 63 || !/^[\x20-\x7e]+$/.test(passphrase)) {
    throw inputError(
      'ZFLASH_WIFI_PASSPHRASE_INVALID',
      'A WPA passphrase must be 8 to 63 printable ASCII characters (or exactly 64 hex digits, the PSK itself).',
      'Check the Wi-Fi password: letters, digits, spaces and ASCII punctuation only; no accented letters or emoji.',
    );
  }
}

/** PBKDF2-HMAC-SHA1(passphrase, ssid, 4096, 32) as lowercase hex (IEEE 802.11i, Annex H.4). */
export function deriveWpaPsk(ssid: string, passphrase: string): string {
  checkSsid(ssid);
  checkPassphrase(passphrase);
  return pbkdf2Sync(passphrase, ssid, 4096, 32, 'sha1').toString('hex');
}

export function validateWifi(ssid: string, passphrase: string): WifiConfig {
  checkSsid(ssid);
  const psk = /^[0-9a-fA-F]{64}$/.test(passphrase)
    ? passphrase.toLowerCase()
    : deriveWpaPsk(ssid, passphrase);
  return Object.freeze({ ssid, psk });
}
