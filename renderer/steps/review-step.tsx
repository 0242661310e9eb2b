import type { NodeSummary, Plan } from '../lib/api.js';
import { formatSize } from '../lib/format.js';
import { ErrorBox, Notices, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import { driveName } from './drive-step.js';

export function ReviewStep({ plan }: { readonly plan: Plan }) {
  const flash = useApp((s) => s.flash);
  const eraseAny = useApp((s) => s.node.eraseAny);
  const a = useActions();
  const { drive } = plan.drive;
  const node = plan.node;
  return (
    <StepFrame
      testId="step-review"
      title={`Check and flash ${node.hostname}`}
      back={{ label: 'Back', onClick: () => a.goTo('drive') }}
      primary={{
        label: `Erase ${drive.device} and flash`,
        tone: 'danger',
        onClick: () => void a.startFlash(),
        busy: flash.busy === 'starting' ? 'Starting…' : null,
      }}
    >
      <div className="box erase" data-testid="erase-target">
        <p className="box-title">Everything on this drive will be erased:</p>
        <p className="erase-drive">
          <span data-testid="erase-model">{driveName(drive)}</span>
          {' · '}
          <span data-testid="erase-size">{formatSize(drive.size)}</span>
          {' · '}
          <code data-testid="erase-path">{drive.device}</code>
        </p>
      </div>
      {flash.error ? <ErrorBox error={flash.error} /> : null}
      <dl className="summary">
        <dt>Node</dt>
        <dd data-testid="review-hostname">
          <strong>{node.hostname}</strong>, reached as <code>ssh zeta@{node.hostname}.local</code>
        </dd>
        <NodeSettingsRows node={node} eraseAny={eraseAny} many={false} />
        <dt>Image</dt>
        <dd>
          {plan.image.name} <span className="muted">· {formatSize(plan.image.size)}</span>
        </dd>
      </dl>
      <Notices notices={node.notices} />
    </StepFrame>
  );
}

/** The rows of the review every node of a flash shares (one node, or each of several). */
export function NodeSettingsRows(props: {
  readonly node: NodeSummary;
  readonly eraseAny: boolean;
  readonly many: boolean;
}) {
  const { node, eraseAny, many } = props;
  return (
    <>
      <dt>SSH keys</dt>
      <dd>
        <ul className="plain" data-testid="review-keys">
          {node.keys.map((k) => (
            <li key={k.fingerprint}>
              {k.type.replace(/^ssh-/, '')} <code className="fingerprint">{k.fingerprint}</code>{' '}
              <span className="muted">{k.comment}</span>
            </li>
          ))}
        </ul>
      </dd>
      <dt>Roles</dt>
      <dd>{node.roles.length ? node.roles.join(', ') : 'none'}</dd>
      <dt>Wi-Fi</dt>
      <dd>{node.wifi ? `joins “${node.wifi.ssid}”` : 'none (wired network)'}</dd>
      <dt>Console password</dt>
      <dd>{node.password ? 'set' : 'none'}</dd>
      <dt>{many ? 'Nodes’ disks' : 'Node’s disk'}</dt>
      <dd>
        {many
          ? eraseAny
            ? 'erased even if they hold data'
            : 'installed only if empty'
          : eraseAny
            ? 'erased even if it holds data'
            : 'installed only if it is empty'}
      </dd>
    </>
  );
}
