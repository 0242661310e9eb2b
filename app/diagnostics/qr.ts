/**
 * The QR code of the compact diagnostics JSON, drawn by the `qrcode` package: an SVG string for
 * the app's screen (main draws it; the renderer only shows it), text blocks for a terminal, and
 * PNG bytes for a file. One byte-mode segment: the payload is ASCII JSON (./render.ts), so
 * every reader decodes exactly the bytes that were encoded.
 */
import QRCode from 'qrcode';

const OPTIONS = { errorCorrectionLevel: 'M', margin: 4 } as const;

const segments = (json: string) => [{ data: Buffer.from(json, 'utf8'), mode: 'byte' as const }];

export async function qrSvg(json: string): Promise<string> {
  return QRCode.toString(segments(json), { ...OPTIONS, type: 'svg' });
}

/**
 * Half-height block characters. An 80-column terminal holds a version-15 code (77 modules + a
 * 1-module margin on each side): pass JSON shortened to MAX_TERMINAL_QR_BYTES, which level L
 * keeps within that version.
 */
export async function qrTerminal(json: string): Promise<string> {
  return QRCode.toString(segments(json), {
    errorCorrectionLevel: 'L',
    margin: 1,
    type: 'terminal',
    small: true,
  });
}

export async function qrPng(json: string, scale = 4): Promise<Buffer> {
  return QRCode.toBuffer(segments(json), { ...OPTIONS, type: 'png', scale });
}
