// Types of make-icons.mjs for the TypeScript tests that import it.
export const PNG_SIZES: readonly number[];
export const ICO_SIZES: readonly number[];
export const ICNS_TYPES: readonly (readonly [string, number])[];
export function sourceFor(size: number): string;
export function buildIco(pngs: readonly { size: number; data: Buffer }[]): Buffer;
export function buildIcns(elements: readonly { type: string; data: Buffer }[]): Buffer;
