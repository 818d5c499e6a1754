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
import { DEFAULT_VALUE_LIMITS, checkChanges } from '../sync/values.js';
import { Channel, type Checked } from './channel.js';
import { EngineUnavailableError, refuseEngineOwnedOptions, type AppendResult, type Answer, type ChannelEntry, type ChannelListener, type ChannelState, type Engine, type Following, type PresenceChange } from './engine.js';
import { followedDocument, memoryEngine, type MemoryEngine } from './engines/memory.js';
import { Outgoing } from './outgoing.js';
import { memberJoined, memberLeft, presenceFrame, type PresenceContext } from './presence.js';
import { DEFAULT_DEDUP_RETENTION_MS, DEFAULT_MAX_CLIENT_IDS, DEFAULT_MAX_DATA_BYTES, DEFAULT_MAX_STORED_CHANNELS, type PersistedState } from './stored-state.js';
import { createV1Sessions } from './session-v1.js';
import { createV2Sessions } from './session-v2.js';
import type { AuthorizeRequest, ChannelAction, Identity, Lane, LiveSession, ServerContext, Subscription } from './session.js';
import { tokensEqual } from './token-equal.js';

export type { AuthorizeRequest, ChannelAction, Identity } from './session.js';
export { DEFAULT_DEDUP_RETENTION_MS, DEFAULT_MAX_CLIENT_IDS, DEFAULT_MAX_DATA_BYTES, DEFAULT_MAX_STORED_CHANNELS, InitialStateError } from './stored-state.js';
export type { PersistedChannel, PersistedState, RefusedOp } from './stored-state.js';

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
   * them); a client further behind gets a snapshot. Also what `changes` can list. With an `engine`
   * of your own, the log of the server's copy in memory: the store's log (how far back a replay
   * reaches) is the engine's own (`redisEngine({ logSize })`).
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
   * The default memory engine's state to start from (a restart from the data file); not read
   * with `engine`. Throws `InitialStateError` when a
   * channel's data breaks the value rule or is over `maxDataBytes`. Holding more than `dedupSize`
   * version 1 op ids (or refused ids), it keeps the newest (last) `dedupSize`.
   */
  initial?: PersistedState;
  /**
   * The default memory engine's writer (not read with `engine`). Called after every change to the
   * persisted state, before anything about it goes out: persist
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
  /**
   * Where channels, marks, records, client ids' users and presence live (engine.ts). Given one,
   * the options about storage (`initial`, `onChange`, `dedupSize`, `dedupRetentionMs`,
   * `maxClientsPerChannel`, `markRetentionMs`, `maxRefusalsPerClient`, `maxClientIds`,
   * `maxStoredChannels`) are the engine's own: given here as well, they are refused with a
   * `TypeError` naming them (give them to the engine).
   * @default memoryEngine() with those options (and this server's clock, timers and `random`)
   */
  engine?: Engine;
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
  /** Times the engine became unavailable (every client closed with 1013). */
  engineOutages: number;
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
  if (options.engine !== undefined && (options.initial !== undefined || options.onChange !== undefined)) {
    throw new TypeError("createSyncServer: initial and onChange are the memory engine's; with engine, give them to memoryEngine({ initial, onChange })");
  }
  refuseEngineOwnedOptions('createSyncServer', options);
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
    engineOutages: 0,
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

  // ── the engine (engine.ts): the memory engine unless one is given ──
  // Its own log stays empty (`logSize: 0`): this server is its only follower, and the copy's log
  // already holds every entry `readLog` could serve. Both start at the epoch's seq 0 (the memory
  // engine starts an epoch at the first follow) and keep the last `logSize` entries; the copy
  // also drops the oldest past `maxDataBytes`, and those `olderPatches` refuses anyway (with them
  // the replay would pass that bound). A second log of change objects, alive for `logSize` changes
  // each, was most of the heap under a feed and the collector's work (issue 14, scenario 11 (b)).
  const memory: MemoryEngine | undefined =
    options.engine === undefined
      ? memoryEngine({
          ...(options.initial === undefined ? {} : { initial: options.initial }),
          ...(options.onChange === undefined ? {} : { onChange: options.onChange }),
          logSize: 0,
          maxDataBytes: channelLimits.maxDataBytes,
          maxValueDepth: channelLimits.value.maxValueDepth,
          ...channelLimits.marks,
          maxClientIds: options.maxClientIds ?? DEFAULT_MAX_CLIENT_IDS,
          dedupSize,
          dedupRetentionMs,
          maxStoredChannels: options.maxStoredChannels ?? DEFAULT_MAX_STORED_CHANNELS,
          random,
          now,
          timers,
          counters,
        })
      : undefined;
  const engine: Engine = options.engine ?? (memory as MemoryEngine);
  /** This instance's name among the engine's users (presence holders, leases). */
  const instanceId = newInstanceId();
  let holders = 0;

  // ── time that never goes back (marks, welcomes: docs/protocol.md "Resends and forgotten clients") ──
  let lastTime = memory?.clockFloor ?? 0;
  const time = () => {
    const t = now();
    if (t > lastTime) lastTime = t;
    return lastTime;
  };

  // ── channels: the followed copies ──
  const channels = new Map<string, Channel>();
  /** Loaded channels nobody holds, the longest idle first. */
  const idle = new Set<Channel>();
  /** Each copy's checked change of an entry this instance appended (the engine hands the same object back). */
  const ownChecks = new WeakMap<object, Checked>();
  /** The check of the change in the engine's `append` now (see `append`). */
  let inHand: Checked | undefined;
  /** The server's own changes per channel still pending (see `change`). */
  const serverLanes = new Map<string, Promise<unknown>>();
  /** Foreign entries are measured again: no op bound applies to what the store already holds. */
  const entryLimits = { maxValueDepth: Number.MAX_SAFE_INTEGER, maxOpBytes: Number.MAX_SAFE_INTEGER };

  const channelNamed = (name: string): Channel => {
    let channel = channels.get(name);
    if (channel === undefined) channels.set(name, (channel = new Channel(name, channelLimits)));
    return channel;
  };

  function unload(channel: Channel): void {
    idle.delete(channel);
    timers.clearTimeout(channel.idleTimer);
    channel.idleTimer = undefined;
    const unfollow = channel.unfollow;
    channel.unload();
    counters.channels--;
    counters.channelsUnloaded++;
    channels.delete(channel.name);
    if (unfollow !== undefined) quietly(unfollow);
  }

  /** What every copy's listener does (one object per server; a copy's listener only names its channel). */
  const copyHost: CopyHost = {
    entries(channel, epoch, entries) {
      if (epoch !== channel.epoch) return;
      for (const entry of entries) {
        if (entry.seq <= channel.seq) continue; // seen already
        let checked = inHand !== undefined && inHand.changes === entry.changes ? inHand : ownChecks.get(entry.changes);
        // Kept no longer than its delivery: the engine's log still holds the changes object.
        if (checked !== undefined) {
          if (checked !== inHand) ownChecks.delete(entry.changes);
        } else {
          const measured = checkChanges(entry.changes, entryLimits);
          if (!measured.ok || entry.seq !== channel.seq + 1) return lost(channel);
          checked = measured;
        }
        deliver(channel, checked, entry.seq);
      }
    },
    reset(channel, state) {
      if (channel.unfollow === undefined) return;
      // The store lost the channel's log or state. A version 1 connection holds this channel alone:
      // it comes back (1013) and gets the new epoch's snapshot. A version 2 subscription gets it in
      // place, unasked, for this channel only; acks still waiting for an entry of the old epoch
      // close their clients (they resend, their marks answer).
      for (const session of live) if (session.v1 !== undefined && channel.v1.has(session.v1)) drop(session, SyncCloseCode.TRY_AGAIN_LATER, `channel ${channel.name} was reset by the server's store; reconnect`);
      const subscribers = [...channel.subscribers] as Subscription[];
      channel.start(state, sharedDocument(channel));
      for (const sub of subscribers) quietly(() => guarded(sub.session, () => v2.resync(sub)));
    },
    presence(channel, change) {
      if (channel.unfollow === undefined) return;
      if (change.type === 'join') memberJoined(presence, channel, change.member);
      else memberLeft(presence, channel, change.member);
    },
  };

  /**
   * The document a copy reads in place: its engine's, when that is this server's own memory
   * engine (its only follower, told within `append`); none with an engine given (issue 14: one
   * document per channel; docs/server.md, "Engines").
   */
  const sharedDocument = (channel: Channel) => (memory === undefined ? undefined : followedDocument(memory, channel.name));

  /** One entry to the copy, its log and every holder. */
  function deliver(channel: Channel, checked: Checked, seq: number): void {
    channel.apply(checked, seq);
    const entry = channel.appendLog(checked);
    for (const sub of channel.subscribers) sub.deliver(entry.text, entry.bytes);
    if (channel.v1.size > 0) {
      const text = channel.v1Text(entry);
      const bytes = entry.bytes - (entry.text.length - text.length);
      for (const holder of channel.v1) holder.deliver(text, bytes);
    }
    channel.entryApplied();
  }

  /** The sessions holding the channel (subscribers, version 1). */
  function holdersOf(channel: Channel): LiveSession[] {
    const found = new Set<LiveSession>();
    for (const sub of channel.subscribers) found.add((sub as { session?: LiveSession }).session as LiveSession);
    for (const session of live) if (session.v1 !== undefined && channel.v1.has(session.v1)) found.add(session);
    return [...found];
  }

  /** The copy cannot follow its entries (a gap, an entry it cannot read): its holders resync, the copy goes. */
  function lost(channel: Channel): void {
    for (const holder of holdersOf(channel)) drop(holder, SyncCloseCode.TRY_AGAIN_LATER, `channel ${channel.name} lost its place in the log; reconnect`);
    if (channel.loaded) unload(channel);
  }

  /** Loads (follows) the channel; false when `maxChannelsInMemory` are loaded and none is idle. */
  function load(channel: Channel): Answer<boolean> {
    if (channel.loaded) return true;
    if (channel.loading !== undefined) return channel.loading;
    if (!available) throw new EngineUnavailableError("the server's store is unavailable");
    if (counters.channels >= maxChannelsInMemory) {
      const victim = idle.values().next().value as Channel | undefined;
      if (victim === undefined) {
        // Refused: the name leaves nothing behind (a flood of names cannot grow the map).
        if (!channel.held) channels.delete(channel.name);
        return false;
      }
      unload(victim);
    }
    if (!channels.has(channel.name)) channels.set(channel.name, channel);
    counters.channels++;
    const listener = new CopyListener(channel, copyHost);
    const started = (following: Following): boolean => {
      channel.loading = undefined;
      // Only the function is kept: the state it came with (a copy of the document) can go.
      const unfollow = following.unfollow;
      if (channels.get(channel.name) !== channel || closed) {
        counters.channels--;
        quietly(unfollow);
        return false;
      }
      channel.unfollow = unfollow;
      try {
        channel.start(following, sharedDocument(channel));
      } catch (error) {
        counters.channels--;
        channel.unfollow = undefined;
        quietly(unfollow);
        throw error;
      }
      channel.idleSince = now();
      if (!channel.held) becameIdle(channel);
      return true;
    };
    let answer: Answer<Following>;
    try {
      answer = engine.follow(channel.name, listener);
    } catch (error) {
      counters.channels--;
      throw error;
    }
    if (!isThenable(answer)) return started(answer);
    const loading = Promise.resolve(answer).then(started, (error: unknown) => {
      channel.loading = undefined;
      counters.channels--;
      throw error;
    });
    channel.loading = loading;
    return loading;
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

  /** Appends a checked change; its entry comes back through the copy's listener with the same object. */
  function append(channel: Channel, checked: Checked, op: Parameters<Engine['append']>[2]): Answer<AppendResult> {
    // An engine that answers at once tells its followers within `append` (the memory engine): the
    // check is found in `inHand`, with no weak map entry per change (issue 14: the feed's CPU). One
    // that answers later tells them later: the check waits in `ownChecks` (set before any turn of
    // the loop can deliver the entry).
    const outer = inHand;
    inHand = checked;
    let answer: Answer<AppendResult>;
    try {
      answer = engine.append(channel.name, checked.changes, op, { maxDataBytes: channelLimits.maxDataBytes, entryBytes: checked.entryBytes });
    } finally {
      inHand = outer;
    }
    if (isThenable(answer)) ownChecks.set(checked.changes, checked);
    return answer;
  }

  // ── when the engine is unavailable: every client is closed with 1013, the instance keeps running ──
  let available = true;
  const UNAVAILABLE_REASON = "the server's store is unavailable; try again later";
  function engineUnavailable(): void {
    if (!available) return;
    available = false;
    counters.engineOutages++;
    for (const session of [...live]) drop(session, SyncCloseCode.TRY_AGAIN_LATER, UNAVAILABLE_REASON);
    // The copies may miss entries while it is away: they start again from the engine when it is back.
    for (const channel of [...channels.values()]) if (channel.loaded) unload(channel);
  }
  const stopStatus = engine.onStatus((status) => {
    if (status === 'unavailable') engineUnavailable();
    else available = true;
  });

  /** What to do with an engine call's failure: unavailable → every client 1013; else it is the caller's. */
  function failed(error: unknown): boolean {
    if (!(error instanceof EngineUnavailableError)) return false;
    engineUnavailable();
    return true;
  }

  /** An engine call nobody waits for. */
  function quietly(call: (() => Answer<unknown>) | Answer<unknown>): void {
    try {
      const answer = typeof call === 'function' ? call() : call;
      if (isThenable(answer)) answer.then(undefined, (error: unknown) => void failed(error));
    } catch (error) {
      failed(error);
    }
  }

  function notPersisted(session: LiveSession, error: unknown): void {
    if (failed(error)) return;
    counters.opsNotPersisted++;
    drop(session, SyncCloseCode.INTERNAL_ERROR, 'could not persist the change; it was not applied: send it again');
  }

  function step<T>(session: LiveSession, call: () => Answer<T>, next: (value: T) => Answer<void>): Answer<void> {
    let answer: Answer<T>;
    try {
      answer = call();
    } catch (error) {
      if (error instanceof HookResultError) throw error;
      return notPersisted(session, error);
    }
    if (!isThenable(answer)) return next(answer);
    return Promise.resolve(answer).then(
      (value) => (session.gone ? undefined : next(value)),
      (error: unknown) => notPersisted(session, error),
    );
  }

  function ackAfterDelivery(session: LiveSession, channel: Channel, epoch: string, seq: number, ack: () => void): Answer<void> {
    const delivered = channel.delivered(epoch, seq);
    const settle = (done: boolean) => {
      if (session.gone) return;
      if (done) return ack();
      // Applied in an epoch this copy no longer follows: the client resends, its mark answers.
      drop(session, SyncCloseCode.TRY_AGAIN_LATER, 'the channel moved to a new epoch before the ack; reconnect');
    };
    if (typeof delivered === 'boolean') return settle(delivered);
    return delivered.then(settle);
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
   * goes with it). Anything else is a bug: it propagates when thrown at once, and closes the
   * connection with 1011 when it comes later (after an engine's answer).
   */
  function guarded(session: LiveSession, handle: () => Answer<void>): Answer<void> {
    let answer: Answer<void>;
    try {
      answer = handle();
    } catch (error) {
      if (!(error instanceof HookResultError)) throw error;
      return drop(session, SyncCloseCode.INTERNAL_ERROR, HOOK_RESULT_REASON(error.hook));
    }
    if (!isThenable(answer)) return answer;
    return Promise.resolve(answer).then(undefined, (error: unknown) => {
      if (error instanceof HookResultError) return drop(session, SyncCloseCode.INTERNAL_ERROR, HOOK_RESULT_REASON(error.hook));
      drop(session, SyncCloseCode.INTERNAL_ERROR, 'internal error');
    });
  }

  // ── lanes: while a frame awaits the engine, later frames of its channel wait (in order) ──

  /** A frame's lane: its channel's (ops, subscribes, unsubscribes, changes), `default` for a version 1 session, none for the rest. */
  function laneOf(session: LiveSession, value: unknown): string | undefined {
    if (session.version === 1) return DEFAULT_CHANNEL;
    if (session.version !== 2 || typeof value !== 'object' || value === null) return undefined;
    const { type, channel } = value as { type?: unknown; channel?: unknown };
    return typeof channel === 'string' && (type === 'op' || type === 'subscribe' || type === 'unsubscribe' || type === 'changes') ? channel : undefined;
  }

  function handle(session: LiveSession, value: unknown): Answer<void> {
    return guarded(session, () => {
      if (session.version === 2) return v2.receive(session, value);
      if (session.version === 1) return v1.receive(session, value);
      return receiveFirst(session, value);
    });
  }

  /**
   * Handles a frame now, or queues it behind the frame of its lane (or of the whole session: a
   * hello) that awaits the engine. Frames of no lane (ping, auth) are handled at once.
   */
  function dispatch(session: LiveSession, value: unknown): void {
    if (session.backlog !== undefined) {
      session.backlog.push(value);
      return;
    }
    const name = laneOf(session, value);
    const lane = name === undefined ? undefined : session.lanes?.get(name);
    if (lane !== undefined) {
      lane.queue.push(value);
      return;
    }
    const answer = handle(session, value);
    if (!isThenable(answer)) return;
    if (session.version === 0 || name === undefined) {
      // A hello awaiting the engine: the session's next frames depend on its outcome.
      session.backlog = [];
      void answer.then(() => resumeBacklog(session));
      return;
    }
    const waiting: Lane = { busy: true, queue: [] };
    (session.lanes ??= new Map()).set(name, waiting);
    void answer.then(() => resumeLane(session, name, waiting));
  }

  function resumeLane(session: LiveSession, name: string, lane: Lane): void {
    while (!session.gone && lane.queue.length > 0) {
      const answer = handle(session, lane.queue.shift());
      if (isThenable(answer)) return void answer.then(() => resumeLane(session, name, lane));
    }
    session.lanes?.delete(name);
  }

  function resumeBacklog(session: LiveSession): void {
    const backlog = session.backlog ?? [];
    session.backlog = undefined;
    for (let i = 0; i < backlog.length && !session.gone; i++) {
      dispatch(session, backlog[i]);
      if (session.backlog !== undefined) {
        (session.backlog as unknown[]).push(...backlog.slice(i + 1));
        return;
      }
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

  const presence: PresenceContext = { counters, released };

  const ctx: ServerContext = {
    counters,
    presence,
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
    channel: channelNamed,
    load,
    hold,
    released,
    engine,
    newHolder: () => `${instanceId}/${++holders}`,
    append,
    step,
    quietly,
    ackAfterDelivery,
    authRequired,
    authenticate,
    authorize,
    clients,
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
  function receiveFirst(session: LiveSession, value: unknown): Answer<void> {
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
    /** The `default` channel's epoch (loading it when it is not; empty while an engine that answers later loads it). */
    get epoch(): string {
      return defaultChannel().epoch ?? '';
    },
    /** The `default` channel's seq. */
    get seq(): number {
      return defaultChannel().seq;
    },
    counters,
    /** The `default` channel's data as a plain object. */
    data: (): Record<string, Json> => defaultChannel().plainData(),
    /** UTF-8 bytes of the `default` channel's data as JSON (kept incrementally). */
    get dataBytes() {
      return defaultChannel().dataBytes;
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
    /** Loads the channel (when it is not), for `channelState` on an engine that answers later. */
    loadChannel(name: string = DEFAULT_CHANNEL): Promise<void> {
      if (!isChannelName(name)) return Promise.reject(invalidChannel(name));
      return Promise.resolve(loadOrFail(channelNamed(name))).then((loaded) => {
        if (!loaded) throw unavailableChannel(name);
      });
    },
    /** Names of the channels the server knows: loaded here, or stored in its memory engine. */
    channelNames(): string[] {
      const names = new Set(memory?.channelNames());
      for (const name of channels.keys()) names.add(name);
      return [...names];
    },
    /** The memory engine's state for the data file. @throws TypeError on a server given another engine */
    persisted(): PersistedState {
      if (memory === undefined) throw new TypeError('persisted(): this server keeps its state in the engine it was given, not in a data file');
      return memory.persisted();
    },
    /** The engine this server uses. */
    engine,
    /** This instance's name among the engine's users (presence holders, leases). */
    instanceId,
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
        lanes: undefined,
        backlog: undefined,
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
      if (!available) drop(session, SyncCloseCode.TRY_AGAIN_LATER, UNAVAILABLE_REASON);
      // A URL token wins: judged now, before any frame (docs/protocol.md, "Tokens").
      if (authRequired && info.urlToken != null && !session.gone) guarded(session, () => void judgeToken(session, info.urlToken as string));
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
          dispatch(session, value);
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
     * channel (`default` unless named): the same value rule and data limit as ops, checked on the
     * followed copy; then appended, delivered to every holder, and the promise resolves with its
     * epoch and seq. The server's changes of one channel are applied in call order: one at a time,
     * or, with an engine that keeps their order (`keepsServerAppendOrder`: Redis), the next
     * appended as soon as the last is in the engine's hands.
     * What it can tell at once it throws at once: `ChangeRefusedError` for a refusal, and, with
     * the memory engine, an `onChange` failure (the change was not applied nor broadcast); else
     * the promise rejects with it (and `EngineUnavailableError` when the store is unreachable).
     */
    change(changes: Changes, name: string = DEFAULT_CHANNEL): Promise<{ epoch: string; seq: number; channel: string }> {
      if (!isChannelName(name)) throw invalidChannel(name);
      const pending = serverLanes.get(name);
      if (pending === undefined && engine.keepsServerAppendOrder !== true) {
        // Nothing pending on the channel: the usual case, without a closure (the feed's path, issue 14).
        const answer = serverChange(changes, name);
        if (!isThenable(answer)) return Promise.resolve(answer);
        const done = Promise.resolve(answer);
        track(
          name,
          done.then(
            () => {},
            () => {},
          ),
        );
        return done;
      }
      // The next change of the lane waits for this one to end, or only for its append to be made.
      let handed: (() => void) | undefined;
      const turn = engine.keepsServerAppendOrder === true ? new Promise<void>((resolve) => (handed = resolve)) : undefined;
      const run = () => serverChange(changes, name, handed);
      let done: Promise<{ epoch: string; seq: number; channel: string }>;
      if (pending === undefined) {
        const answer = run();
        if (!isThenable(answer)) return Promise.resolve(answer);
        done = Promise.resolve(answer);
      } else done = pending.then(run, run);
      const ended = done.then(
        () => {},
        () => {},
      );
      track(name, turn === undefined ? ended : Promise.race([turn, ended]));
      return done;
    },

    /**
     * The `restart` fault: every session ends (no presence grace: members are dropped, as in a
     * real restart), every copy goes, and the memory engine forgets its epochs, logs and presence;
     * data and marks stay. Channels load again (a new epoch) when next used. The transport must
     * drop every connection.
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
      for (const channel of [...channels.values()]) {
        timers.clearTimeout(channel.idleTimer);
        const unfollow = channel.unfollow;
        channel.unload();
        if (unfollow !== undefined) quietly(unfollow);
      }
      channels.clear();
      idle.clear();
      serverLanes.clear();
      counters.channels = 0;
      engine.restartFault?.();
    },

    /**
     * Clears every timer (grace periods, token expiries, idle channels) and starts none after;
     * sessions are the transport's to close. Closes the memory engine it made (an engine given
     * in `options.engine` is yours to close).
     */
    close(): void {
      closed = true;
      stopStatus();
      for (const session of live) {
        timers.clearTimeout(session.refreshTimer);
        timers.clearTimeout(session.expiryTimer);
      }
      for (const channel of channels.values()) {
        timers.clearTimeout(channel.idleTimer);
        channel.idleTimer = undefined;
      }
      if (memory !== undefined) void memory.close();
    },
  };

  function invalidChannel(name: string): ChangeRefusedError {
    return new ChangeRefusedError(ErrorCodeV2.INVALID_CHANNEL, `${JSON.stringify(String(name).slice(0, 140))} is not a channel name: 1 to 128 characters of A-Z a-z 0-9 _ . : / @ -, not "__proto__"`);
  }

  /** The server's pending changes per channel: the next waits for `turn` of the last (it never rejects). */
  function track(name: string, turn: Promise<void>): void {
    serverLanes.set(name, turn);
    void turn.then(() => {
      if (serverLanes.get(name) === turn) serverLanes.delete(name);
    });
  }

  /** `handed`: called once the change is in the engine's hands (its `append` called). */
  function serverChange(changes: Changes, name: string, handed?: () => void): Answer<{ epoch: string; seq: number; channel: string }> {
    const channel = channelNamed(name);
    // A loaded channel (the usual case) goes on at once, with no closure per change (issue 14).
    if (channel.loaded) return appendServerChange(channel, changes, handed);
    return andThen(loadOrFail(channel), (loaded) => {
      if (!loaded) throw unavailableChannel(name);
      return appendServerChange(channel, changes, handed);
    });
  }

  function appendServerChange(channel: Channel, changes: Changes, handed: (() => void) | undefined): Answer<{ epoch: string; seq: number; channel: string }> {
    const checked = channel.validate(changes);
    if (Array.isArray(checked)) throw new ChangeRefusedError(checked[0], checked[1]);
    let appended: Answer<AppendResult>;
    try {
      appended = append(channel, checked, undefined);
    } catch (error) {
      failed(error);
      throw error;
    }
    handed?.();
    if (!isThenable(appended)) return serverChangeApplied(channel, appended);
    return Promise.resolve(appended).then(
      (result) => serverChangeApplied(channel, result),
      (error: unknown) => {
        failed(error);
        throw error;
      },
    );
  }

  /** A server change's answer: refused (thrown), or its epoch and seq once its entry reached the copy. */
  function serverChangeApplied(channel: Channel, result: AppendResult): Answer<{ epoch: string; seq: number; channel: string }> {
    const name = channel.name;
    if (result.status === 'full') throw new ChangeRefusedError(ErrorCodeV2.STORAGE_FULL, `channel ${name} stores nothing yet, and the server stores maxStoredChannels (${options.engine === undefined ? String(maxStoredChannels) : "the engine's"}) channels`);
    if (result.status === 'tooLarge') throw new ChangeRefusedError(ErrorCodeV2.DATA_LIMIT, channel.tooLargeMessage(result.bytes));
    if (result.status !== 'applied') throw new Error(`the engine answered a server change with ${result.status}`);
    const done = { epoch: result.epoch, seq: result.seq, channel: name };
    const delivered = channel.delivered(result.epoch, result.seq);
    return typeof delivered === 'boolean' ? done : delivered.then(() => done);
  }

  /** An engine call whose `EngineUnavailableError` also closes every client (and is rethrown). */
  function noteFailure<T>(call: () => Answer<T>): Answer<T> {
    let answer: Answer<T>;
    try {
      answer = call();
    } catch (error) {
      failed(error);
      throw error;
    }
    if (!isThenable(answer)) return answer;
    return Promise.resolve(answer).then(undefined, (error: unknown) => {
      failed(error);
      throw error;
    });
  }

  function loadOrFail(channel: Channel): Answer<boolean> {
    return noteFailure(() => load(channel));
  }

  function unavailableChannel(name: string): ChangeRefusedError {
    return new ChangeRefusedError(ErrorCodeV2.CHANNEL_UNAVAILABLE, `channel ${name} cannot be loaded: maxChannelsInMemory (${maxChannelsInMemory}) are loaded and none is idle`);
  }

  /** The `default` channel, loaded when it can be at once (see `epoch`). */
  function defaultChannel(): Channel {
    const channel = channelNamed(DEFAULT_CHANNEL);
    quietly(() => load(channel));
    return channel;
  }

  /** The channel, loaded now; throws `ChangeRefusedError` when it cannot be (or not at once: an engine that answers later). */
  function loadedChannel(name: string): Channel {
    if (!isChannelName(name)) throw invalidChannel(name);
    const channel = channelNamed(name);
    const loaded = loadOrFail(channel);
    if (isThenable(loaded)) {
      loaded.then(undefined, () => {}); // awaited by `loadChannel`, if anyone
      throw new ChangeRefusedError(ErrorCodeV2.CHANNEL_UNAVAILABLE, `channel ${name} is loading from the server's store; ask again (or await loadChannel first)`);
    }
    if (!loaded) throw unavailableChannel(name);
    return channel;
  }
}

/** What a copy's listener calls, with its channel. */
interface CopyHost {
  entries(channel: Channel, epoch: string, entries: readonly ChannelEntry[]): void;
  reset(channel: Channel, state: ChannelState): void;
  presence(channel: Channel, change: PresenceChange): void;
}

/** A copy's listener: its channel and the server's shared handlers (two fields per channel, no closures). */
class CopyListener implements ChannelListener {
  constructor(
    private readonly channel: Channel,
    private readonly host: CopyHost,
  ) {}
  entries(epoch: string, entries: readonly ChannelEntry[]): void {
    this.host.entries(this.channel, epoch, entries);
  }
  reset(state: ChannelState): void {
    this.host.reset(this.channel, state);
  }
  presence(change: PresenceChange): void {
    this.host.presence(this.channel, change);
  }
}

/** `f` on the answer: at once for a value, after it for a promise. */
function andThen<T, R>(answer: Answer<T>, f: (value: T) => Answer<R>): Answer<R> {
  return isThenable(answer) ? Promise.resolve(answer).then(f) : f(answer);
}

let instances = 0;
/** A name for this instance among the engine's users (not from `random`: the simulator's draws stay as they were). */
function newInstanceId(): string {
  return `${process.pid ?? 0}.${++instances}.${Date.now().toString(36)}`;
}

export type SyncServer = ReturnType<typeof createSyncServer>;
