/**
 * Etcher's own engine doing the job zflash does, as one process, for bench/flash.ts:
 * etcher-sdk `decompressThenFlash` from a `File` source to a `BlockDevice` (direct I/O,
 * verify on), the way Etcher drives it. Prints one JSON line when its state changes
 * (`flashing`, `verifying`) and a result line at the end; exits 1 if the write failed.
 *
 * Then one more step etcher-sdk does not take: an fsync of the device (phase `fsync`, then a
 * `durable` line). etcher-sdk never calls fsync, so when it reports success the data may
 * still sit in a cache below (the drive's, or here the host's under the VM's disk); zflash
 * fsyncs before its verify. bench/flash.ts reports etcher-sdk both as shipped (up to its
 * result) and with that fsync, the same durability as zflash.
 *
 *   node dist/bench/etcher-flash.js IMAGE /dev/loopN SIZE_BYTES
 *
 * Only the modules needed are imported (the package index costs ~240 ms and ~30 MiB), as
 * zflash's helper does. The drive is opened without mountutils' unmount: that unmounts every
 * mount whose source starts with the device path, other tests' loop devices included, and
 * our loop device has nothing mounted (the unmount costs Etcher a few ms we do not count).
 */
import { open } from 'node:fs/promises';
import { decompressThenFlash } from 'etcher-sdk/build/multi-write.js';
import { BlockDevice } from 'etcher-sdk/build/source-destination/block-device.js';
import { File } from 'etcher-sdk/build/source-destination/file.js';

class LoopDevice extends BlockDevice {
  protected override async _open(): Promise<void> {
    // File's own open: the flags (O_RDWR | O_DIRECT | O_EXCL) still come from BlockDevice.
    await File.prototype['_open'].call(this);
  }
}

async function main(): Promise<void> {
  const [image, device, sizeArg] = process.argv.slice(2);
  if (!image || !device || !sizeArg) throw new Error('usage: etcher-flash IMAGE DEVICE SIZE');
  const size = Number(sizeArg);
  const drive = {
    device,
    raw: device,
    devicePath: null,
    size,
    description: 'bench loop device',
    mountpoints: [],
    isSystem: false,
    isReadOnly: false,
    isRemovable: true,
    isVirtual: false,
    isUSB: null,
    isCard: null,
    isSCSI: null,
    isUAS: null,
    blockSize: 512,
    logicalBlockSize: 512,
    busType: 'UNKNOWN',
    busVersion: null,
    enumerator: 'bench',
    error: null,
    partitionTableType: null,
  };
  const destination = new LoopDevice({
    drive: drive as never,
    write: true,
    direct: true,
    unmountOnSuccess: false,
  });
  let phase = '';
  const failures: string[] = [];
  const r = await decompressThenFlash({
    source: new File({ path: image }),
    destinations: [destination],
    verify: true,
    onProgress: (p) => {
      if (p.type !== phase) {
        phase = p.type;
        process.stdout.write(`${JSON.stringify({ type: 'phase', phase })}\n`);
      }
    },
    onFail: (_d, err) => {
      failures.push(err.message);
    },
  });
  process.stdout.write(
    `${JSON.stringify({ type: 'result', bytesWritten: r.bytesWritten, failures })}\n`,
  );
  if (failures.length || r.failures.size) {
    process.exitCode = 1;
    return;
  }
  // What makes the write durable: a flush of the device's (and the host's) cache.
  process.stdout.write(`${JSON.stringify({ type: 'phase', phase: 'fsync' })}\n`);
  const fh = await open(device, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  process.stdout.write(`${JSON.stringify({ type: 'durable' })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`etcher-flash: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
