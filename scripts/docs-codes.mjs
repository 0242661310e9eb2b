// Rewrites the generated error-code table in docs/cli.md from the built registry.
import { readFileSync, writeFileSync } from 'node:fs';
import { withErrorCodeTable } from '../dist/app/cli/error-table.js';

const path = new URL('../docs/cli.md', import.meta.url);
writeFileSync(path, withErrorCodeTable(readFileSync(path, 'utf8')));
