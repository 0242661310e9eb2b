// listPartitions on a real loop device (needs root), compared with sfdisk, an independent
// parser. The rest of the diagnostics are judged in app/diagnostics/diagnostics.test.ts.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listPartitions } from '../app/diagnostics/index.js';
import {
  attachLoop,
  buildGptDisk,
  espOffsetBySfdisk,
  requireLoop,
  run,
  tempDir,
} from './fixtures.js';

const tmp = tempDir('zflash-diag-');
afterAll(() => tmp.cleanup());

describe('partitions from sysfs', () => {
  it('lists the partitions of a real loop device where sfdisk finds them', async () => {
    requireLoop();
    const disk = buildGptDisk(join(tmp.path, 'gpt.img'), { fat: 16 });
    const loop = attachLoop(disk.path, { readOnly: true, partitions: true });
    try {
      // The kernel may not have scanned the table yet; partx asks it to.
      try {
        run('partx', ['-u', loop.device]);
      } catch {
        run('partx', ['-a', loop.device]);
      }
      const parts = await listPartitions(loop.device);
      const esp = espOffsetBySfdisk(disk.path);
      const name = loop.device.replace('/dev/', '');
      expect(parts?.map((p) => p.name)).toEqual([`${name}p1`, `${name}p2`]);
      expect(parts?.[0]).toMatchObject({ number: 1, start: esp.offset, size: esp.size });
    } finally {
      loop.detach();
    }
  });
});
