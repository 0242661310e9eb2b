/** The desktop app's remembered choices and the hostname pattern. */
export * from './settings.js';
export * from './name-pattern.js';
