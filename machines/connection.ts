/**
 * The connection statechart: a pure definition.
 *
 * ```
 *  idle ──client.connect──▶ session ─────────────────────────────────────────┐
 *                           │ connecting ──socket.opened──▶ open (parallel)   │
 *                           │     │ connectTimeout            stability       │
 *                           │     ▼                           heartbeat       │
 *                           │  (failure)                      flow            │
 *                           │ closing ◀──client.disconnect── open            │
 *                           └──────────────────────────────────────────────────┘
 *      failure ──▶ failing: errored.offline when offline, errored.waiting ──reconnectDelay──▶ session
 *                  while attempts are left, else closed
 *      fatal close, retries exhausted, disconnect: closed ──client.connect──▶ session
 * ```
 *
 * `session` opens a socket on entry (`openSocket`) and releases it on exit
 * (`releaseSocket`), so exactly one socket lives while the machine is in
 * `connecting`, `open` or `closing`, and leaving `session` closes it. The
 * socket is an effect of this actor, not a child actor of its own (a second
 * actor per connection, with its own snapshot, mailbox and observers, cost
 * about 2 KiB of heap: issue 15); what it reports comes back to this actor as
 * events. Every socket event carries the id of the socket that produced it;
 * events from a replaced socket are swallowed by `isStale`.
 *
 * Nothing here does I/O or reads a clock or a random source. Implementations
 * marked "supplied by src/" are placeholders that `src/connection.ts` replaces
 * with `.provide()`; tests replace them the same way.
 */
import { assign, createActor, enqueueActions, fromCallback, not, setup, type AnyActorRef, type AnyStateMachine } from 'xstate';
import type {
  ChartCounters,
  ConnectionContext,
  ConnectionEvent,
  ConnectionInput,
  ErrorInfo,
  Frame,
  OutboxEntry,
} from './connection.types.js';
import { admitToOutbox, appendToOutbox, EMPTY_OUTBOX, filterOutbox, mapOutbox, outboxEntries, outboxOf, settleInOutbox } from './outbox.js';
import type { SubscriptionMachine } from './subscription.js';
import type { ChannelErrorCode } from './subscription.types.js';

/**
 * A channel's subscription actor is the connection's child (XState's parent link: its
 * `sendParent`, its system and clock, the inspector's tree), with this id, which is also its system
 * id: the connection finds it with `system.get(id)`, not among its snapshot's `children`. XState
 * copies that record at every spawn and every stop (and stopping the connection stops each child,
 * one copy each), so n channels there cost n copies of an n-key object to subscribe and again to
 * stop: 0.6 and 1.9 to 3.1 s for 1,000 channels on a fake socket, 2.2 and 3.2 to 4.5 s for 2,000
 * (docs/channels.md, "Cost"). The system's registry is a Map. So the chart spawns with `createSubscription`, and stops every channel on `client.stop`,
 * before the connection's actor stops: XState stops only the children in its snapshot.
 */
export const subscriptionId = (channel: string): string => `channel:${channel}`;

const SUBSCRIPTION_PREFIX = subscriptionId('');

/** What the chart reads of its actor system: the actors it holds by system id. */
interface Registry {
  get(systemId: string): unknown;
  getAll(): Partial<Record<string, unknown>>;
}

/** The connection's subscription actors that are still running (not failed or ended), in the order they were spawned. */
function liveSubscriptions(system: Registry): AnyActorRef[] {
  const live: AnyActorRef[] = [];
  // the actors a system holds by system id; a failed or ended one has left it (XState unregisters an actor that stops)
  const actors = system.getAll() as Record<string, AnyActorRef | undefined>;
  for (const id in actors) {
    const child = actors[id];
    if (child !== undefined && id.startsWith(SUBSCRIPTION_PREFIX) && child.getSnapshot().status === 'active') live.push(child);
  }
  return live;
}

/** Some subscription actor is still in the system's registry (not stopped). */
export function holdsSubscriptions(system: Registry): boolean {
  const actors = system.getAll();
  for (const id in actors) if (id.startsWith(SUBSCRIPTION_PREFIX)) return true;
  return false;
}

/** The channel's running subscription actor, if any. */
const subscriptionOf = (system: Registry, channel: string): AnyActorRef | undefined =>
  system.get(subscriptionId(channel)) as AnyActorRef | undefined;

/** What `createSubscription` spawns: the subscription actor's input. */
interface SubscriptionParams {
  channel: string;
  presence: boolean;
  own: boolean;
}

/**
 * The parameters of the channel actions: which channel, and (failures) the code its ops fail with.
 * Declared as `unknown` on the actions (XState cannot type the parameters of an action that
 * `enqueueActions` enqueues inside `setup()`); read them with `channelParams`.
 */
export interface ChannelParams {
  channel: string;
  resend?: boolean;
  code?: ChannelErrorCode | 'ERR_NOT_SUBSCRIBED';
  message?: string;
}

/**
 * The parameters of a channel action: those enqueued with it, else what its event says (a
 * subscription's request names its channel; an ended channel's ops fail with `ERR_NOT_SUBSCRIBED`).
 */
export function channelParams(event: ConnectionEvent, params: unknown): ChannelParams {
  if (params !== undefined) return params as ChannelParams;
  switch (event.type) {
    case 'subscription.subscribe':
      return { channel: event.channel, resend: event.resend };
    case 'subscription.failed':
      return { channel: event.channel, code: event.code, message: event.message };
    case 'subscription.ended':
      return { channel: event.channel, code: 'ERR_NOT_SUBSCRIBED', message: `channel ${event.channel} was unsubscribed` };
    default:
      return { channel: channelOf(event) };
  }
}

/** The channel an event concerns (the chart's channel events and subscription requests all name one). */
const channelOf = (event: ConnectionEvent): string => ('channel' in event && typeof event.channel === 'string' ? event.channel : '');

/** Adds an entry to the outbox as `admitToOutbox` decides. Pure. */
/**
 * `counters` with `key` counted `by` more: an object literal of the fields in the chart's order rather than
 * `{ ...counters, key }`, whose clone V8 takes on its slow path (callgrind, issue 15: a message and a send each count one).
 */
function counted(counters: ChartCounters, key: keyof ChartCounters, by = 1): ChartCounters {
  const next: ChartCounters = {
    received: counters.received,
    rejected: counters.rejected,
    sent: counters.sent,
    reconnects: counters.reconnects,
    dropped: counters.dropped,
    callbackErrors: counters.callbackErrors,
  };
  next[key] += by;
  return next;
}

function withEntry(
  context: ConnectionContext,
  frame: Frame,
  ackId: string | undefined,
  sent: boolean,
  channel?: string,
  awaitsMark?: true,
): Pick<ConnectionContext, 'outbox' | 'nextEntryId' | 'counters'> {
  const entry: OutboxEntry = { id: context.nextEntryId, frame, sent };
  if (ackId !== undefined) entry.ackId = ackId;
  if (channel !== undefined) entry.channel = channel;
  if (awaitsMark === true) entry.awaitsMark = true;
  const admission = admitToOutbox(context.outbox, context.config.outbox);
  const nextEntryId = context.nextEntryId + 1;
  // copies no more than the outbox's tail, whatever its length (machines/outbox.ts; issue 15)
  if (admission.kind === 'append') return { outbox: appendToOutbox(context.outbox, entry), nextEntryId, counters: context.counters };
  const counters = counted(context.counters, 'dropped');
  if (admission.kind === 'drop-entry') {
    return { outbox: outboxOf([...outboxEntries(context.outbox).filter((_, index) => index !== admission.index), entry]), nextEntryId, counters };
  }
  return { outbox: context.outbox, nextEntryId, counters };
}

/** The error a failure event stands for. */
function failureOf(event: ConnectionEvent): ErrorInfo {
  if (event.type === 'socket.closed') {
    const info: ErrorInfo = { code: 'ERR_ABNORMAL_CLOSE', closeCode: event.code };
    if (event.reason) info.message = event.reason;
    return info;
  }
  if (event.type === 'socket.errored') return { code: event.code, message: event.message };
  return { code: 'ERR_SOCKET', message: `unexpected ${event.type}` };
}

export const connectionMachine = setup({
  types: {} as {
    context: ConnectionContext;
    events: ConnectionEvent;
    input: ConnectionInput;
    /** The state a connection reports (`status.state`), and what an errored one waits for (`status.parked`). */
    tags: 'idle' | 'connecting' | 'open' | 'errored' | 'closed' | 'offline' | 'hidden' | 'suspended';
  },
  actors: {
    /**
     * One channel's lifecycle (`subscriptionMachine`, machines/subscription.ts), spawned per channel.
     * A placeholder here, so a page whose protocol has no channels does not ship that chart: src/
     * supplies it, with its effects, for protocols with channels (src/channel-runtime.ts); tests
     * provide `subscriptionMachine` itself.
     */
    subscription: fromCallback(() => undefined) as unknown as SubscriptionMachine,
  },
  actions: {
    // ── MVC effects (supplied by src/) ─────────────────────────────────────
    /** Calls `model.update(message)` for each message of the event; a throw comes back as `message.rejected`. */
    updateModel: () => {},
    /** Schedules a coalesced `view.render(model.getData(), status)`. */
    renderView: () => {},
    /**
     * Writes the greeting frames of the connection (supplied by src/). When the greeting throws it
     * sets `greetingFailed` and raises `socket.errored` (`ERR_GREETING_FAILED`): the attempt fails.
     */
    sendGreeting: () => {},
    /** Sets `nextDelayMs`/`nextRetryAt` from the backoff policy (supplied by src/backoff.ts). */
    planRetry: assign({}),
    /** Stamps `pingSentAt` with `now()` (supplied by src/). */
    recordPing: assign({}),
    /** Raises `heartbeat.checked` with `now()` when the heartbeat timeout fires (supplied by src/). */
    checkPong: () => {},

    // ── the socket (supplied by src/socket.ts) ──────────────────────────────
    /**
     * Opens the attempt's socket (`context.socketId`, set by `nextSocket` just before, stamps every
     * event it reports back: `socket.*`, `message.*`, `ack.received`, …). Entered with `session`.
     */
    openSocket: () => {},
    /** Writes frames on the open socket, in order; reports `socket.congested` past `maxBufferedBytes`. */
    writeFrames: (_: unknown, _params: { frames: Frame[] }) => {},
    /** Starts the close handshake with `context.closeRequest`'s code and reason (1000 and '' without one). */
    closeSocket: () => {},
    /** Reports `socket.drained`, or `socket.congested` again, from the socket's buffered bytes. */
    checkDrain: () => {},
    /** Detaches every handler and closes or terminates the socket, whatever its state: it never reports again. */
    releaseSocket: () => {},

    // ── channel effects (supplied by src/; protocols with channels) ────────
    /**
     * Writes `subscribe` for the channel, with the position the protocol keeps and `acked`; with
     * `resend`, the channel's unanswered ops right behind it (marked as resends).
     */
    writeSubscribe: (_args, _params: unknown) => {},
    /** Writes `unsubscribe` for the channel. */
    writeUnsubscribe: (_args, _params: unknown) => {},
    /**
     * The channel's unanswered ops settle (before `dropChannelOps` removes them): one never written
     * fails with `params.code`; one written waits for its answer on the open socket, or is
     * unconfirmed (`ERR_OP_UNCONFIRMED`) when its socket went.
     */
    reportChannelOpsFailed: (_args, _params: unknown) => {},
    /** The channel's mark is known (`channel.marked`): its ops that waited for it are numbered and written, in order. */
    writeMarkedOps: (_args, _params: unknown) => {},
    /** The protocol forgets the channel (its position, its Model's routing). */
    releaseChannel: (_args, _params: unknown) => {},
    /** An outbox entry was answered (`ack.received`): tells whoever waits for it. */
    reportSettled: () => {},
    /**
     * The socket is gone: ops written on it that are still unanswered become resends (`re`), and
     * requests waiting for an answer on it fail.
     */
    prepareResends: assign({}),

    // ── subscription actors (pure) ────────────────────────────────────────
    /**
     * Spawns the channel's subscription actor, replacing a failed one of the same name, or one
     * still waiting for its unsubscribe's answer: that one ends now, its unanswered ops failing as
     * an unsubscribe's do (the server answers the unsubscribe before the new subscribe; the new
     * actor ignores that answer). Kept, it would take the new handle's place and, ending, release
     * the channel the new `subscribe` holds on the server (simulator, seed 463).
     */
    spawnSubscription: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'client.subscribe') return;
      const existing = subscriptionOf(system, event.channel);
      if (existing !== undefined) {
        const snapshot = existing.getSnapshot() as { status: string; hasTag(tag: string): boolean };
        if (snapshot.status === 'active' && !snapshot.hasTag('unsubscribing')) return;
        if (snapshot.status === 'active') {
          const params: ChannelParams = { channel: event.channel, code: 'ERR_NOT_SUBSCRIBED', message: `channel ${event.channel} was unsubscribed` };
          enqueue({ type: 'reportChannelOpsFailed', params });
          enqueue({ type: 'dropChannelOps', params });
        }
        // leaves the system's registry when this runs, before the new actor takes its system id
        enqueue.stopChild(existing);
      }
      const params: SubscriptionParams = { channel: event.channel, presence: event.presence ?? false, own: event.own ?? false };
      enqueue({ type: 'createSubscription', params });
    }),
    /**
     * Creates the channel's subscription actor (the `subscription` actor provided), the connection's
     * child under the system id `channel:NAME`, and starts it: what `spawnChild` does (creates while
     * the transition is resolved, starts when its actions run), without adding it to the snapshot's
     * `children` (see `subscriptionId`). After `spawnSubscription`'s stop of a replaced actor has run,
     * which frees the system id.
     */
    createSubscription: enqueueActions(({ enqueue, self }, params: unknown) => {
      const input = params as SubscriptionParams;
      const machine = (self.getSnapshot() as { machine: AnyStateMachine }).machine;
      const id = subscriptionId(input.channel);
      const actor = createActor(machine.implementations.actors.subscription as SubscriptionMachine, { id, systemId: id, parent: self, src: 'subscription', input });
      enqueue({ type: 'startSubscription', params: { actor } });
    }),
    startSubscription: (_args, params: unknown) => (params as { actor: AnyActorRef }).actor.start(),
    /** While open: a new channel's `subscribe` goes out at once. */
    openNewSubscription: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'client.subscribe' || context.greetingFailed) return;
      const child = subscriptionOf(system, event.channel);
      if (child === undefined) return;
      enqueue({ type: 'writeSubscribe', params: { channel: event.channel } });
      enqueue.sendTo(child, { type: 'connection.opened' });
    }),
    /** On open, after the hello: every running subscription writes its `subscribe` (before the outbox). */
    openSubscriptions: enqueueActions(({ context, enqueue, system }) => {
      if (context.greetingFailed) return;
      for (const child of liveSubscriptions(system)) {
        const channel = (child.getSnapshot() as { context: { channel: string } }).context.channel;
        enqueue({ type: 'writeSubscribe', params: { channel } });
        enqueue.sendTo(child, { type: 'connection.opened' });
      }
    }),
    loseSubscriptions: enqueueActions(({ enqueue, system }) => {
      for (const child of liveSubscriptions(system)) enqueue.sendTo(child, { type: 'connection.lost' });
    }),
    /** A lifecycle frame of a channel (or the client's unsubscribe, or its Model's rejection) goes to its subscription actor, if it runs. */
    forwardToSubscription: enqueueActions(({ event, enqueue, system }) => {
      const child = subscriptionOf(system, channelOf(event));
      if (child === undefined || child.getSnapshot().status !== 'active') return;
      enqueue.sendTo(child, event.type === 'client.unsubscribe' ? { type: 'client.unsubscribe' } : event);
    }),
    /** An ended subscription has stopped itself (a final state) and left the registry; one still there is stopped. */
    stopSubscription: enqueueActions(({ event, enqueue, system }) => {
      const child = subscriptionOf(system, channelOf(event));
      if (child !== undefined) enqueue.stopChild(child);
    }),
    /** The connection is being stopped (`client.stop`): every subscription actor stops first (XState stops only its snapshot's children). */
    stopSubscriptions: enqueueActions(({ enqueue, system }) => {
      for (const child of liveSubscriptions(system)) enqueue.stopChild(child);
    }),
    /** The channel's unanswered ops leave the outbox (after `reportChannelOpsFailed`). */
    dropChannelOps: assign(({ context, event }, params: unknown) => {
      const { channel } = channelParams(event, params);
      return { outbox: filterOutbox(context.outbox, (entry) => entry.channel !== channel) };
    }),

    // ── pure context updates ──────────────────────────────────────────────
    nextSocket: assign({
      socketId: ({ context }) => context.socketId + 1,
      pingSentAt: null,
    }),
    recordOpen: assign(({ context, event }) =>
      event.type === 'socket.opened'
        ? { url: event.url, lastInboundAt: event.at, nextDelayMs: null, nextRetryAt: null, pingSentAt: null, greetingFailed: false }
        : context,
    ),
    /** Records the error a socket event stands for (close or error). */
    recordFailure: assign(({ event }) => ({ lastError: failureOf(event) })),
    recordConnectTimeout: assign({ lastError: (): ErrorInfo => ({ code: 'ERR_CONNECT_TIMEOUT' }) }),
    recordHeartbeatTimeout: assign({ lastError: (): ErrorInfo => ({ code: 'ERR_HEARTBEAT_TIMEOUT' }) }),
    recordOffline: assign({ lastError: (): ErrorInfo => ({ code: 'ERR_OFFLINE' }) }),
    recordClose: assign(({ context, event }) =>
      event.type === 'socket.closed'
        ? { lastClose: { code: event.code, reason: event.reason, wasClean: event.wasClean } }
        : context,
    ),
    recordFatalClose: assign(({ context, event }) => {
      if (event.type !== 'socket.closed') return context;
      const lastError: ErrorInfo = { code: 'ERR_FATAL_CLOSE', closeCode: event.code };
      if (event.reason) lastError.message = event.reason;
      return { lastError };
    }),
    /** With reconnect enabled, the failure that used up the last attempt; with it disabled, the failure stays. */
    recordRetriesExhausted: assign(({ context }) => {
      const last = context.lastError;
      if (!context.config.reconnect.enabled) return {};
      const lastError: ErrorInfo = {
        code: 'ERR_RETRIES_EXHAUSTED',
        message: `gave up after ${context.attempt} reconnect attempt(s); last error: ${last?.code ?? 'none'}`,
      };
      if (last?.closeCode !== undefined) lastError.closeCode = last.closeCode;
      return { lastError };
    }),
    recordCloseRequest: assign(({ context, event }) =>
      event.type === 'client.disconnect'
        ? { closeRequest: { code: event.code ?? 1000, reason: event.reason ?? '' } }
        : context,
    ),
    recordForcedClose: assign(({ context }) => ({
      lastClose: {
        code: context.closeRequest?.code ?? 1006,
        reason: context.closeRequest?.reason ?? '',
        wasClean: false,
        forced: true,
      },
    })),
    clearCloseRequest: assign({ closeRequest: null }),
    noteInbound: assign(({ context, event }) => ({
      lastInboundAt: 'at' in event ? event.at : context.lastInboundAt,
      counters: counted(context.counters, 'received', event.type === 'message.received' ? event.messages.length : 1),
    })),
    /**
     * The connection's own Model (the `default` channel) failed: the connection's document is gone,
     * so its status says so (`lastError`, the channel's code). The socket and the other channels go on.
     */
    recordOwnChannelFailure: assign(({ context, event }) =>
      event.type === 'subscription.failed' && event.own === true
        ? { lastError: { code: event.code, message: `channel ${event.channel} (the connection's own Model) failed: ${event.message}` } }
        : context,
    ),
    recordRejected: assign(({ context, event }) =>
      event.type === 'message.rejected'
        ? {
            lastRejected: { code: event.code, message: event.message },
            counters: counted(context.counters, 'rejected'),
          }
        : context,
    ),
    resetAttempts: assign({ attempt: 0 }),
    beginReconnect: assign(({ context }) => ({
      attempt: context.attempt + 1,
      counters: counted(context.counters, 'reconnects'),
    })),
    countResume: assign(({ context }) => ({
      counters: counted(context.counters, 'reconnects'),
    })),
    clearRetry: assign({ nextDelayMs: null, nextRetryAt: null }),
    setOffline: assign({ online: false }),
    setPageHidden: assign({ pageHidden: true }),
    setPageVisible: assign({ pageHidden: false }),
    setOnline: assign({ online: true }),
    recordCallbackFailure: assign(({ context, event }) =>
      event.type === 'callback.failed'
        ? {
            lastCallbackError: { code: event.code, message: event.message },
            counters: counted(context.counters, 'callbackErrors'),
          }
        : context,
    ),
    enqueue: assign(({ context, event }) =>
      event.type === 'client.send' ? withEntry(context, event.frame, event.ackId, false, event.channel, event.awaitsMark) : context,
    ),
    settleAck: assign(({ context, event }) =>
      event.type === 'ack.received'
        ? { outbox: settleInOutbox(context.outbox, event.id) }
        : context,
    ),

    // ── writes to the socket (only from states inside `session`) ───────────
    /** Writes a send at once; keeps it in the outbox when it waits for an ack. */
    transmit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'client.send') return;
      if (event.ackId === undefined) {
        enqueue({ type: 'writeFrames', params: { frames: [event.frame] } });
        enqueue.assign({ counters: counted(context.counters, 'sent') });
        return;
      }
      const next = withEntry(context, event.frame, event.ackId, true, event.channel);
      // dropped by the overflow policy: do not write it either
      if (next.outbox === context.outbox) return enqueue.assign(next);
      enqueue({ type: 'writeFrames', params: { frames: [event.frame] } });
      // one assignment, one copy of the context per send (issue 15); `dropped` as withEntry counted it
      next.counters = { ...next.counters, sent: next.counters.sent + 1 };
      enqueue.assign(next);
    }),
    /** Writes every outbox entry in order; entries waiting for an ack stay, marked sent. */
    flushOutbox: enqueueActions(({ context, enqueue }) => {
      // after a greeting that threw, the socket is failing: nothing queued may go out on it, or be lost with it
      if (context.outbox.size === 0 || context.greetingFailed) return;
      // an op waiting for its channel's mark has no number yet: it stays, unwritten (`writeMarkedOps`)
      const frames: Frame[] = [];
      for (const entry of outboxEntries(context.outbox)) if (entry.awaitsMark !== true) frames.push(entry.frame);
      if (frames.length === 0) return;
      enqueue({ type: 'writeFrames', params: { frames } });
      enqueue.assign(({ context: latest }) => ({
        outbox: mapOutbox(
          filterOutbox(latest.outbox, (entry) => entry.ackId !== undefined),
          (entry) => (entry.sent || entry.awaitsMark === true ? entry : { ...entry, sent: true }),
        ),
        counters: { ...latest.counters, sent: latest.counters.sent + frames.length },
      }));
    }),
    sendPing: enqueueActions(({ context, enqueue }) => {
      const heartbeat = context.config.heartbeat;
      if (heartbeat === null) return;
      enqueue({ type: 'writeFrames', params: { frames: [heartbeat.message] } });
      enqueue.assign({ counters: counted(context.counters, 'sent') });
    }),
  },
  guards: {
    /** The event comes from a socket that has been replaced. */
    isStale: ({ context, event }) => 'socketId' in event && event.socketId !== context.socketId,
    /** Reconnecting is enabled and attempts are left. */
    hasAttemptsLeft: ({ context }) =>
      context.config.reconnect.enabled && context.attempt < context.config.reconnect.maxAttempts,
    isOffline: ({ context }) => !context.online,
    isPageHidden: ({ context }) => context.pageHidden,
    closesOnOffline: ({ context }) => context.config.closeOnOffline,
    /** The close policy's answer, which the socket (src/socket.ts) put on the event (src/close-codes.ts by default). */
    isReconnectableClose: ({ event }) => event.type !== 'socket.closed' || event.reconnectable !== false,
    hasHeartbeat: ({ context }) => context.config.heartbeat !== null,
    /** No inbound frame since the ping, and `timeoutMs` had elapsed on `now()` when the timeout fired. */
    isPongOverdue: ({ context, event }) =>
      event.type === 'heartbeat.checked' &&
      context.config.heartbeat !== null &&
      context.pingSentAt !== null &&
      context.lastInboundAt < context.pingSentAt &&
      event.at - context.pingSentAt >= context.config.heartbeat.timeoutMs,
    hasInboundSincePing: ({ context }) =>
      context.pingSentAt !== null && context.lastInboundAt >= context.pingSentAt,
    isModelRejection: ({ event }) => event.type === 'message.rejected' && event.code === 'ERR_MODEL_REJECTED',
    /** A send that waits in the outbox even while open (its channel waits to subscribe again). */
    isHeldSend: ({ event }) => event.type === 'client.send' && (event.hold === true || event.awaitsMark === true),
  },
  delays: {
    connectTimeout: ({ context }) => context.config.connectTimeoutMs,
    closeTimeout: ({ context }) => context.config.closeTimeoutMs,
    reconnectDelay: ({ context }) => context.nextDelayMs ?? 0,
    stableAfter: ({ context }) => context.config.reconnect.stableAfterMs,
    heartbeatInterval: ({ context }) => context.config.heartbeat?.intervalMs ?? 0,
    heartbeatTimeout: ({ context }) => context.config.heartbeat?.timeoutMs ?? 0,
    /** What is left of the interval after the timeout check: pings stay intervalMs apart. */
    heartbeatRest: ({ context }) =>
      Math.max(0, (context.config.heartbeat?.intervalMs ?? 0) - (context.config.heartbeat?.timeoutMs ?? 0)),
    drainCheck: ({ context }) => context.config.drainCheckMs,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    config: input.config,
    url: null,
    socketId: 0,
    attempt: 0,
    nextDelayMs: null,
    nextRetryAt: null,
    lastError: null,
    lastClose: null,
    lastRejected: null,
    lastCallbackError: null,
    greetingFailed: false,
    closeRequest: null,
    outbox: EMPTY_OUTBOX,
    nextEntryId: 1,
    online: input.online ?? true,
    pageHidden: input.pageHidden ?? false,
    lastInboundAt: 0,
    pingSentAt: null,
    counters: { received: 0, rejected: 0, sent: 0, reconnects: 0, dropped: 0, callbackErrors: 0 },
  }),
  initial: 'idle',
  on: {
    'client.send': { actions: 'enqueue' },
    'ack.received': [{ guard: 'isStale' }, { actions: ['reportSettled', 'settleAck'] }],
    // channels (protocols with channels): one subscription actor per channel, spawned as a child
    'client.subscribe': { actions: 'spawnSubscription' },
    'client.stop': { actions: 'stopSubscriptions' },
    'client.unsubscribe': { actions: 'forwardToSubscription' },
    'model.rejected': { actions: 'forwardToSubscription' },
    'subscription.failed': { actions: ['reportChannelOpsFailed', 'dropChannelOps', 'releaseChannel', 'recordOwnChannelFailure'] },
    'subscription.ended': { actions: ['reportChannelOpsFailed', 'dropChannelOps', 'releaseChannel', 'stopSubscription'] },
    'callback.failed': { actions: 'recordCallbackFailure' },
    'network.offline': { actions: 'setOffline' },
    'network.online': { actions: 'setOnline' },
    'page.hidden': { actions: 'setPageHidden' },
    'page.visible': { actions: 'setPageVisible' },
  },
  states: {
    idle: {
      tags: 'idle',
      on: {
        'client.connect': { target: 'session' },
        'client.retry': { target: 'session' },
        'client.disconnect': { target: 'closed' },
      },
    },
    session: {
      entry: ['nextSocket', 'clearCloseRequest', 'openSocket'],
      exit: 'releaseSocket',
      initial: 'connecting',
      on: {
        'socket.closed': [
          { guard: 'isStale' },
          {
            guard: not('isReconnectableClose'),
            target: 'closed',
            actions: ['recordClose', 'recordFatalClose'],
          },
          { target: 'failing', actions: ['recordClose', 'recordFailure'] },
        ],
        'socket.errored': [{ guard: 'isStale' }, { target: 'failing', actions: 'recordFailure' }],
        'network.offline': [
          {
            guard: 'closesOnOffline',
            target: 'errored.offline',
            actions: ['setOffline', 'recordOffline'],
          },
          { actions: 'setOffline' },
        ],
        'client.disconnect': { target: 'closed' },
        // back-forward cache: the socket is closed (cleanly, by `releaseSocket`) and reopened on return
        'page.suspended': { target: 'errored.suspended' },
      },
      states: {
        connecting: {
          tags: 'connecting',
          entry: 'renderView',
          after: { connectTimeout: { target: '#connection.failing', actions: 'recordConnectTimeout' } },
          on: {
            'socket.opened': [
              { guard: 'isStale' },
              { target: 'open', actions: ['recordOpen', 'sendGreeting', 'openSubscriptions', 'flushOutbox'] },
            ],
          },
        },
        open: {
          type: 'parallel',
          tags: 'open',
          entry: 'renderView',
          exit: ['loseSubscriptions', 'prepareResends'],
          on: {
            'message.received': [
              { guard: 'isStale' },
              { actions: ['noteInbound', 'updateModel', 'renderView'] },
            ],
            'message.rejected': [
              { guard: 'isStale' },
              { guard: 'isModelRejection', actions: 'recordRejected' },
              { actions: ['noteInbound', 'recordRejected'] },
            ],
            'pong.received': [{ guard: 'isStale' }, { actions: 'noteInbound' }],
            'ack.received': [{ guard: 'isStale' }, { actions: ['noteInbound', 'reportSettled', 'settleAck'] }],
            'resync.needed': [{ guard: 'isStale' }, { actions: ['noteInbound', 'sendGreeting'] }],
            'channel.marked': [{ guard: 'isStale' }, { actions: 'writeMarkedOps' }],
            'channel.*': [{ guard: 'isStale' }, { actions: ['noteInbound', 'forwardToSubscription'] }],
            'client.subscribe': { actions: ['spawnSubscription', 'openNewSubscription'] },
            'subscription.subscribe': { actions: 'writeSubscribe' },
            'subscription.unsubscribe': { actions: 'writeUnsubscribe' },
            'client.disconnect': { target: 'closing', actions: 'recordCloseRequest' },
          },
          states: {
            stability: {
              initial: 'settling',
              states: {
                settling: {
                  after: { stableAfter: { target: 'stable', actions: 'resetAttempts' } },
                },
                stable: {},
              },
            },
            heartbeat: {
              initial: 'choosing',
              states: {
                choosing: {
                  always: [{ guard: 'hasHeartbeat', target: 'waiting' }, { target: 'off' }],
                },
                off: {},
                waiting: {
                  after: {
                    heartbeatInterval: { target: 'awaitingPong', actions: ['recordPing', 'sendPing'] },
                  },
                },
                /** The ping was answered: the next one goes out intervalMs after the last. */
                answered: {
                  after: {
                    heartbeatRest: { target: 'awaitingPong', actions: ['recordPing', 'sendPing'] },
                  },
                },
                awaitingPong: {
                  // the time is read by an action (guards see only context and event), then judged here
                  after: { heartbeatTimeout: { actions: 'checkPong' } },
                  on: {
                    'heartbeat.checked': [
                      { guard: 'isPongOverdue', target: '#connection.failing', actions: 'recordHeartbeatTimeout' },
                      { guard: 'hasInboundSincePing', target: 'answered' },
                      // the timer fired before `timeoutMs` had passed on now(): wait again
                      { target: 'awaitingPong', reenter: true },
                    ],
                  },
                },
              },
            },
            flow: {
              initial: 'flowing',
              states: {
                flowing: {
                  on: {
                    'client.send': [{ guard: 'isHeldSend', actions: 'enqueue' }, { actions: 'transmit' }],
                    'socket.congested': [{ guard: 'isStale' }, { target: 'congested' }],
                  },
                },
                congested: {
                  after: { drainCheck: { target: 'congested', reenter: true, actions: 'checkDrain' } },
                  on: {
                    'socket.drained': [{ guard: 'isStale' }, { target: 'flowing', actions: 'flushOutbox' }],
                  },
                },
              },
            },
          },
        },
        /** A close we asked for: the connection is `closed` to its user. */
        closing: {
          tags: 'closed',
          entry: 'closeSocket',
          after: { closeTimeout: { target: '#connection.closed', actions: 'recordForcedClose' } },
          on: {
            'socket.closed': [{ guard: 'isStale' }, { target: '#connection.closed', actions: 'recordClose' }],
            'socket.errored': [{ guard: 'isStale' }, { target: '#connection.closed' }],
            'network.offline': { actions: 'setOffline' },
            'client.disconnect': {},
            'page.suspended': {},
          },
        },
      },
    },
    /**
     * Where every failure of an attempt goes (close, error, connect or heartbeat timeout), once its
     * error is recorded: wait offline, retry while attempts are left, else give up.
     */
    failing: {
      always: [
        { guard: 'isOffline', target: 'errored.offline' },
        { guard: 'hasAttemptsLeft', target: 'errored' },
        { target: 'closed', actions: 'recordRetriesExhausted' },
      ],
    },
    errored: {
      tags: 'errored',
      entry: 'renderView',
      initial: 'waiting',
      on: {
        'client.retry': { target: 'session', actions: 'beginReconnect' },
        'client.connect': { target: 'session', actions: 'beginReconnect' },
        'client.disconnect': { target: 'closed' },
        'page.suspended': { target: '.suspended' },
      },
      states: {
        waiting: {
          entry: 'planRetry',
          exit: 'clearRetry',
          after: {
            reconnectDelay: [
              // a hidden page does not reconnect in the background: it waits to be seen
              { guard: 'isPageHidden', target: 'hidden' },
              { target: '#connection.session', actions: 'beginReconnect' },
            ],
          },
          on: { 'network.offline': { target: 'offline', actions: 'setOffline' } },
        },
        hidden: {
          tags: 'hidden',
          on: {
            'page.visible': { target: '#connection.session', actions: ['setPageVisible', 'beginReconnect'] },
            'network.offline': { target: 'offline', actions: 'setOffline' },
          },
        },
        offline: {
          tags: 'offline',
          on: { 'network.online': { target: '#connection.session', actions: ['setOnline', 'countResume'] } },
        },
        /** The page went into the back-forward cache; it reconnects when the page is shown again. */
        suspended: {
          tags: 'suspended',
          on: {
            'page.resumed': [
              { guard: 'isOffline', target: 'offline' },
              { target: '#connection.session', actions: 'countResume' },
            ],
            'page.suspended': {},
          },
        },
      },
    },
    closed: {
      tags: 'closed',
      entry: 'renderView',
      on: {
        'client.connect': { target: 'session', actions: 'resetAttempts' },
        'client.retry': { target: 'session', actions: 'resetAttempts' },
      },
    },
  },
});

export type ConnectionMachine = typeof connectionMachine;
