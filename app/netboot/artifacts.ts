/**
 * The netboot artifacts: what `nix build ./nixos#netboot` leaves (docs/netboot.md) — the
 * kernel, the NixOS netboot initrd and `netboot.ipxe`, whose kernel arguments (`init=…`) are
 * kept. The files are opened once, here, and served from those handles: the folder is
 * usually a `result` symlink into the Nix store, and whatever it points to later, the
 * server goes on sending the files it checked.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inputError } from '../errors.js';
import { parseNetbootIpxe, type NetbootKernel } from './ipxe.js';

export const NETBOOT_SCRIPT = 'netboot.ipxe';

export interface OpenedArtifact {
  readonly path: string;
  readonly handle: FileHandle;
  readonly size: number;
}

export interface Artifacts {
  readonly dir: string;
  readonly kernel: OpenedArtifact;
  readonly initrd: OpenedArtifact;
  readonly boot: NetbootKernel;
  close(): Promise<void>;
}

const artifactError = (dir: string, problem: string, hint?: string) =>
  inputError(
    'ZFLASH_NETBOOT_ARTIFACTS',
    `${dir} is not a NixOS netboot build: ${problem}.`,
    hint ??
      'Point --artifacts at the folder `nix build ./nixos#netboot` made (result/): it holds bzImage, initrd and netboot.ipxe.',
    { dir },
  );

async function openRegular(dir: string, name: string): Promise<OpenedArtifact> {
  const path = join(dir, name);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw artifactError(
      dir,
      `${name} ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code})`}`,
    );
  }
  const st = await handle.stat();
  if (!st.isFile() || st.size === 0) {
    await handle.close();
    throw artifactError(dir, `${name} is ${st.isFile() ? 'empty' : 'not a file'}`);
  }
  return { path, handle, size: st.size };
}

/** Opens and checks the artifacts; throws ZFLASH_NETBOOT_ARTIFACTS naming what is wrong. */
export async function openArtifacts(dirInput: string): Promise<Artifacts> {
  const dir = resolve(dirInput);
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw artifactError(dir, 'it is not a folder');
  const script = await openRegular(dir, NETBOOT_SCRIPT);
  let text: string;
  try {
    if (script.size > 65536) throw artifactError(dir, `${NETBOOT_SCRIPT} is larger than 64 KiB`);
    const buf = Buffer.alloc(script.size);
    await script.handle.read(buf, 0, script.size, 0);
    text = buf.toString('utf8');
  } finally {
    await script.handle.close();
  }
  const parsed = parseNetbootIpxe(text);
  if (!parsed.ok) throw artifactError(dir, `${NETBOOT_SCRIPT}: ${parsed.problem}`);
  const { kernel: boot } = parsed;
  const kernel = await openRegular(dir, boot.image);
  let initrd: OpenedArtifact;
  try {
    // x86 boot protocol: "HdrS" at offset 0x202 of every bzImage the firmware or iPXE loads.
    const magic = Buffer.alloc(4);
    await kernel.handle.read(magic, 0, 4, 0x202);
    if (magic.toString('latin1') !== 'HdrS')
      throw artifactError(dir, `${boot.image} is not a Linux kernel (no bzImage header)`);
    initrd = await openRegular(dir, boot.initrds[0]!);
  } catch (err) {
    await kernel.handle.close();
    throw err;
  }
  return {
    dir,
    kernel,
    initrd,
    boot,
    close: async () => {
      await Promise.allSettled([kernel.handle.close(), initrd.handle.close()]);
    },
  };
}
