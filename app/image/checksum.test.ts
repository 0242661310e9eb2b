import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZflashError } from '../errors.js';
import {
  findSidecarChecksum,
  parseSha256Hex,
  sha256File,
  verifyImageChecksum,
} from './checksum.js';

let dir: string;
let image: string;
let digest: string;
const other = 'ab'.repeat(32);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zflash-checksum-'));
  image = join(dir, 'nixos-minimal.iso');
  const data = randomBytes(9 * 1024 * 1024 + 5);
  writeFileSync(image, data);
  digest = createHash('sha256').update(data).digest('hex');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const caught = async (promise: Promise<unknown>): Promise<ZflashError> => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ZflashError);
  return err as ZflashError;
};

describe('sha256File', () => {
  it('hashes the file and reports progress up to the total', async () => {
    const progress: [number, number][] = [];
    expect(await sha256File(image, { onProgress: (d, t) => progress.push([d, t]) })).toBe(digest);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual([9 * 1024 * 1024 + 5, 9 * 1024 * 1024 + 5]);
  });

  it('is cancelled by its signal', async () => {
    const controller = new AbortController();
    const err = await caught(
      sha256File(image, { signal: controller.signal, onProgress: () => controller.abort() }),
    );
    expect(err.code).toBe('ZFLASH_CANCELLED');
  });

  it("reports a missing file as the operator's mistake (input)", async () => {
    const err = await caught(sha256File(join(dir, 'missing.iso')));
    expect([err.code, err.kind]).toEqual(['ZFLASH_IMAGE_NOT_FOUND', 'input']);
  });
});

describe('verifyImageChecksum', () => {
  it('accepts the right checksum in any case, with or without sha256:', async () => {
    expect(await verifyImageChecksum(image, digest.toUpperCase())).toBe(digest);
    expect(await verifyImageChecksum(image, `sha256:${digest}`)).toBe(digest);
  });

  it('stops on a mismatch, saying expected and actual', async () => {
    const err = await caught(verifyImageChecksum(image, other));
    expect([err.code, err.kind]).toEqual(['ZFLASH_CHECKSUM_MISMATCH', 'target']);
    expect(err.message).toContain(other);
    expect(err.message).toContain(digest);
    expect(err.hint).toMatch(/damaged or this is the wrong file/);
  });

  it('rejects a malformed checksum before reading anything', async () => {
    for (const bad of ['', 'xyz', digest.slice(1), `${digest}0`, digest.replace(/./, 'g')]) {
      const err = await caught(verifyImageChecksum(join(dir, 'missing.iso'), bad));
      expect([err.code, err.kind]).toEqual(['ZFLASH_CHECKSUM_INVALID', 'input']);
    }
    expect(() => parseSha256Hex(`  ${digest}\n`)).not.toThrow();
  });
});

describe('findSidecarChecksum', () => {
  const sidecar = (text: string): void => writeFileSync(`${image}.sha256`, text);

  it('is null when there is no sidecar', async () => {
    expect(await findSidecarChecksum(join(dir, 'other.iso'))).toBeNull();
  });

  it('reads a bare hash', async () => {
    sidecar(`${digest}\n`);
    expect(await findSidecarChecksum(image)).toEqual({
      path: `${image}.sha256`,
      sha256: digest,
      listedName: null,
    });
  });

  it('picks this file from sha256sum output with several lines', async () => {
    sidecar(
      `${other}  nixos-other.iso\n${digest.toUpperCase()}  ./isos/nixos-minimal.iso\n${other} *third.iso\n`,
    );
    expect((await findSidecarChecksum(image))?.sha256).toBe(digest);
    sidecar(`${other}  nixos-other.iso\r\n${digest} *nixos-minimal.iso\r\n`);
    expect((await findSidecarChecksum(image))?.sha256).toBe(digest);
  });

  it('reads the BSD format', async () => {
    sidecar(`SHA256 (nixos-minimal.iso) = ${digest}\n`);
    expect((await findSidecarChecksum(image))?.sha256).toBe(digest);
  });

  it('takes a single line that names a renamed download, and says which name it listed', async () => {
    sidecar(`${digest}  nixos-minimal-24.11.1234-x86_64-linux.iso\n`);
    expect(await findSidecarChecksum(image)).toMatchObject({
      sha256: digest,
      listedName: 'nixos-minimal-24.11.1234-x86_64-linux.iso',
    });
  });

  it('refuses a sidecar that lists other files only, or is not a checksum', async () => {
    sidecar(`${other}  a.iso\n${other}  b.iso\n`);
    let err = await caught(findSidecarChecksum(image));
    expect([err.code, err.kind]).toEqual(['ZFLASH_CHECKSUM_INVALID', 'input']);
    sidecar('<html>404 Not Found</html>\n');
    err = await caught(findSidecarChecksum(image));
    expect(err.code).toBe('ZFLASH_CHECKSUM_INVALID');
  });

  it('feeds verifyImageChecksum end to end', async () => {
    sidecar(`${digest}  nixos-minimal.iso\n`);
    const found = await findSidecarChecksum(image);
    await expect(verifyImageChecksum(image, found!.sha256)).resolves.toBe(digest);
  });
});
