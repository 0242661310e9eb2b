// Types of electronegativity.mjs for the TypeScript tests that import it.
export interface Finding {
  readonly id: string;
  readonly severity: string;
  readonly file: string;
  readonly line: number;
  readonly description?: string;
  readonly why?: string;
}
export const BLOCKING: ReadonlySet<string>;
export const NOT_RUN: readonly string[];
export function disableComments(
  dir: string,
): { file: string; line: number; checks: string[]; explained: boolean }[];
export function cspFindings(): Promise<string[]>;
export function scanDirs(
  dirs: readonly string[],
  electronVersion: string,
): Promise<{ findings: Finding[]; errors: string[] }>;
export function securityLint(dirs?: readonly string[]): Promise<{
  electronVersion: string;
  blocking: Finding[];
  accepted: Finding[];
  errors: string[];
}>;
