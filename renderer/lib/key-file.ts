/**
 * A file dropped on the window, judged before anything about it leaves the page. A private
 * key is recognised by its armour and refused here: neither its bytes nor its path are sent
 * to main, stored, or logged — the text read for the check goes out of scope at once.
 * Everything else is only public material, which the engine then parses (its rules win).
 */

/** Same cap as the engine's key files (app/node/ssh-keys.ts): a key list, not a document. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Armour lines of private keys: OpenSSH, PEM (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8) and
 * PuTTY's .ppk. `PRIVATE KEY-----` covers every PEM flavour.
 */
const PRIVATE_MARKERS = [
  /PRIVATE KEY-----/,
  /^PuTTY-User-Key-File-\d+:/m,
  /^SSH PRIVATE KEY FILE/m,
];

export type DroppedKeyFile =
  | { readonly kind: 'private' }
  | { readonly kind: 'too-large'; readonly bytes: number }
  | { readonly kind: 'not-text' }
  | { readonly kind: 'empty' }
  | { readonly kind: 'public'; readonly lines: readonly string[] };

export const looksPrivate = (text: string) => PRIVATE_MARKERS.some((re) => re.test(text));

/** Reads at most MAX_KEY_FILE_BYTES of `file` and says what it is. */
export async function judgeKeyFile(file: Blob): Promise<DroppedKeyFile> {
  // The head first: a private key is refused before the rest of it is read.
  if (looksPrivate(await file.slice(0, 512).text())) return { kind: 'private' };
  if (file.size > MAX_KEY_FILE_BYTES) return { kind: 'too-large', bytes: file.size };
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.includes(0)) return { kind: 'not-text' };
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (looksPrivate(text)) return { kind: 'private' };
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  return lines.length ? { kind: 'public', lines } : { kind: 'empty' };
}

export const PRIVATE_KEY_REFUSAL =
  'This is a private key — it never leaves this computer, and Zeta Flash did not keep or send it. Drop the .pub file next to it instead (for example id_ed25519.pub).';
