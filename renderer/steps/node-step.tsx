import { useId, useState, type ReactNode } from 'react';
import type { Role } from '../lib/api.js';
import { canonicalHostname, HOSTNAME_RULE } from '../lib/hostname.js';
import { PASSPHRASE_RULE, SSID_RULE } from '../lib/wifi.js';
import { ErrorBox, StepFrame } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';
import { selectFieldProblem, selectNodeReady } from '../store/selectors.js';

/** The engine's roles (app/node/types.ts ROLES), each in a few plain words. */
const ROLES = [
  { role: 'control-plane', says: 'runs the cluster’s control plane' },
  { role: 'worker', says: 'runs workloads' },
  { role: 'gpu', says: 'has a GPU for workloads' },
  { role: 'storage', says: 'keeps the cluster’s data' },
] as const satisfies readonly { role: Role; says: string }[];

// Every role the contract knows is offered: a role added there fails to compile until it is here.
type Offered = (typeof ROLES)[number]['role'];
const _allRoles: [Role] extends [Offered] ? true : false = true;

const FORM_ID = 'node-form';

function Field(props: {
  readonly label: string;
  readonly value: string;
  readonly onChange: (v: string) => void;
  readonly problem: string | null;
  readonly rule: string;
  readonly type?: 'text' | 'password';
  readonly testId: string;
  readonly autoFocus?: boolean;
  readonly extra?: ReactNode;
}) {
  const id = useId();
  const [touched, setTouched] = useState(false);
  const show = props.problem && (touched || props.value !== '');
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        data-testid={props.testId}
        type={props.type ?? 'text'}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        onBlur={() => setTouched(true)}
        aria-invalid={show ? true : undefined}
        aria-describedby={`${id}-rule ${id}-problem`}
        autoComplete="off"
        spellCheck={false}
        autoCapitalize="off"
      />
      {props.extra}
      <p id={`${id}-rule`} className="rule">
        {props.rule}
      </p>
      <p id={`${id}-problem`} className="problem" aria-live="polite">
        {show ? props.problem : ''}
      </p>
    </div>
  );
}

export function NodeStep() {
  const node = useApp((s) => s.node);
  const ready = useApp(selectNodeReady);
  const hostnameProblem = useApp((s) => selectFieldProblem(s, 'hostname'));
  const ssidProblem = useApp((s) => selectFieldProblem(s, 'ssid'));
  const passphraseProblem = useApp((s) => selectFieldProblem(s, 'passphrase'));
  const passwordProblem = useApp((s) => selectFieldProblem(s, 'password'));
  const a = useActions();
  const name = canonicalHostname(node.hostname);

  return (
    <StepFrame
      testId="step-node"
      title="Name the node"
      intro="Each node gets its own name. The rest is optional."
      back={{ label: 'Back', onClick: () => a.goTo('image') }}
      primary={{ label: 'Next: SSH keys', submit: true, form: FORM_ID, disabled: !ready }}
    >
      <form
        id={FORM_ID}
        onSubmit={(e) => {
          e.preventDefault();
          void a.submitNode().then((ok) => ok && a.goTo('keys'));
        }}
      >
        <Field
          label="Node name"
          testId="hostname"
          value={node.hostname}
          onChange={a.setHostname}
          problem={hostnameProblem}
          rule={HOSTNAME_RULE}
          extra={
            <p className="hint-line" aria-live="polite">
              {hostnameProblem ? null : (
                <>
                  Reached as <code>{name}.local</code>
                  {node.reflash ? (
                    <span data-testid="reflash-note"> — re-flashing this node of your cluster</span>
                  ) : null}
                </>
              )}
              {node.suggested && node.suggested !== name ? (
                <button
                  type="button"
                  className="link"
                  onClick={() => {
                    a.setHostname(node.suggested ?? '');
                  }}
                >
                  Use {node.suggested}
                </button>
              ) : null}
            </p>
          }
        />

        <fieldset>
          <legend>Roles (optional)</legend>
          <div className="checks">
            {ROLES.map(({ role, says }) => (
              <label key={role} className="check">
                <input
                  type="checkbox"
                  checked={node.roles.includes(role)}
                  onChange={() => a.toggleRole(role)}
                />
                <span>
                  <strong>{role}</strong> <span className="muted">— {says}</span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>

        <fieldset>
          <legend>Wi-Fi (optional)</legend>
          <label className="check">
            <input
              type="checkbox"
              data-testid="wifi-on"
              checked={node.wifiOn}
              onChange={(e) => a.setWifi({ on: e.target.checked })}
            />
            <span>Join a Wi-Fi network</span>
          </label>
          {node.wifiOn ? (
            <div className="indent">
              <Field
                label="Network name (SSID)"
                testId="ssid"
                value={node.ssid}
                onChange={(v) => a.setWifi({ ssid: v })}
                problem={ssidProblem}
                rule={SSID_RULE}
              />
              <Field
                label="Wi-Fi password"
                testId="passphrase"
                type="password"
                value={node.passphrase}
                onChange={(v) => a.setWifi({ passphrase: v })}
                problem={passphraseProblem}
                rule={`${PASSPHRASE_RULE} Only a key derived from it goes on the stick.`}
              />
            </div>
          ) : null}
        </fieldset>

        <fieldset>
          <legend>Console password (optional)</legend>
          <label className="check">
            <input
              type="checkbox"
              data-testid="password-on"
              checked={node.passwordOn}
              onChange={(e) => a.setPassword({ on: e.target.checked })}
            />
            <span>Set a password for user zeta at the node’s own screen and keyboard</span>
          </label>
          {node.passwordOn ? (
            <div className="indent">
              <Field
                label="Password for zeta"
                testId="password"
                type="password"
                value={node.password}
                onChange={(v) => a.setPassword({ value: v })}
                problem={passwordProblem}
                rule="At least 8 characters. Only its hash goes on the stick; SSH keys are still needed to log in over the network."
              />
            </div>
          ) : null}
        </fieldset>

        <fieldset>
          <legend>The node’s disk</legend>
          <label className="check">
            <input
              type="checkbox"
              data-testid="erase-any"
              checked={node.eraseAny}
              onChange={(e) => a.setEraseAny(e.target.checked)}
            />
            <span>This machine may already hold data — erase its disk anyway</span>
          </label>
          <p className="rule">
            {node.eraseAny
              ? 'On: the installer erases the node’s disk even if it holds data.'
              : 'Off: the installer stops, without erasing, if the node’s disk already holds data.'}
          </p>
        </fieldset>
        {node.error ? <ErrorBox error={node.error} here="node" /> : null}
      </form>
    </StepFrame>
  );
}
