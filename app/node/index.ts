/** The node model's public surface: validate operator input into a NodeIdentity. */
export * from './types.js';
export * from './hostname.js';
export * from './ssh-keys.js';
export * from './wifi.js';
export * from './password.js';
export * from './roles.js';
export * from './identity.js';
