import { describe, expect, it } from 'vitest';
import { emptyRoster, type Roster } from '../roster/index.js';
import { namesAll } from './confirm.js';
import { nextFreeNames } from './flash-many.js';

const roster = (...hostnames: string[]): Roster =>
  ({ ...emptyRoster(), nodes: hostnames.map((hostname) => ({ hostname })) }) as unknown as Roster;

describe('nextFreeNames', () => {
  it('takes the lowest free numbers in the pattern, skipping taken ones whatever their padding', () => {
    expect(nextFreeNames(roster('node-02', 'node-4', 'rack-01'), undefined, 4)).toEqual([
      'node-01',
      'node-03',
      'node-05',
      'node-06',
    ]);
    expect(nextFreeNames(roster('gpu-001'), 'gpu-{nnn}', 2)).toEqual(['gpu-002', 'gpu-003']);
  });
  it('starts at 1 without a roster, and refuses a pattern without a number', () => {
    expect(nextFreeNames(null, 'rack-{nn}', 3)).toEqual(['rack-01', 'rack-02', 'rack-03']);
    expect(() => nextFreeNames(null, 'rack', 2)).toThrow(/no place for the number/);
  });
});

describe('namesAll (the typed confirmation of several drives)', () => {
  const devices = ['/dev/sdb', '/dev/sdc', '/dev/sdd'];
  it('accepts every drive once, in any order, by short name or path', () => {
    expect(namesAll('sdb sdc sdd', devices)).toBe(true);
    expect(namesAll('  /dev/sdd sdb\t/dev/sdc ', devices)).toBe(true);
  });
  it('refuses a missing drive, a drive twice, another word, and nothing', () => {
    expect(namesAll('sdb sdc', devices)).toBe(false);
    expect(namesAll('sdb sdb sdc', devices)).toBe(false);
    expect(namesAll('sdb sdc sde', devices)).toBe(false);
    expect(namesAll('sdb sdc sdd yes', devices)).toBe(false);
    expect(namesAll('', devices)).toBe(false);
  });
});
