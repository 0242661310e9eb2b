/** Process entry of the privileged helper (dist/app/helper/entry.js). */
import { ExitCode } from '../errors.js';
import { helperMain } from './main.js';

helperMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  () => process.exit(ExitCode.bug),
);
