/**
 * The few building blocks every step uses: its frame (heading that takes focus, one obvious
 * primary action), an error in plain words with what to do next, notices, and a copy box.
 */
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { ErrorJson, Notice } from '../lib/api.js';
import { adviceFor, type FixAt } from '../lib/hints.js';
import { useActions } from '../store/context.js';

export interface PrimaryAction {
  readonly label: string;
  readonly onClick?: () => void;
  readonly disabled?: boolean;
  readonly busy?: string | null;
  readonly tone?: 'go' | 'danger';
  /** Submits the step's form instead of calling onClick. */
  readonly submit?: boolean;
  readonly form?: string;
}

export function StepFrame(props: {
  readonly title: string;
  readonly intro?: ReactNode;
  readonly children: ReactNode;
  readonly back?: { readonly label: string; readonly onClick: () => void } | null;
  readonly primary?: PrimaryAction | null;
  readonly secondary?: ReactNode;
  readonly testId: string;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  // A new step moves focus to its heading: keyboard and screen-reader users start at the top.
  useEffect(() => {
    heading.current?.focus();
  }, [props.testId]);
  const p = props.primary;
  return (
    <section className="step" data-testid={props.testId} aria-labelledby={`${props.testId}-title`}>
      <h1 id={`${props.testId}-title`} ref={heading} tabIndex={-1}>
        {props.title}
      </h1>
      {props.intro ? <p className="intro">{props.intro}</p> : null}
      <div className="step-body">{props.children}</div>
      <div className="actions">
        {props.back ? (
          <button type="button" className="button quiet" onClick={props.back.onClick}>
            {props.back.label}
          </button>
        ) : (
          <span />
        )}
        <div className="actions-right">
          {props.secondary}
          {p ? (
            <button
              type={p.submit ? 'submit' : 'button'}
              form={p.form}
              className={`button primary ${p.tone === 'danger' ? 'danger' : ''}`}
              onClick={p.submit ? undefined : p.onClick}
              disabled={p.disabled || !!p.busy}
              aria-describedby={p.busy ? `${props.testId}-busy` : undefined}
            >
              {p.busy ? p.busy : p.label}
            </button>
          ) : null}
        </div>
      </div>
      {p?.busy ? (
        <p id={`${props.testId}-busy`} className="visually-hidden" role="status">
          {p.busy}
        </p>
      ) : null}
    </section>
  );
}

const FIX_LABEL: Record<Exclude<FixAt, null>, string> = {
  image: 'Choose another image',
  node: 'Change the node settings',
  keys: 'Change the keys',
  drive: 'Choose another stick',
};

/** An engine error in plain words: its sentence, what to do, and where to fix it. */
export function ErrorBox(props: {
  readonly error: ErrorJson;
  readonly here?: FixAt;
  readonly onDiagnostics?: () => void;
}) {
  const { goTo } = useActions();
  const advice = adviceFor(props.error);
  return (
    <div className="box error" role="alert" data-code={props.error.code}>
      <p className="box-title">{props.error.message}</p>
      <p>{advice.hint}</p>
      <p className="box-code">
        <span className="visually-hidden">Error code </span>
        {props.error.code}
      </p>
      <div className="box-actions">
        {advice.fixAt && advice.fixAt !== props.here ? (
          <button type="button" className="button" onClick={() => goTo(advice.fixAt ?? 'image')}>
            {FIX_LABEL[advice.fixAt]}
          </button>
        ) : null}
        {props.onDiagnostics ? (
          <button type="button" className="button quiet" onClick={props.onDiagnostics}>
            Show diagnostics
          </button>
        ) : null}
      </div>
    </div>
  );
}

export function Notices(props: {
  readonly notices: readonly Notice[];
  readonly onDismiss?: (code: string) => void;
}) {
  if (!props.notices.length) return null;
  return (
    <ul className="notices" aria-label="Notes">
      {props.notices.map((n) => (
        <li key={`${n.code}:${n.message}`} className="box note row">
          <span>{n.message}</span>
          {props.onDismiss ? (
            <button
              type="button"
              className="button quiet"
              onClick={() => props.onDismiss?.(n.code)}
            >
              OK<span className="visually-hidden">, hide this note</span>
            </button>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

/**
 * Text to copy, shown large, with a Copy button. The async clipboard first; where a window
 * denies it (Electron denies permission requests), the text is selected so Ctrl+C works.
 */
export function CopyText({ text, label }: { readonly text: string; readonly label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'select'>('idle');
  const field = useRef<HTMLInputElement>(null);
  const id = useId();
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      field.current?.select();
      setState(document.execCommand?.('copy') ? 'copied' : 'select');
    }
  }
  return (
    <div className="copy">
      <label htmlFor={id} className="visually-hidden">
        {label}
      </label>
      <input
        id={id}
        ref={field}
        className="copy-text"
        readOnly
        value={text}
        size={Math.max(text.length, 10)}
        onFocus={(e) => e.currentTarget.select()}
      />
      <button type="button" className="button" onClick={() => void copy()}>
        {state === 'copied' ? 'Copied' : 'Copy'}
        <span className="visually-hidden"> {label}</span>
      </button>
      <span role="status" className="copy-status">
        {state === 'copied'
          ? 'Copied to the clipboard.'
          : state === 'select'
            ? 'Selected: press Ctrl+C (⌘C) to copy.'
            : ''}
      </span>
    </div>
  );
}

/** "✓ / ! / ✗" with words, never colour alone. */
export function Mark({ tone }: { readonly tone: 'ok' | 'warn' | 'bad' }) {
  const text = tone === 'ok' ? '✓' : tone === 'warn' ? '!' : '✗';
  const word = tone === 'ok' ? 'Good:' : tone === 'warn' ? 'Note:' : 'Problem:';
  return (
    <span className={`mark ${tone}`} aria-hidden="false">
      <span aria-hidden="true">{text}</span>
      <span className="visually-hidden">{word}</span>
    </span>
  );
}
