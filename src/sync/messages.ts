/**
 * The sync protocol's frames (see docs/protocol.md) and their validation.
 * Shared by the client protocol, the server logic and the simulator; imports
 * neither `ws` nor `node:*`, and no schema library: the checks below are
 * written by hand (a schema library was 29 KB of the client's 33 KB gzipped
 * bundle), and test/sync-messages.test.ts holds them to a reference
 * description of every frame.
 *
 * Each side checks a frame's shape here and nowhere else: the client in the
 * sync protocol's `decode` (`parseServerFrame`), the server in its message
 * handler (`parseClientFrame`). Frames come from `JSON.parse`, so every value
 * is JSON already: the checks look at shapes, not at every nested value (the
 * server's `checkChanges` walks op values).
 */
import type { Json } from '../store.js';

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

export type Parsed<T> = { ok: true; frame: T } | { ok: false; problem: string };

/** What a field's value must be. */
type Kind = 'string' | 'number' | 'seq' | 'record' | 'strings' | 'opId';

/** The words for each kind, in problem messages. */
const EXPECTED: Readonly<Record<Kind, string>> = {
  string: 'a string',
  number: 'a number',
  seq: 'a whole number >= 0',
  record: 'an object of keys to JSON values',
  strings: 'an array of strings',
  opId: `a string of 1 to ${MAX_OP_ID_LENGTH} characters`,
};

/** One field of a frame: its key, what it must be, and whether it may be absent (undefined). */
interface Field {
  readonly key: string;
  readonly kind: Kind;
  readonly optional: boolean;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return false;
  return true;
}

/** An op id the server accepts: 1 to `MAX_OP_ID_LENGTH` characters. */
export const isOpId = (value: unknown): value is string => typeof value === 'string' && value.length >= 1 && value.length <= MAX_OP_ID_LENGTH;

/** One switch rather than a function per kind: this runs for every field of every frame. */
function holds(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'seq':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
    case 'record':
      return isPlainRecord(value);
    case 'strings':
      return isStringArray(value);
    case 'opId':
      return isOpId(value);
  }
}

const required = (key: string, kind: Kind): Field => ({ key, kind, optional: false });
const optional = (key: string, kind: Kind): Field => ({ key, kind, optional: true });

const changeFields = [optional('set', 'record'), optional('delete', 'strings')];

/** Every frame each side accepts, by `type`: the fields it must or may have. Other fields are ignored. */
const SERVER_FRAMES: Readonly<Record<ServerFrame['type'], readonly Field[]>> = {
  snapshot: [required('epoch', 'string'), required('seq', 'seq'), required('data', 'record')],
  patch: [required('epoch', 'string'), required('seq', 'seq'), ...changeFields],
  ack: [required('id', 'string')],
  pong: [],
  error: [required('code', 'string'), required('message', 'string'), optional('id', 'string')],
};
const CLIENT_FRAMES: Readonly<Record<ClientFrame['type'], readonly Field[]>> = {
  hello: [required('v', 'number'), optional('epoch', 'string'), optional('since', 'seq'), optional('token', 'string')],
  op: [required('id', 'opId'), ...changeFields],
  ping: [],
};

// Maps: a lookup by a `type` that came off the wire never reaches Object.prototype.
// marked pure so a client bundle, which checks only server frames, leaves the client table out
const SERVER_FRAME_FIELDS: ReadonlyMap<unknown, readonly Field[]> = /* @__PURE__ */ new Map(Object.entries(SERVER_FRAMES));
const CLIENT_FRAME_FIELDS: ReadonlyMap<unknown, readonly Field[]> = /* @__PURE__ */ new Map(Object.entries(CLIENT_FRAMES));

/** A value as a problem message shows it: its kind and, when short, itself. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const bad = value.findIndex((item) => typeof item !== 'string');
    return bad === -1 ? `an array of ${value.length}` : `an array whose [${bad}] is ${describeValue(value[bad])}`;
  }
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of ${value.length} characters` : `the string ${JSON.stringify(value)}`;
    case 'number':
    case 'boolean':
      return `the ${typeof value} ${String(value)}`;
    case 'object':
      return isPlainRecord(value) ? 'an object' : `an object of class ${String((value as object).constructor?.name ?? 'unknown')}`;
    default:
      return `a ${typeof value}`;
  }
}

/** Whether `value` has every field right: the check that runs for every frame, so it allocates nothing. */
function fieldsHold(value: Record<string, unknown>, fields: readonly Field[]): boolean {
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as Field;
    const fieldValue = value[field.key];
    if (fieldValue === undefined ? !field.optional : !holds(field.kind, fieldValue)) return false;
  }
  return true;
}

function check<T>(frames: ReadonlyMap<unknown, readonly Field[]>, what: string, value: unknown): Parsed<T> {
  if (!isPlainRecord(value)) return { ok: false, problem: `expected ${what} (an object with a "type"), received ${describeValue(value)}` };
  const type = value.type;
  const fields = frames.get(type);
  if (fields === undefined) {
    const types = [...frames.keys()].map((name) => JSON.stringify(name)).join(', ');
    return { ok: false, problem: `type: expected one of ${types}, received ${describeValue(type)}` };
  }
  if (fieldsHold(value, fields)) return { ok: true, frame: value as T };
  // Refused: now say why, naming every wrong field.
  const problems: string[] = [];
  for (const field of fields) {
    const fieldValue = value[field.key];
    if (fieldValue === undefined ? field.optional : holds(field.kind, fieldValue)) continue;
    problems.push(`${String(type)}.${field.key}: expected ${EXPECTED[field.kind]}, received ${describeValue(fieldValue)}`);
  }
  return { ok: false, problem: problems.join('; ') };
}

/**
 * Validates a parsed frame from the server. The frame returned is the value
 * itself (fields it does not know are kept, never copied).
 */
export function parseServerFrame(value: unknown): Parsed<ServerFrame> {
  return check<ServerFrame>(SERVER_FRAME_FIELDS, 'a server frame', value);
}

/** Validates a parsed frame from a client; the frame returned is the value itself. */
export function parseClientFrame(value: unknown): Parsed<ClientFrame> {
  return check<ClientFrame>(CLIENT_FRAME_FIELDS, 'a client frame', value);
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
