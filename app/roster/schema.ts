/**
 * The roster file (`roster.json`): which stick became which node. Versioned so a later
 * layout can be recognised instead of being taken for damage; read with a loose schema so
 * fields a newer minor release adds survive an older release rewriting the file.
 *
 * What is deliberately absent: key material beyond the fingerprint, type and comment, and
 * every secret of the identity (Wi-Fi PSK, password hash). A roster is a file an operator
 * mails around or commits; it must not be worth stealing.
 */
import { z } from 'zod';
import { isValidHostname } from '../node/hostname.js';
import { ROLES } from '../node/types.js';
import { MAC_PATTERN } from '../node/mac.js';

export const ROSTER_VERSION = 1;

/** `flashed`: stick written; `re-flashed`: written again for a node already known; `online`: seen on the network. */
export const NODE_STATUSES = ['flashed', 'online', 're-flashed'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

const isoTime = z.iso.datetime({ offset: true });
const hostname = z
  .string()
  .refine(isValidHostname, { message: 'not a valid, unreserved RFC 1123 hostname label' });
const roles = z.array(z.enum(ROLES)).readonly();

export const rosterKeySchema = z.object({
  type: z.string().min(1).max(64),
  /** 'SHA256:…' as `ssh-keygen -lf` prints it. */
  fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/),
  comment: z.string().max(1024),
});
export type RosterKey = z.infer<typeof rosterKeySchema>;

export const rosterImageSchema = z.object({
  /** The image's file name (no folder: the roster travels, the operator's paths need not). */
  name: z.string().min(1).max(1024),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
});

/** Where the image went: a drive (model and serial identify the stick later) or an image file for a VM. */
export const rosterMediumSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('drive'),
    device: z.string().min(1).max(1024),
    model: z.string().max(1024).nullable(),
    serial: z.string().max(1024).nullable(),
    size: z.number().int().nonnegative().nullable(),
  }),
  z.object({
    kind: z.literal('file'),
    path: z.string().min(1).max(4096),
    size: z.number().int().nonnegative().nullable(),
  }),
]);
export type RosterMedium = z.infer<typeof rosterMediumSchema>;

/** One successful flash: what a caller hands to recordFlash (unknown fields are stripped). */
export const flashRecordSchema = z.object({
  hostname,
  roles,
  keys: z.array(rosterKeySchema).readonly(),
  image: rosterImageSchema,
  medium: rosterMediumSchema,
  flashedAt: isoTime,
  appVersion: z.string().min(1).max(64),
});
export type FlashRecord = z.infer<typeof flashRecordSchema>;

export const onlineSchema = z.object({
  /** The address to reach the node at: the first IPv4 one seen, else the first IPv6 one. */
  address: z.string().min(1).max(64),
  addresses: z.array(z.string().min(1).max(64)).readonly(),
  firstSeen: isoTime,
  lastSeen: isoTime,
});
export type OnlineInfo = z.infer<typeof onlineSchema>;

const { hostname: _h, ...flashFields } = flashRecordSchema.shape;

export const rosterNodeSchema = z.looseObject({
  hostname,
  status: z.enum(NODE_STATUSES),
  ...flashFields,
  /** Null until the node is seen on the network after its latest flash. */
  online: onlineSchema.nullable(),
  /** Earlier flashes under this hostname, oldest first: a re-flash never loses the old record. */
  history: z.array(flashRecordSchema.omit({ hostname: true })).readonly(),
  /** The MAC address the machine network-boots from (`zflash roster set NAME --mac`), lowercase with colons. */
  mac: z.string().regex(MAC_PATTERN).nullable().optional(),
});
export type RosterNode = z.infer<typeof rosterNodeSchema>;

export const rosterSchema = z
  .looseObject({
    version: z.literal(ROSTER_VERSION),
    nodes: z.array(rosterNodeSchema).readonly(),
  })
  .refine((r) => new Set(r.nodes.map((n) => n.hostname)).size === r.nodes.length, {
    message: 'a hostname appears twice',
  });
export type Roster = z.infer<typeof rosterSchema>;

export const emptyRoster = (): Roster => ({ version: ROSTER_VERSION, nodes: [] });

// --- What `zflash roster ... --json` prints: one JSON object per line, each with a `type`. ---

const errorBody = z.object({
  code: z.string(),
  kind: z.string(),
  message: z.string(),
  hint: z.string(),
  exitCode: z.number(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const rosterEventSchema = z.discriminatedUnion('type', [
  /** `roster list --json`: one line per node, the node exactly as the roster holds it. */
  z.looseObject({ type: z.literal('node'), ...rosterNodeSchema.shape }),
  /** Something the operator should know that did not stop the command (a restored backup). */
  z.object({ type: z.literal('notice'), code: z.string(), message: z.string() }),
  /** `roster watch --json`: the watch started, waiting for these nodes. */
  z.object({ type: z.literal('watching'), waiting: z.array(hostname) }),
  /** `roster watch --json`: a roster node answered on the network. */
  z.object({
    type: z.literal('online'),
    hostname,
    address: z.string(),
    addresses: z.array(z.string()),
    firstSeen: isoTime,
    /** The node was marked online before this watch started. */
    seenBefore: z.boolean(),
  }),
  /** `roster watch --json`: the watch ended (every node online, Ctrl-C, or --timeout). */
  z.object({
    type: z.literal('done'),
    reason: z.enum(['all-online', 'stopped', 'timeout']),
    waiting: z.array(hostname),
  }),
  /** `roster next --json`: the suggested name. */
  z.object({ type: z.literal('name'), hostname, pattern: z.string() }),
  z.object({ type: z.literal('error'), error: errorBody }),
]);
export type RosterEvent = z.infer<typeof rosterEventSchema>;
