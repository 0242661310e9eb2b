import type { KeySummary } from '../lib/api.js';
import { ErrorBox, Notices, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import { selectKeysReady } from '../store/selectors.js';

function KeyText({ k }: { readonly k: KeySummary }) {
  return (
    <span className="key">
      <span className="key-type">{k.type.replace(/^ssh-/, '')}</span>{' '}
      <code className="fingerprint">{k.fingerprint}</code>{' '}
      <span className="key-comment">{k.comment || '(no comment)'}</span>
    </span>
  );
}

export function KeysStep() {
  const keys = useApp((s) => s.keys);
  const ready = useApp(selectKeysReady);
  const a = useActions();
  const local = keys.local ?? [];
  const isChosen = (k: KeySummary) => keys.chosen.some((c) => c.fingerprint === k.fingerprint);
  const others = keys.chosen.filter((c) => !local.some((l) => l.fingerprint === c.fingerprint));

  return (
    <StepFrame
      testId="step-keys"
      title="Who may log in"
      intro="The node lets in whoever holds one of these SSH keys. Drop a .pub file anywhere on this window, choose one, or tick a key from this computer."
      back={{ label: 'Back', onClick: () => a.goTo('node') }}
      primary={{
        label: 'Next: choose the stick',
        onClick: () => a.goTo('drive'),
        disabled: !ready,
      }}
    >
      {keys.refusal ? (
        <div className="box calm" role="alert" data-testid="key-refusal">
          <p>{keys.refusal}</p>
          <button type="button" className="button quiet" onClick={a.clearKeyRefusal}>
            OK
          </button>
        </div>
      ) : null}
      {keys.error ? <ErrorBox error={keys.error} here="keys" /> : null}

      <fieldset>
        <legend>Keys on this computer (~/.ssh)</legend>
        {keys.local === null ? (
          <p className="muted">Looking in ~/.ssh…</p>
        ) : local.length === 0 ? (
          <p className="muted">No .pub files in ~/.ssh. Drop or choose one instead.</p>
        ) : (
          <div className="checks" data-testid="local-keys">
            {local.map((k) => (
              <label key={k.fingerprint} className="check">
                <input type="checkbox" checked={isChosen(k)} onChange={() => a.toggleKey(k)} />
                <span>
                  <KeyText k={k} />
                  <span className="muted"> · {k.file}</span>
                </span>
              </label>
            ))}
          </div>
        )}
      </fieldset>

      {others.length ? (
        <fieldset>
          <legend>Other keys for this node</legend>
          <ul className="plain" data-testid="chosen-keys">
            {others.map((k) => (
              <li key={k.fingerprint} className="row">
                <KeyText k={k} />
                <button
                  type="button"
                  className="button quiet"
                  onClick={() => a.removeKey(k.fingerprint)}
                >
                  Remove<span className="visually-hidden"> key {k.fingerprint}</span>
                </button>
              </li>
            ))}
          </ul>
        </fieldset>
      ) : null}

      <div className="dropzone" data-testid="key-drop">
        <p>Drop a .pub file anywhere on this window</p>
        <button
          type="button"
          className="button"
          onClick={() => void a.pickKeyFile()}
          disabled={keys.busy}
        >
          Choose a .pub file…
        </button>
      </div>
      <p className="muted" aria-live="polite" data-testid="key-count">
        {keys.chosen.length === 0
          ? 'No key chosen yet: a node without a key cannot be reached.'
          : `${keys.chosen.length} key${keys.chosen.length === 1 ? '' : 's'} will be on the stick.`}
      </p>
      <Notices notices={keys.notices} />
    </StepFrame>
  );
}
