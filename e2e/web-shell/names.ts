/** The web shell's fixed names, free of zod so the page script can import them. */
export const SHELL_PROTOCOL = 'zflash.v1';
/** The per-run token travels as a second WebSocket subprotocol: `zflash-token.<hex>`. */
export const TOKEN_PROTOCOL_PREFIX = 'zflash-token.';
export const IPC_PATH = '/__zflash/ipc';
export const SHELL_SCRIPT_PATH = '/__zflash/shell.js';

export const DIALOG_KINDS = ['image', 'key', 'save'] as const;
export type DialogKind = (typeof DIALOG_KINDS)[number];
