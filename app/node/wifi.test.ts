import { describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { deriveWpaPsk, validateWifi } from './wifi.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ZflashError) return err.code;
    throw err;
  }
  return 'none';
}

describe('deriveWpaPsk', () => {
  it('matches the IEEE 802.11i test vectors', () => {
    expect(deriveWpaPsk('IEEE', 'password')).toBe(
      'f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e',
    );
    expect(deriveWpaPsk('ThisIsASSID', 'ThisIsAPassword')).toBe(
      '0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af',
    );
  });
});

describe('validateWifi', () => {
  it('returns only the SSID and the PSK, never the passphrase', () => {
    const wifi = validateWifi('IEEE', 'password');
    expect(wifi).toEqual({
      ssid: 'IEEE',
      psk: 'f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e',
    });
    expect(JSON.stringify(wifi)).not.toContain('password');
    expect(Object.isFrozen(wifi)).toBe(true);
  });

  it('takes 64 hex digits as the PSK itself, lowercased', () => {
    const psk = 'F42C6FC52DF0EBEF9EBB4B90B38A5F902E83FE1B135A70E23AED762E9710A12E';
    expect(validateWifi('any', psk).psk).toBe(psk.toLowerCase());
  });

  it('measures the SSID in UTF-8 bytes', () => {
    expect(validateWifi('é'.repeat(16), 'password').ssid).toBe('é'.repeat(16)); // 32 bytes
    expect(codeOf(() => validateWifi('é'.repeat(16) + 'x', 'password'))).toBe(
      'ZFLASH_WIFI_SSID_INVALID',
    );
    expect(codeOf(() => validateWifi('', 'password'))).toBe('ZFLASH_WIFI_SSID_INVALID');
    expect(codeOf(() => validateWifi('a\nb', 'password'))).toBe('ZFLASH_WIFI_SSID_INVALID');
    expect(codeOf(() => validateWifi('\ud800', 'password'))).toBe('ZFLASH_WIFI_SSID_INVALID');
  });

  it('refuses bad passphrases without echoing them', () => {
    for (const bad of [
      'short77',
      'x'.repeat(64),
      'pässwörd-long',
      'tab\there-long',
      'a'.repeat(65),
    ]) {
      try {
        validateWifi('home', bad);
        throw new Error(`accepted ${bad}`);
      } catch (err) {
        expect(err).toBeInstanceOf(ZflashError);
        const z = err as ZflashError;
        expect(z.code).toBe('ZFLASH_WIFI_PASSPHRASE_INVALID');
        expect(JSON.stringify(z.toJSON())).not.toContain(bad);
      }
    }
    expect(validateWifi('home', ' '.repeat(8)).psk).toMatch(/^[0-9a-f]{64}$/);
    expect(validateWifi('home', '~'.repeat(63)).psk).toMatch(/^[0-9a-f]{64}$/);
  });
});
