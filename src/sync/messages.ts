/**
 * The sync protocol's frames (see docs/protocol.md) and their validation.
 * Shared by the client protocol, the server logic and the simulator; imports
 * neither `ws` nor `node:*`.
 */
// A namespace import and only the English locale: `import { z }` and `z.locales` pull all of zod
// and every locale into a browser bundle (about 430 kB instead of 15 kB with esbuild).
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import type { Json } from '../store.js';

export const PROTOCOL_VERSION = 1;

// Frames come from JSON.parse, so every value is JSON already: check shapes, not every nested value
// (a recursive z.json() walk was a tenth of the client's time per patch).
const json = z.custom<Json>(() => true);
const seq = z.number().check(z.int(), z.minimum(0));
const changes = {
  set: z.optional(z.record(z.string(), json)),
  delete: z.optional(z.array(z.string())),
};

// ── server → client ─────────────────────────────────────────────────────────
export const snapshotFrame = z.object({
  type: z.literal('snapshot'),
  epoch: z.string(),
  seq,
  data: z.record(z.string(), json),
});
export const patchFrame = z.object({ type: z.literal('patch'), epoch: z.string(), seq, ...changes });
export const ackFrame = z.object({ type: z.literal('ack'), id: z.string() });
export const pongFrame = z.object({ type: z.literal('pong') });
export const errorFrame = z.object({
  type: z.literal('error'),
  code: z.string(),
  message: z.string(),
  /** Set when the error refuses an op: the op is settled (it will never apply). */
  id: z.optional(z.string()),
});
export const serverFrame = z.discriminatedUnion('type', [snapshotFrame, patchFrame, ackFrame, pongFrame, errorFrame]);

// ── client → server ─────────────────────────────────────────────────────────
export const helloFrame = z.object({
  type: z.literal('hello'),
  v: z.number(),
  epoch: z.optional(z.string()),
  since: z.optional(seq),
  token: z.optional(z.string()),
});
export const opFrame = z.object({
  type: z.literal('op'),
  id: z.string().check(z.minLength(1), z.maxLength(128)),
  ...changes,
});
export const pingFrame = z.object({ type: z.literal('ping') });
export const clientFrame = z.discriminatedUnion('type', [helloFrame, opFrame, pingFrame]);

export type SnapshotFrame = z.infer<typeof snapshotFrame>;
export type PatchFrame = z.infer<typeof patchFrame>;
export type AckFrame = z.infer<typeof ackFrame>;
export type ErrorFrame = z.infer<typeof errorFrame>;
export type ServerFrame = z.infer<typeof serverFrame>;
export type HelloFrame = z.infer<typeof helloFrame>;
export type OpFrame = z.infer<typeof opFrame>;
export type ClientFrame = z.infer<typeof clientFrame>;

/** The changes a patch or an op carries. */
export interface Changes {
  set?: Record<string, Json>;
  delete?: string[];
}

export type Parsed<T> = { ok: true; frame: T } | { ok: false; problem: string };

const english = en().localeError;

function check<T>(schema: z.ZodMiniType<T>, value: unknown): Parsed<T> {
  const result = schema.safeParse(value, { error: english, reportInput: false });
  if (result.success) return { ok: true, frame: result.data };
  return { ok: false, problem: z.prettifyError(result.error).replaceAll('✖ ', '').replace(/\s*\n\s*/g, ' ') };
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The same rules as `snapshotFrame` and `patchFrame`, checked by hand: these
 * frames come by the thousand, and the schema walk cost a third of the
 * client's time per patch (bench/RESULTS.md). Anything this does not accept
 * goes through the schemas, which also write the error text; a property test
 * keeps the two in agreement.
 */
export function isDataFrame(value: unknown): value is SnapshotFrame | PatchFrame {
  if (!isPlainRecord(value)) return false;
  const { type, epoch, seq } = value;
  if ((type !== 'patch' && type !== 'snapshot') || typeof epoch !== 'string') return false;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return false;
  if (type === 'snapshot') return isPlainRecord(value.data);
  const { set, delete: deleted } = value;
  if (set !== undefined && !isPlainRecord(set)) return false;
  if (deleted === undefined) return true;
  if (!Array.isArray(deleted)) return false;
  for (const key of deleted) if (typeof key !== 'string') return false;
  return true;
}

/** Validates a parsed frame from the server. */
export function parseServerFrame(value: unknown): Parsed<ServerFrame> {
  if (isDataFrame(value)) return { ok: true, frame: value };
  return check(serverFrame, value);
}

/** Validates a parsed frame from a client. */
export function parseClientFrame(value: unknown): Parsed<ClientFrame> {
  return check(clientFrame, value);
}

/** Error codes the server sends in `error` frames. */
export const ServerErrorCode = {
  MALFORMED_FRAME: 'ERR_MALFORMED_FRAME',
  INVALID_FRAME: 'ERR_INVALID_FRAME',
  HELLO_REQUIRED: 'ERR_HELLO_REQUIRED',
  /** The op would take the document over the server's `maxDataBytes`. */
  DATA_LIMIT: 'ERR_DATA_LIMIT',
} as const;
export type ServerErrorCodeValue = (typeof ServerErrorCode)[keyof typeof ServerErrorCode];

/**
 * Close codes the server uses. 1011 and 1013 are transient (the client reconnects, an op that was
 * not acked stays in its outbox); the 44xx application codes are final.
 */
export const SyncCloseCode = {
  /** The server could not complete a change for a reason that is not the op's fault (a failed data-file write). */
  INTERNAL_ERROR: 1011,
  /** Missing or wrong token. */
  UNAUTHORIZED: 4401,
  /** Origin not allowed. */
  FORBIDDEN: 4403,
  /** The hello asked for a protocol version this server does not speak. */
  UNSUPPORTED_VERSION: 4400,
  /**
   * Load or timing, not the client's fault: a slow consumer, no hello before the deadline, a
   * connection cap, too many failed authentications from one address. The client reconnects with backoff.
   */
  TRY_AGAIN_LATER: 1013,
} as const;
