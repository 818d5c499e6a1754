/**
 * The subscription chart: one channel's lifecycle on a connection whose protocol has channels
 * (docs/protocol.md, "Channels"). A pure definition; the connection chart spawns one actor of
 * it per channel, as a child, so the inspector shows every channel next to its connection.
 *
 * ```
 *  unsubscribed ──connection.opened──▶ subscribing ──channel.synced──▶ subscribed (live)
 *       ▲                                 │  ▲  ▲                         │
 *       └───────── connection.lost ───────┤  │  └── channel.resync ───────┤  (gap, out of step)
 *                                         │  └── after retryDelay ── retrying ◀── refused, transient
 *                                         └──── refused, final ──▶ failed (ERR_*)
 *  client.unsubscribe: unsubscribing ──channel.unsubscribed / connection.lost──▶ ended
 * ```
 *
 * The actor sees lifecycle events only: the connection tells it when the socket opens (having
 * written its `subscribe`, with the position the protocol keeps) and when it is lost, and
 * forwards the channel's `synced`, `unsubscribed` and gaps. Snapshots and patches go from the
 * socket straight to the channel's Model (one machine event per socket read, on the connection).
 * What the actor needs done on the wire it asks of its parent (`SubscriptionRequest`): the
 * connection owns the socket and the one outbox.
 *
 * `unsubscribed`, `subscribing` and `retrying` are tagged `stale` (the data shown is what the
 * channel had: the connection is down, or a subscribe is not answered yet); `subscribed` is
 * `live`. A refusal never touches the connection or another channel.
 */
import { assign, sendParent, setup } from 'xstate';
import type { ChannelError, SubscriptionContext, SubscriptionEvent, SubscriptionInput, SubscriptionRequest } from './subscription.types.js';

/** The tags a subscription reports its state by (`ChannelStatus.state`), and whether its data is live. */
export type SubscriptionTag =
  | 'unsubscribed'
  | 'subscribing'
  | 'subscribed'
  | 'retrying'
  | 'unsubscribing'
  | 'failed'
  | 'ended'
  | 'live'
  | 'stale';

/**
 * What ends or interrupts a held subscription (`subscribing` or `subscribed`): the server's
 * refusal, the client's own failure, the socket's loss, the application's unsubscribe.
 */
const whileHeld = {
  'channel.refused': [
    { guard: 'isTransient', target: 'retrying', actions: 'recordRefusal' },
    { target: 'failed', actions: 'recordRefusal' },
  ],
  'channel.failed': { target: 'failed', actions: ['recordRefusal', 'requestUnsubscribe'] },
  'connection.lost': { target: 'unsubscribed', actions: 'countResubscribe' },
  'client.unsubscribe': { target: 'unsubscribing', actions: 'requestUnsubscribe' },
} as const;

export const subscriptionMachine = setup({
  types: {} as {
    context: SubscriptionContext;
    events: SubscriptionEvent;
    input: SubscriptionInput;
    tags: SubscriptionTag;
  },
  actions: {
    /** Sets `retryDelayMs` for the wait after a transient refusal (supplied by src/: `retryAfterMs × (1 + r)`). */
    planRetry: assign(({ context }) => ({ retryDelayMs: context.retryAfterMs ?? 0 })),

    // ── requests to the connection (it owns the socket and the outbox) ──────
    requestSubscribe: sendParent(({ context }): SubscriptionRequest => ({ type: 'subscription.subscribe', channel: context.channel, resend: false })),
    requestSubscribeAndResend: sendParent(
      ({ context }): SubscriptionRequest => ({ type: 'subscription.subscribe', channel: context.channel, resend: true }),
    ),
    requestUnsubscribe: sendParent(({ context }): SubscriptionRequest => ({ type: 'subscription.unsubscribe', channel: context.channel })),
    reportFailure: sendParent(({ context }): SubscriptionRequest => {
      const error = context.lastError ?? { code: 'ERR_CHANNEL_REFUSED', message: 'the channel failed' };
      return { type: 'subscription.failed', channel: context.channel, code: error.code, message: error.message };
    }),
    reportEnded: sendParent(({ context }): SubscriptionRequest => ({ type: 'subscription.ended', channel: context.channel })),

    // ── pure context updates ──────────────────────────────────────────────
    recordRefusal: assign(({ context, event }) => {
      if (event.type !== 'channel.refused' && event.type !== 'channel.failed') return context;
      const lastError: ChannelError = { code: event.code, message: event.message };
      return { lastError, retryAfterMs: event.type === 'channel.refused' ? (event.retryAfterMs ?? null) : null };
    }),
    recordSynced: assign({ lastError: null, retryAfterMs: null, retryDelayMs: null }),
    recordPresenceRefused: assign(({ context, event }) =>
      event.type === 'channel.presence.refused' ? { presenceRefused: event.message } : context,
    ),
    countResubscribe: assign(({ context }) => ({ resubscribes: context.resubscribes + 1 })),
  },
  guards: {
    /** The refusal carries `retryAfterMs`: subscribe again after it. */
    isTransient: ({ event }) => event.type === 'channel.refused' && event.retryAfterMs !== undefined,
  },
  delays: {
    retryDelay: ({ context }) => context.retryDelayMs ?? 0,
  },
}).createMachine({
  id: 'subscription',
  context: ({ input }) => ({
    channel: input.channel,
    presence: input.presence ?? false,
    lastError: null,
    retryAfterMs: null,
    retryDelayMs: null,
    resubscribes: 0,
    presenceRefused: null,
  }),
  initial: 'unsubscribed',
  on: {
    'channel.presence.refused': { actions: 'recordPresenceRefused' },
  },
  states: {
    /** Not held on any connection: waits for the connection to open. */
    unsubscribed: {
      tags: ['unsubscribed', 'stale'],
      on: {
        'connection.opened': { target: 'subscribing' },
        'client.unsubscribe': { target: 'ended' },
      },
    },
    /** The `subscribe` is written; its answer (data, then `synced`) is on its way. */
    subscribing: {
      tags: ['subscribing', 'stale'],
      on: {
        ...whileHeld,
        'channel.synced': { target: 'subscribed', actions: 'recordSynced' },
        'channel.resync': { target: 'subscribing', reenter: true, actions: ['countResubscribe', 'requestSubscribe'] },
      },
    },
    /** Caught up: every change of the channel arrives as it happens. */
    subscribed: {
      tags: ['subscribed', 'live'],
      on: {
        ...whileHeld,
        'channel.resync': { target: 'subscribing', actions: ['countResubscribe', 'requestSubscribe'] },
      },
    },
    /** Refused for now (`retryAfterMs`): the channel's ops wait; it subscribes again after the delay. */
    retrying: {
      tags: ['retrying', 'stale'],
      entry: 'planRetry',
      after: {
        retryDelay: { target: 'subscribing', actions: ['countResubscribe', 'requestSubscribeAndResend'] },
      },
      on: {
        'channel.failed': { target: 'failed', actions: 'recordRefusal' },
        // the next connection subscribes every channel at once: no wait is owed to a new connection
        'connection.lost': { target: 'unsubscribed', actions: 'countResubscribe' },
        'client.unsubscribe': { target: 'ended' },
      },
    },
    /** `unsubscribe` written; its answer (`unsubscribed`) is on its way. */
    unsubscribing: {
      tags: ['unsubscribing', 'stale'],
      on: {
        'channel.unsubscribed': { target: 'ended' },
        'channel.refused': { target: 'ended' },
        'connection.lost': { target: 'ended' },
      },
    },
    /** Refused for good (or over the client's reassembly bound): `lastError` says why. */
    failed: {
      tags: ['failed', 'stale'],
      type: 'final',
      entry: 'reportFailure',
    },
    /** Unsubscribed on purpose. */
    ended: {
      tags: ['ended', 'stale'],
      type: 'final',
      entry: 'reportEnded',
    },
  },
});

export type SubscriptionMachine = typeof subscriptionMachine;
