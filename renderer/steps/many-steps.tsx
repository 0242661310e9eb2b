/**
 * Several sticks from one image read, each its own node (issue 11): the review names every
 * stick (model, size, path) with the node it becomes, the flash shows each stick's progress,
 * a failed stick its own error while the others finish, and Done lists every node.
 */
import type { FlashSnapshot, ManyPlan } from '../lib/api.js';
import { formatSize } from '../lib/format.js';
import { adviceFor } from '../lib/hints.js';
import { CopyText, ErrorBox, Mark, Notices, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import type { Stick } from '../store/steps.js';
import { driveName } from './drive-step.js';
import { CancelFlashButton } from './flash-steps.js';
import { NodeSettingsRows } from './review-step.js';

const PHASE_WORD = {
  preparing: 'Preparing',
  writing: 'Writing',
  finishing: 'Finishing',
  verifying: 'Verifying',
} as const;

export function ReviewManyStep({ plan }: { readonly plan: ManyPlan }) {
  const flash = useApp((s) => s.flash);
  const eraseAny = useApp((s) => s.node.eraseAny);
  const a = useActions();
  const node = plan.node;
  const n = plan.drives.length;
  return (
    <StepFrame
      testId="step-review-many"
      title={`Check and flash ${n} nodes`}
      back={{ label: 'Back', onClick: () => a.goTo('drive') }}
      primary={{
        label: `Erase ${n} sticks and flash`,
        tone: 'danger',
        onClick: () => void a.startFlash(),
        busy: flash.busy === 'starting' ? 'Starting…' : null,
      }}
    >
      <div className="box erase" data-testid="erase-targets">
        <p className="box-title">Everything on these {n} drives will be erased:</p>
        <ol className="sticks">
          {plan.drives.map(({ device, drive: { drive, verdict }, hostname }) => (
            <li key={device} data-testid="erase-stick" data-device={device}>
              <p className="erase-drive">
                <span data-testid="erase-model">{driveName(drive)}</span>
                {' · '}
                <span data-testid="erase-size">{formatSize(drive.size)}</span>
                {' · '}
                <code data-testid="erase-path">{device}</code>
              </p>
              <p className="stick-node">
                becomes <strong data-testid="stick-hostname">{hostname}</strong>, reached as{' '}
                <code>ssh zeta@{hostname}.local</code>
              </p>
              {verdict.reasons.length ? (
                <ul className="reasons">
                  {verdict.reasons.map((r) => (
                    <li key={r.code}>
                      <Mark tone={r.severity === 'refused' ? 'bad' : 'warn'} /> {r.message}
                    </li>
                  ))}
                </ul>
              ) : null}
            </li>
          ))}
        </ol>
      </div>
      {flash.error ? <ErrorBox error={flash.error} /> : null}
      <dl className="summary">
        <dt>Every node gets</dt>
        <dd>its own name (above) and the same settings below</dd>
        <NodeSettingsRows node={node} eraseAny={eraseAny} many />
        <dt>Image</dt>
        <dd>
          {plan.image.name} <span className="muted">· {formatSize(plan.image.size)}</span>, read
          once for all {n} sticks
        </dd>
      </dl>
      <Notices notices={node.notices} />
    </StepFrame>
  );
}

function StickProgress({ stick, snap }: { readonly stick: Stick; readonly snap?: FlashSnapshot }) {
  const a = useActions();
  const state = snap?.session;
  const progress = state && state.status !== 'idle' ? state.progress : null;
  const percent = progress?.percent ?? null;
  const status = state?.status ?? 'idle';
  const word =
    status === 'done'
      ? 'Ready'
      : status === 'failed'
        ? 'Failed'
        : status === 'cancelled'
          ? 'Cancelled'
          : `${PHASE_WORD[progress?.phase ?? 'preparing']}${percent !== null ? ` · ${Math.floor(percent)} %` : '…'}`;
  return (
    <li
      className={`stick-row ${status}`}
      data-testid="stick-progress"
      data-device={stick.device}
      data-status={status}
      data-phase={progress?.phase ?? 'preparing'}
    >
      <p className="stick-head">
        <strong>{stick.hostname}</strong> <code>{stick.device}</code>
        <span className="stick-word" role="status">
          {status === 'done' ? (
            <Mark tone="ok" />
          ) : status === 'failed' ? (
            <Mark tone="bad" />
          ) : null}{' '}
          {word}
        </span>
      </p>
      {status === 'failed' || status === 'cancelled' ? null : (
        <progress
          max={100}
          value={status === 'done' ? 100 : (percent ?? undefined)}
          aria-label={`${stick.hostname} progress`}
        />
      )}
      {progress && status === 'running' && (progress.total !== null || progress.bytes > 0) ? (
        <p className="muted">
          {formatSize(progress.bytes)}
          {progress.total !== null ? ` of ${formatSize(progress.total)}` : ''}
        </p>
      ) : null}
      {state?.status === 'failed' ? (
        <ErrorBox
          error={state.error}
          here="drive"
          onDiagnostics={() => void a.openDiagnostics(state.error, stick.device)}
        />
      ) : null}
    </li>
  );
}

export function FlashingManyStep({ sticks }: { readonly sticks: readonly Stick[] }) {
  const sessions = useApp((s) => s.flash.sessions);
  const flash = useApp((s) => s.flash);
  return (
    <StepFrame
      testId="step-flashing-many"
      title={`Flashing ${sticks.length} nodes`}
      intro="Keep every stick plugged in. A stick that fails shows why here; the others go on."
      primary={null}
      secondary={<CancelFlashButton label="Cancel all" />}
    >
      <ol className="stick-rows" aria-label="Sticks">
        {sticks.map((x) => (
          <StickProgress key={x.device} stick={x} snap={sessions[x.device]} />
        ))}
      </ol>
      {flash.error ? <ErrorBox error={flash.error} /> : null}
    </StepFrame>
  );
}

export function DoneManyStep({ sticks }: { readonly sticks: readonly Stick[] }) {
  const sessions = useApp((s) => s.flash.sessions);
  const a = useActions();
  const ready = sticks.filter((x) => sessions[x.device]?.session.status === 'done');
  const title =
    ready.length === sticks.length
      ? `${ready.length} nodes are ready`
      : `${ready.length} of ${sticks.length} sticks ${ready.length === 1 ? 'is' : 'are'} ready`;
  return (
    <StepFrame
      testId="step-done-many"
      title={title}
      primary={{ label: 'Flash next nodes', onClick: () => void a.flashNext() }}
    >
      <ol className="next-steps">
        <li>Unplug each ready stick and plug it into its node (the list says which is which).</li>
        <li>Switch the nodes on and let them boot from their sticks. They install themselves.</li>
        <li>When they are done, log in from this computer:</li>
      </ol>
      <ul className="nodes" data-testid="done-list">
        {sticks.map((x) => {
          const state = sessions[x.device]?.session;
          if (state?.status === 'done')
            return (
              <li key={x.device} className="node-row" data-testid="done-node" data-status="done">
                <p className="node-head">
                  <span className="node-name">{x.hostname}</span>
                  <span className="muted">
                    {state.result.ejected ? 'ejected from' : 'on'} <code>{x.device}</code>
                  </span>
                </p>
                <CopyText
                  text={`ssh zeta@${x.hostname}.local`}
                  label={`the ssh command for ${x.hostname}`}
                />
              </li>
            );
          const error = state && 'error' in state ? state.error : null;
          return (
            <li
              key={x.device}
              className="node-row failed"
              data-testid="done-node"
              data-status={state?.status ?? 'idle'}
            >
              <p className="node-head">
                <span className="node-name">
                  <Mark tone="bad" /> {x.hostname}
                </span>
                <span className="muted">
                  not flashed · <code>{x.device}</code>
                </span>
              </p>
              {error ? (
                <>
                  <p>{error.message}</p>
                  <p className="muted">
                    {adviceFor(error).hint} <span className="box-code">{error.code}</span>
                  </p>
                  <button
                    type="button"
                    className="button quiet"
                    onClick={() => void a.openDiagnostics(error, x.device)}
                  >
                    Show diagnostics for {x.device}
                  </button>
                </>
              ) : null}
              <p>Do not use this stick as it is: flash it again.</p>
            </li>
          );
        })}
      </ul>
    </StepFrame>
  );
}
