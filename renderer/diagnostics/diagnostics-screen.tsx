/**
 * The photo-friendly diagnostics screen. Main builds the snapshot, its text and its QR code
 * (app/diagnostics); this screen only lays them out to be photographed by a phone: black on
 * white whatever the OS theme, large monospace, the error code and sentence first, the facts,
 * then what to do next, and the QR code of the same facts as compact JSON.
 *
 * The QR SVG is shown as an <img> from a data: URL, never inserted as markup: an image cannot
 * run script, whatever main's string holds.
 */
import { useEffect, useRef } from 'react';
import { adviceFor } from '../lib/hints.js';
import { ErrorBox } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';

function svgDataUrl(svg: string): string {
  const utf8 = new TextEncoder().encode(svg);
  let binary = '';
  for (const b of utf8) binary += String.fromCharCode(b);
  return `data:image/svg+xml;base64,${btoa(binary)}`;
}

export function DiagnosticsScreen(props: {
  readonly error: Parameters<typeof adviceFor>[0] | null;
}) {
  const diag = useApp((s) => s.diagnostics);
  const a = useActions();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const error = props.error;
  const advice = error ? adviceFor(error) : null;

  return (
    <main className="diagnostics" data-testid="diagnostics" data-code={error?.code ?? ''}>
      <div className="diag-top">
        <div className="diag-head">
          <h1 ref={heading} tabIndex={-1}>
            {error ? (
              <>
                <span className="diag-code" data-testid="diag-code">
                  {error.code}
                </span>
                <span className="diag-sentence">{error.message}</span>
              </>
            ) : (
              <>
                <span className="diag-code">Diagnostics</span>
                <span className="diag-sentence">No error: the facts as they are now.</span>
              </>
            )}
          </h1>
          {advice ? (
            <p className="diag-next" data-testid="diag-next">
              <strong>What to do now:</strong> {advice.hint}
            </p>
          ) : null}
          <div className="diag-actions">
            <button type="button" className="button primary" onClick={a.closeDiagnostics}>
              Back to Zeta Flash
            </button>
            <button
              type="button"
              className="button"
              disabled={!diag.view}
              onClick={() => void a.saveDiagnostics()}
            >
              Save to file…
            </button>
            <button
              type="button"
              className="button"
              disabled={!diag.view}
              onClick={() => void a.copyDiagnostics()}
            >
              Copy
            </button>
          </div>
          <p role="status" className="diag-message" data-testid="diag-message">
            {diag.message ?? (diag.busy ? 'Gathering the facts…' : '')}
          </p>
        </div>
        {diag.view ? (
          <figure className="diag-qr">
            <img
              data-testid="diag-qr"
              src={svgDataUrl(diag.view.qrSvg)}
              alt="QR code holding the same diagnostics as JSON"
            />
            <figcaption>The same facts as a QR code: scan it to get them as text.</figcaption>
          </figure>
        ) : null}
      </div>
      {diag.error ? <ErrorBox error={diag.error} /> : null}
      {diag.view ? (
        <>
          <pre
            className="diag-text"
            data-testid="diag-text"
            tabIndex={0}
            aria-label="Diagnostics text"
          >
            {diag.view.text}
          </pre>
          <details className="diag-json">
            <summary>The QR code’s text (JSON)</summary>
            <pre data-testid="diag-json">{diag.view.json}</pre>
          </details>
        </>
      ) : null}
    </main>
  );
}
