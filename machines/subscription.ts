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
 *  model.rejected (subscribing, subscribed, settling) ──▶ rejected ──after retryDelay──▶ subscribing
 *     (no position: a fresh snapshot) ──channel.synced──▶ settling (live) ──after stableAfter──▶ subscribed
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
 * `unsubscribed`, `subscribing`, `retrying` and `rejected` are tagged `stale` (the data shown is
 * what the channel had: the connection is down, a subscribe is not answered yet, or the Model
 * refused the channel's data); `subscribed` and `settling` are `live`. A refusal, or a Model that
 * throws, never touches the connection or another channel.
 *
 * A Model that throws, or an `inbound` schema that refuses the channel's data (`model.rejected`,
 * with its code): the protocol already stopped trusting the channel's
 * position (its patches drop until a snapshot), so the channel waits `resnapshotDelayMs`, doubling
 * with each rejection in a row, then subscribes again without a position: a fresh snapshot. The
 * streak is forgotten once the channel stays live for `MODEL_RETRY.stableAfterMs` (`settling`), so
 * a Model that throws on every patch costs a snapshot a minute at most, not one per round trip.
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
  | 'rejected'
  | 'failed'
  | 'ended'
  | 'live'
  | 'stale';

/**
 * The waits of a channel whose Model threw (not options: a Model that throws is a bug to fix, and
 * these only keep it from costing the server a snapshot per round trip meanwhile).
 * `initialDelayMs` doubles with each rejection in a row up to `maxDelayMs`; the streak is
 * forgotten after `stableAfterMs` live.
 */
export const MODEL_RETRY = { initialDelayMs: 1_000, maxDelayMs: 60_000, stableAfterMs: 60_000 } as const;

/**
 * The wait after the `rejections`-th rejection in a row: between half and all of
 * `min(maxDelayMs, initialDelayMs × 2^(rejections − 1))`, by `r` in [0, 1) (never 0, so never
 * hot). Pure: the randomness comes in as an argument.
 */
export function resnapshotDelayMs(rejections: number, r: number): number {
  const ceiling = Math.min(MODEL_RETRY.maxDelayMs, MODEL_RETRY.initialDelayMs * 2 ** Math.max(0, rejections - 1));
  // a random source outside [0, 1) (or NaN) must not stretch or shorten the wait past its bounds
  const share = r > 0 ? Math.min(r, 1) : 0;
  return Math.round((ceiling * (1 + share)) / 2);
}

/**
 * What ends or interrupts a held subscription (`subscribing`, `subscribed`, `settling`,
 * `rejected`): the server's refusal, the client's own failure, the socket's loss, the
 * application's unsubscribe.
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

/** Live (`subscribed`, `settling`): a gap resubscribes at once; a Model that throws waits first. */
const whileLive = {
  ...whileHeld,
  'channel.resync': { target: 'subscribing', actions: ['countResubscribe', 'requestSubscribe'] },
  'model.rejected': { target: 'rejected', actions: 'recordModelRejection' },
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
    /** Sets `retryDelayMs` for the wait after the Model threw (supplied by src/ with the connection's random `r`). */
    planResnapshot: assign(({ context }) => ({ retryDelayMs: resnapshotDelayMs(context.rejections, 0) })),

    // ── requests to the connection (it owns the socket and the outbox) ──────
    requestSubscribe: sendParent(({ context }): SubscriptionRequest => ({ type: 'subscription.subscribe', channel: context.channel, resend: false })),
    requestSubscribeAndResend: sendParent(
      ({ context }): SubscriptionRequest => ({ type: 'subscription.subscribe', channel: context.channel, resend: true }),
    ),
    requestUnsubscribe: sendParent(({ context }): SubscriptionRequest => ({ type: 'subscription.unsubscribe', channel: context.channel })),
    reportFailure: sendParent(({ context }): SubscriptionRequest => {
      const error = context.lastError ?? { code: 'ERR_CHANNEL_REFUSED', message: 'the channel failed' };
      const request: Extract<SubscriptionRequest, { type: 'subscription.failed' }> = { type: 'subscription.failed', channel: context.channel, code: error.code, message: error.message };
      if (context.own) request.own = true;
      return request;
    }),
    reportEnded: sendParent(({ context }): SubscriptionRequest => ({ type: 'subscription.ended', channel: context.channel })),

    // ── pure context updates ──────────────────────────────────────────────
    recordRefusal: assign(({ context, event }) => {
      if (event.type !== 'channel.refused' && event.type !== 'channel.failed') return context;
      const lastError: ChannelError = { code: event.code, message: event.message };
      return { lastError, retryAfterMs: event.type === 'channel.refused' ? (event.retryAfterMs ?? null) : null };
    }),
    recordModelRejection: assign(({ context, event }) => {
      if (event.type !== 'model.rejected') return context;
      const lastError: ChannelError = { code: event.code ?? 'ERR_MODEL_REJECTED', message: event.message };
      return { lastError, retryAfterMs: null, rejections: context.rejections + 1 };
    }),
    forgetRejections: assign({ rejections: 0 }),
    recordSynced: assign({ lastError: null, retryAfterMs: null, retryDelayMs: null }),
    recordPresenceRefused: assign(({ context, event }) =>
      event.type === 'channel.presence.refused' ? { presenceRefused: event.message } : context,
    ),
    countResubscribe: assign(({ context }) => ({ resubscribes: context.resubscribes + 1 })),
  },
  guards: {
    /** The refusal carries `retryAfterMs`: subscribe again after it. */
    isTransient: ({ event }) => event.type === 'channel.refused' && event.retryAfterMs !== undefined,
    /** The Model threw since the channel was last live for `stableAfter`. */
    hasRejections: ({ context }) => context.rejections > 0,
  },
  delays: {
    retryDelay: ({ context }) => context.retryDelayMs ?? 0,
    stableAfter: MODEL_RETRY.stableAfterMs,
  },
}).createMachine({
  id: 'subscription',
  context: ({ input }) => ({
    channel: input.channel,
    presence: input.presence ?? false,
    own: input.own ?? false,
    lastError: null,
    retryAfterMs: null,
    retryDelayMs: null,
    resubscribes: 0,
    rejections: 0,
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
        'channel.synced': [
          { guard: 'hasRejections', target: 'settling', actions: 'recordSynced' },
          { target: 'subscribed', actions: 'recordSynced' },
        ],
        'channel.resync': { target: 'subscribing', reenter: true, actions: ['countResubscribe', 'requestSubscribe'] },
        'model.rejected': { target: 'rejected', actions: 'recordModelRejection' },
      },
    },
    /** Caught up: every change of the channel arrives as it happens. */
    subscribed: {
      tags: ['subscribed', 'live'],
      on: whileLive,
    },
    /** Live again after the Model threw: the streak of rejections is forgotten once it stays live for `stableAfter`. */
    settling: {
      tags: ['subscribed', 'live'],
      after: { stableAfter: { target: 'subscribed', actions: 'forgetRejections' } },
      on: whileLive,
    },
    /**
     * The Model threw on the channel's data (`lastError` ERR_MODEL_REJECTED), or the `inbound`
     * schema refused it (ERR_INVALID_MESSAGE): stale, its patches
     * dropped. After the wait it subscribes again without a position: a fresh snapshot. Still held
     * on the server meanwhile, so its ops go out as usual; a `synced` or a gap of the subscribe
     * answered before is ignored (the fresh snapshot is asked for anyway).
     */
    rejected: {
      tags: ['rejected', 'stale'],
      entry: 'planResnapshot',
      after: {
        retryDelay: { target: 'subscribing', actions: ['countResubscribe', 'requestSubscribe'] },
      },
      on: whileHeld,
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
