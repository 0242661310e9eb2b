import type { FlashPhase } from '../lib/api.js';
import { formatDuration, formatSize, formatSpeed } from '../lib/format.js';
import { CopyText, ErrorBox, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import { selectActiveSession } from '../store/selectors.js';

const PHASES: readonly { phase: FlashPhase; label: string; says: string }[] = [
  {
    phase: 'preparing',
    label: 'Preparing',
    says: 'Checking the image and getting the stick ready.',
  },
  {
    phase: 'writing',
    label: 'Writing',
    says: 'Writing the image and the node files to the stick.',
  },
  {
    phase: 'finishing',
    label: 'Finishing',
    says: 'Writing the partition table last, so an unfinished stick never looks finished.',
  },
  { phase: 'verifying', label: 'Verifying', says: 'Reading everything back to check it.' },
];

/** Cancels the running flash (every stick of it: the helper has one cancel for its run). */
export function CancelFlashButton({ label }: { readonly label: string }) {
  const busy = useApp((s) => s.flash.busy);
  const a = useActions();
  return (
    <button
      type="button"
      className="button"
      onClick={() => void a.cancelFlash()}
      disabled={busy === 'cancelling'}
    >
      {busy === 'cancelling' ? 'Cancelling…' : label}
    </button>
  );
}

export function FlashingStep(props: { readonly device: string; readonly hostname: string }) {
  const snapshot = useApp(selectActiveSession);
  const flash = useApp((s) => s.flash);
  const state = snapshot?.session;
  const progress = state && state.status !== 'idle' ? state.progress : null;
  const phase = progress?.phase ?? 'preparing';
  const at = PHASES.findIndex((p) => p.phase === phase);
  const percent = progress?.percent ?? null;
  return (
    <StepFrame
      testId="step-flashing"
      title={`Flashing ${props.hostname}`}
      intro={`Keep the stick ${props.device} plugged in.`}
      primary={null}
      secondary={<CancelFlashButton label="Cancel" />}
    >
      <ol className="phases" aria-label="Phases">
        {PHASES.map((p, i) => (
          <li
            key={p.phase}
            className={i < at ? 'past' : i === at ? 'current' : 'future'}
            aria-current={i === at ? 'step' : undefined}
          >
            {p.label}
          </li>
        ))}
      </ol>
      <div className="progress-block" data-testid="progress" data-phase={phase}>
        <p className="progress-phase" role="status">
          {PHASES[at]?.label ?? phase}
          {percent !== null ? ` · ${Math.floor(percent)} %` : '…'}
        </p>
        <progress
          max={100}
          value={percent ?? undefined}
          aria-label={`${PHASES[at]?.label ?? phase} progress`}
        />
        <p className="progress-facts">
          {progress && (progress.total !== null || progress.bytes > 0) ? (
            <>
              {formatSize(progress.bytes)}
              {progress.total !== null ? ` of ${formatSize(progress.total)}` : ''}
              {progress.speed > 0 ? ` · ${formatSpeed(progress.speed)}` : ''}
              {progress.eta !== null ? ` · about ${formatDuration(progress.eta)} left` : ''}
            </>
          ) : null}
        </p>
        <p className="muted">{PHASES[at]?.says}</p>
      </div>
      {flash.error ? <ErrorBox error={flash.error} /> : null}
    </StepFrame>
  );
}

export function DoneStep(props: { readonly device: string; readonly hostname: string }) {
  const snapshot = useApp(selectActiveSession);
  const flashed = useApp((s) => s.flash.flashed);
  const a = useActions();
  const result = snapshot?.session.status === 'done' ? snapshot.session.result : null;
  const ssh = `ssh zeta@${props.hostname}.local`;
  return (
    <StepFrame
      testId="step-done"
      title={`${props.hostname} is ready`}
      primary={{ label: 'Flash next node', onClick: () => void a.flashNext() }}
    >
      <ol className="next-steps">
        <li>
          {result?.ejected ? 'The stick is ejected: unplug' : 'Unplug'} <code>{props.device}</code>{' '}
          and plug it into the node.
        </li>
        <li>Switch the node on and let it boot from the stick. It installs itself.</li>
        <li>When it is done, log in from this computer:</li>
      </ol>
      <CopyText text={ssh} label="the ssh command" />
      {result ? (
        <p className="muted" data-testid="flash-result">
          Written and read back: {formatSize(result.bytesWritten)}
          {result.verified ? ', verified' : ''}
          {result.imageSha256 ? ', image checksum matched' : ''}.
        </p>
      ) : null}
      {flashed.length > 1 ? (
        <div className="card">
          <p className="card-title">Flashed in this session</p>
          <ul className="plain" data-testid="flashed-list">
            {flashed.map((f) => (
              <li key={`${f.device}:${f.hostname}`}>
                <code>ssh zeta@{f.hostname}.local</code> <span className="muted">({f.device})</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </StepFrame>
  );
}
