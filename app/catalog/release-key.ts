/**
 * The PUBLIC half of the Zeta release signing key (Ed25519, PEM "PUBLIC KEY" / SPKI). Every
 * release manifest must carry a signature made by the private half of one of these keys
 * before anything in it is trusted (app/catalog/manifest.ts).
 *
 * PLACEHOLDER: the list is empty until the maintainers create the project's release key
 * (docs/release.md, "The release key", step 1) and paste its public half here. The private half
 * lives only in the forge's secret ZETA_RELEASE_SIGNING_KEY and offline with the maintainers;
 * it is never committed. While the list is empty, `zflash image` and the app's download refuse
 * (ZFLASH_CATALOG_NO_KEY) rather than trust an unsigned catalogue; tests inject their own keys.
 * scripts/release-manifest.mjs reads the key from this file and refuses to publish a
 * manifest its signature would not verify against, so the two cannot drift apart.
 *
 * Key rotation: add the new key, ship a release, sign with the new key from the next one,
 * then drop the old key.
 */
export const RELEASE_PUBLIC_KEYS: readonly string[] = [
  // '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA...\n-----END PUBLIC KEY-----\n',
];

/**
 * Where the release manifest is published by default: the latest release of the project's
 * GitHub repository (.github/workflows/release.yml attaches it). The one place this URL lives;
 * front ends let the operator change it (a setting, `--manifest-url`, `ZFLASH_MANIFEST_URL`).
 */
export const DEFAULT_MANIFEST_URL =
  'https://github.com/zeta-flash/zeta-flash/releases/latest/download/manifest.json';
