/** The app's name and version, read once from package.json (found upward from this file, in src or dist). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function find(): { name: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'zeta-flash' && pkg.version) return { name: pkg.name, version: pkg.version };
    } catch {
      // keep looking upward
    }
    dir = dirname(dir);
  }
  return { name: 'zeta-flash', version: '0.0.0' };
}

export const APP = find();
