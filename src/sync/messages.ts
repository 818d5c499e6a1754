/**
 * The sync protocol's frames (see docs/protocol-v1.md) and their validation.
 * Shared by the client protocol, the server logic and the simulator; imports
 * neither `ws` nor `node:*`, and no schema library: the checks below are
 * written by hand on the tables of `frame-check.ts` (shared with version 2's
 * frames in messages-v2.ts), and test/sync-messages.test.ts holds them to a
 * reference description of every frame.
 *
 * Each side checks a frame's shape here and nowhere else: the client in the
 * sync protocol's `decode` (`parseServerFrame`), the server in its message
 * handler (`parseClientFrame`). Frames come from `JSON.parse`, so every value
 * is JSON already: the checks look at shapes, not at every nested value (the
 * server's `checkChanges` walks op values).
 */
import type { Json } from '../store.js';
import { checkFrame, describeValue, isPlainRecord, isStringArray, isWholeNumber, optional, required, type Field, type FrameKinds, type Parsed } from './frame-check.js';

export const PROTOCOL_VERSION = 1;

/** The changes a patch or an op carries. */
export interface Changes {
  set?: Record<string, Json>;
  delete?: string[];
}

// ── server → client ─────────────────────────────────────────────────────────
export interface SnapshotFrame {
  type: 'snapshot';
  epoch: string;
  seq: number;
  data: Record<string, Json>;
}
export interface PatchFrame extends Changes {
  type: 'patch';
  epoch: string;
  seq: number;
}
export interface AckFrame {
  type: 'ack';
  id: string;
}
export interface PongFrame {
  type: 'pong';
}
export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  /** Set when the error refuses an op: the op is settled (it will never apply). */
  id?: string;
}
export type ServerFrame = SnapshotFrame | PatchFrame | AckFrame | PongFrame | ErrorFrame;

// ── client → server ─────────────────────────────────────────────────────────
export interface HelloFrame {
  type: 'hello';
  v: number;
  epoch?: string;
  since?: number;
  token?: string;
}
export interface OpFrame extends Changes {
  type: 'op';
  /** 1 to `MAX_OP_ID_LENGTH` characters. */
  id: string;
}
export interface PingFrame {
  type: 'ping';
}
export type ClientFrame = HelloFrame | OpFrame | PingFrame;

/** The longest op id a server accepts, in UTF-16 units. */
export const MAX_OP_ID_LENGTH = 128;

export type { Parsed };
export { describeValue };

/** What a field's value must be. */
type Kind = 'string' | 'number' | 'seq' | 'record' | 'strings' | 'opId';

/** An op id the server accepts: 1 to `MAX_OP_ID_LENGTH` characters. */
export const isOpId = (value: unknown): value is string => typeof value === 'string' && value.length >= 1 && value.length <= MAX_OP_ID_LENGTH;

const KINDS: FrameKinds<Kind> = {
  /** One switch rather than a function per kind: this runs for every field of every frame. */
  holds(kind, value) {
    switch (kind) {
      case 'string':
        return typeof value === 'string';
      case 'number':
        return typeof value === 'number' && Number.isFinite(value);
      case 'seq':
        return isWholeNumber(value);
      case 'record':
        return isPlainRecord(value);
      case 'strings':
        return isStringArray(value);
      case 'opId':
        return isOpId(value);
    }
  },
  expected: {
    string: 'a string',
    number: 'a number',
    seq: 'a whole number >= 0',
    record: 'an object of keys to JSON values',
    strings: 'an array of strings',
    opId: `a string of 1 to ${MAX_OP_ID_LENGTH} characters`,
  },
};

const changeFields = [optional('set', 'record'), optional('delete', 'strings')];

/** Every frame each side accepts, by `type`: the fields it must or may have. Other fields are ignored. */
const SERVER_FRAMES: Readonly<Record<ServerFrame['type'], readonly Field<Kind>[]>> = {
  snapshot: [required('epoch', 'string'), required('seq', 'seq'), required('data', 'record')],
  patch: [required('epoch', 'string'), required('seq', 'seq'), ...changeFields],
  ack: [required('id', 'string')],
  pong: [],
  error: [required('code', 'string'), required('message', 'string'), optional('id', 'string')],
};
const CLIENT_FRAMES: Readonly<Record<ClientFrame['type'], readonly Field<Kind>[]>> = {
  hello: [required('v', 'number'), optional('epoch', 'string'), optional('since', 'seq'), optional('token', 'string')],
  op: [required('id', 'opId'), ...changeFields],
  ping: [],
};

// Maps: a lookup by a `type` that came off the wire never reaches Object.prototype.
// marked pure so a client bundle, which checks only server frames, leaves the client table out
const SERVER_FRAME_FIELDS: ReadonlyMap<unknown, readonly Field<Kind>[]> = /* @__PURE__ */ new Map(Object.entries(SERVER_FRAMES));
const CLIENT_FRAME_FIELDS: ReadonlyMap<unknown, readonly Field<Kind>[]> = /* @__PURE__ */ new Map(Object.entries(CLIENT_FRAMES));

/**
 * Validates a parsed frame from the server. The frame returned is the value
 * itself (fields it does not know are kept, never copied).
 */
export function parseServerFrame(value: unknown): Parsed<ServerFrame> {
  if (isPatchFrame(value)) return { ok: true, frame: value };
  return parseServerFrameByTable(value);
}

/** `parseServerFrame` by the table alone, for every type (the patch's field-by-field reading set aside). */
export function parseServerFrameByTable(value: unknown): Parsed<ServerFrame> {
  return checkFrame<ServerFrame, Kind>(SERVER_FRAME_FIELDS, KINDS, 'a server frame', value);
}

/**
 * The `patch` row of `SERVER_FRAMES`, read field by field: patches come by the thousand, and the
 * table's loop reads each field through a key that changes at every step (a megamorphic keyed
 * load, and for an absent optional field a walk of the prototype chain), a lookup that costs more
 * than the check (issue 15, the throughput floor). True means `parseServerFrame` accepts the
 * value as a patch; a patch that fails here goes through the table, which says why.
 * test/sync-messages.test.ts holds the two to the same answer.
 */
export function isPatchFrame(value: unknown): value is PatchFrame {
  if (!isPlainRecord(value) || value.type !== 'patch') return false;
  const { set, delete: deleted } = value;
  return (
    typeof value.epoch === 'string' &&
    isWholeNumber(value.seq) &&
    (set === undefined || isPlainRecord(set)) &&
    (deleted === undefined || isStringArray(deleted))
  );
}

/** Validates a parsed frame from a client; the frame returned is the value itself. */
export function parseClientFrame(value: unknown): Parsed<ClientFrame> {
  return checkFrame<ClientFrame, Kind>(CLIENT_FRAME_FIELDS, KINDS, 'a client frame', value);
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
