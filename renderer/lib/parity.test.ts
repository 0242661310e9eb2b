// The renderer repeats two small pieces of the engine (it may not import it): the hostname rule
// and the size units. These tests pin them to the engine's own functions.
import { describe, expect, it } from 'vitest';
import { formatDuration as engineDuration, formatSize as engineSize } from '../../app/format.js';
import { MAX_JOB_DRIVES } from '../../app/helper/protocol.js';
import { validateHostname } from '../../app/node/hostname.js';
import { MAX_STICKS_PER_FLASH } from './limits.js';
import { formatDuration, formatSize } from './format.js';
import { canonicalHostname, hostnameProblem } from './hostname.js';

const NAMES = [
  'node-01',
  'Node-01',
  ' node-02 ',
  '',
  '-node',
  'node-',
  'node_1',
  'node 1',
  'node.local',
  'nöde',
  'localhost',
  'LOCALHOST',
  'a'.repeat(63),
  'a'.repeat(64),
  '0',
  'gpu-box-7',
  'x\u200by',
];

describe('the hostname rule the node step spells out', () => {
  it.each(NAMES)('agrees with the engine on %j', (name) => {
    let engine: string | null;
    try {
      engine = validateHostname(name).hostname;
    } catch {
      engine = null;
    }
    expect(hostnameProblem(name) === null).toBe(engine !== null);
    if (engine !== null) expect(canonicalHostname(name)).toBe(engine);
  });
});

describe('how many sticks one flash writes', () => {
  it('is the engine’s limit', () => {
    expect(MAX_STICKS_PER_FLASH).toBe(MAX_JOB_DRIVES);
  });
});

describe('amounts in the CLI’s one unit system', () => {
  it('sizes and durations read as the engine prints them', () => {
    for (const n of [0, 999, 1000, 999_950, 1_024_458_752, 30_752_636_928, 2e12, null, -1, NaN])
      expect(formatSize(n)).toBe(engineSize(n));
    for (const s of [0, 1.4, 59.6, 61, 3599, 3600, 7322, null, -3])
      expect(formatDuration(s)).toBe(engineDuration(s));
  });
});
