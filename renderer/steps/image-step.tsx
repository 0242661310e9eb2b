import { useEffect } from 'react';
import type { Arch, ImageInfo } from '../lib/api.js';
import { formatSize } from '../lib/format.js';
import { ErrorBox, Mark, Notices, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import { selectImageReady, selectImageVerdict } from '../store/selectors.js';

const COMPRESSION: Record<ImageInfo['compression'], string> = {
  none: 'uncompressed',
  gzip: 'gzip-compressed',
  bzip2: 'bzip2-compressed',
  xz: 'xz-compressed',
  zip: 'in a zip archive',
  zstd: 'zstd-compressed',
};

/** Notices the findings already say in their own words (app/flash/image-info.ts codes). */
const SAID_ABOVE = new Set([
  'ZFLASH_IMAGE_NOT_ZETA',
  'ZFLASH_IMAGE_NOT_INSTALLER',
  'ZFLASH_IMAGE_HAS_PAYLOAD',
]);

function InstallerLine({ info }: { readonly info: ImageInfo }) {
  const installer = info.installer;
  switch (installer.kind) {
    case 'zeta': {
      const schemas = installer.payloadSchemas;
      return (
        <li data-testid="installer" data-kind="zeta">
          <Mark tone="ok" />
          <span>
            <strong>Zeta installer v{installer.version}</strong> (reads payload schema
            {schemas.length === 1 ? '' : 's'} {schemas.join(', ')}; {installer.system}): it reads
            the node settings this app writes and installs the node by itself.
          </span>
        </li>
      );
    }
    case 'nixos':
      return (
        <li data-testid="installer" data-kind="nixos">
          <Mark tone="bad" />
          <span>
            <strong>NixOS installer without Zeta</strong>
            {info.nixosRelease
              ? ` (NixOS ${info.nixosRelease})`
              : installer.volumeLabel
                ? ` (${installer.volumeLabel})`
                : ''}
            : a node would boot a plain live system and ignore its name and keys. Zeta Flash will
            not use it.
            {installer.problem ? ` (${installer.problem})` : ''}
          </span>
        </li>
      );
    case 'other':
      return (
        <li data-testid="installer" data-kind="other">
          <Mark tone="warn" />
          <span>
            <strong>Other image</strong>
            {installer.volumeLabel ? ` (labelled “${installer.volumeLabel}”)` : ''}: not a NixOS or
            Zeta installer. Zeta Flash can write it, but nothing on it will read the node settings.
            {installer.problem ? ` (${installer.problem})` : ''}
          </span>
        </li>
      );
  }
}

function Findings({ info }: { readonly info: ImageInfo }) {
  const esp = info.esp;
  return (
    <div className="card" data-testid="image-findings">
      <p className="card-title">
        <span className="filename">{info.name}</span>
        <span className="muted">
          {' '}
          · {formatSize(info.size ?? info.fileSize)}
          {info.sizeIsExact ? '' : ' (about)'} · {COMPRESSION[info.compression]}
        </span>
      </p>
      <ul className="facts">
        <InstallerLine info={info} />
        <li data-testid="esp" data-fits={esp.payloadFits}>
          <Mark tone={esp.payloadFits ? 'ok' : 'bad'} />
          <span>
            {esp.payloadFits ? (
              <>
                Boot partition ({esp.fatType}): {formatSize(esp.freeBytes)} free, room for the node
                files.
              </>
            ) : (
              <>
                Boot partition ({esp.fatType}): only {formatSize(esp.freeBytes)} free, no room for
                the node files.
                {esp.payloadProblem ? ` ${esp.payloadProblem}` : ''}
              </>
            )}
          </span>
        </li>
        {info.existingHostname ? (
          <li data-testid="existing-hostname">
            <Mark tone="warn" />
            <span>
              This image already carries node files for <code>{info.existingHostname}</code>: they
              are replaced by this node’s.
            </span>
          </li>
        ) : null}
        <li data-testid="checksum" data-found={info.sha256 !== null}>
          <Mark tone={info.sha256 ? 'ok' : 'warn'} />
          <span>
            {info.sha256 ? (
              <>
                Checksum file found (SHA-256 <code>{info.sha256.slice(0, 12)}…</code>): the image is
                checked against it while it is written.
              </>
            ) : (
              <>
                No checksum file beside the image (<code>{info.name}.sha256</code>): it cannot be
                checked against what its publisher released.
              </>
            )}
          </span>
        </li>
      </ul>
    </div>
  );
}

const ARCH_WORDS: Record<Arch, string> = {
  'x86_64-linux': 'for PC nodes (x86_64)',
  'aarch64-linux': 'for ARM nodes (aarch64)',
};

/** Issue 14: the signed Zeta installer, downloaded (or found in the cache) with progress. */
function InstallerDownload() {
  const c = useApp((s) => s.catalog);
  const a = useActions();
  useEffect(() => {
    void a.loadCatalog();
  }, [a]);
  if (c.loading && !c.catalog) return <p className="muted">Looking for the Zeta installer…</p>;
  if (!c.catalog) {
    return c.error ? (
      <p className="muted" data-testid="download-unavailable">
        Downloading the Zeta installer is not possible right now: {c.error.message}
      </p>
    ) : null;
  }
  const p = c.progress;
  const percent = p && p.total > 0 ? Math.floor((p.bytes / p.total) * 100) : null;
  return (
    <div className="card" data-testid="download">
      <p className="card-title">
        Get the Zeta installer v{c.catalog.version}{' '}
        <span className="muted">released {c.catalog.date.slice(0, 10)}, signed</span>
      </p>
      {c.downloading ? (
        <div data-testid="download-progress" data-phase={p?.phase ?? 'download'}>
          <p role="status">
            {p?.phase === 'verify' ? 'Checking the download' : 'Downloading'}
            {percent !== null ? ` · ${percent} %` : '…'}
            {p ? ` · ${formatSize(p.bytes)} of ${formatSize(p.total)}` : ''}
            {p && p.resumedFrom > 0 ? ` (resumed at ${formatSize(p.resumedFrom)})` : ''}
          </p>
          <progress max={100} value={percent ?? undefined} aria-label="Download progress" />
          <button type="button" className="button" onClick={() => void a.cancelDownload()}>
            Cancel download
          </button>
        </div>
      ) : (
        <div className="row downloads">
          {c.catalog.images.map((i) => (
            <button
              key={i.arch}
              type="button"
              className="button"
              data-arch={i.arch}
              onClick={() => void a.downloadInstaller(i.arch)}
            >
              {i.cachedPath ? 'Use the downloaded installer' : 'Download'} {ARCH_WORDS[i.arch]}
              {i.cachedPath ? '' : ` · ${formatSize(i.size)}`}
            </button>
          ))}
        </div>
      )}
      {c.error ? <ErrorBox error={c.error} here="image" /> : null}
    </div>
  );
}

export function ImageStep() {
  const image = useApp((s) => s.image);
  const verdict = useApp(selectImageVerdict);
  const ready = useApp(selectImageReady);
  const { pickImage, goTo } = useActions();
  return (
    <StepFrame
      testId="step-image"
      title="Choose the installer image"
      intro="The Zeta installer that every node boots from. Drop the file on this window or choose it."
      primary={{ label: 'Next: name the node', onClick: () => goTo('node'), disabled: !ready }}
    >
      <div className="dropzone" data-testid="image-drop">
        <p>Drop an .iso or .img here (compressed is fine: .xz, .zst, .gz, .zip)</p>
        <button
          type="button"
          className={`button ${image.info ? '' : 'primary'}`}
          onClick={() => void pickImage()}
          disabled={image.busy}
        >
          {image.info ? 'Choose another image…' : 'Choose image…'}
        </button>
      </div>
      {image.busy ? (
        <p role="status" className="busy">
          Looking inside {image.path ?? 'the image'}…
        </p>
      ) : null}
      {image.dropMessage ? (
        <p className="box note" role="status">
          {image.dropMessage}
        </p>
      ) : null}
      {image.error ? <ErrorBox error={image.error} here="image" /> : null}
      {image.info && !image.busy ? <Findings info={image.info} /> : null}
      {verdict === 'blocked' ? (
        <div className="box error" role="alert" data-testid="image-blocked">
          <p className="box-title">This image cannot make a Zeta node.</p>
          <p>
            Use the Zeta installer image instead. It is the NixOS installer with the Zeta first-boot
            scripts that read the node’s name and keys from the stick.
          </p>
          <p>
            Download it below, or get it with <code>zflash image get</code> in a terminal, or build
            it from this app’s NixOS folder with <code>nix build ./nixos#installer-iso</code>.
          </p>
        </div>
      ) : null}
      {image.info ? (
        <Notices notices={image.info.notices.filter((n) => !SAID_ABOVE.has(n.code))} />
      ) : null}
      {ready ? null : <InstallerDownload />}
    </StepFrame>
  );
}
