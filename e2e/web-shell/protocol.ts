/**
 * The web shell's WebSocket messages: the IPC contract's invoke/result and push events,
 * plus the shell's own dialog round trip (a native dialog cannot open in a browser, so the
 * page shows a path field). The page script imports the types only; the server validates
 * every message with these schemas and closes a connection that sends anything else.
 */
import { z } from 'zod';
import type { DialogKind } from './names.js';

export * from './names.js';

export const clientMessageSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('invoke'),
      id: z.number().int().nonnegative(),
      channel: z.string().max(64),
      request: z.unknown(),
    })
    .strict(),
  z
    .object({
      type: z.literal('dialog-answer'),
      id: z.number().int().nonnegative(),
      path: z.string().max(4096).nullable(),
    })
    .strict(),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

export type ServerMessage =
  | { readonly type: 'result'; readonly id: number; readonly result: unknown }
  | { readonly type: 'event'; readonly event: string; readonly payload: unknown }
  | {
      readonly type: 'dialog';
      readonly id: number;
      readonly kind: DialogKind;
      readonly title: string;
    };
