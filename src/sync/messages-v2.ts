/**
 * The sync protocol's version 2 frames (docs/protocol.md: channels, ops numbered per client
 * and channel, chunks, `changes`, presence, token refresh) and their validation, in the style of
 * version 1's messages.ts and on the same machinery (frame-check.ts): hand-written field tables,
 * one `holds` switch, problems that name the field, what was expected and what arrived.
 *
 * The specification is being implemented for issue 13: the shipped client and server still speak
 * version 1. Later steps build the server and the client on exactly these types, validators and
 * constants; docs/protocol-fixtures/ holds conformance scenarios checked against them.
 *
 * Who checks what:
 * - the server: the first frame with `parseHello` (any version); after a version 2 greeting every
 *   frame with `parseClientFrameV2`; a version 1 session keeps messages.ts's `parseClientFrame`;
 * - the client: every frame (a reassembled chunked frame too) with `parseServerFrameV2`.
 *
 * Frames come from `JSON.parse`: the checks look at shapes (and at the names and numbers the
 * protocol bounds), not at every nested value; the server's `checkChanges` (values.ts) walks op values.
 * Imports neither `ws` nor `node:*`.
 */
import type { Json } from '../store.js';
import {
  checkFrame,
  describeValue,
  isPlainRecord,
  isStringArray,
  isWholeNumber,
  optional,
  required,
  type Field,
  type FrameKinds,
  type Parsed,
} from './frame-check.js';
import type { Changes, HelloFrame, PingFrame, PongFrame } from './messages.js';
import { parseClientFrame } from './messages.js';

export const PROTOCOL_VERSION_2 = 2;

/** The versions a version 2 server speaks: a `hello` with another `v` is closed with 4400. */
export const SUPPORTED_VERSIONS: readonly number[] = [1, 2];

/** The channel a version 1 client uses, and a version 2 connection's own Model. */
export const DEFAULT_CHANNEL = 'default';

// ── names ───────────────────────────────────────────────────────────────────

/** Longest channel name, and longest client id, in characters. */
export const MAX_NAME_LENGTH = 128;

/**
 * Channel names and client ids: 1 to 128 characters of `A-Z a-z 0-9 _ . : / @ -`, case-sensitive,
 * and never `__proto__` (an object keyed by names would turn that one into a prototype).
 */
const NAME = /^[A-Za-z0-9_.:/@-]{1,128}$/;

/** The rule for names, as problem messages state it. */
export const NAME_RULE = `1 to ${MAX_NAME_LENGTH} characters of A-Z a-z 0-9 _ . : / @ -, not "__proto__"`;

/**
 * Names already found valid: every frame names its channel, and a connection holds few, so a
 * lookup replaces the pattern on the hot path. Bounded: emptied when full, never a leak.
 */
const acceptedNames = new Set<string>();
const ACCEPTED_NAMES_MAX = 1_024;
/** The name found valid last (null: none yet). */
let lastAccepted: string | null = null;

/** A channel name the protocol accepts (see `NAME_RULE`). */
export const isChannelName = (value: unknown): value is string => {
  if (typeof value !== 'string') return false;
  // a run of frames names the same channel: one comparison, before the set's lookup
  if (value === lastAccepted || acceptedNames.has(value)) {
    lastAccepted = value;
    return true;
  }
  if (value.length > MAX_NAME_LENGTH || !NAME.test(value) || value === '__proto__') return false;
  if (acceptedNames.size >= ACCEPTED_NAMES_MAX) acceptedNames.clear();
  acceptedNames.add(value);
  lastAccepted = value;
  return true;
};

/** A client id the protocol accepts: the same rule as channel names. */
export const isClientId = isChannelName;

/** Longest epoch, in characters. The server chooses epochs; the client only compares them for equality. */
export const MAX_EPOCH_LENGTH = 64;

/**
 * Smallest `maxMessageBytes` a client may announce. Only snapshots, patches, presence lists, joins
 * and changelogs can be chunked; the server keeps every other frame within this many bytes.
 */
export const MIN_MESSAGE_BYTES = 4096;

/** Longest user name (`welcome.user`, a member's `user`), in characters. */
export const MAX_USER_LENGTH = 128;

// ── limits ──────────────────────────────────────────────────────────────────

/**
 * The defaults of version 2's limits and times (docs/protocol.md, "Values and limits"). The
 * server's options take these names; `maxMessageBytes` and `maxReassemblyBytes` are the client's.
 */
export const DEFAULT_V2_LIMITS = {
  /** A client's `hello.maxMessageBytes` when it sends none (the version 1 client's default frame limit). */
  maxMessageBytes: 1_048_576,
  /** The largest frame a client reassembles from chunks; a larger one fails its channel with `ERR_PAYLOAD_TOO_LARGE`. */
  maxReassemblyBytes: 16_777_216,
  /** Channels one connection may hold; one more is refused with `ERR_CHANNEL_LIMIT`. */
  maxChannelsPerConnection: 2_000,
  /** Channels the server holds in memory; one more (when none can be unloaded) is refused with `ERR_CHANNEL_UNAVAILABLE`. */
  maxChannelsInMemory: 100_000,
  /** Subscribes of one channel on one connection per minute; one more is refused with `ERR_RATE_LIMITED`. */
  maxSubscribesPerMinute: 10,
  /** Op marks a channel keeps (one per client that sent it an op); past it, one is forgotten (see the eviction rule). */
  maxClientsPerChannel: 10_000,
  /** A mark whose client sent the channel no op for this long is forgotten (7 days). */
  markRetentionMs: 604_800_000,
  /** Refused ops remembered per client and channel above its `acked`. */
  maxRefusalsPerClient: 1_000,
  /** A member whose connection ended stays listed this long, so a quick reconnect makes no leave/join pair. */
  presenceGraceMs: 5_000,
  /** The server sends `refresh` this long before the connection's token expires. */
  refreshBeforeMs: 60_000,
  /** A channel with no subscriber for this long may be unloaded from memory (its next load has a new epoch). */
  channelIdleMs: 300_000,
} as const;

// ── frames: shared parts ────────────────────────────────────────────────────

/** A member of a channel's presence. Identified by `client` and `user` together. */
export interface PresenceMember {
  /** The member's client id (its `hello.client`). */
  client: string;
  /** The user its token names; null on a server without per-user tokens. */
  user: string | null;
  /** What the server's authorization says about the user (a display name, say); absent when it says nothing. */
  info?: Record<string, Json>;
  /** When it joined, in ms since 1970 on the server's clock; kept across a reconnect within the grace period. */
  joinedAt: number;
}

/** One patch of a channel's log, as a `changelog` lists it. */
export interface LoggedPatch extends Changes {
  seq: number;
}

// ── client → server ─────────────────────────────────────────────────────────

/** The first frame of a version 2 connection. */
export interface HelloFrameV2 {
  type: 'hello';
  v: 2;
  /** The client's stable id: kept across reconnects; its ops are numbered per (client, channel). */
  client: string;
  /** Used only when the URL carries no `token` query parameter (the URL's wins). */
  token?: string;
  /** The largest frame the client accepts, in UTF-8 bytes (at least `MIN_MESSAGE_BYTES`); larger frames come in chunks. @default 1048576 */
  maxMessageBytes?: number;
}

/** A `hello` asking for a version this server does not speak: closed with 4400. */
export interface UnsupportedHello {
  type: 'hello';
  v: number;
}

export interface SubscribeFrame {
  type: 'subscribe';
  channel: string;
  /** With `since`: the position to resume after (both or neither). */
  epoch?: string;
  since?: number;
  /** Receive the member list and appear in it. @default false */
  presence?: boolean;
  /** Every op of this channel numbered at or below it has had its answer on the client. */
  acked?: number;
}

export interface UnsubscribeFrame {
  type: 'unsubscribe';
  channel: string;
}

export interface OpFrameV2 extends Changes {
  type: 'op';
  channel: string;
  /** The op's number: per (client, channel), from 1, increasing; gaps allowed. */
  n: number;
  /** A resend: the `welcome.time` of the connection the op was first written on. */
  re?: number;
}

export interface ChangesFrame {
  type: 'changes';
  channel: string;
  /** The client's reference, echoed in the `changelog` (or `error`) that answers it. */
  ref: number;
  /** Patches after this seq; absent: the last `limit` patches. */
  since?: number;
  /** The epoch `since` belongs to (only with `since`); another epoch than the channel's answers from the oldest patch with `gap`. */
  epoch?: string;
  /** Most patches in the answer (the server may send fewer: `more` says so). */
  limit: number;
}

export interface AuthFrame {
  type: 'auth';
  token: string;
}

/** Frames a client sends on a version 2 connection. */
export type ClientFrameV2 = HelloFrameV2 | SubscribeFrame | UnsubscribeFrame | OpFrameV2 | ChangesFrame | AuthFrame | PingFrame;

// ── server → client ─────────────────────────────────────────────────────────

export interface WelcomeFrame {
  type: 'welcome';
  v: 2;
  /** The hello's client id. */
  client: string;
  /** The user the token names; null on a server without per-user tokens. */
  user: string | null;
  /** The largest frame the server accepts from the client, in bytes; a larger one is closed with 1009. */
  maxMessageBytes: number;
  /** The server's clock at the welcome, in ms since 1970: what `op.re` carries for ops first written on this connection. */
  time: number;
  /** When the token expires, in ms since 1970 on the server's clock (with `expiresInMs`); absent: it does not. */
  expiresAt?: number;
  /** The same, as the time left: what a client times by (clocks differ). */
  expiresInMs?: number;
}

export interface SnapshotFrameV2 {
  type: 'snapshot';
  channel: string;
  epoch: string;
  seq: number;
  data: Record<string, Json>;
}

export interface PatchFrameV2 extends Changes {
  type: 'patch';
  channel: string;
  epoch: string;
  /** At least 1: the position's seq plus 1. */
  seq: number;
}

/** The end of a subscribe's answer: the position the client is at now. */
export interface SyncedFrame {
  type: 'synced';
  channel: string;
  epoch: string;
  seq: number;
  /** The highest op number the server processed from this client on this channel; absent: none it remembers. */
  mark?: number;
}

/**
 * The connection no longer holds the channel. Without `code`: the answer to `unsubscribe`. With
 * `code` and `message`: the server refused the subscribe or ended it; with `retryAfterMs` too, the
 * refusal is transient (subscribe again after it), without, final.
 */
export interface UnsubscribedFrame {
  type: 'unsubscribed';
  /** As the client sent it (a refused name included; one longer than `MAX_NAME_LENGTH` cut to it). */
  channel: string;
  code?: string;
  message?: string;
  retryAfterMs?: number;
}

export interface AckFrameV2 {
  type: 'ack';
  channel: string;
  n: number;
}

/**
 * A refusal. With `channel` and `n`: op `n` is settled (it will never apply). With `ref`: the
 * `changes` request `ref` failed. Otherwise nothing is settled (see the error codes).
 */
export interface ErrorFrameV2 {
  type: 'error';
  code: string;
  message: string;
  channel?: string;
  n?: number;
  ref?: number;
}

/** The answer to `changes`. */
export interface ChangelogFrame {
  type: 'changelog';
  channel: string;
  ref: number;
  epoch: string;
  /** Oldest first. */
  patches: LoggedPatch[];
  /** More patches follow the last one in the log: ask again with its seq as `since`. */
  more: boolean;
  /** Patches between `since` and the first one listed are no longer in the log (or `since` was of another epoch). */
  gap?: boolean;
}

export interface PresenceFrame {
  type: 'presence';
  channel: string;
  members: PresenceMember[];
}

export interface JoinFrame {
  type: 'join';
  channel: string;
  member: PresenceMember;
}

export interface LeaveFrame {
  type: 'leave';
  channel: string;
  client: string;
  user: string | null;
}

/** A piece of a server frame larger than the client's `maxMessageBytes`. */
export interface ChunkFrame {
  type: 'chunk';
  /** The chunked frame's number, unique on the connection. */
  id: number;
  /** The channel the chunked frame belongs to. */
  channel: string;
  /** This piece's index, from 0. */
  i: number;
  /** How many pieces the frame has. */
  count: number;
  /** UTF-8 bytes of the whole frame's JSON text (the pieces joined). */
  bytes: number;
  /** A piece of the frame's JSON text. */
  data: string;
}

export interface RefreshFrame {
  type: 'refresh';
  expiresAt: number;
  expiresInMs: number;
}

/** The answer to an accepted `auth`. */
export interface AuthorizedFrame {
  type: 'authorized';
  user: string | null;
  expiresAt?: number;
  expiresInMs?: number;
}

/** Frames a version 2 server sends on a version 2 connection. */
export type ServerFrameV2 =
  | WelcomeFrame
  | SnapshotFrameV2
  | PatchFrameV2
  | SyncedFrame
  | UnsubscribedFrame
  | AckFrameV2
  | ErrorFrameV2
  | ChangelogFrame
  | PresenceFrame
  | JoinFrame
  | LeaveFrame
  | ChunkFrame
  | RefreshFrame
  | AuthorizedFrame
  | PongFrame;

// ── codes ───────────────────────────────────────────────────────────────────

/** The codes of version 2's `error` and `unsubscribed` frames (docs/protocol.md, "Error codes"). */
export const ErrorCodeV2 = {
  /** The frame is not JSON (or not UTF-8). Nothing is settled. */
  MALFORMED_FRAME: 'ERR_MALFORMED_FRAME',
  /** Not a valid frame; or, with `channel` and `n`, an op whose changes break the value rule (settled). */
  INVALID_FRAME: 'ERR_INVALID_FRAME',
  /** A frame other than `hello` or `ping` before the hello was accepted. Nothing is settled. */
  HELLO_REQUIRED: 'ERR_HELLO_REQUIRED',
  /** The op would take the channel's document over `maxDataBytes` (settled). */
  DATA_LIMIT: 'ERR_DATA_LIMIT',
  /** A channel name that breaks the name rule (in `unsubscribed`, or an `error` for an op or `changes`). */
  INVALID_CHANNEL: 'ERR_INVALID_CHANNEL',
  /** The token may not subscribe to the channel (final). */
  CHANNEL_FORBIDDEN: 'ERR_CHANNEL_FORBIDDEN',
  /** The server serves no channel of that name (final). */
  CHANNEL_UNKNOWN: 'ERR_CHANNEL_UNKNOWN',
  /** The connection holds `maxChannelsPerConnection` channels (final: unsubscribe one first). */
  CHANNEL_LIMIT: 'ERR_CHANNEL_LIMIT',
  /** The server cannot load the channel now (`maxChannelsInMemory`, storage): transient, with `retryAfterMs`. */
  CHANNEL_UNAVAILABLE: 'ERR_CHANNEL_UNAVAILABLE',
  /** More than `maxSubscribesPerMinute` subscribes of one channel: transient, with `retryAfterMs`. */
  RATE_LIMITED: 'ERR_RATE_LIMITED',
  /** An op or `changes` for a channel the connection does not hold. An op is not settled. */
  NOT_SUBSCRIBED: 'ERR_NOT_SUBSCRIBED',
  /** The token may not publish on the channel (settles the op). */
  PUBLISH_FORBIDDEN: 'ERR_PUBLISH_FORBIDDEN',
  /** The token may not use presence on the channel: the subscription stands without it. */
  PRESENCE_FORBIDDEN: 'ERR_PRESENCE_FORBIDDEN',
  /** A resent op the server cannot judge: it has forgotten the client (settles the op: it may or may not have applied). */
  CLIENT_FORGOTTEN: 'ERR_CLIENT_FORGOTTEN',
  /** The op would store a new channel and the server stores `maxStoredChannels` already (settles the op; not recorded). */
  STORAGE_FULL: 'ERR_STORAGE_FULL',
} as const;
export type ErrorCodeV2Value = (typeof ErrorCodeV2)[keyof typeof ErrorCodeV2];

/**
 * Close codes a version 2 server sends (docs/protocol.md, "Close codes"): version 1's, plus 4409,
 * 4419 and 4423. Written out rather than spread from `SyncCloseCode`, so the object stays a plain
 * literal a bundler can drop.
 */
export const SyncCloseCodeV2 = {
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  UNSUPPORTED_VERSION: 4400,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  /** Another connection said hello with the same user and client id: the older one is closed (final). */
  CLIENT_REPLACED: 4409,
  /** The token expired and no fresh one came (`auth`): the client reconnects when it can get a new token. */
  TOKEN_EXPIRED: 4419,
  /** The hello's client id belongs to another user (per-user tokens): the newcomer is closed (final), the owner untouched. */
  CLIENT_ID_TAKEN: 4423,
} as const;

// ── validation ──────────────────────────────────────────────────────────────

type Kind =
  | 'string'
  | 'number'
  | 'v2'
  | 'whole'
  | 'positive'
  | 'boolean'
  | 'record'
  | 'strings'
  | 'channel'
  | 'clientId'
  | 'epoch'
  | 'code'
  | 'messageBytes'
  | 'user'
  | 'sentName'
  | 'member'
  | 'members'
  | 'patches';

const CODE = /^ERR_[A-Z0-9_]{1,60}$/;
const isPositive = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
const isEpoch = (value: unknown): value is string => typeof value === 'string' && value.length >= 1 && value.length <= MAX_EPOCH_LENGTH;
const isUser = (value: unknown): value is string | null => value === null || (typeof value === 'string' && value.length >= 1 && value.length <= MAX_USER_LENGTH);
/** A channel name as a client sent it (echoed in `unsubscribed`, cut to `MAX_NAME_LENGTH`). */
const isSentName = (value: unknown): value is string => typeof value === 'string' && value.length <= MAX_NAME_LENGTH;

/** The first problem of a member, as `.key is …`; undefined when it holds. */
function memberProblem(value: unknown): string | undefined {
  if (!isPlainRecord(value)) return ` is ${describeValue(value)}`;
  if (!isClientId(value.client)) return `.client is ${describeValue(value.client)}`;
  if (!isUser(value.user)) return `.user is ${describeValue(value.user)}`;
  if (value.info !== undefined && !isPlainRecord(value.info)) return `.info is ${describeValue(value.info)}`;
  if (!isWholeNumber(value.joinedAt)) return `.joinedAt is ${describeValue(value.joinedAt)}`;
  return undefined;
}

/** The first problem of a logged patch; undefined when it holds. */
function patchProblem(value: unknown): string | undefined {
  if (!isPlainRecord(value)) return ` is ${describeValue(value)}`;
  if (!isPositive(value.seq)) return `.seq is ${describeValue(value.seq)}`;
  if (value.set !== undefined && !isPlainRecord(value.set)) return `.set is ${describeValue(value.set)}`;
  if (value.delete !== undefined && !isStringArray(value.delete)) return `.delete is ${describeValue(value.delete)}`;
  return undefined;
}

const isMember = (value: unknown): boolean => memberProblem(value) === undefined;
const isLoggedPatch = (value: unknown): boolean => patchProblem(value) === undefined;

/** The first item of `value` (an array) with a problem, as `an array whose [i]… is …`; undefined when all hold. */
function arrayProblem(value: unknown, item: (value: unknown) => string | undefined): string | undefined {
  if (!Array.isArray(value)) return undefined;
  for (let i = 0; i < value.length; i++) {
    const problem = item(value[i]);
    if (problem !== undefined) return `an array whose [${i}]${problem}`;
  }
  return undefined;
}

const KINDS: FrameKinds<Kind> = {
  holds(kind, value) {
    switch (kind) {
      case 'string':
        return typeof value === 'string';
      case 'number':
        return typeof value === 'number' && Number.isFinite(value);
      case 'v2':
        return value === PROTOCOL_VERSION_2;
      case 'whole':
        return isWholeNumber(value);
      case 'positive':
        return isPositive(value);
      case 'boolean':
        return typeof value === 'boolean';
      case 'record':
        return isPlainRecord(value);
      case 'strings':
        return isStringArray(value);
      case 'channel':
      case 'clientId':
        return isChannelName(value);
      case 'epoch':
        return isEpoch(value);
      case 'code':
        return typeof value === 'string' && CODE.test(value);
      case 'messageBytes':
        return isWholeNumber(value) && value >= MIN_MESSAGE_BYTES;
      case 'user':
        return isUser(value);
      case 'sentName':
        return isSentName(value);
      case 'member':
        return isMember(value);
      case 'members':
        return Array.isArray(value) && value.every(isMember);
      case 'patches':
        return Array.isArray(value) && value.every(isLoggedPatch);
    }
  },
  expected: {
    string: 'a string',
    number: 'a number',
    v2: 'the number 2',
    whole: 'a whole number >= 0',
    positive: 'a whole number >= 1',
    boolean: 'true or false',
    record: 'an object of keys to JSON values',
    strings: 'an array of strings',
    channel: `a channel name (${NAME_RULE})`,
    clientId: `a client id (${NAME_RULE})`,
    epoch: `a string of 1 to ${MAX_EPOCH_LENGTH} characters`,
    code: 'an error code (ERR_ and capitals, digits or _)',
    messageBytes: `a whole number >= ${MIN_MESSAGE_BYTES}`,
    user: `a string of 1 to ${MAX_USER_LENGTH} characters, or null`,
    sentName: `a string of at most ${MAX_NAME_LENGTH} characters`,
    member: 'a member {client, user, info?, joinedAt}',
    members: 'an array of members {client, user, info?, joinedAt}',
    patches: 'an array of patches {seq, set?, delete?}',
  },
  received(kind, value) {
    if (kind === 'member') {
      const problem = memberProblem(value);
      return problem !== undefined && problem.startsWith('.') ? `a member whose ${problem.slice(1)}` : undefined;
    }
    if (kind === 'members') return arrayProblem(value, memberProblem);
    if (kind === 'patches') return arrayProblem(value, patchProblem);
    return undefined;
  },
};

const changeFields = [optional('set', 'record'), optional('delete', 'strings')];

/** Every frame each side accepts, by `type`: the fields it must or may have. Other fields are ignored. */
const SERVER_FRAMES: Readonly<Record<ServerFrameV2['type'], readonly Field<Kind>[]>> = {
  welcome: [
    required('v', 'v2'),
    required('client', 'clientId'),
    required('user', 'user'),
    required('maxMessageBytes', 'positive'),
    required('time', 'whole'),
    optional('expiresAt', 'whole'),
    optional('expiresInMs', 'whole'),
  ],
  snapshot: [required('channel', 'channel'), required('epoch', 'epoch'), required('seq', 'whole'), required('data', 'record')],
  patch: [required('channel', 'channel'), required('epoch', 'epoch'), required('seq', 'positive'), ...changeFields],
  synced: [required('channel', 'channel'), required('epoch', 'epoch'), required('seq', 'whole'), optional('mark', 'positive')],
  unsubscribed: [required('channel', 'sentName'), optional('code', 'code'), optional('message', 'string'), optional('retryAfterMs', 'whole')],
  ack: [required('channel', 'channel'), required('n', 'positive')],
  error: [required('code', 'code'), required('message', 'string'), optional('channel', 'channel'), optional('n', 'positive'), optional('ref', 'whole')],
  changelog: [
    required('channel', 'channel'),
    required('ref', 'whole'),
    required('epoch', 'epoch'),
    required('patches', 'patches'),
    required('more', 'boolean'),
    optional('gap', 'boolean'),
  ],
  presence: [required('channel', 'channel'), required('members', 'members')],
  join: [required('channel', 'channel'), required('member', 'member')],
  leave: [required('channel', 'channel'), required('client', 'clientId'), required('user', 'user')],
  chunk: [
    required('id', 'whole'),
    required('channel', 'channel'),
    required('i', 'whole'),
    required('count', 'positive'),
    required('bytes', 'positive'),
    required('data', 'string'),
  ],
  refresh: [required('expiresAt', 'whole'), required('expiresInMs', 'whole')],
  authorized: [required('user', 'user'), optional('expiresAt', 'whole'), optional('expiresInMs', 'whole')],
  pong: [],
};
const CLIENT_FRAMES: Readonly<Record<ClientFrameV2['type'], readonly Field<Kind>[]>> = {
  hello: [required('v', 'v2'), required('client', 'clientId'), optional('token', 'string'), optional('maxMessageBytes', 'messageBytes')],
  subscribe: [
    required('channel', 'channel'),
    optional('epoch', 'epoch'),
    optional('since', 'whole'),
    optional('presence', 'boolean'),
    optional('acked', 'whole'),
  ],
  unsubscribe: [required('channel', 'channel')],
  op: [required('channel', 'channel'), required('n', 'positive'), optional('re', 'whole'), ...changeFields],
  changes: [required('channel', 'channel'), required('ref', 'whole'), optional('since', 'whole'), optional('epoch', 'epoch'), required('limit', 'positive')],
  auth: [required('token', 'string')],
  ping: [],
};

// Marked pure so a bundle that checks only one side's frames leaves the other table out.
const SERVER_FRAME_FIELDS: ReadonlyMap<unknown, readonly Field<Kind>[]> = /* @__PURE__ */ new Map(Object.entries(SERVER_FRAMES));
const CLIENT_FRAME_FIELDS: ReadonlyMap<unknown, readonly Field<Kind>[]> = /* @__PURE__ */ new Map(Object.entries(CLIENT_FRAMES));

/** Fields that go together: `together(a, b)` says what is wrong when only one of them is there. */
function together(frame: Record<string, unknown>, type: string, a: string, b: string): string | undefined {
  const hasA = frame[a] !== undefined;
  if (hasA === (frame[b] !== undefined)) return undefined;
  const [present, absent] = hasA ? [a, b] : [b, a];
  return `${type}.${absent}: expected it together with ${type}.${present} (both or neither), received ${describeValue(frame[absent])} beside ${describeValue(frame[present])}`;
}

/** `needed` must be there when `field` is. */
function needs(frame: Record<string, unknown>, type: string, field: string, needed: string): string | undefined {
  if (frame[field] === undefined || frame[needed] !== undefined) return undefined;
  return `${type}.${needed}: expected it with ${type}.${field}, received ${describeValue(frame[needed])} beside ${describeValue(frame[field])}`;
}

/** Rules across fields, checked once every field holds (cheap: a few property reads). */
function crossProblem(frame: Record<string, unknown>): string | undefined {
  switch (frame.type) {
    case 'subscribe':
      return together(frame, 'subscribe', 'epoch', 'since');
    case 'changes':
      return needs(frame, 'changes', 'epoch', 'since');
    case 'welcome':
    case 'authorized':
      return together(frame, frame.type, 'expiresAt', 'expiresInMs');
    case 'unsubscribed':
      return together(frame, 'unsubscribed', 'code', 'message') ?? needs(frame, 'unsubscribed', 'retryAfterMs', 'code');
    case 'error':
      return needs(frame, 'error', 'n', 'channel');
    case 'chunk':
      return (frame.i as number) < (frame.count as number)
        ? undefined
        : `chunk.i: expected a whole number below chunk.count (${String(frame.count)}), received ${describeValue(frame.i)}`;
    default:
      return undefined;
  }
}

function checkV2<T>(frames: ReadonlyMap<unknown, readonly Field<Kind>[]>, what: string, value: unknown): Parsed<T> {
  const parsed = checkFrame<T, Kind>(frames, KINDS, what, value);
  if (!parsed.ok) return parsed;
  const problem = crossProblem(parsed.frame as Record<string, unknown>);
  return problem === undefined ? parsed : { ok: false, problem };
}

/** What the server answers a client frame the validators refuse with. */
export type ClientFrameProblemCode = typeof ErrorCodeV2.INVALID_FRAME | typeof ErrorCodeV2.INVALID_CHANNEL;

export type ParsedClientFrame<T> = { ok: true; frame: T } | { ok: false; problem: string; code: ClientFrameProblemCode };

/**
 * Validates a parsed frame from the server on a version 2 connection (a chunked frame once it is
 * reassembled, too). The frame returned is the value itself (fields it does not know are kept).
 */
export function parseServerFrameV2(value: unknown): Parsed<ServerFrameV2> {
  if (isPatchFrameV2(value)) return { ok: true, frame: value };
  return parseServerFrameV2ByTable(value);
}

/** `parseServerFrameV2` by the table alone, for every type (the patch's field-by-field reading set aside). */
export function parseServerFrameV2ByTable(value: unknown): Parsed<ServerFrameV2> {
  return checkV2<ServerFrameV2>(SERVER_FRAME_FIELDS, 'a server frame', value);
}

/**
 * The `patch` row of `SERVER_FRAMES` (and `crossProblem`, which has no rule for it), read field by
 * field: a channel's patches come by the thousand, and the table's loop reads each field through
 * a key that changes at every step, a lookup that costs more than the check (issue 13: a message
 * on a channel at most 1.2× one without). A patch that fails here goes through the table, which
 * says why; test/sync/messages-v2.test.ts holds the two to the same answer. The client's `decode` calls it
 * first itself: no result object per patch (issue 15).
 */
export function isPatchFrameV2(value: unknown): value is ServerFrameV2 & { type: 'patch' } {
  if (!isPlainRecord(value) || value.type !== 'patch') return false;
  const { set, delete: deleted } = value;
  return (
    isChannelName(value.channel) &&
    isEpoch(value.epoch) &&
    isPositive(value.seq) &&
    (set === undefined || isPlainRecord(set)) &&
    (deleted === undefined || isStringArray(deleted))
  );
}

/**
 * Validates a parsed frame from a client on a version 2 connection; the frame returned is the
 * value itself. A refusal carries the code to answer with: `ERR_INVALID_CHANNEL` when the one
 * thing wrong is a channel name that is a string breaking the name rule (a subscribe or
 * unsubscribe is then answered with `unsubscribed {channel, code}`), else `ERR_INVALID_FRAME`.
 *
 * An op whose `channel`, `n` and `re` hold is refused by the server as op `n` (`error {channel, n}`,
 * settled) when its `set`/`delete` are wrong: the server judges those with `checkChanges`
 * (values.ts) on the raw value, as version 1 does, not by this problem.
 */
export function parseClientFrameV2(value: unknown): ParsedClientFrame<ClientFrameV2> {
  const parsed = checkV2<ClientFrameV2>(CLIENT_FRAME_FIELDS, 'a client frame', value);
  if (parsed.ok) return parsed;
  let code: ClientFrameProblemCode = ErrorCodeV2.INVALID_FRAME;
  if (isPlainRecord(value) && typeof value.channel === 'string' && !isChannelName(value.channel)) {
    // Only on the refusal path: is the name the one thing wrong? (A copy is safe here: the spread
    // defines own properties, so an own "__proto__" key stays a key.)
    if (checkV2(CLIENT_FRAME_FIELDS, 'a client frame', { ...value, channel: DEFAULT_CHANNEL }).ok) code = ErrorCodeV2.INVALID_CHANNEL;
  }
  return { ok: false, problem: parsed.problem, code };
}

/** The first frame of a connection, any version. */
export type ParsedHello =
  | { ok: true; version: 1; frame: HelloFrame }
  | { ok: true; version: 2; frame: HelloFrameV2 }
  /** A `v` this server does not speak: close with 4400, naming `SUPPORTED_VERSIONS`. */
  | { ok: true; version: 'unsupported'; frame: UnsupportedHello }
  | { ok: false; problem: string; code: typeof ErrorCodeV2.INVALID_FRAME };

/**
 * Validates a `hello` of any version: `v: 1` by version 1's table (messages.ts), `v: 2` by
 * version 2's, any other finite number as unsupported. A refusal (answered with
 * `ERR_INVALID_FRAME`) leaves the connection open and not greeted.
 */
export function parseHello(value: unknown): ParsedHello {
  if (!isPlainRecord(value) || value.type !== 'hello') {
    const received = isPlainRecord(value) ? `an object whose type is ${describeValue(value.type)}` : describeValue(value);
    return { ok: false, problem: `expected a hello (an object with "type": "hello"), received ${received}`, code: ErrorCodeV2.INVALID_FRAME };
  }
  const v = value.v;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    // The words version 1 uses, whatever else is wrong: without a version nothing else can be judged.
    return { ok: false, problem: `hello.v: expected a number, received ${describeValue(v)}`, code: ErrorCodeV2.INVALID_FRAME };
  }
  if (v === 1) {
    const v1 = parseClientFrame(value);
    return v1.ok ? { ok: true, version: 1, frame: v1.frame as HelloFrame } : { ok: false, problem: v1.problem, code: ErrorCodeV2.INVALID_FRAME };
  }
  if (v !== PROTOCOL_VERSION_2) return { ok: true, version: 'unsupported', frame: value as unknown as UnsupportedHello };
  const v2 = checkV2<HelloFrameV2>(CLIENT_FRAME_FIELDS, 'a client frame', value);
  return v2.ok ? { ok: true, version: 2, frame: v2.frame } : { ok: false, problem: v2.problem, code: ErrorCodeV2.INVALID_FRAME };
}
