import type { AssessedDrive } from '../lib/api.js';
import { formatSize } from '../lib/format.js';
import { ErrorBox, Mark, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import { MAX_STICKS_PER_FLASH } from '../lib/limits.js';
import { selectDriveReady, selectManyProblem } from '../store/selectors.js';

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
  /** Several sticks at once: a tick box per stick instead of one choice. */
  readonly multi: boolean;
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
        {props.multi ? (
          <input
            id={id}
            type="checkbox"
            name="drives"
            value={drive.device}
            checked={selected}
            disabled={refused}
            onChange={(e) => a.chooseDrive(drive.device, e.target.checked)}
            aria-describedby={`${id}-why`}
          />
        ) : (
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
        )}
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
  const multi = drives.multi;
  const manyProblem = useApp(selectManyProblem);
  const count = drives.chosen.length;

  return (
    <StepFrame
      testId="step-drive"
      title={
        multi
          ? 'Choose the sticks, one node each'
          : `Choose the stick for ${hostname.trim().toLowerCase() || 'this node'}`
      }
      intro={
        multi
          ? 'Everything on the ticked sticks will be erased. Each becomes its own node with the next free name, from one read of the image; the review shows which name goes where.'
          : 'Everything on the chosen stick will be erased. Sticks appear here as you plug them in.'
      }
      back={{ label: 'Back', onClick: () => a.goTo('keys') }}
      primary={{
        label: multi && count >= 2 ? `Next: review ${count} sticks` : 'Next: review',
        onClick: () => void a.prepare(),
        disabled: !ready,
        busy:
          flash.busy === 'preparing'
            ? multi
              ? 'Checking the sticks…'
              : 'Checking the stick…'
            : null,
      }}
    >
      {usable.length >= 2 || multi ? (
        <label className="check several">
          <input
            type="checkbox"
            data-testid="several-sticks"
            checked={multi}
            onChange={(e) => a.setMulti(e.target.checked)}
          />
          <span>
            Flash several sticks at once{' '}
            <span className="muted">(up to {MAX_STICKS_PER_FLASH}, each its own node)</span>
          </span>
        </label>
      ) : null}
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
          <legend>{multi ? 'Drives to flash' : 'Drives'}</legend>
          <ul className="drives" aria-label="Drives">
            {[...drives.list].sort(byUse).map((d) => (
              <DriveRow
                key={d.drive.device}
                d={d}
                selected={
                  multi
                    ? drives.chosen.includes(d.drive.device)
                    : drives.selected === d.drive.device
                }
                acknowledged={drives.acknowledged.includes(d.drive.device)}
                flashedAs={flashedAs(d.drive.device)}
                multi={multi}
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
      {multi && manyProblem && usable.length > 0 ? (
        <p className="box waiting" role="status" data-testid="many-problem">
          {manyProblem}
        </p>
      ) : null}
      {drives.baseline && !multi && !drives.selected ? (
        <p className="box waiting" role="status" data-testid="waiting-next">
          Plug in the next stick: it is picked by itself.
        </p>
      ) : null}
    </StepFrame>
  );
}
