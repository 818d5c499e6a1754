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

/** One field of a frame: the test its value must pass, and the words for what that is. */
interface Field {
  readonly key: string;
  readonly test: (value: unknown) => boolean;
  readonly expected: string;
  /** Absent (undefined) is allowed. */
  readonly optional: boolean;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isSeq = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);
/** An op id the server accepts: 1 to `MAX_OP_ID_LENGTH` characters. */
export const isOpId = (value: unknown): value is string => typeof value === 'string' && value.length >= 1 && value.length <= MAX_OP_ID_LENGTH;

const required = (key: string, test: Field['test'], expected: string): Field => ({ key, test, expected, optional: false });
const optional = (key: string, test: Field['test'], expected: string): Field => ({ key, test, expected, optional: true });

const STRING = 'a string';
const SEQ = 'a whole number >= 0';
const RECORD = 'an object of keys to JSON values';
const changeFields = [optional('set', isPlainRecord, RECORD), optional('delete', isStringArray, 'an array of strings')];

/** Every frame each side accepts, by `type`: the fields it must or may have. Other fields are ignored. */
const SERVER_FRAMES: Readonly<Record<ServerFrame['type'], readonly Field[]>> = {
  snapshot: [required('epoch', isString, STRING), required('seq', isSeq, SEQ), required('data', isPlainRecord, RECORD)],
  patch: [required('epoch', isString, STRING), required('seq', isSeq, SEQ), ...changeFields],
  ack: [required('id', isString, STRING)],
  pong: [],
  error: [required('code', isString, STRING), required('message', isString, STRING), optional('id', isString, STRING)],
};
const CLIENT_FRAMES: Readonly<Record<ClientFrame['type'], readonly Field[]>> = {
  hello: [
    required('v', (value) => typeof value === 'number' && Number.isFinite(value), 'a number'),
    optional('epoch', isString, STRING),
    optional('since', isSeq, SEQ),
    optional('token', isString, STRING),
  ],
  op: [required('id', isOpId, `a string of 1 to ${MAX_OP_ID_LENGTH} characters`), ...changeFields],
  ping: [],
};

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

function check<T>(frames: Readonly<Record<string, readonly Field[]>>, what: string, value: unknown): Parsed<T> {
  if (!isPlainRecord(value)) return { ok: false, problem: `expected ${what} (an object with a "type"), received ${describeValue(value)}` };
  const type = value.type;
  const fields = typeof type === 'string' && Object.hasOwn(frames, type) ? frames[type] : undefined;
  if (fields === undefined) {
    const types = Object.keys(frames).map((name) => JSON.stringify(name)).join(', ');
    return { ok: false, problem: `type: expected one of ${types}, received ${describeValue(type)}` };
  }
  let problems: string[] | null = null;
  for (const field of fields) {
    const fieldValue = value[field.key];
    if (fieldValue === undefined ? field.optional : field.test(fieldValue)) continue;
    (problems ??= []).push(`${type}.${field.key}: expected ${field.expected}, received ${describeValue(fieldValue)}`);
  }
  return problems === null ? { ok: true, frame: value as T } : { ok: false, problem: problems.join('; ') };
}

/**
 * Validates a parsed frame from the server. The frame returned is the value
 * itself (fields it does not know are kept, never copied).
 */
export function parseServerFrame(value: unknown): Parsed<ServerFrame> {
  return check<ServerFrame>(SERVER_FRAMES, 'a server frame', value);
}

/** Validates a parsed frame from a client; the frame returned is the value itself. */
export function parseClientFrame(value: unknown): Parsed<ClientFrame> {
  return check<ClientFrame>(CLIENT_FRAMES, 'a client frame', value);
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
