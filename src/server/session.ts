/**
 * What the server keeps per connection, and what the version 1 and version 2 session handlers
 * (session-v1.ts, session-v2.ts) may use of the server (`ServerContext`, built in sync-server.ts).
 * Types only.
 */
import type { Json } from '../store.js';
import type { Channel, Checked, Subscriber, V1Holder } from './channel.js';
import type { AppendResult, Answer, Engine, OpMark, V1Op } from './engine.js';
import type { Outgoing } from './outgoing.js';
import type { PresenceContext } from './presence.js';
import type { ConnectInfo, Peer, ServerCounters } from './sync-server.js';

/** Who a token names, as `authenticate` says (docs/server.md, "Users and permissions"). */
export interface Identity {
  /** The user (1 to 128 characters), or null on a server without per-user tokens. */
  user: string | null;
  /** What presence members show about the user (a display name, say). */
  info?: Record<string, Json>;
  /** When the token expires, ms since 1970 on the server's clock; absent: never. */
  expiresAt?: number;
  /** Anything else the authorization needs (the ACL's token scope, say). */
  scope?: readonly string[];
}

/**
 * Who a refusal names: the user, or the connection when the server has no per-user tokens (the
 * refusal then comes from `authorize` alone, and "this token" would name a token nobody sent).
 */
export function refusedWho(identity: Identity): string {
  return identity.user === null ? 'this connection (no user)' : `user ${JSON.stringify(identity.user)}`;
}

/** An action `authorize` decides. */
export type ChannelAction = 'subscribe' | 'publish' | 'presence';

/** What `authorize` is asked. */
export interface AuthorizeRequest {
  user: string | null;
  channel: string;
  action: ChannelAction;
  /** The whole identity `authenticate` returned (its `scope`, say). */
  identity: Identity;
}

export interface Subscription extends Subscriber {
  readonly session: LiveSession;
  readonly channel: Channel;
  /** Its presence holder id for the engine (unique on this instance), given at its first join. */
  holder: string;
  /** Whether it is among `channel.subscribers` yet (from its replay or snapshot on). */
  live: boolean;
}

/** Frames of one channel (or of the whole session) waiting while an earlier one awaits the engine. */
export interface Lane {
  busy: boolean;
  queue: unknown[];
}

export interface LiveSession {
  peer: Peer;
  info: ConnectInfo;
  /** Who its marks and version 1 op ids count for without per-user tokens (the address, or the session). */
  owner: string;
  out: Outgoing;
  /** 0 until a hello is accepted. */
  version: 0 | 1 | 2;
  gone: boolean;
  /** Set once the token is accepted (or when none is required). */
  identity: Identity | undefined;
  /** Hellos since `helloWindowStart` (a window of one minute). */
  hellos: number;
  helloWindowStart: number;
  /** `auth` frames since `authWindowStart` (a window of one minute). */
  auths: number;
  authWindowStart: number;
  /** Version 2: the client id, its mark key (user and client), the welcome's time. */
  client: string;
  key: string;
  welcomeTime: number;
  subs: Map<string, Subscription>;
  /** Subscribe times in the last minute, per channel name. */
  subscribeTimes: Map<string, number[]>;
  refreshTimer: unknown;
  expiryTimer: unknown;
  /** Version 1: its place among the default channel's holders. */
  v1: V1Holder | undefined;
  /** Per channel name (version 1: `default`), frames waiting behind one that awaits the engine. */
  lanes: Map<string, Lane> | undefined;
  /** Frames waiting behind a session-wide step (a hello) that awaits the engine; undefined: none. */
  backlog: unknown[] | undefined;
}

/** The server as the session handlers see it. */
export interface ServerContext {
  counters: ServerCounters;
  limits: {
    maxHellosPerMinute: number;
    maxPayloadBytes: number;
    presenceGraceMs: number;
    refreshBeforeMs: number;
    maxChannelsPerConnection: number;
    maxSubscribesPerMinute: number;
  };
  /** The server's time for marks and welcomes: its clock, but never below a time it used. */
  time(): number;
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  presence: PresenceContext;
  /** The channel of that name (created, unloaded, on first use). */
  channel(name: string): Channel;
  /** Loads (follows) the channel if needed; false when `maxChannelsInMemory` are loaded and none is idle. */
  load(channel: Channel): Answer<boolean>;
  /** Someone holds the channel now (it is not idle). */
  hold(channel: Channel): void;
  /** Someone stopped holding it: it may become idle. */
  released(channel: Channel): void;
  /** Where marks, records, client ids' users, presence and the log live. */
  engine: Engine;
  /** A new presence holder id (unique among this instance's subscriptions). */
  newHolder(): string;
  /**
   * Appends a checked change (an op of `op`'s client) to the channel through the engine; the
   * patch reaches every holder through the followed copy.
   */
  append(channel: Channel, checked: Checked, op: { mark?: OpMark; v1?: V1Op }): Answer<AppendResult>;
  /**
   * Runs an engine call for `session`, then `next` with its answer (skipped once the session
   * ended). A failure: `EngineUnavailableError` closes every client with 1013; any other (a write
   * that failed) counts as not persisted and closes this connection with 1011.
   */
  step<T>(session: LiveSession, call: () => Answer<T>, next: (value: T) => Answer<void>): Answer<void>;
  /**
   * An engine call nobody waits for: its failure is handled as `step`'s, without a session. A
   * function, so that a call that throws at once (an engine that cannot reach its store) is caught too.
   */
  quietly(call: () => Answer<unknown>): void;
  /**
   * Sends an applied op's ack once its entry (`epoch`, `seq`) reached the channel's copy (its
   * patch went to every holder first); closes with 1013 when the copy started another epoch first.
   */
  ackAfterDelivery(session: LiveSession, channel: Channel, epoch: string, seq: number, ack: () => void): Answer<void>;
  /** Whether the token is required at all. */
  readonly authRequired: boolean;
  /** Who the token names; null when it is wrong (a throw from a user's hook counts as wrong). Throws `HookResultError` for a hook that returned a promise. */
  authenticate(token: string): Identity | null;
  authorize(identity: Identity, channel: string, action: ChannelAction): boolean;
  /** Live version 2 sessions by mark key (user and client id). */
  clients: Map<string, LiveSession>;
  onApply: ((opId: string) => void) | undefined;
  /** Sends a frame of no channel. */
  send(session: LiveSession, frame: object): void;
  /** An `error` frame; nothing is settled unless it carries an op's id or n. */
  reject(session: LiveSession, code: string, message: string, extra?: Record<string, unknown>): void;
  /** Closes the connection (its session ends first). */
  drop(session: LiveSession, code: number, reason: string): void;
  /** Counts a hello; false (and the connection closed with 1013) when it is one too many this minute. */
  helloAllowed(session: LiveSession): boolean;
  /** Judges the hello's token when the URL carried none; false when the connection was closed for it. */
  judgeHelloToken(session: LiveSession, token: string | undefined): boolean;
  /** The token's expiry, as welcome and authorized carry it. */
  expiryFields(identity: Identity): { expiresAt?: number; expiresInMs?: number };
}

/**
 * How long a client whose position is ahead of this instance's copy (same epoch: it saw entries
 * through another instance that are still on their way here) waits for the copy to catch up
 * before it is answered with a snapshot (which would take it back).
 */
export const CATCH_UP_WAIT_MS = 2_000;

/** Whether `channel`'s copy reaches `seq` of `epoch` within `CATCH_UP_WAIT_MS` (a position the store never reached: false). */
export function caughtUp(ctx: Pick<ServerContext, 'setTimeout' | 'clearTimeout'>, channel: Channel, epoch: string, seq: number): Answer<boolean> {
  return channel.deliveredWithin(epoch, seq, CATCH_UP_WAIT_MS, ctx);
}
