/** Diagnostics: the snapshot of a failure, its redaction, its text and QR renderings. */
export * from './snapshot.js';
export * from './redact.js';
export * from './render.js';
export * from './qr.js';
export * from './partitions.js';

import { qrSvg } from './qr.js';
import { compactDiagnosticsJson, renderDiagnosticsText } from './render.js';
import type { DiagnosticsSnapshot } from './snapshot.js';

/** What a diagnostics screen needs: the text, the QR's JSON and the QR itself. */
export interface DiagnosticsView {
  readonly text: string;
  /** Compact ASCII JSON, what the QR code carries. */
  readonly json: string;
  readonly qrSvg: string;
  /** The whole snapshot, for the saved file (nothing shortened). */
  readonly snapshot: DiagnosticsSnapshot;
}

export async function diagnosticsView(snapshot: DiagnosticsSnapshot): Promise<DiagnosticsView> {
  const json = compactDiagnosticsJson(snapshot);
  return { text: renderDiagnosticsText(snapshot), json, qrSvg: await qrSvg(json), snapshot };
}

/** The file `Save diagnostics` writes: the screen's text, then the full snapshot as JSON. */
export function diagnosticsFile(snapshot: DiagnosticsSnapshot): string {
  return `${renderDiagnosticsText(snapshot)}\n${JSON.stringify(snapshot, null, 2)}\n`;
}
