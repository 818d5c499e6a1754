/**
 * Types of the subscription chart (`subscription.ts`): one channel's lifecycle on a connection
 * whose protocol has channels (the sync protocol, version 2: docs/protocol.md). Plain,
 * serializable data: the inspector shows it as the subscription actor's context.
 */

/**
 * The codes a channel fails or waits with: the server's refusals (`unsubscribed {code}`), the
 * client's own `ERR_PAYLOAD_TOO_LARGE` (a chunked frame over `maxReassemblyBytes`),
 * `ERR_MODEL_REJECTED` (the channel's Model threw on its data) and `ERR_INVALID_MESSAGE` (the
 * connection's `inbound` schema refused its data).
 */
export type ChannelErrorCode =
  | 'ERR_INVALID_CHANNEL'
  | 'ERR_CHANNEL_FORBIDDEN'
  | 'ERR_CHANNEL_UNKNOWN'
  | 'ERR_CHANNEL_LIMIT'
  | 'ERR_CHANNEL_UNAVAILABLE'
  | 'ERR_RATE_LIMITED'
  | 'ERR_PAYLOAD_TOO_LARGE'
  /** The channel's Model threw on a snapshot or patch: stale until a fresh snapshot, asked for after a wait. */
  | 'ERR_MODEL_REJECTED'
  /** The connection's `inbound` schema refused a snapshot or patch of the channel: handled as `ERR_MODEL_REJECTED` is. */
  | 'ERR_INVALID_MESSAGE'
  /** A code this client does not know, from a newer server: handled as its frame says (final or transient). */
  | 'ERR_CHANNEL_REFUSED';

/** Why a channel's data was refused before it was applied: what sends the channel `rejected`. */
export type DataRefusalCode = 'ERR_MODEL_REJECTED' | 'ERR_INVALID_MESSAGE';

export interface ChannelError {
  code: ChannelErrorCode;
  message: string;
}

export interface SubscriptionContext {
  /** The channel's name. */
  channel: string;
  /** The subscription asks for presence (`subscribe {presence: true}`). */
  presence: boolean;
  /** The channel is the connection's own Model (the `default` channel): its failure is the connection's too. */
  own: boolean;
  /** Why the channel failed, or why it waits to subscribe again; null while all is well. */
  lastError: ChannelError | null;
  /** The server's `retryAfterMs` of the last transient refusal. */
  retryAfterMs: number | null;
  /**
   * How long this wait lasts: after a refusal `retryAfterMs × (1 + r)` (`planRetry`); after the
   * Model's rejection `resnapshotDelayMs(rejections, r)` (`planResnapshot`); r supplied by src/.
   */
  retryDelayMs: number | null;
  /**
   * The Model's rejections in a row (`model.rejected`): each waits longer before the channel asks
   * for a fresh snapshot. Forgotten once the channel stays live for `MODEL_RETRY.stableAfterMs`.
   */
  rejections: number;
  /** Subscribes after the first: every reconnect, gap, out-of-step `synced` and transient refusal adds one. */
  resubscribes: number;
  /** Why presence was refused (`ERR_PRESENCE_FORBIDDEN`): the subscription stands without it. */
  presenceRefused: string | null;
}

export interface SubscriptionInput {
  channel: string;
  presence?: boolean;
  /** The connection's own Model (the `default` channel). @default false */
  own?: boolean;
}

/**
 * What a subscription actor hears. Lifecycle only: data (snapshots, patches, presence lists) goes
 * from the socket straight to the channel's Model, never through this chart.
 */
export type SubscriptionEvent =
  // from the connection chart
  /** The connection opened and wrote this channel's `subscribe` (with its position). */
  | { type: 'connection.opened' }
  /** The connection's socket is gone: the server no longer holds the channel. */
  | { type: 'connection.lost' }
  // from the server, through the connection (frames of this channel)
  /** `synced` at the position the client is at: caught up, live. */
  | { type: 'channel.synced'; channel: string }
  /** A gap in the patches, or a `synced` at another position: the protocol forgot the position; subscribe again. */
  | { type: 'channel.resync'; channel: string; reason: string }
  /** `unsubscribed` with a code: refused or ended by the server; `retryAfterMs` makes it transient. */
  | { type: 'channel.refused'; channel: string; code: ChannelErrorCode; message: string; retryAfterMs?: number }
  /** `unsubscribed` without a code: the answer to our `unsubscribe`. */
  | { type: 'channel.unsubscribed'; channel: string }
  /** The client gave up on the channel (a chunked frame over `maxReassemblyBytes`): fail and unsubscribe. */
  | { type: 'channel.failed'; channel: string; code: ChannelErrorCode; message: string }
  /** `error {channel, code: "ERR_PRESENCE_FORBIDDEN"}`: the subscription stands without presence. */
  | { type: 'channel.presence.refused'; channel: string; message: string }
  // from the channel's Model (through the connection, which counted the message as rejected)
  /**
   * `model.update` threw on a snapshot or patch of the channel (`code` ERR_MODEL_REJECTED, the
   * default), or the `inbound` schema refused one (ERR_INVALID_MESSAGE): stale until a fresh snapshot.
   */
  | { type: 'model.rejected'; channel: string; message: string; code?: DataRefusalCode }
  // from the application
  | { type: 'client.unsubscribe' };

/**
 * What a subscription actor asks of its parent (the connection chart), which owns the socket
 * and the outbox. `resend`: write the channel's unanswered ops again right behind the subscribe
 * (after a transient refusal, the server answered them `ERR_NOT_SUBSCRIBED`).
 */
export type SubscriptionRequest =
  | { type: 'subscription.subscribe'; channel: string; resend: boolean }
  | { type: 'subscription.unsubscribe'; channel: string }
  /** The channel failed (final): its unanswered ops fail with the code; `own`: it is the connection's own Model (`default`). */
  | { type: 'subscription.failed'; channel: string; code: ChannelErrorCode; message: string; own?: boolean }
  /** The channel was unsubscribed on purpose and the server confirmed (or the connection was lost meanwhile). */
  | { type: 'subscription.ended'; channel: string };
