/**
 * What the server keeps per connection, and what the version 1 and version 2 session handlers
 * (session-v1.ts, session-v2.ts) may use of the server (`ServerContext`, built in sync-server.ts).
 * Types only.
 */
import type { Json } from '../store.js';
import type { ClientOwners } from './client-owners.js';
import type { Channel, Checked, LogEntry, Subscriber, V1Holder } from './channel.js';
import type { OpRecord } from './op-record.js';
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
  /** Loads the channel if needed; false when `maxChannelsInMemory` are loaded and none is idle. */
  load(channel: Channel): boolean;
  /** Someone holds the channel now (it is not idle). */
  hold(channel: Channel): void;
  /** Someone stopped holding it: it may become idle. */
  released(channel: Channel): void;
  /**
   * Write, then broadcast: applies the checked change as the channel's next seq, raises the op's
   * mark (`mark`) or records the version 1 op id (`v1Op`), persists, and only then sends the patch
   * to every holder. Throws (with everything undone, nothing sent) when persisting fails.
   */
  commit(channel: Channel, checked: Checked, mark?: { key: string; owner: string; n: number }, v1Op?: { id: string; owner: string }): LogEntry;
  /** Nothing stored in the channel: no data, no marks, nothing forgotten (never `default`). */
  isEmpty(channel: Channel): boolean;
  /** Whether the channel may store something: it does already, or `maxStoredChannels` leaves room. */
  roomFor(channel: Channel): boolean;
  /** Counts the channel as stored or not, after its marks changed outside `commit`. */
  restock(channel: Channel): void;
  /** Which user each client id belongs to (per-user tokens). */
  clientOwners: ClientOwners;
  /** Hands a new client id owner to `onChange` (a throttled write; a failure is ignored). */
  persistClientOwner(): void;
  /** Hands a recorded refusal to `onChange`; false when that threw (the caller undoes it and closes with 1011). */
  persistRefusal(): boolean;
  /** Whether the token is required at all. */
  readonly authRequired: boolean;
  /** Who the token names; null when it is wrong (a throw from a user's hook counts as wrong). Throws `HookResultError` for a hook that returned a promise. */
  authenticate(token: string): Identity | null;
  authorize(identity: Identity, channel: string, action: ChannelAction): boolean;
  /** Live version 2 sessions by mark key (user and client id). */
  clients: Map<string, LiveSession>;
  /** Version 1's op id records (applied, refused). */
  applied: OpRecord<true>;
  refused: OpRecord<string>;
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
