/**
 * What the image step shows before any drive is chosen: the format and size (probe), the
 * checksum found beside the image, what kind of installer it is, and whether its ESP can
 * take a node payload — for compressed images too, by decoding just the prefix that holds the
 * tables and the ESP, as the flash itself does (./overlay.ts), so the image step and the flash
 * agree. Nothing is written and nothing is decompressed to disk.
 *
 * Errors are the ones `prepareFlash` would raise for the same image (missing file, damaged
 * archive, no ESP, broken checksum file), so the operator learns them at the first step.
 */
import { basename } from 'node:path';
import { openEsp, summarizeEsp, type EspSummary } from '../disk/esp.js';
import { findSidecarChecksum } from '../image/checksum.js';
import { imageFileName, probeImage } from '../image/image-source.js';
import type { Compression, ImageSourceInfo } from '../image/image-types.js';
import type { Notice } from '../node/types.js';
import { payloadFit } from '../payload/fit.js';
import { withImageDevice } from '../payload/image-device.js';
import {
  classifyInstaller,
  describeInstaller,
  installerWarning,
  type InstallerInfo,
} from '../payload/installer.js';
import { readPayload } from '../payload/read.js';

export interface ImageInfo {
  readonly path: string;
  /** The image's name as shown: the file name, or the image inside a zip archive. */
  readonly name: string;
  readonly compression: Compression;
  /** Bytes of the file on disk (compressed size for compressed images). */
  readonly fileSize: number;
  /** Bytes the image takes on the drive; null when the format does not say (bzip2). */
  readonly size: number | null;
  readonly sizeIsExact: boolean;
  /** The SHA-256 a `<image>.sha256` file beside the image expects; null without one. */
  readonly sha256: string | null;
  readonly sha256Source: 'sidecar' | null;
  /** What kind of installer it is: Zeta (with the payload schemas it reads), NixOS, or other. */
  readonly installer: InstallerInfo;
  /** One line for a person: "Zeta installer v0.2.0 (reads payload schemas 1, 2; …)". */
  readonly installerSummary: string;
  /** The NixOS release from a stock installer's volume label (`nixos-minimal-25.11-x86_64`). */
  readonly nixosRelease: string | null;
  readonly esp: EspSummary & {
    readonly payloadFits: boolean;
    /** The refusal injecting a payload would give (ZFLASH_ESP_FULL, …) when it does not fit. */
    readonly payloadProblem: string | null;
  };
  /** A hostname already on the image's ESP (an image injected before): it will be replaced. */
  readonly existingHostname: string | null;
  readonly notices: readonly Notice[];
}

export interface ImageInfoOptions {
  readonly signal?: AbortSignal;
  /** Look for a `<image>.sha256` beside the image (default true; off when the checksum is given). */
  readonly sidecar?: boolean;
}

/** `nixos-minimal-25.11-x86_64` → `25.11`; nixpkgs' isoImage.volumeID carries the release. */
export function nixosReleaseOf(volumeLabel: string | null): string | null {
  if (!volumeLabel || !/^nixos/i.test(volumeLabel)) return null;
  return /(?:^|-)(\d{2}\.\d{2}(?:pre[0-9a-z.]*)?)(?:-|$)/i.exec(volumeLabel)?.[1] ?? null;
}

export async function getImageInfo(path: string, opts: ImageInfoOptions = {}): Promise<ImageInfo> {
  return (await inspectImageFile(path, opts)).info;
}

/** getImageInfo plus the probed source the flash engine streams from (prepareFlash uses both). */
export async function inspectImageFile(
  path: string,
  opts: ImageInfoOptions = {},
): Promise<{ info: ImageInfo; source: ImageSourceInfo }> {
  const probe = await probeImage(path);
  const sidecar = opts.sidecar === false ? null : await findSidecarChecksum(probe.path);
  const notices: Notice[] = [...probe.notices];

  const found = await withImageDevice(
    probe,
    async (dev) => {
      // The Zeta marker (docs/payload.md) is read from the ISO 9660 tree; in a compressed
      // image only the decoded prefix is searched, so a marker placed past the ESP reads as
      // "NixOS without Zeta" — the safe answer (the release ISOs are not compressed).
      const installer = await classifyInstaller(dev);
      const esp = await openEsp(dev);
      const summary = await summarizeEsp(esp);
      const fit = await payloadFit(dev);
      const payload = await readPayload(esp.volume);
      return { installer, summary, fit, payload };
    },
    opts.signal ? { signal: opts.signal } : {},
  );

  const { installer } = found;
  const warning = installerWarning(installer);
  if (warning) notices.push({ code: 'ZFLASH_IMAGE_NOT_ZETA', message: warning });
  if (installer.kind === 'other') {
    notices.push({
      code: 'ZFLASH_IMAGE_NOT_INSTALLER',
      message: installer.volumeLabel
        ? `${basename(probe.path)} is an ISO labelled "${installer.volumeLabel}", not a NixOS installer; the node files are written, but only a Zeta installer reads them.`
        : `${basename(probe.path)} is not an ISO image; the node files are written to its EFI partition, but only a Zeta installer reads them.`,
    });
  }
  if (!found.summary.fatsIdentical) {
    notices.push({
      code: 'ZFLASH_ESP_FATS_DIFFER',
      message:
        "The two FAT copies of the image's EFI partition differ; Zeta Flash writes both the same.",
    });
  }
  const existingHostname = found.payload?.hostname ?? null;
  if (found.payload) {
    notices.push({
      code: 'ZFLASH_IMAGE_HAS_PAYLOAD',
      message: existingHostname
        ? `This image already carries node files for ${existingHostname}; they are replaced by the node you set up.`
        : 'This image already carries Zeta node files; they are replaced by the node you set up.',
    });
  }

  const info: ImageInfo = {
    path: probe.path,
    name: imageFileName(probe),
    compression: probe.compression,
    fileSize: probe.fileSize,
    size: probe.size,
    sizeIsExact: probe.sizeIsExact,
    sha256: sidecar?.sha256 ?? null,
    sha256Source: sidecar ? 'sidecar' : null,
    installer,
    installerSummary: describeInstaller(installer),
    nixosRelease: installer.kind === 'nixos' ? nixosReleaseOf(installer.volumeLabel) : null,
    esp: { ...found.summary, payloadFits: found.fit.fits, payloadProblem: found.fit.code },
    existingHostname,
    notices,
  };
  return { info, source: probe };
}
