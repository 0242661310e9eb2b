import { describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { isValidHostname, validateHostname } from './hostname.js';

function refusal(input: string): ZflashError {
  try {
    validateHostname(input);
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('validateHostname', () => {
  it('accepts RFC 1123 labels and trims surrounding whitespace silently', () => {
    expect(validateHostname('node-1')).toEqual({ hostname: 'node-1', notices: [] });
    expect(validateHostname('  \tgpu01\n')).toEqual({ hostname: 'gpu01', notices: [] });
    expect(validateHostname('1')).toEqual({ hostname: '1', notices: [] });
    expect(validateHostname('a'.repeat(63)).hostname).toHaveLength(63);
  });

  it('lowercases uppercase input with a visible notice', () => {
    expect(validateHostname(' Node-A ')).toEqual({
      hostname: 'node-a',
      notices: [
        {
          code: 'ZFLASH_HOSTNAME_LOWERCASED',
          message: 'The hostname "Node-A" was changed to "node-a": hostnames are lowercase.',
        },
      ],
    });
  });

  it('names the offending character and its position', () => {
    const err = refusal('node_1');
    expect(err.code).toBe('ZFLASH_HOSTNAME_INVALID');
    expect(err.kind).toBe('input');
    expect(err.message).toBe(
      'A hostname may contain only letters a–z, digits 0–9 and hyphens; "_" (U+005F) at position 5 is not allowed.',
    );
    expect(err.hint).toBe('Use a hyphen instead.');
    expect(err.details).toEqual({ position: 5, codePoint: 0x5f });
    expect(refusal('my node').message).toContain('U+0020 at position 3');
    expect(refusal('nöde').message).toContain('"ö" (U+00F6) at position 2');
    expect(refusal('ab\u200bc').message).toContain('U+200B at position 3');
  });

  it('refuses a dot and suggests the first label', () => {
    const err = refusal('Node1.example.com');
    expect(err.message).toBe(
      'The hostname "Node1.example.com" contains a dot; give only the first label, not a full domain name.',
    );
    expect(err.hint).toBe('Use "node1"; the node is reached as node1.local.');
    expect(refusal('localhost.localdomain').code).toBe('ZFLASH_HOSTNAME_INVALID');
    expect(refusal('.x').hint).toMatch(/without dots/);
  });

  it('refuses empty, too long, hyphen-edged and reserved names', () => {
    expect(refusal('   ').message).toBe('The hostname is empty.');
    expect(refusal('a'.repeat(64)).message).toBe(
      'A hostname may be at most 63 characters long; this one has 64.',
    );
    expect(refusal('-node').message).toContain('position 1');
    expect(refusal('node-').message).toContain('position 5');
    expect(refusal('LocalHost').message).toBe(
      '"localhost" is reserved for the machine\'s own loopback address and cannot name a node.',
    );
  });

  it('isValidHostname agrees with the canonical form only', () => {
    expect(isValidHostname('node-1')).toBe(true);
    expect(isValidHostname('Node-1')).toBe(false);
    expect(isValidHostname('localhost')).toBe(false);
    expect(isValidHostname('-a')).toBe(false);
    expect(isValidHostname('')).toBe(false);
  });
});

describe('what each refusal says, in full', () => {
  it('gives the hint and details the operator and the diagnostics need', () => {
    const empty = refusal('');
    expect(empty.hint).toBe(
      'Type a short name for this node using letters a–z, digits 0–9 and hyphens.',
    );
    expect(empty.details).toEqual({});
    expect(refusal('ab.example').details).toEqual({ position: 3 });
    expect(refusal('a b').hint).toBe('Use a hyphen instead.');
    expect(refusal('a+b').hint).toBe('Use only letters a–z, digits 0–9 and hyphens.');
    const long = refusal('a'.repeat(70));
    expect(long.hint).toBe('Choose a shorter name.');
    expect(long.details).toEqual({ length: 70 });
    const edge = refusal('node-');
    expect(edge.hint).toBe('Remove the hyphen at the start or end of the name.');
    expect(edge.details).toEqual({ position: 5 });
    const reserved = refusal('localhost');
    expect(reserved.hint).toBe('Choose a name that is unique in your cluster, such as node-1.');
    expect(reserved.details).toEqual({ hostname: 'localhost' });
  });

  it('refuses every name /etc/hosts maps to loopback', () => {
    for (const name of ['localhost', 'localdomain', 'ip6-localhost', 'ip6-loopback']) {
      expect(refusal(name).code, name).toBe('ZFLASH_HOSTNAME_INVALID');
      expect(isValidHostname(name), name).toBe(false);
    }
  });

  it('isValidHostname judges the whole name, not a valid start of it', () => {
    expect(isValidHostname('a'.repeat(63))).toBe(true);
    expect(isValidHostname('a'.repeat(64))).toBe(false);
    expect(isValidHostname('node_1')).toBe(false);
    expect(isValidHostname('node-')).toBe(false);
  });
});
