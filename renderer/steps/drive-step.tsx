import type { AssessedDrive } from '../lib/api.js';
import { formatSize } from '../lib/format.js';
import { ErrorBox, Mark, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import { selectDriveReady } from '../store/selectors.js';

const STATUS_WORD = { eligible: 'Ready', warn: 'Check first', refused: 'Not allowed' } as const;

/** Usable drives first, refused ones after them; by path within each. */
const ORDER = { eligible: 0, warn: 0, refused: 1 } as const;
const byUse = (a: AssessedDrive, b: AssessedDrive) =>
  ORDER[a.verdict.status] - ORDER[b.verdict.status] ||
  a.drive.device.localeCompare(b.drive.device, 'en', { numeric: true });

function busOf(d: AssessedDrive['drive']): string {
  if (d.isLoop) return 'loop';
  return /^unknown$/i.test(d.busType) ? '' : d.busType;
}

export function driveName(d: AssessedDrive['drive']): string {
  return d.description.trim() || (d.isLoop ? 'Loop device' : 'Unnamed drive');
}

function DriveRow(props: {
  readonly d: AssessedDrive;
  readonly selected: boolean;
  readonly acknowledged: boolean;
  readonly flashedAs: string | null;
}) {
  const { d, selected } = props;
  const a = useActions();
  const { drive, verdict } = d;
  const refused = verdict.status === 'refused';
  const id = `drive-${drive.device.replace(/[^a-z0-9]/gi, '-')}`;
  return (
    <li
      className={`drive ${verdict.status} ${selected ? 'selected' : ''}`}
      data-testid="drive"
      data-device={drive.device}
      data-status={verdict.status}
    >
      <label className="drive-choice" htmlFor={id}>
        <input
          id={id}
          type="radio"
          name="drive"
          value={drive.device}
          checked={selected}
          disabled={refused}
          onChange={() => a.selectDrive(drive.device)}
          aria-describedby={`${id}-why`}
        />
        <span className="drive-text">
          <span className="drive-name">
            {driveName(drive)} <span className="muted">· {formatSize(drive.size)}</span>
          </span>
          <span className="drive-meta">
            <code>{drive.device}</code>
            {busOf(drive) ? ` · ${busOf(drive)}` : ''}
            {drive.isRemovable ? ' · removable' : ''}
            {props.flashedAs ? ` · flashed just now as ${props.flashedAs}` : ''}
          </span>
        </span>
        {props.flashedAs && !refused ? (
          <span className="badge used">Flashed</span>
        ) : (
          <span className={`badge ${verdict.status}`}>{STATUS_WORD[verdict.status]}</span>
        )}
      </label>
      <ul id={`${id}-why`} className="reasons">
        {verdict.reasons.map((r) => (
          <li key={r.code} data-code={r.code}>
            <Mark tone={r.severity === 'refused' ? 'bad' : 'warn'} /> {r.message}
          </li>
        ))}
      </ul>
      {verdict.status === 'warn' && selected ? (
        <label className="check ack">
          <input
            type="checkbox"
            data-testid="acknowledge"
            checked={props.acknowledged}
            onChange={(e) => a.acknowledge(drive.device, e.target.checked)}
          />
          <span>I have read this and still want to erase {drive.device}.</span>
        </label>
      ) : null}
    </li>
  );
}

export function DriveStep() {
  const drives = useApp((s) => s.drives);
  const flash = useApp((s) => s.flash);
  const hostname = useApp((s) => s.node.hostname);
  const ready = useApp(selectDriveReady);
  const a = useActions();
  const flashedAs = (device: string) =>
    flash.flashed.findLast((f) => f.device === device)?.hostname ?? null;
  const usable = drives.list.filter((d) => d.verdict.status !== 'refused');

  return (
    <StepFrame
      testId="step-drive"
      title={`Choose the stick for ${hostname.trim().toLowerCase() || 'this node'}`}
      intro="Everything on the chosen stick will be erased. Sticks appear here as you plug them in."
      back={{ label: 'Back', onClick: () => a.goTo('keys') }}
      primary={{
        label: 'Next: review',
        onClick: () => void a.prepare(),
        disabled: !ready,
        busy: flash.busy === 'preparing' ? 'Checking the stick…' : null,
      }}
    >
      {flash.message ? (
        <p className="box note" role="status">
          {flash.message}
        </p>
      ) : null}
      {flash.error ? (
        <ErrorBox
          error={flash.error}
          here="drive"
          onDiagnostics={() => void a.openDiagnostics(flash.error, drives.selected)}
        />
      ) : null}
      {drives.scanError ? <ErrorBox error={drives.scanError} here="drive" /> : null}
      {drives.list.length === 0 ? (
        <p className="box waiting" role="status" data-testid="no-drives">
          {drives.loaded ? 'Plug in a USB stick.' : 'Looking for drives…'}
        </p>
      ) : (
        <fieldset>
          <legend>Drives</legend>
          <ul className="drives" aria-label="Drives">
            {[...drives.list].sort(byUse).map((d) => (
              <DriveRow
                key={d.drive.device}
                d={d}
                selected={drives.selected === d.drive.device}
                acknowledged={drives.acknowledged.includes(d.drive.device)}
                flashedAs={flashedAs(d.drive.device)}
              />
            ))}
          </ul>
        </fieldset>
      )}
      {drives.list.length > 0 && usable.length === 0 ? (
        <p className="box waiting" role="status">
          None of these can be used. Plug in a USB stick.
        </p>
      ) : null}
      {drives.baseline && !drives.selected ? (
        <p className="box waiting" role="status" data-testid="waiting-next">
          Plug in the next stick: it is picked by itself.
        </p>
      ) : null}
    </StepFrame>
  );
}
