/**
 * The sync server's logic, as a library: channels (channel.ts) with their epochs, sequence
 * numbers, replay logs, op marks (marks.ts) and presence (presence.ts); sessions of protocol
 * version 2 (session-v2.ts) and version 1 (session-v1.ts, on the `default` channel); write, then
 * broadcast, then ack. No I/O: it talks to each client through a `Peer`, so the Node server (with
 * `ws`) and the simulator (in memory) run the very same code.
 *
 * ```
 *   connect ──▶ URL token judged ──▶ frames: ping ─▶ pong
 *                                            hello v1 ─▶ session-v1 (default channel, op ids)
 *                                            hello v2 ─▶ welcome ─▶ session-v2 (channels, marks)
 *                                            hello v3 ─▶ close 4400; anything else ─▶ ERR_HELLO_REQUIRED
 * ```
 */
import { parseJsonFrame } from '../frames.js';
import type { Json } from '../store.js';
import type { Changes } from '../sync/messages.js';
import { ServerErrorCode, SyncCloseCode } from '../sync/messages.js';
import { DEFAULT_CHANNEL, DEFAULT_V2_LIMITS, ErrorCodeV2, SyncCloseCodeV2, isChannelName, parseHello } from '../sync/messages-v2.js';
import { DEFAULT_VALUE_LIMITS } from '../sync/values.js';
import { Channel, StoredDataError, type Checked, type LogEntry } from './channel.js';
import { ClientOwners, ownersFromMarks, type PersistedClientOwner } from './client-owners.js';
import type { PersistedMark, PersistedMarks } from './marks.js';
import { createOpRecord } from './op-record.js';
import { Outgoing } from './outgoing.js';
import { clearMembers, presenceFrame, type PresenceContext } from './presence.js';
import { createV1Sessions } from './session-v1.js';
import { createV2Sessions } from './session-v2.js';
import type { AuthorizeRequest, ChannelAction, Identity, LiveSession, ServerContext } from './session.js';
import { tokensEqual } from './token-equal.js';

export type { AuthorizeRequest, ChannelAction, Identity } from './session.js';

/** One client connection, as the server logic sees it. */
export interface Peer {
  send(frame: string): void;
  /** Closes with a close frame. */
  close(code: number, reason: string): void;
  /**
   * Bytes written but not yet sent (the transport's `bufferedAmount`), plus whatever else the
   * transport counts against the slow-consumer bound (the Node server adds a per-frame overhead).
   */
  readonly bufferedAmount: number;
}

/** Timers for presence grace, token expiry and idle channels (the Node server passes its clock). */
export interface SyncServerTimers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SyncServerOptions {
  /**
   * Patches kept per channel for replay after a reconnect (and no more than `maxDataBytes` of
   * them); a client further behind gets a snapshot. Also what `changes` can list.
   * @default 1000
   */
  logSize?: number;
  /**
   * Version 1 op ids remembered to apply each op once; the oldest are forgotten first, but never one
   * younger than `dedupRetentionMs`. An op re-sent after its id was forgotten would apply again,
   * so keep this above the ops all version 1 clients send within `dedupRetentionMs`. The record of
   * refused op ids is bounded by the same number. (Version 2 numbers ops per client: see `maxClientsPerChannel`.)
   * @default 10000
   */
  dedupSize?: number;
  /**
   * Milliseconds a version 1 op id (applied or refused) is remembered at least, whatever `dedupSize`
   * says: a client whose connection dropped before the ack re-sends the op within this time, and it
   * must not apply twice. When a record holds `dedupSize` ids and its oldest is younger than this,
   * room is made by owner (`ConnectInfo.owner`): an op from the owner holding the most ids is not
   * applied (nor refused): its connection is closed with 1013 (try again later), the op stays in
   * the client's outbox, and `opsDeferred` counts it; an op from anyone else applies and the owner
   * holding the most forgets its oldest id. An id recorded in the future (the clock stepped back)
   * counts as expired. 0: ids are forgotten by `dedupSize` alone.
   * @default 60000 (1 minute)
   */
  dedupRetentionMs?: number;
  /**
   * `hello` frames one connection may send per minute (its first included); one more closes it
   * with 1013 (try again later). A version 1 client resyncs with a hello, answered with the whole
   * document, so without a bound one connection could turn a few bytes of hellos into gigabytes.
   * Version 2 `auth` frames count apart under the same bound (each re-checks every held channel).
   * @default 10
   */
  maxHellosPerMinute?: number;
  /** Time in milliseconds (marks, retention, rates). @default `timers.now`, else Date.now */
  now?: () => number;
  /** Timers for presence grace, token expiry and idle channels. @default the global timers (unref'd) and `now` */
  timers?: SyncServerTimers;
  /** Clients must present this token (in the URL query or the hello). Not with `authenticate`. */
  token?: string;
  /**
   * Per-user tokens: who a token names (and what it may do: `authorize`). Return null for a wrong
   * token; an identity whose `expiresAt` has passed closes the connection with 4419. Called once
   * per connection and per `auth` frame; a throw, or an identity the frames cannot carry (a user
   * over 128 characters, an `info` that is not a JSON object), counts as a wrong token. It must
   * answer synchronously: a promise (an `async` function) is a configuration error, reported to
   * `onError` (`HookResultError`), and the connection is closed with 1011. Not with `token`.
   * @default none: no token required (or `token`)
   */
  authenticate?: (token: string) => Identity | null;
  /**
   * Whether a user may `subscribe` to, `publish` on or use `presence` on a channel, asked at every
   * subscribe, op and presence request, and for every held channel after an `auth`. A throw
   * counts as `false`. It must answer synchronously: a promise (an `async` function) is a
   * configuration error, reported to `onError` (`HookResultError`), and the connection is closed
   * with 1011 (never taken as a refusal: the user would be told "forbidden" for a server bug).
   * @default everything is allowed
   */
  authorize?: (request: AuthorizeRequest) => boolean;
  /**
   * Told about the server's own configuration errors: today `HookResultError`, a hook that
   * returned a promise (each hook is reported once; every connection it meets is closed with 1011).
   * A throw from it is ignored.
   * @default console.error of the error's message
   */
  onError?: (error: Error) => void;
  /**
   * A session whose peer has more than this many bytes buffered is closed with 1013 (slow
   * consumer). A snapshot in flight does not count against it, one at a time.
   * @default 4194304 (4 MiB)
   */
  maxBufferedBytes?: number;
  /** The largest client frame the transport accepts (announced in `welcome.maxMessageBytes`). @default 1048576 */
  maxPayloadBytes?: number;
  /**
   * Arrays/objects a value in a change may nest (`1` has depth 0, `{"a":[1]}` depth 2); a deeper
   * one is refused with `ERR_INVALID_FRAME`.
   * @default 64
   */
  maxValueDepth?: number;
  /**
   * UTF-8 bytes of a change's JSON (its `set` object plus its `delete` array); a larger one is
   * refused with `ERR_INVALID_FRAME`.
   * @default 262144 (256 KiB)
   */
  maxOpBytes?: number;
  /**
   * UTF-8 bytes of one channel's document as JSON; a change that would take it over (and grow it)
   * is refused with `ERR_DATA_LIMIT`. The default keeps a snapshot frame within the client's
   * default `maxMessageBytes` of 1 MiB.
   * @default 1047552 (1 MiB - 1 KiB)
   */
  maxDataBytes?: number;
  /**
   * Channels one connection may hold at once (protocol version 2); one more subscribe is refused
   * with `ERR_CHANNEL_LIMIT`.
   * @default 2000
   */
  maxChannelsPerConnection?: number;
  /**
   * Channels loaded in memory at once; loading one more unloads the least recently used idle one,
   * and with none idle a subscribe is refused with `ERR_CHANNEL_UNAVAILABLE` (the client retries).
   * @default 100000
   */
  maxChannelsInMemory?: number;
  /**
   * Channels stored (with data or op marks: kept in memory and in the data file for the server's
   * life; `default` not counted). An op or a server change that would store one more is refused
   * with `ERR_STORAGE_FULL` (not recorded). A data file holding more still loads.
   * @default 100000
   */
  maxStoredChannels?: number;
  /** Subscribes of one channel on one connection per minute; one more is refused with `ERR_RATE_LIMITED`. @default 10 */
  maxSubscribesPerMinute?: number;
  /**
   * Op marks a channel keeps, one per client that sent it an op; past it the least recently active
   * mark of the owner holding the most is forgotten (its resends get `ERR_CLIENT_FORGOTTEN`).
   * @default 10000
   */
  maxClientsPerChannel?: number;
  /** A mark whose client sent the channel no op for this long is forgotten, in ms. @default 604800000 (7 days) */
  markRetentionMs?: number;
  /** Refused ops remembered per client and channel above the client's `acked`. @default 1000 */
  maxRefusalsPerClient?: number;
  /**
   * Client ids whose user the server remembers (per-user tokens only): a hello from another user
   * with an id that belongs to someone is closed with 4423. Past it the least recently greeted id of
   * the user holding the most is forgotten; an id not greeted for `markRetentionMs` is forgotten too.
   * @default 100000
   */
  maxClientIds?: number;
  /** A presence member whose connection ended stays listed this long, in ms (a quick reconnect makes no leave/join). @default 5000 */
  presenceGraceMs?: number;
  /** `refresh` is sent this long before a connection's token expires, in ms. @default 60000 */
  refreshBeforeMs?: number;
  /**
   * A channel nobody holds is unloaded from memory after this long, in ms: its log and presence
   * go, its data and marks stay (and the data file keeps them), its next load starts a new epoch.
   * @default 300000 (5 minutes)
   */
  channelIdleMs?: number;
  /** Random source for epochs. @default Math.random */
  random?: () => number;
  /**
   * State to start from (a restart from the data file). Throws `InitialStateError` when a
   * channel's data breaks the value rule or is over `maxDataBytes`. Holding more than `dedupSize`
   * version 1 op ids (or refused ids), it keeps the newest (last) `dedupSize`.
   */
  initial?: PersistedState;
  /**
   * Called after every change to the persisted state, before anything about it goes out: persist
   * `state()` here to make patches, acks and refusals durable (it builds the copy only when
   * called). `what` says which change: `'change'` (an applied op or server change: write it now)
   * or `'refusal'` (a refused op recorded: a throttled write is enough, since the client settles
   * the op on its refusal) or `'client'` (a client id's user recorded: a throttled write is enough;
   * a throw is ignored, the record stays in memory). Throwing undoes the change: for an op, nothing is applied, refused,
   * broadcast or acked, and its connection is closed with 1011 so the client sends it again;
   * `change()` rethrows.
   */
  onChange?: (state: () => PersistedState, what: 'change' | 'refusal' | 'client') => void;
  /** Called when an op is applied (not when a duplicate is acknowledged): for audits and the simulator. */
  onApply?: (opId: string) => void;
}

/**
 * An op the server refused for good: a resend of its id gets the same code. Only the id and the
 * code are kept (a data file from before may hold a `message` too: it is dropped at load).
 */
export interface RefusedOp {
  id: string;
  code: string;
  /** When it was recorded (`now`'s clock); absent in older files: recorded long ago. */
  at?: number;
  /** Its owner: an index into `PersistedState.opOwners` (see `ConnectInfo.owner`); absent in older files. */
  owner?: number;
}

/** A channel as the data file keeps it. */
export interface PersistedChannel {
  /** The document (absent for `default`, whose document is `PersistedState.data`). */
  data?: Record<string, Json>;
  /** Its op marks, least recently active first. */
  marks?: PersistedMark[];
  /** The latest last-op time of a forgotten mark. */
  horizon?: number;
}

/**
 * What survives a restart: every channel's data and marks, and version 1's op records (not the
 * epochs or the logs). A file written before channels (version 1) has only `data` and the op
 * records: it loads as the `default` channel.
 */
export interface PersistedState {
  /** The `default` channel's document. */
  data: Record<string, Json>;
  appliedOpIds: string[];
  /**
   * When each of `appliedOpIds` was recorded (same length), so the retention window survives a
   * restart. Absent in older files: their ids count as recorded long ago (outside the window).
   */
  appliedOpTimes?: number[];
  /** The owners of the recorded ids (see `ConnectInfo.owner`), each once: the owner fields index it. */
  opOwners?: string[];
  /** Each of `appliedOpIds`'s owner, an index into `opOwners` (same length). Absent in older files. */
  appliedOpOwners?: number[];
  /** Absent in data files written before refusals were recorded. */
  refusedOps?: RefusedOp[];
  /** Every channel but `default`'s document, by name (and `default`'s marks). Absent in version 1 files. */
  channels?: Record<string, PersistedChannel>;
  /** The last time the server used for marks and welcomes: times never go back, across restarts too. */
  time?: number;
  /**
   * Which user each client id belongs to (per-user tokens), least recently greeted first. Absent in
   * files written before it was kept: then every client id with a mark of a user is that user's.
   */
  clientOwners?: PersistedClientOwner[];
}

export interface ServerCounters {
  connections: number;
  sessions: number;
  rejectedFrames: number;
  opsApplied: number;
  opsDuplicate: number;
  /** Ops refused with an error frame carrying their id or n (first refusals and repeats). */
  opsRefused: number;
  /** Ops not applied because persisting them failed (their connection was closed with 1011). */
  opsNotPersisted: number;
  /** Version 1 ops deferred because the op id record was full of recent ids (closed 1013). */
  opsDeferred: number;
  slowConsumers: number;
  /** Connections closed with 1013 for sending more than `maxHellosPerMinute` hellos. */
  helloFloods: number;
  authFailures: number;
  snapshotsSent: number;
  replays: number;
  /** Channels loaded in memory now. */
  channels: number;
  /** Subscriptions held now, all connections together. */
  subscriptions: number;
  /** Subscribes answered with `unsubscribed` and a code. */
  subscribesRefused: number;
  /** Idle channels unloaded from memory. */
  channelsUnloaded: number;
  /** Marks forgotten (retention or the per-channel bound). */
  marksForgotten: number;
  /** Ops refused with `ERR_CLIENT_FORGOTTEN`. */
  opsForgotten: number;
  /** Frames sent in chunks. */
  chunkedFrames: number;
  /** `changelog` answers. */
  changesServed: number;
  presenceJoins: number;
  presenceLeaves: number;
  /** `auth` frames accepted. */
  tokenRefreshes: number;
  /** Connections closed with 4419. */
  tokenExpiries: number;
  /** Connections closed with 4409. */
  clientsReplaced: number;
  /** Hellos closed with 4423: the client id belongs to another user. */
  clientIdsRefused: number;
  /** Version 1 sessions live now. */
  v1Sessions: number;
}

export interface ConnectInfo {
  /** The token from the URL query, if any. */
  urlToken?: string | null;
  /**
   * Called once when the server has judged the token (from the URL or the hello): `true` when it
   * matched, `false` when the connection is being closed with 4401. Not called without a token
   * requirement. The transport uses it to slow down repeated failures from one address.
   */
  onAuthenticated?: (ok: boolean) => void;
  /** Called once when the first hello has been accepted. */
  onGreeted?: () => void;
  /**
   * Who the connection's version 1 op ids and (without per-user tokens) version 2 marks are
   * recorded for: the Node server passes the address group. Without one, the session is its own owner.
   */
  owner?: string;
}

export interface Session {
  /** Hands the session one inbound frame (text, or binary as UTF-8 JSON). */
  receive(data: string | ArrayBuffer | Uint8Array): void;
  /** The transport's send buffer drained some (a write completed): frames waiting for room go on. */
  drained(): void;
  /** The transport closed: forget the session. */
  closed(): void;
}

/**
 * `change()` refused a change: `code` is `ERR_INVALID_FRAME` (the value rule), `ERR_DATA_LIMIT`,
 * `ERR_STORAGE_FULL` (a new channel past `maxStoredChannels`),
 * `ERR_INVALID_CHANNEL` (the channel's name), `ERR_CHANNEL_UNAVAILABLE` (no room to load it), or
 * `ERR_STOPPED` (the Node server's handle after `close()`).
 */
export class ChangeRefusedError extends Error {
  override readonly name = 'ChangeRefusedError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A user hook (`authenticate`, `authorize`) returned a promise or another thenable: the hooks run
 * inside frame handling and must answer synchronously. From plain JavaScript an `async` hook type
 * checks nowhere; counting its promise as a refusal (4401, forbidden) would blame the user for a
 * server bug, so the connection is closed with 1011 and this goes to `onError`.
 */
export class HookResultError extends TypeError {
  override readonly name = 'HookResultError';
  readonly code = 'ERR_HOOK_RESULT';
  constructor(readonly hook: 'authenticate' | 'authorize') {
    super(
      `statesocket server: the ${hook} hook returned a promise (an async function?); it must return ${hook === 'authenticate' ? 'an identity or null' : 'true or false'} synchronously. ` +
        'Connections it meets are closed with 1011 until it is fixed: look up what it needs before the server starts, or keep it in memory.',
    );
  }
}

/** The close reason of a connection that met a `HookResultError` (within a close frame's 123 bytes). */
const HOOK_RESULT_REASON = (hook: string) => `server misconfigured: the ${hook} hook returned a promise`;

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';

/**
 * Default of `SyncServerOptions.dedupRetentionMs`: 1 minute. A client whose connection dropped
 * re-sends within seconds (its reconnect backoff is at most 30 s by default, 1013 waits a few
 * seconds more), and with 10 000 ids (`dedupSize`) the server still takes about 166 new ops per
 * second without deferring one; an id older than this is still kept until `dedupSize` newer
 * ones push it out, so a quiet server remembers ids far longer.
 */
export const DEFAULT_DEDUP_RETENTION_MS = 60_000;

/**
 * `SyncServerOptions.initial` cannot be served. `rule` says which rule a channel's data breaks:
 * `'depth'` (nested deeper than `maxValueDepth`), `'value'` (the value rule) or `'size'` (over
 * `maxDataBytes`), with `bytes` the data's size then; `channel` names the channel.
 */
export class InitialStateError extends RangeError {
  override readonly name = 'InitialStateError';
  constructor(
    readonly rule: 'depth' | 'value' | 'size',
    message: string,
    readonly bytes?: number,
    readonly channel: string = DEFAULT_CHANNEL,
  ) {
    super(message);
  }
}

/** Default of `SyncServerOptions.maxStoredChannels`. */
export const DEFAULT_MAX_STORED_CHANNELS = 100_000;

/** Default of `SyncServerOptions.maxClientIds`. */
export const DEFAULT_MAX_CLIENT_IDS = 100_000;

/** Default of `SyncServerOptions.maxDataBytes`: a snapshot of a full document still fits in 1 MiB. */
export const DEFAULT_MAX_DATA_BYTES = 1_047_552;

function newEpoch(random: () => number): string {
  const part = () => Math.floor(random() * 2 ** 32).toString(36).padStart(7, '0');
  return part() + part();
}

/** The owner of the op ids loaded from the data file (session owners are `address …` or `session …`). */
const LOADED_OWNER = 'data file';

const SYSTEM_TIMERS: Omit<SyncServerTimers, 'now'> = {
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export function createSyncServer(options: SyncServerOptions = {}) {
  if (options.token !== undefined && options.authenticate !== undefined) {
    throw new TypeError('createSyncServer: give token or authenticate, not both');
  }
  const dedupSize = options.dedupSize ?? 10_000;
  const dedupRetentionMs = options.dedupRetentionMs ?? DEFAULT_DEDUP_RETENTION_MS;
  const given = options.timers;
  const now = options.now ?? (given === undefined ? Date.now : () => given.now());
  const baseTimers = options.timers ?? SYSTEM_TIMERS;
  /** After `close()`, no timer is started: sockets that end afterwards leave nothing running. */
  let closed = false;
  const timers = {
    setTimeout: (callback: () => void, ms: number): unknown => (closed ? undefined : baseTimers.setTimeout(callback, ms)),
    clearTimeout: (handle: unknown): void => {
      if (handle !== undefined) baseTimers.clearTimeout(handle);
    },
  };
  const maxHellosPerMinute = options.maxHellosPerMinute ?? 10;
  const maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const random = options.random ?? Math.random;
  const V2 = DEFAULT_V2_LIMITS;
  const channelLimits = {
    logSize: options.logSize ?? 1000,
    maxDataBytes: options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES,
    value: {
      maxValueDepth: options.maxValueDepth ?? DEFAULT_VALUE_LIMITS.maxValueDepth,
      maxOpBytes: options.maxOpBytes ?? DEFAULT_VALUE_LIMITS.maxOpBytes,
    },
    marks: {
      maxClientsPerChannel: options.maxClientsPerChannel ?? V2.maxClientsPerChannel,
      markRetentionMs: options.markRetentionMs ?? V2.markRetentionMs,
      maxRefusalsPerClient: options.maxRefusalsPerClient ?? V2.maxRefusalsPerClient,
    },
    counters: undefined as unknown as ServerCounters,
  };
  const maxChannelsInMemory = options.maxChannelsInMemory ?? V2.maxChannelsInMemory;
  const channelIdleMs = options.channelIdleMs ?? V2.channelIdleMs;
  const maxStoredChannels = options.maxStoredChannels ?? DEFAULT_MAX_STORED_CHANNELS;

  const counters: ServerCounters = {
    connections: 0,
    sessions: 0,
    rejectedFrames: 0,
    opsApplied: 0,
    opsDuplicate: 0,
    opsRefused: 0,
    opsNotPersisted: 0,
    opsDeferred: 0,
    slowConsumers: 0,
    helloFloods: 0,
    authFailures: 0,
    snapshotsSent: 0,
    replays: 0,
    channels: 0,
    subscriptions: 0,
    subscribesRefused: 0,
    channelsUnloaded: 0,
    marksForgotten: 0,
    opsForgotten: 0,
    chunkedFrames: 0,
    changesServed: 0,
    presenceJoins: 0,
    presenceLeaves: 0,
    tokenRefreshes: 0,
    tokenExpiries: 0,
    clientsReplaced: 0,
    clientIdsRefused: 0,
    v1Sessions: 0,
  };
  channelLimits.counters = counters;

  // ── time that never goes back (marks, welcomes: docs/protocol.md "Resends and forgotten clients") ──
  let lastTime = options.initial?.time ?? 0;
  const time = () => {
    const t = now();
    if (t > lastTime) lastTime = t;
    return lastTime;
  };

  // ── channels ──
  const channels = new Map<string, Channel>();
  /** Loaded channels nobody holds, the longest idle first. */
  const idle = new Set<Channel>();

  const makeChannel = (name: string, stored?: { data?: Record<string, Json>; marks?: PersistedMarks | undefined }): Channel => {
    try {
      return new Channel(name, channelLimits, stored);
    } catch (error) {
      if (error instanceof StoredDataError) {
        const what = name === DEFAULT_CHANNEL ? 'initial data' : `initial data of channel ${name}`;
        throw new InitialStateError(error.rule, `${what}${error.message.slice('data'.length)}`, error.bytes, name);
      }
      throw error;
    }
  };

  // The data file: `data` is the default channel's; `channels` every other one's, and marks.
  {
    const initial = options.initial;
    const stored = initial?.channels ?? {};
    const defaultEntry = stored[DEFAULT_CHANNEL];
    channels.set(DEFAULT_CHANNEL, makeChannel(DEFAULT_CHANNEL, { data: initial?.data ?? {}, marks: marksOf(defaultEntry) }));
    for (const name of Object.keys(stored)) {
      if (name === DEFAULT_CHANNEL) continue;
      if (!isChannelName(name)) throw new InitialStateError('value', `initial state names a channel ${JSON.stringify(String(name).slice(0, 140))} that breaks the name rule`, undefined, name);
      channels.set(name, makeChannel(name, { data: stored[name]?.data ?? {}, marks: marksOf(stored[name]) }));
    }
  }
  function marksOf(entry: PersistedChannel | undefined): PersistedMarks | undefined {
    if (entry?.marks === undefined && entry?.horizon === undefined) return undefined;
    return entry.horizon === undefined ? { marks: entry.marks ?? [] } : { marks: entry.marks ?? [], horizon: entry.horizon };
  }

  const channelNamed = (name: string): Channel => {
    let channel = channels.get(name);
    if (channel === undefined) channels.set(name, (channel = makeChannel(name)));
    return channel;
  };

  /** Nothing stored: no data, no marks, nothing forgotten (and not `default`, which always exists). */
  const isEmpty = (channel: Channel): boolean =>
    channel.data.size === 0 && channel.marks.size === 0 && channel.marks.horizon === undefined && channel.name !== DEFAULT_CHANNEL;

  /** Channels that store something (`default` aside): bounded by `maxStoredChannels`. */
  const stored = new Set<Channel>();
  /** Keeps `stored` up to date after a change to the channel's data or marks. */
  const restock = (channel: Channel): void => {
    if (channel.name === DEFAULT_CHANNEL) return;
    if (isEmpty(channel)) stored.delete(channel);
    else stored.add(channel);
  };
  for (const channel of channels.values()) restock(channel);
  /** Whether the channel may store something: it does already, or there is room for one more. */
  const roomFor = (channel: Channel): boolean => channel.name === DEFAULT_CHANNEL || stored.has(channel) || stored.size < maxStoredChannels;

  function unload(channel: Channel): void {
    idle.delete(channel);
    timers.clearTimeout(channel.idleTimer);
    channel.idleTimer = undefined;
    channel.unload();
    counters.channels--;
    counters.channelsUnloaded++;
    // A channel with nothing to keep need not stay in the map (a flood of names leaves nothing behind).
    if (isEmpty(channel)) channels.delete(channel.name);
  }

  function load(channel: Channel): boolean {
    if (channel.loaded) return true;
    if (counters.channels >= maxChannelsInMemory) {
      const victim = idle.values().next().value as Channel | undefined;
      if (victim === undefined) {
        // Refused: a name with nothing stored leaves nothing behind (a flood of names cannot grow the map).
        if (isEmpty(channel)) channels.delete(channel.name);
        return false;
      }
      unload(victim);
      if (!channels.has(channel.name)) channels.set(channel.name, channel);
    }
    channel.load(newEpoch(random));
    counters.channels++;
    channel.idleSince = now();
    if (!channel.held) becameIdle(channel);
    return true;
  }

  function becameIdle(channel: Channel): void {
    if (!channel.loaded || channel.held || idle.has(channel)) return;
    idle.add(channel);
    channel.idleSince = now();
    timers.clearTimeout(channel.idleTimer);
    channel.idleTimer = timers.setTimeout(() => {
      channel.idleTimer = undefined;
      if (idle.has(channel) && !channel.held) unload(channel);
    }, channelIdleMs);
  }

  function hold(channel: Channel): void {
    if (!idle.delete(channel)) return;
    timers.clearTimeout(channel.idleTimer);
    channel.idleTimer = undefined;
  }

  const released = (channel: Channel) => {
    if (!channel.held) becameIdle(channel);
  };

  // ── version 1's op records ──
  // Both records keep each id with when it was recorded and its owner (see op-record.ts); the
  // refused one keeps the code. Ids loaded from a file without times count as recorded long ago.
  const recordOptions = { size: dedupSize, retentionMs: dedupRetentionMs, now };
  const applied = createOpRecord<true>(recordOptions);
  const refused = createOpRecord<string>(recordOptions);
  {
    const initial = options.initial;
    const longAgo = now() - dedupRetentionMs;
    const initialIds = initial?.appliedOpIds ?? [];
    const keptFrom = Math.max(0, initialIds.length - dedupSize);
    const ownerAt = (index: number | undefined) => (index === undefined ? undefined : initial?.opOwners?.[index]) ?? LOADED_OWNER;
    for (let i = keptFrom; i < initialIds.length; i++) {
      applied.add(initialIds[i]!, ownerAt(initial?.appliedOpOwners?.[i]), true, initial?.appliedOpTimes?.[i] ?? longAgo);
    }
    for (const op of (initial?.refusedOps ?? []).slice(-dedupSize)) refused.add(op.id, ownerAt(op.owner), op.code, op.at ?? longAgo);
  }

  // ── client ids' users (per-user tokens): see client-owners.ts ──
  const clientOwners = new ClientOwners(
    { maxClientIds: options.maxClientIds ?? DEFAULT_MAX_CLIENT_IDS, retentionMs: channelLimits.marks.markRetentionMs },
    options.initial?.clientOwners ?? ownersFromMarks(Object.values(options.initial?.channels ?? {}).flatMap((entry) => entry.marks ?? [])),
  );

  const persisted = (): PersistedState => {
    // One pass over the applied record (it is written before every op's ack); each owner's name
    // is written once (a record of 10 000 ids has few owners), the ids refer to it by index.
    const owners = new Map<string, number>();
    const ownerIndex = (owner: string) => {
      let index = owners.get(owner);
      if (index === undefined) owners.set(owner, (index = owners.size));
      return index;
    };
    const appliedOpIds: string[] = [];
    const appliedOpTimes: number[] = [];
    const appliedOpOwners: number[] = [];
    for (const [id, { at, owner }] of applied.entries()) {
      appliedOpIds.push(id);
      appliedOpTimes.push(at);
      appliedOpOwners.push(ownerIndex(owner));
    }
    const refusedOps = Array.from(refused.entries(), ([id, { value: code, at, owner }]) => ({ id, code, at, owner: ownerIndex(owner) }));
    const stored: Record<string, PersistedChannel> = {};
    for (const channel of channels.values()) {
      const marks = channel.marks.persisted();
      const entry: PersistedChannel = {};
      if (channel.name !== DEFAULT_CHANNEL) {
        if (channel.data.size === 0 && marks === undefined) continue;
        entry.data = channel.plainData();
      }
      if (marks !== undefined) {
        entry.marks = marks.marks;
        if (marks.horizon !== undefined) entry.horizon = marks.horizon;
      }
      if (channel.name === DEFAULT_CHANNEL && marks === undefined) continue;
      stored[channel.name] = entry;
    }
    const defaultData = (channels.get(DEFAULT_CHANNEL) as Channel).plainData();
    return {
      data: defaultData,
      appliedOpIds,
      appliedOpTimes,
      appliedOpOwners,
      refusedOps,
      opOwners: [...owners.keys()],
      channels: stored,
      time: lastTime,
      clientOwners: clientOwners.persisted(),
    };
  };

  /** Write, then broadcast (see `ServerContext.commit`). */
  function commit(channel: Channel, checked: Checked, mark?: { key: string; owner: string; n: number }, v1Op?: { id: string; owner: string }): LogEntry {
    const undo = channel.stage(checked);
    const markUndo = mark === undefined ? undefined : channel.marks.raise(mark.key, mark.owner, mark.n, time());
    if (v1Op !== undefined) applied.add(v1Op.id, v1Op.owner, true);
    try {
      options.onChange?.(persisted, 'change');
    } catch (error) {
      undo();
      if (markUndo !== undefined) channel.marks.undo(markUndo);
      if (v1Op !== undefined) applied.delete(v1Op.id);
      throw error;
    }
    if (v1Op !== undefined) applied.trim();
    restock(channel);
    const entry = channel.appendLog(checked);
    for (const sub of channel.subscribers) sub.deliver(entry.text, entry.bytes);
    if (channel.v1.size > 0) {
      const text = channel.v1Text(entry);
      const bytes = entry.bytes - (entry.text.length - text.length);
      for (const holder of channel.v1) holder.deliver(text, bytes);
    }
    return entry;
  }

  // ── authentication and authorization ──
  const authenticateHook = options.authenticate;
  const sharedToken = options.token;
  const authRequired = authenticateHook !== undefined || sharedToken !== undefined;
  const ANONYMOUS: Identity = { user: null };

  function authenticate(token: string): Identity | null {
    if (sharedToken !== undefined) return tokensEqual(token, sharedToken) ? ANONYMOUS : null;
    if (authenticateHook === undefined) return ANONYMOUS;
    let identity: unknown;
    try {
      identity = authenticateHook(token);
    } catch {
      return null; // a user hook that throws refuses: never a dead process
    }
    if (isThenable(identity)) throw hookMisused('authenticate', identity);
    return identity !== null && isIdentity(identity) ? identity : null;
  }

  const reportedHooks = new Set<string>();
  /** A hook returned a promise: report it (once per hook) and return the error that ends the connection. */
  function hookMisused(hook: 'authenticate' | 'authorize', result: PromiseLike<unknown>): HookResultError {
    try {
      // Its rejection, if any, must not become an unhandled rejection that kills the process.
      result.then(undefined, () => {});
    } catch {
      // a thenable whose then throws: nothing to wait for
    }
    const error = new HookResultError(hook);
    if (!reportedHooks.has(hook)) {
      reportedHooks.add(hook);
      try {
        (options.onError ?? ((e: Error) => console.error(e.message)))(error);
      } catch {
        // the reporter's own failure must not hide the close
      }
    }
    return error;
  }

  /**
   * What a hook returned is an identity the frames can carry: a user of 1 to 128 characters (or
   * null), an `info` object that is JSON, a whole-number `expiresAt`. Anything else counts as a
   * wrong token (a hook's bug must not send malformed frames to every member).
   */
  function isIdentity(value: unknown): value is Identity {
    if (typeof value !== 'object' || value === null) return false;
    const { user, info, expiresAt, scope } = value as Record<string, unknown>;
    if (user !== null && (typeof user !== 'string' || user.length < 1 || user.length > 128)) return false;
    if (expiresAt !== undefined && !(typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt) && expiresAt >= 0)) return false;
    if (scope !== undefined && !(Array.isArray(scope) && scope.every((p) => typeof p === 'string'))) return false;
    if (info === undefined) return true;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) return false;
    try {
      return typeof JSON.stringify(info) === 'string';
    } catch {
      return false;
    }
  }

  function authorize(identity: Identity, channel: string, action: ChannelAction): boolean {
    if (options.authorize === undefined) return true;
    let allowed: unknown;
    try {
      allowed = options.authorize({ user: identity.user, channel, action, identity });
    } catch {
      return false;
    }
    if (isThenable(allowed)) throw hookMisused('authorize', allowed);
    return allowed === true;
  }

  /**
   * Runs a session's frame handling; a `HookResultError` from it closes the connection with 1011
   * (the handlers change shared state only after the hooks answer, and the session's own state
   * goes with it). Anything else is a bug and propagates.
   */
  function guarded(session: LiveSession, handle: () => void): void {
    try {
      handle();
    } catch (error) {
      if (!(error instanceof HookResultError)) throw error;
      drop(session, SyncCloseCode.INTERNAL_ERROR, HOOK_RESULT_REASON(error.hook));
    }
  }

  const expiryFields = (identity: Identity): { expiresAt?: number; expiresInMs?: number } =>
    identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt, expiresInMs: Math.max(0, identity.expiresAt - now()) };

  // ── sessions ──
  let sessionCount = 0;
  const live = new Set<LiveSession>();
  const clients = new Map<string, LiveSession>();

  function end(session: LiveSession): void {
    if (session.gone) return;
    session.gone = true;
    live.delete(session);
    counters.sessions = live.size;
    v1.end(session);
    v2.end(session);
  }

  function drop(session: LiveSession, code: number, reason: string): void {
    if (session.gone) return;
    end(session);
    session.peer.close(code, reason);
  }

  function send(session: LiveSession, frame: object): void {
    if (!session.gone) session.out.send(undefined, JSON.stringify(frame));
  }

  function reject(session: LiveSession, code: string, message: string, extra?: Record<string, unknown>): void {
    counters.rejectedFrames++;
    send(session, extra === undefined ? { type: 'error', code, message } : { type: 'error', code, message, ...extra });
  }

  function helloAllowed(session: LiveSession): boolean {
    const t = now();
    if (session.hellos === 0 || t - session.helloWindowStart >= 60_000 || t < session.helloWindowStart) {
      session.hellos = 0;
      session.helloWindowStart = t;
    }
    session.hellos++;
    if (session.hellos <= maxHellosPerMinute) return true;
    counters.helloFloods++;
    drop(session, SyncCloseCode.TRY_AGAIN_LATER, `too many hellos (over ${maxHellosPerMinute} a minute); try again later`);
    return false;
  }

  /** Judges a token at connect (the URL's) or in the hello; false when the connection was closed. */
  function judgeToken(session: LiveSession, token: string | undefined): boolean {
    if (session.identity !== undefined) return true;
    if (!authRequired) {
      session.identity = ANONYMOUS;
      return true;
    }
    const identity = token === undefined ? null : authenticate(token);
    if (identity === null) {
      counters.authFailures++;
      session.info.onAuthenticated?.(false);
      drop(session, SyncCloseCode.UNAUTHORIZED, token === undefined ? 'token required' : 'invalid token');
      return false;
    }
    session.info.onAuthenticated?.(true);
    if (identity.expiresAt !== undefined && identity.expiresAt <= now()) {
      counters.tokenExpiries++;
      drop(session, SyncCloseCodeV2.TOKEN_EXPIRED, 'token expired; get a fresh one and reconnect');
      return false;
    }
    session.identity = identity;
    return true;
  }

  const presence: PresenceContext = {
    get graceMs() {
      return options.presenceGraceMs ?? V2.presenceGraceMs;
    },
    now: time,
    setTimeout: (callback, ms) => timers.setTimeout(callback, ms),
    clearTimeout: (handle) => timers.clearTimeout(handle),
    counters,
    released,
  };

  const ctx: ServerContext = {
    counters,
    limits: {
      maxHellosPerMinute,
      maxPayloadBytes: options.maxPayloadBytes ?? V2.maxMessageBytes,
      presenceGraceMs: options.presenceGraceMs ?? V2.presenceGraceMs,
      refreshBeforeMs: options.refreshBeforeMs ?? V2.refreshBeforeMs,
      maxChannelsPerConnection: options.maxChannelsPerConnection ?? V2.maxChannelsPerConnection,
      maxSubscribesPerMinute: options.maxSubscribesPerMinute ?? V2.maxSubscribesPerMinute,
    },
    time,
    now,
    setTimeout: (callback, ms) => timers.setTimeout(callback, ms),
    clearTimeout: (handle) => {
      if (handle !== undefined) timers.clearTimeout(handle);
    },
    presence,
    channel: channelNamed,
    load,
    hold,
    released,
    commit,
    clientOwners,
    persistClientOwner() {
      try {
        options.onChange?.(persisted, 'client');
      } catch {
        // Kept in memory: the next write carries it.
      }
    },
    isEmpty,
    roomFor,
    restock,
    persistRefusal() {
      try {
        options.onChange?.(persisted, 'refusal');
        return true;
      } catch {
        return false;
      }
    },
    authRequired,
    authenticate,
    authorize,
    clients,
    applied,
    refused,
    onApply: options.onApply,
    send,
    reject,
    drop,
    helloAllowed,
    judgeHelloToken: judgeToken,
    expiryFields,
  };
  const v1 = createV1Sessions(ctx);
  const v2 = createV2Sessions(ctx);

  /** A frame before any hello was accepted: ping, hello, or nothing else. */
  function receiveFirst(session: LiveSession, value: unknown): void {
    const type = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined;
    if (type === 'ping') return send(session, { type: 'pong' });
    if (type !== 'hello') {
      const known = type === 'op' || type === 'subscribe' || type === 'unsubscribe' || type === 'changes' || type === 'auth';
      if (known) return reject(session, ServerErrorCode.HELLO_REQUIRED, 'send hello first; the frame had no effect (an op was not applied: send it again after the welcome)');
      return reject(session, ServerErrorCode.INVALID_FRAME, `expected a hello (or a ping) first; received ${type === undefined ? 'a frame without a type' : `a frame of type ${JSON.stringify(String(type).slice(0, 40))}`}`);
    }
    const hello = parseHello(value);
    if (!hello.ok) return reject(session, hello.code, hello.problem);
    if (hello.version === 'unsupported') {
      if (!helloAllowed(session)) return;
      return drop(session, SyncCloseCode.UNSUPPORTED_VERSION, `unsupported protocol version ${hello.frame.v}; this server speaks 1 and 2`);
    }
    if (hello.version === 1) return v1.greet(session, hello.frame);
    return v2.greet(session, hello.frame);
  }

  return {
    /** The `default` channel's epoch (loading it when it is not). */
    get epoch(): string {
      const channel = channelNamed(DEFAULT_CHANNEL);
      load(channel);
      return channel.epoch as string;
    },
    /** The `default` channel's seq. */
    get seq(): number {
      return channelNamed(DEFAULT_CHANNEL).seq;
    },
    counters,
    /** The `default` channel's data as a plain object. */
    data: (): Record<string, Json> => channelNamed(DEFAULT_CHANNEL).plainData(),
    /** UTF-8 bytes of the `default` channel's data as JSON (kept incrementally). */
    get dataBytes() {
      return channelNamed(DEFAULT_CHANNEL).dataBytes;
    },
    /**
     * One channel's state, loading it when it is not loaded (a new epoch, as any load).
     * @throws ChangeRefusedError `ERR_INVALID_CHANNEL` for a name that breaks the rule, `ERR_CHANNEL_UNAVAILABLE` when it cannot be loaded
     */
    channelState(name: string = DEFAULT_CHANNEL) {
      const channel = loadedChannel(name);
      return {
        channel: name,
        epoch: channel.epoch as string,
        seq: channel.seq,
        data: channel.plainData(),
        members: JSON.parse(presenceFrame(channel)).members as unknown[],
      };
    },
    /** Names of the channels the server knows (loaded or stored). */
    channelNames: (): string[] => [...channels.keys()],
    persisted,
    /** Live sessions (greeted or not). */
    get sessionCount() {
      return live.size;
    },
    /** A new transport connection; call `receive` for each frame, `drained` when its buffer drains and `closed` when it ends. */
    connect(peer: Peer, info: ConnectInfo = {}): Session {
      counters.connections++;
      const session: LiveSession = {
        peer,
        info,
        owner: info.owner !== undefined ? `address ${info.owner}` : `session ${++sessionCount}`,
        out: undefined as unknown as Outgoing,
        version: 0,
        gone: false,
        identity: undefined,
        hellos: 0,
        helloWindowStart: 0,
        auths: 0,
        authWindowStart: 0,
        client: '',
        key: '',
        welcomeTime: 0,
        subs: new Map(),
        subscribeTimes: new Map(),
        refreshTimer: undefined,
        expiryTimer: undefined,
        v1: undefined,
      };
      session.out = new Outgoing(
        peer,
        maxBufferedBytes,
        () => {
          counters.slowConsumers++;
          drop(session, SyncCloseCode.TRY_AGAIN_LATER, `slow consumer: over ${maxBufferedBytes} bytes buffered`);
        },
        counters,
      );
      live.add(session);
      counters.sessions = live.size;
      // A URL token wins: judged now, before any frame (docs/protocol.md, "Tokens").
      if (authRequired && info.urlToken != null) guarded(session, () => judgeToken(session, info.urlToken as string));
      return {
        receive(raw) {
          if (session.gone) return;
          let value: unknown;
          try {
            const frame =
              typeof raw === 'string' || raw instanceof ArrayBuffer
                ? raw
                : (raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer);
            value = parseJsonFrame(frame);
          } catch (error) {
            return reject(session, ServerErrorCode.MALFORMED_FRAME, `frame is not JSON: ${(error as Error).message}`);
          }
          guarded(session, () => {
            if (session.version === 2) v2.receive(session, value);
            else if (session.version === 1) v1.receive(session, value);
            else receiveFirst(session, value);
          });
        },
        drained() {
          if (!session.gone) session.out.drained();
        },
        closed() {
          end(session);
        },
      };
    },

    /**
     * A change made by the server itself (a live feed, the control route, the simulator) on a
     * channel (`default` unless named): the same value rule and data limit as ops. Throws
     * `ChangeRefusedError` when refused, and rethrows an `onChange` failure (the change is then
     * undone and was not broadcast).
     */
    change(changes: Changes, name: string = DEFAULT_CHANNEL): { epoch: string; seq: number; channel: string } {
      const channel = loadedChannel(name);
      const checked = channel.validate(changes);
      if (Array.isArray(checked)) throw new ChangeRefusedError(checked[0], checked[1]);
      if (!roomFor(channel)) throw new ChangeRefusedError(ErrorCodeV2.STORAGE_FULL, `channel ${name} stores nothing yet, and the server stores maxStoredChannels (${maxStoredChannels}) channels`);
      const entry = commit(channel, checked);
      return { epoch: channel.epoch as string, seq: entry.seq, channel: name };
    },

    /**
     * The `restart` fault: every loaded channel gets a new epoch and an empty log, every session
     * ends (no presence grace: members are dropped, as in a real restart); data and marks stay.
     * The transport must drop every connection.
     */
    restart(): void {
      for (const session of [...live]) {
        session.gone = true; // no grace, no leaves: the members go with the process
        timers.clearTimeout(session.refreshTimer);
        timers.clearTimeout(session.expiryTimer);
      }
      live.clear();
      clients.clear();
      counters.sessions = 0;
      counters.subscriptions = 0;
      counters.v1Sessions = 0;
      for (const channel of channels.values()) {
        channel.subscribers.clear();
        channel.v1.clear();
        clearMembers(timers, channel);
        if (channel.loaded) {
          channel.load(newEpoch(random));
          becameIdle(channel);
        }
      }
    },

    /** Clears every timer (grace periods, token expiries, idle channels) and starts none after; sessions are the transport's to close. */
    close(): void {
      closed = true;
      for (const session of live) {
        timers.clearTimeout(session.refreshTimer);
        timers.clearTimeout(session.expiryTimer);
      }
      for (const channel of channels.values()) {
        timers.clearTimeout(channel.idleTimer);
        channel.idleTimer = undefined;
        for (const member of channel.members.values()) timers.clearTimeout(member.graceTimer);
      }
    },
  };

  function loadedChannel(name: string): Channel {
    if (!isChannelName(name)) throw new ChangeRefusedError(ErrorCodeV2.INVALID_CHANNEL, `${JSON.stringify(String(name).slice(0, 140))} is not a channel name: 1 to 128 characters of A-Z a-z 0-9 _ . : / @ -, not "__proto__"`);
    const channel = channelNamed(name);
    if (!load(channel)) throw new ChangeRefusedError(ErrorCodeV2.CHANNEL_UNAVAILABLE, `channel ${name} cannot be loaded: maxChannelsInMemory (${maxChannelsInMemory}) are loaded and none is idle`);
    return channel;
  }
}

export type SyncServer = ReturnType<typeof createSyncServer>;
