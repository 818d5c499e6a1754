/**
 * Types shared by the connection chart (`connection.ts`) and the library that
 * supplies its effects (`src/`). Everything here is plain, serializable data:
 * the inspector shows it as the machine's context.
 */
import type { ChannelErrorCode, DataRefusalCode, SubscriptionRequest } from './subscription.types.js';

/** The five states a connection reports, whatever substate the chart is in. */
export type StateName = 'idle' | 'connecting' | 'open' | 'errored' | 'closed';

/**
 * Stable error codes. Each is documented in the README's error table; code
 * compares these strings, never message text.
 */
export type ErrorCode =
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_SOCKET'
  | 'ERR_ABNORMAL_CLOSE'
  | 'ERR_FATAL_CLOSE'
  | 'ERR_HEARTBEAT_TIMEOUT'
  | 'ERR_URL'
  | 'ERR_OFFLINE'
  | 'ERR_RETRIES_EXHAUSTED'
  | 'ERR_MALFORMED_FRAME'
  | 'ERR_UNKNOWN_MESSAGE'
  | 'ERR_INVALID_MESSAGE'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_MODEL_REJECTED'
  | 'ERR_SERVER_REJECTED'
  | 'ERR_OUTBOX_FULL'
  | 'ERR_STOPPED'
  | 'ERR_RENDER_FAILED'
  | 'ERR_GREETING_FAILED'
  | 'ERR_LISTENER_FAILED'
  | 'ERR_POLICY_FAILED'
  // channels (the sync protocol, version 2): a channel's failure, and the server's answers to an op
  | Exclude<ChannelErrorCode, 'ERR_PAYLOAD_TOO_LARGE'>
  | 'ERR_NOT_SUBSCRIBED'
  | 'ERR_PUBLISH_FORBIDDEN'
  | 'ERR_PRESENCE_FORBIDDEN'
  | 'ERR_CLIENT_FORGOTTEN'
  | 'ERR_OP_UNCONFIRMED'
  | 'ERR_STORAGE_FULL'
  | 'ERR_DATA_LIMIT'
  | 'ERR_INVALID_FRAME'
  // a framework binding (statesocket/react) asked for the surrounding connection where there is none
  | 'ERR_NO_CONNECTION';

/** What went wrong last; `closeCode` is set when a close frame (or its absence, 1006) caused it. */
export interface ErrorInfo {
  code: ErrorCode;
  closeCode?: number;
  message?: string;
}

/** The last close seen on a socket, as the WebSocket `close` event reported it. */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  /** True when we gave up waiting for the closing handshake and terminated the socket. */
  forced?: boolean;
}

/** A frame as it goes on the wire: text or binary. */
export type Frame = string | ArrayBuffer | ArrayBufferView;

/** One queued outgoing frame. */
export interface OutboxEntry {
  /** Local, increasing id: the outbox is ordered by it. */
  id: number;
  frame: Frame;
  /** Set when the protocol layer waits for an acknowledgement with this id. */
  ackId?: string;
  /** True once written to a socket (only entries waiting for an ack stay after that). */
  sent: boolean;
  /**
   * The channel of an op (protocols with channels): after a reconnect it goes out behind its
   * channel's `subscribe`, and it fails with its channel.
   */
  channel?: string;
  /**
   * An op numbered only once its channel's mark is known on this connection (a stored client id,
   * before the channel's first `synced`): it waits in the outbox, unnumbered and unwritten, while
   * ops of other channels go on; `channel.marked` numbers and writes it.
   */
  awaitsMark?: true;
}

/**
 * The outbox as the chart keeps it in its context: the entries oldest first, in blocks that
 * snapshots share (issue 15: a send with 1,000 ops awaiting their ack copied all 1,000). Plain
 * data, never changed once made: an append makes a new `tail` (fewer than 32 entries), a full tail
 * becomes a block, and an answered entry at the head only moves `start`, so an old snapshot's
 * outbox never sees a later entry. Read it with `getOutbox()` (an array), or `outboxEntries()`.
 */
export interface Outbox {
  /** How many entries it holds. */
  readonly size: number;
  /** Full blocks of entries, oldest first (each block is shared, never changed). */
  readonly blocks: readonly (readonly OutboxEntry[])[];
  /** How many entries at the front of `blocks[0]` have left (answered in order). */
  readonly start: number;
  /** The newest entries, oldest first, after those of `blocks`. */
  readonly tail: readonly OutboxEntry[];
}

export type OverflowPolicy = 'reject' | 'drop-oldest' | 'drop-newest';

/** Resolved timing and size settings: plain numbers the chart reads. */
export interface ConnectionConfig {
  connectTimeoutMs: number;
  closeTimeoutMs: number;
  reconnect: {
    enabled: boolean;
    initialDelayMs: number;
    maxDelayMs: number;
    factor: number;
    /** Reconnects allowed after a failure (the first connect is not counted); `Infinity` for no limit. */
    maxAttempts: number;
    stableAfterMs: number;
    serviceRestartDelayMs: number;
  };
  heartbeat: { intervalMs: number; timeoutMs: number; message: Frame } | null;
  outbox: { limit: number; overflow: OverflowPolicy };
  maxBufferedBytes: number;
  maxMessageBytes: number;
  closeOnOffline: boolean;
  /** How often a congested socket's `bufferedAmount` is looked at again. */
  drainCheckMs: number;
}

export interface Counters {
  /** Inbound frames, accepted or rejected. */
  received: number;
  /** Inbound frames rejected (malformed, unknown, oversized, refused by the model). */
  rejected: number;
  /** Frames written to a socket (greetings and pings included). */
  sent: number;
  /** Calls to `view.render`. */
  renders: number;
  /** Reconnect attempts started (the first connect is not counted). */
  reconnects: number;
  /** Outbox entries dropped by the overflow policy. */
  dropped: number;
  /** Throws from callbacks you supplied that the connection survived (view, getData, listeners, shouldReconnect). */
  callbackErrors: number;
}

/** The counters the chart keeps; `renders` is the facade's (a render is not a machine event). */
export type ChartCounters = Omit<Counters, 'renders'>;

export interface RejectedInfo {
  code: ErrorCode;
  message: string;
}

export interface ConnectionContext {
  config: ConnectionConfig;
  /** The URL of the current or last attempt, with secrets redacted. */
  url: string | null;
  /** Id of the current socket; events carrying another id are stale and ignored. */
  socketId: number;
  /** Reconnect attempts since the last stable open. */
  attempt: number;
  nextDelayMs: number | null;
  /** When the pending retry fires, on the connection's clock (`now()`). */
  nextRetryAt: number | null;
  lastError: ErrorInfo | null;
  lastClose: CloseInfo | null;
  lastRejected: RejectedInfo | null;
  /** The last throw from a callback you supplied that the connection survived (`ERR_RENDER_FAILED`, ...). */
  lastCallbackError: RejectedInfo | null;
  /** The greeting of the socket being opened threw: its outbox stays queued (set on open, cleared by the next). */
  greetingFailed: boolean;
  /** The close we asked for with `client.disconnect`, sent on the socket while closing. */
  closeRequest: { code: number; reason: string } | null;
  /** Queued sends, and sent ones still waiting for their ack (`Outbox`: read it with `outboxEntries()`). */
  outbox: Outbox;
  nextEntryId: number;
  online: boolean;
  /** The page is hidden (`visibilitychange`): pending reconnects wait until it is visible. */
  pageHidden: boolean;
  /** `now()` when the last inbound frame arrived (or the socket opened). */
  lastInboundAt: number;
  /** `now()` when the last heartbeat ping went out. */
  pingSentAt: number | null;
  counters: ChartCounters;
}

export interface ConnectionInput {
  config: ConnectionConfig;
  online?: boolean;
  pageHidden?: boolean;
}

/** Events that come from a particular socket carry its id and the time they happened. */
interface FromSocket {
  socketId: number;
  at: number;
}

export type ConnectionEvent =
  // intents from the API
  | { type: 'client.connect' }
  | { type: 'client.disconnect'; code?: number; reason?: string }
  | { type: 'client.retry' }
  /**
   * `hold`: queue it even while open (an op of a channel waiting to subscribe again goes out right
   * behind that subscribe). `awaitsMark`: queue it unnumbered until its channel's mark is known
   * (`OutboxEntry.awaitsMark`).
   */
  | { type: 'client.send'; frame: Frame; ackId?: string; channel?: string; hold?: boolean; awaitsMark?: true }
  /** Hold a channel (protocols with channels): spawns its subscription actor. */
  /** `own`: the channel is the connection's own Model (the `default` channel): its failure is recorded as the connection's `lastError`. */
  | { type: 'client.subscribe'; channel: string; presence?: boolean; own?: boolean }
  /** Stop holding a channel: its subscription actor unsubscribes. */
  | { type: 'client.unsubscribe'; channel: string }
  /** `connection.stop()` is about to stop the actor: its subscription actors stop first. */
  | { type: 'client.stop' }
  /** What a subscription actor asks of the connection (machines/subscription.ts). */
  | SubscriptionRequest
  // facts from the transport
  | ({ type: 'socket.opened'; url: string } & FromSocket)
  /** `reconnectable: false` when the close policy says stop (the socket decides; absent means reconnect). */
  | ({ type: 'socket.closed'; code: number; reason: string; wasClean: boolean; reconnectable?: boolean } & FromSocket)
  | ({ type: 'socket.errored'; code: ErrorCode; message: string } & FromSocket)
  | ({ type: 'socket.congested'; bufferedAmount: number } & FromSocket)
  | ({ type: 'socket.drained' } & FromSocket)
  /** The data messages of one socket read, oldest first (one event per read, not per frame). */
  | ({ type: 'message.received'; messages: unknown[] } & FromSocket)
  | ({ type: 'message.rejected'; code: ErrorCode; message: string } & FromSocket)
  /** An answer that settles the outbox entry `id`; `code` and `message` when it is a refusal (the op will never apply). */
  | ({ type: 'ack.received'; id: string; code?: ErrorCode; message?: string } & FromSocket)
  | ({ type: 'pong.received' } & FromSocket)
  | ({ type: 'resync.needed'; reason: string } & FromSocket)
  // lifecycle frames of one channel, forwarded to its subscription actor (machines/subscription.types.ts)
  | ({ type: 'channel.synced'; channel: string } & FromSocket)
  /** The channel's first `synced` on this connection told its mark: its ops that waited for it are numbered and written. */
  | ({ type: 'channel.marked'; channel: string } & FromSocket)
  | ({ type: 'channel.resync'; channel: string; reason: string } & FromSocket)
  | ({ type: 'channel.refused'; channel: string; code: ChannelErrorCode; message: string; retryAfterMs?: number } & FromSocket)
  | ({ type: 'channel.unsubscribed'; channel: string } & FromSocket)
  | ({ type: 'channel.failed'; channel: string; code: ChannelErrorCode; message: string } & FromSocket)
  | ({ type: 'channel.presence.refused'; channel: string; message: string } & FromSocket)
  /**
   * A channel's Model threw on its data, or the `inbound` schema refused it (`code`; the message
   * was also counted as `message.rejected`), forwarded to its subscription actor: raised by the
   * channel's handle (src/channel.ts) on the refusal path only, never for data it accepted.
   */
  | { type: 'model.rejected'; channel: string; message: string; code?: DataRefusalCode }
  // facts from the environment
  | { type: 'network.offline' }
  | { type: 'network.online' }
  // facts from the page (browsers): visibility and the back-forward cache
  | { type: 'page.hidden' }
  | { type: 'page.visible' }
  | { type: 'page.suspended' }
  | { type: 'page.resumed' }
  /** The heartbeat timeout fired at `at` (on `now()`), raised by `checkPong`: is the pong overdue? */
  | { type: 'heartbeat.checked'; at: number }
  /** A callback you supplied threw and the connection carried on (it is recorded and counted). */
  | { type: 'callback.failed'; code: ErrorCode; message: string };

export type SocketEvent = Extract<ConnectionEvent, { socketId: number }>;

/** What the socket's actions tell it (src/socket.ts `SocketSession.command`); kept for code that named it. */
export type SocketCommand =
  | { type: 'write'; frames: Frame[] }
  | { type: 'close'; code: number; reason: string }
  | { type: 'checkDrain' };

export interface SocketInput {
  socketId: number;
  /** The connection's settings. */
  config: ConnectionConfig;
}
