import { pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derivePsk, passphraseProblem, ssidProblem } from './wifi.js';

describe('the PSK derived in the form', () => {
  it('is IEEE 802.11i H.4’s test vector for "password" on "IEEE"', async () => {
    expect(await derivePsk('IEEE', 'password')).toBe(
      'f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e',
    );
  });

  it('matches Node’s PBKDF2 for UTF-8 network names and every passphrase length', async () => {
    for (const [ssid, pass] of [
      ['café-net', 'eight888'],
      ['ラボ', 'x'.repeat(63)],
      ['a b c', ' spaces and ~!@#$%^&*()'],
    ] as const) {
      expect(await derivePsk(ssid, pass)).toBe(
        pbkdf2Sync(pass, Buffer.from(ssid, 'utf8'), 4096, 32, 'sha1').toString('hex'),
      );
    }
  });

  it('takes 64 hex digits as the PSK itself', async () => {
    const psk = 'AB'.repeat(32);
    expect(await derivePsk('net', psk)).toBe(psk.toLowerCase());
    expect(passphraseProblem(psk)).toBeNull();
  });

  it('spells out the rules without echoing the passphrase', () => {
    expect(passphraseProblem('short')).toBe('The Wi-Fi password is shorter than 8 characters.');
    expect(passphraseProblem('x'.repeat(64))).toMatch(/longer than 63/);
    expect(passphraseProblem('pässwörd-long')).not.toContain('ä');
    expect(ssidProblem('')).toMatch(/Type the network name/);
    expect(ssidProblem('é'.repeat(17))).toBe(
      'A network name may be at most 32 bytes; this one has 34.',
    );
    expect(ssidProblem('lab')).toBeNull();
  });
});
