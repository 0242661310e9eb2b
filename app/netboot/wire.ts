/**
 * What `zflash netboot serve --json` prints: one JSON object per line, each with a `type`
 * (docs/netboot.md). The session's events as they are, plus `stopped` and `error`.
 */
import { z } from 'zod';
import { MAC_PATTERN } from '../node/mac.js';
import { NETBOOT_STEPS } from './session.js';

const mac = z.string().regex(MAC_PATTERN);
const at = z.iso.datetime({ offset: true });

export const netbootLineSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('serving'),
    interface: z.string(),
    address: z.string(),
    port: z.number().int(),
    url: z.string(),
    runtimeDir: z.string(),
    loaders: z.object({ bios: z.string().nullable(), uefi: z.string().nullable() }),
    nodes: z.array(z.object({ hostname: z.string(), mac })),
  }),
  z.object({
    type: z.literal('step'),
    step: z.enum(NETBOOT_STEPS),
    state: z.enum(['started', 'done', 'failed']),
    mac,
    hostname: z.string().nullable(),
    ip: z.string().nullable(),
    detail: z.string().nullable(),
    at,
  }),
  z.object({ type: z.literal('refused'), mac, ip: z.string(), at }),
  z.object({ type: z.literal('notice'), code: z.string(), message: z.string() }),
  z.object({
    type: z.literal('stopped'),
    machines: z.array(
      z.object({
        mac,
        hostname: z.string().nullable(),
        step: z.enum([...NETBOOT_STEPS, 'refused']),
      }),
    ),
  }),
  z.object({
    type: z.literal('error'),
    error: z
      .object({ code: z.string(), kind: z.string(), message: z.string(), hint: z.string() })
      .loose(),
  }),
]);
export type NetbootLine = z.infer<typeof netbootLineSchema>;
