import { describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import { checkNewName, parseNamePattern, suggestName } from './names.js';
import { node, rosterOf } from './roster.fixtures.js';

function thrown(fn: () => unknown): ZflashError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ZflashError) return err;
    throw err;
  }
  throw new Error('expected a ZflashError');
}

describe('suggestName', () => {
  it('starts at 01 in the default pattern and fills the lowest gap', () => {
    expect(suggestName(rosterOf())).toBe('node-01');
    expect(suggestName(rosterOf(node('node-01'), node('node-02'), node('node-04')))).toBe(
      'node-03',
    );
  });

  it('keeps the width and grows past it', () => {
    const many = Array.from({ length: 99 }, (_, i) =>
      node(`node-${String(i + 1).padStart(2, '0')}`),
    );
    expect(suggestName(rosterOf(...many))).toBe('node-100');
    expect(suggestName(rosterOf(), 'gpu-{nnn}')).toBe('gpu-001');
  });

  it('counts a number as taken whatever its padding in the roster', () => {
    expect(suggestName(rosterOf(node('node-1'), node('node-002')), 'node-{nn}')).toBe('node-03');
  });

  it('ignores names from other patterns', () => {
    expect(suggestName(rosterOf(node('gpu-01'), node('node-01x')), 'node-{nn}')).toBe('node-01');
  });

  it('accepts prefix-NN, a sample name, a suffix after the placeholder, and upper case', () => {
    expect(suggestName(rosterOf(node('rack-01')), 'rack-NN')).toBe('rack-02');
    expect(suggestName(rosterOf(node('edge-07')), 'edge-07')).toBe('edge-01');
    expect(suggestName(rosterOf(node('n01-gpu')), 'n{nn}-gpu')).toBe('n02-gpu');
    expect(parseNamePattern('Node-{NN}')).toEqual({ prefix: 'node-', suffix: '', width: 2 });
  });

  it('refuses patterns without a number or that make invalid hostnames', () => {
    for (const p of [
      'node',
      'node_{nn}',
      '{nn}{nn}',
      'node.{nn}',
      '-{nn}',
      `${'a'.repeat(60)}-{nn}`,
    ]) {
      expect(thrown(() => suggestName(rosterOf(), p)).code, p).toBe('ZFLASH_NAME_PATTERN_INVALID');
    }
  });
});

describe('checkNewName', () => {
  const roster = rosterOf(node('node-01'), node('node-02'));

  it('accepts a free name, and a known one only as a deliberate re-flash', () => {
    expect(() => checkNewName(roster, 'node-03')).not.toThrow();
    expect(() => checkNewName(roster, 'node-01', { reflash: true })).not.toThrow();
  });

  it('refuses a taken name for a new node and suggests the next free one', () => {
    const e = thrown(() => checkNewName(roster, 'node-02'));
    expect(e.code).toBe('ZFLASH_NAME_TAKEN');
    expect(e.kind).toBe('input');
    expect(e.details).toMatchObject({ hostname: 'node-02', suggestion: 'node-03' });
    expect(e.hint).toContain('node-03');
  });

  it('refuses a re-flash of a node the roster does not have, pointing at the near miss', () => {
    const e = thrown(() => checkNewName(roster, 'node-1', { reflash: true }));
    expect(e.code).toBe('ZFLASH_NODE_UNKNOWN');
    expect(e.details).toMatchObject({ near: 'node-01' });
  });
});
