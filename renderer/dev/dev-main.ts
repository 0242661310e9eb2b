/**
 * `npm run dev:ui`: the renderer over the in-memory fake, for working on screens without the
 * engine. `window.fake` plugs sticks in and drives flashes from the devtools console, e.g.
 * `fake.plug(stick('/dev/sdd', 'Kingston DataTraveler', 32e9))`.
 */
import { createFakeApi, stick } from './fake-api.js';

const { api, control } = createFakeApi({ auto: true });
Object.defineProperty(window, 'zflash', { value: api });
Object.assign(window, { fake: control, stick });
await import('../main.js');
