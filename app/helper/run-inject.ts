/**
 * The helper's `inject` verb: the node's files into the ESP of a stick that is already
 * flashed, for a front end that cannot open block devices itself (the desktop app runs
 * unprivileged). Trusts nothing in the job: the identity was re-validated by the schema and
 * the payload is rendered here; injectTarget re-runs the drive policy right before opening
 * the drive, checks the opened node's MAJ:MIN, writes, flushes and reads the payload back
 * through the FAT code. Drives only: root never writes into a file a job names.
 */
import { cancelledError } from '../errors.js';
import { injectTarget } from '../payload/target.js';
import type { HelperEvent, InjectHelperResult, InjectJob } from './protocol.js';

export async function runInjectJob(
  job: InjectJob,
  ctx: { signal: AbortSignal; emit: (e: HelperEvent) => void },
): Promise<InjectHelperResult> {
  ctx.emit({ type: 'progress', phase: 'preparing', bytes: 0, total: null, speed: 0, eta: null });
  // A few sectors, written in well under a second: cancelling is honoured up to the write.
  if (ctx.signal.aborted) throw cancelledError();
  const result = await injectTarget(job.drive.device, job.identity, {
    createdAt: new Date(job.createdAt),
    allowLoop: job.allowLoop,
    drivesOnly: true,
    expectedSize: job.drive.expectedSize,
  });
  return {
    type: 'injected',
    device: result.path,
    files: [...result.files],
    esp: {
      partition: result.esp.partition,
      offset: result.esp.offset,
      fatType: result.esp.fatType,
      freeBytes: result.esp.freeBytes,
    },
    bytesChanged: result.bytesChanged,
  };
}
