import { describe, expect, it } from 'vitest';
import { macFromUrl, macToUrl, parseMac } from './mac.js';

describe('boot MAC addresses', () => {
  it('reads the spellings firmware screens, ip link, Windows and switches print', () => {
    for (const s of [
      '52:54:00:12:34:AB',
      '52-54-00-12-34-ab',
      '5254.0012.34ab',
      '52540012 34ab'.replace(' ', ''),
      '  52:54:00:12:34:ab\n',
    ])
      expect(parseMac(s)).toEqual({ mac: '52:54:00:12:34:ab' });
  });

  it('refuses what is not one network card', () => {
    for (const s of [
      '',
      '52:54:00:12:34',
      '52:54:00:12:34:ab:cd',
      '52:54-00:12:34:ab',
      '52:54:00:12:34:ag',
      'ff:ff:ff:ff:ff:ff',
      '01:00:5e:00:00:fb',
      '00:00:00:00:00:00',
      '52:54:00:12:34:ab; reboot',
    ])
      expect(parseMac(s)).toHaveProperty('problem');
  });

  it('turns into the URL form and back, and nothing else comes back from a URL', () => {
    expect(macToUrl('52:54:00:12:34:ab')).toBe('52-54-00-12-34-ab');
    expect(macFromUrl('52-54-00-12-34-ab')).toBe('52:54:00:12:34:ab');
    for (const s of [
      '52-54-00-12-34-AB',
      '52:54:00:12:34:ab',
      '..-..-..-..-..-..',
      '52-54-00-12-34',
    ])
      expect(macFromUrl(s)).toBeNull();
  });
});
