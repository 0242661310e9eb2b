/** Process entry of the privileged helper (dist/app/helper/entry.js). */
import { ExitCode } from '../errors.js';
import { helperMain } from './main.js';

helperMain(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // helperMain reports every error as a JSON line; reaching here is a bug, said on stderr
    // so the client's ZFLASH_HELPER_DIED carries it.
    process.stderr.write(
      `zflash helper: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(ExitCode.bug);
  },
);
