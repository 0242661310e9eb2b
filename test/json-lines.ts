/**
 * Parses `zflash … --json` output the way a consumer must: one JSON object per line, each
 * valid against the engine's own wire schema (app/wire.ts). A line that is not, fails the test.
 */
import { cliLineSchema, type CliLine } from '../app/wire.js';

export function cliLines(stdout: string): CliLine[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const parsed = cliLineSchema.safeParse(JSON.parse(l));
      if (!parsed.success)
        throw new Error(
          `line ${i + 1} is not a documented --json line: ${l.slice(0, 300)}\n${parsed.error.message}`,
        );
      // Keep every field (zod strips unknown ones); the schema only vouched for the shape.
      return JSON.parse(l) as CliLine;
    });
}

/** The one line of `type` (fails if there is none or several). */
export function onlyLine<T extends CliLine['type']>(
  stdout: string,
  type: T,
): Extract<CliLine, { type: T }> & Record<string, unknown> {
  const lines = cliLines(stdout).filter((l) => l.type === type);
  if (lines.length !== 1)
    throw new Error(`expected one "${type}" line, got ${lines.length}:\n${stdout}`);
  return lines[0] as Extract<CliLine, { type: T }> & Record<string, unknown>;
}
