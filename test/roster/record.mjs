// Records COUNT flashes named PREFIX-01… into the roster at PATH, one transaction each, as
// separate `zflash flash` processes would: node test/roster/record.mjs PATH PREFIX COUNT [ROLES]
import { buildNodeIdentity, parseAuthorizedKeys } from '../../dist/app/node/index.js';
import { flashRecordFor, recordFlash } from '../../dist/app/roster/index.js';

const [path, prefix, count, roles = 'worker'] = process.argv.slice(2);
const KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG84kCdHH1tZ6tg+OMOhaXR5b6t5kSPQjb+DPPP2K75S ops@laptop';
for (let i = 1; i <= Number(count); i++) {
  const { identity } = buildNodeIdentity({
    hostname: `${prefix}-${String(i).padStart(2, '0')}`,
    keys: parseAuthorizedKeys(KEY).keys,
    roles: roles ? roles.split(',') : [],
  });
  await recordFlash(
    path,
    flashRecordFor(identity, {
      image: { path: '/images/zeta.iso', sha256: null },
      medium: {
        kind: 'drive',
        device: '/dev/sdb',
        model: 'Stick',
        serial: `${prefix}${i}`,
        size: 8e9,
      },
      flashedAt: new Date(),
      appVersion: '0.1.0',
    }),
  );
}
