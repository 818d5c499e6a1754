/**
 * `createConnection`, the wiring: resolves the options, guards the user's
 * policies (src/policies.ts), builds the effects the shared chart runs with
 * (src/effects.ts), the clock (src/clock.ts) and the actor; follows the
 * actor's snapshots with history (src/causes.ts names the event behind each,
 * src/history.ts), status (src/status.ts), renders (src/render.ts) and
 * listeners (src/listeners.ts); and returns a handle that only sends events
 * to the machine and reads its snapshots.
 */
import { createActor, type Actor } from 'xstate';
import { holdsSubscriptions, type connectionMachine } from '../machines/connection.js';
import { admitToOutbox, outboxEntries } from '../machines/outbox.js';
import type { ConnectionContext, ErrorCode, OutboxEntry } from '../machines/connection.types.js';
import { isSendableCloseCode } from './close-codes.js';
import { CONNECTION_SYSTEM_ID, liveMachine, releaseSocket, type ConnectionEffects, type LiveInput } from './effects.js';
import { StatesocketError } from './errors.js';
import { exceedsBytes, frameBytes, utf8Length } from './frames.js';
import type { ConnectionOptions } from './options.js';
import { checkChannelOptions, describeValue, resolveOptions } from './options.js';
import { environmentState, watchEnvironment } from './environment.js';
import { withInboundSchema } from './inbound-schema.js';
import { protocolForConnection, type Protocol } from './protocol.js';
import type { Channel, ChannelOptions } from './channel.js';
import { createStore, type Store } from './store.js';
import { History } from './history.js';
import { FRAMES, Renderer } from './render.js';
import { createClock } from './clock.js';
import { Causes } from './causes.js';
import { countInspectors, withFastPath } from './fast-path.js';
import { Listeners } from './listeners.js';
import { guardNow, guardRandom, guardShouldReconnect } from './policies.js';
import { createCounters, onlyBookkeepingChanged, sameStatus, stateNameOf, statusOf, type ConnectionSnapshot } from './status.js';
import type { SyncOutbound } from './sync/client-protocol.js';
import type { AnyModel, ConnectionStatus, HistoryEntry, Model, View, WebSocketConstructor } from './types.js';

export type ConnectionActor = Actor<typeof connectionMachine>;
export type { ConnectionSnapshot };

/**
 * A connection. `M` is its Model's type (`Store`, the default Model's, when
 * none was given), `TOut` the messages `send()` takes (the protocol's: ops
 * for the sync protocol, anything for `rawProtocol`).
 */
export interface Connection<M extends AnyModel = Store, TOut = SyncOutbound> {
  /** Connects, and starts following the environment (done for you unless `autoStart: false`); the machine runs, in `idle`, from creation. */
  start(): void;
  /** Closes the socket and cancels every timer and render; the connection cannot be used again. */
  stop(): void;
  /** Connects from `idle` or `closed`; from `errored` it skips the wait. */
  connect(): void;
  /**
   * Sends a message: at once while open, else through the outbox.
   * @throws StatesocketError `ERR_PAYLOAD_TOO_LARGE` over `maxMessageBytes`, `ERR_OUTBOX_FULL` under the reject policy, `ERR_STOPPED` after stop()
   */
  send(message: TOut): void;
  /** Skips the backoff wait (and reconnects from `closed`). */
  retry(): void;
  /**
   * Closes with a clean handshake and stays `closed` (no reconnect).
   * @throws RangeError when `code` is not 1000 or 3000–4999, or `reason` is over 123 UTF-8 bytes
   */
  disconnect(code?: number, reason?: string): void;
  /**
   * Reports the environment's network state (`network.online` / `network.offline`).
   * @throws TypeError when `online` is not a boolean
   */
  setOnline(online: boolean): void;
  /** The current status; the same object until something changes. */
  getStatus(): ConnectionStatus;
  /** The outbox, oldest first: queued sends, and sent ones still waiting for their ack. */
  getOutbox(): readonly OutboxEntry[];
  /**
   * Calls `listener` on every status change; returns the unsubscribe function.
   * @throws TypeError when `listener` is not a function
   */
  subscribe(listener: (status: ConnectionStatus) => void): () => void;
  /**
   * Holds a channel on this connection (protocols with channels: `createChannelProtocol()`):
   * its own Model (`createStore()` by default), view, presence, ops and history. The same name
   * again returns the same handle while it is held. See docs/channels.md.
   * @throws TypeError when the protocol has no channels (`rawProtocol`, the sync protocol's version 1), the name is held with another Model, or an option is unknown or of the wrong shape
   * @throws StatesocketError `ERR_INVALID_CHANNEL` for a name that breaks the name rule, `ERR_STOPPED` after stop()
   */
  channel<CM extends AnyModel = Store>(name: string, options?: ChannelOptions<CM>): Channel<CM>;
  /** Every state entered, oldest first, bounded by `historyLimit`. */
  readonly history: readonly HistoryEntry[];
  /** The Model the connection updates. */
  readonly model: M;
  /** The XState actor running the chart. */
  readonly actor: ConnectionActor;
}

/** Names a protocol without channels the way its user made it: version 1's name alone ("statesocket") reads as the default. */
function protocolLabel(name: string): string {
  if (name === 'statesocket') return 'createSyncProtocol(), the sync protocol\'s version 1';
  if (name === 'raw') return 'rawProtocol';
  return JSON.stringify(name);
}

/** Where the facade keeps its history, for the one getter every connection shares (`historyOf`). */
const HISTORY = Symbol('statesocket.history');

/**
 * `connection.history`. One function for every connection, defined after the facade's literal: an
 * accessor in an object literal, or a getter closure per object, puts V8 in dictionary mode for the
 * whole facade (about 0.8 KiB more per connection, issue 15).
 */
function historyOf(this: { [HISTORY]: History }): readonly HistoryEntry[] {
  return this[HISTORY].entries;
}

/** A channel handle still held: `channel()` with its name returns it rather than subscribing anew. */
function isHeld(handle: Channel<AnyModel>): boolean {
  return !['failed', 'ended', 'unsubscribing'].includes(handle.getStatus().state);
}

/** How many times `channel()` returned each handle (channels are few: a WeakMap entry each). */
const takes = new WeakMap<object, number>();

/**
 * How many times `connection.channel(name)` returned this handle (internal: statesocket/react
 * unsubscribes a handle only when its own call was the only one).
 */
export function channelTakes(handle: object): number {
  return takes.get(handle) ?? 0;
}

/**
 * Builds `createConnection` for a platform: the Node entry passes `ws`, the
 * browser entry passes the global `WebSocket`.
 */
export function createConnectionFactory(platformWebSocket: () => WebSocketConstructor | undefined) {
  return function createConnection<M extends AnyModel = Store, TOut = SyncOutbound>(options: ConnectionOptions<M, TOut>): Connection<M, TOut> {
    const resolved = resolveOptions(options, platformWebSocket());
    const config = resolved.config;
    const minMessageBytes = resolved.protocol.channels?.minMessageBytes ?? 0;
    if (config.maxMessageBytes < minMessageBytes) {
      // the server keeps every frame it cannot chunk within this many bytes: a smaller limit would refuse some of them
      throw new RangeError(
        `statesocket: option \`maxMessageBytes\` must be at least ${minMessageBytes} with a protocol with channels; received ${config.maxMessageBytes}`,
      );
    }
    // The user's policies, guarded: a throw falls back to the default and is reported (src/policies.ts).
    const now = guardNow(resolved.now, reportCallbackFailure);
    const shouldReconnect = guardShouldReconnect(resolved.shouldReconnect, reportCallbackFailure);
    const random = guardRandom(resolved.random, reportCallbackFailure);
    // This connection's own protocol state (the sync protocol's position): a protocol object may serve many connections.
    const protocol = withInboundSchema(protocolForConnection(resolved.protocol), resolved.inbound);
    // No model given: M is Store (the default type argument), and the Model is a store.
    const model = resolved.model ?? (createStore() as AnyModel as M);

    let stopped = false;
    /** stop() was called while the actor was handling an event: it stops once the close and the `client.stop` it queued have been handled. */
    let stopWhenReady = false;
    let started = false;
    /** The actor exists: a callback failure can be reported to it. */
    let ready = false;
    let unwatchEnvironment: (() => void) | null = null;

    const renderer = new Renderer(resolved.view as View<never> | undefined, model, resolved.schedule, {
      status: () => status,
      rendered: () => update(reported, 'view.rendered'),
      failed: reportCallbackFailure,
    });
    /** The event behind each snapshot the actor reports, for history (src/causes.ts). */
    const causes = new Causes();
    // Handed to the shared machine through the actor's input (src/effects.ts).
    const effects: ConnectionEffects = {
      socket: {
        WebSocket: resolved.WebSocket,
        url: resolved.url,
        protocols: resolved.protocols,
        parse: resolved.parse,
        protocol: protocol as never,
        model: model as never,
        maxMessageBytes: config.maxMessageBytes,
        maxBufferedBytes: config.maxBufferedBytes,
        now,
        // a protocol that gets a fresh token at every connect makes 4419 (token expired) worth a reconnect
        shouldReconnect: protocol.refreshesToken === true ? (close) => shouldReconnect({ ...close, canRefreshToken: true }) : shouldReconnect,
      },
      model: model as Model<unknown>,
      protocol: protocol as Protocol<unknown>,
      greeting: resolved.greeting as ConnectionEffects['greeting'],
      now,
      random,
      renderer,
      reportCallbackFailure,
      noteCause: (type) => causes.note(type),
      // an inspector sees every transition: while one is attached, every event takes XState's macrostep
      fastPath: { enabled: () => inspectors === 0 },
      liveSocket: null,
    };

    const input: LiveInput = { config, ...environmentState(resolved.environment), effects };
    // a protocol with channels brings the chart with their effects (src/channel-runtime.ts)
    /** Inspectors attached to the actor's system: the `inspect` option's, and any `actor.system.inspect()` since. */
    let inspectors = resolved.inspect ? 1 : 0;
    const actor: ConnectionActor = createActor(withFastPath(protocol.channels?.runtime.machine() ?? liveMachine), {
      input,
      systemId: CONNECTION_SYSTEM_ID,
      // each timer fires inside causes.duringTimer, which names the delayed event it sends
      clock: createClock(resolved.clock, reportCallbackFailure, (fire) => causes.duringTimer(fire)),
      ...(resolved.inspect ? { inspect: resolved.inspect } : {}),
    });
    // From here `actor.send` notes what it sends: the facade's events, the chart's `self.send`, and anyone's holding `connection.actor`.
    causes.watch(actor);
    countInspectors(actor, (change) => (inspectors += change));
    const deliver = actor.send;
    ready = true;

    // History, status and listeners follow the snapshots the actor reports.
    const history = new History(resolved.historyLimit, now);
    const listeners = new Listeners(reportCallbackFailure);
    const countersOf = createCounters();
    /** The snapshot the actor last reported (mid-transition, getSnapshot() still returns the one before). */
    let reported = actor.getSnapshot();
    let status = statusOf(reported, countersOf(reported.context.counters, 0));
    /** History first, then status, then listeners: a listener sees all three agree. */
    const update = (snapshot: ConnectionSnapshot, eventType: string) => {
      const state = stateNameOf(snapshot);
      history.record(snapshot, state, eventType);
      const next = statusOf(snapshot, countersOf(snapshot.context.counters, renderer.renders), state);
      if (sameStatus(next, status)) return;
      const previous = status;
      status = next;
      // Any change a view could show gets a (coalesced) render. A render, or a view that threw, only
      // bumps its own bookkeeping: rendering for that would make a throwing view retry every frame.
      if (!onlyBookkeepingChanged(previous, next)) renderer.request();
      // A listener's failure is reported once per status change; not for the status that reports it (that would loop).
      listeners.notify(status, eventType !== 'callback.failed');
    };
    actor.subscribe({
      next: (snapshot) => {
        reported = snapshot;
        update(snapshot, causes.next());
        // stop() was called while the actor was busy (from a listener, or from model.update): the close and
        // `client.stop` went into its mailbox behind the event it was handling; once both are handled, the actor stops
        if (stopWhenReady && readyToStop()) {
          stopWhenReady = false;
          stopActor();
        }
      },
      // The actor stopped (it reports no snapshot for that, and runs no exit action: the socket is released here):
      // history and status end `closed`, wherever stop() was called from.
      complete: () => {
        releaseSocket(effects);
        update(actor.getSnapshot(), 'client.stop');
      },
      error: (error) => {
        releaseSocket(effects);
        // A throw inside the machine is a bug in statesocket or in a provided effect: surface it.
        queueMicrotask(() => {
          throw error;
        });
      },
    });
    // Running from the start, in `idle` (no socket, no timer): a send before start() enters the outbox at once,
    // so the outbox the facade checks is the one the chart keeps. start() is the connect.
    actor.start();

    /** Records a throw from a user callback the connection carried on after (status.lastCallbackError). */
    function reportCallbackFailure(code: ErrorCode, message: string): void {
      // `now` runs before the actor exists (nothing reports then) and after stop()
      if (!ready || stopped || actor.getSnapshot().status !== 'active') return;
      deliver({ type: 'callback.failed', code, message });
    }

    /** Stops the actor; every op still unanswered settles first (`ChannelSupport.connectionStopped`): nothing waits forever. */
    function stopActor(): void {
      protocol.channels?.connectionStopped(outboxEntries(actor.getSnapshot().context.outbox));
      actor.stop();
    }

    /** After stop(): the close (if one was owed) and `client.stop` have been handled. */
    function readyToStop(): boolean {
      const snapshot = actor.getSnapshot();
      return snapshot.status !== 'active' || (!snapshot.matches({ session: 'open' }) && !holdsSubscriptions(actor.system));
    }

    function assertUsable(): void {
      if (stopped) throw new StatesocketError('ERR_STOPPED', 'this connection was stopped with stop(); create a new one');
    }

    // ── channels (protocols with channels) ────────────────────────────────
    const channelHost = protocol.channels === undefined
      ? null
      : {
          actor,
          channels: protocol.channels,
          config,
          schedule: resolved.schedule,
          failed: reportCallbackFailure,
          assertUsable,
          outbox: () => actor.getSnapshot().context.outbox,
          canWriteNow: () => actor.getSnapshot().matches({ session: 'open' }),
          frames: renderer,
        };
    // the protocol's own frames (a refreshed token's `auth`) go on the open socket, never into the outbox of a later one
    protocol.channels?.attach((frame) => {
      if (!stopped && actor.getSnapshot().matches({ session: 'open' })) deliver({ type: 'client.send', frame });
    }, reportCallbackFailure);
    // Only a protocol with channels holds any (heap per connection, issue 15: nothing for the others).
    const handles = channelHost === null ? null : new Map<string, Channel<AnyModel>>();
    // The connection's own Model is the default channel: subscribed on every connect, as version 1's document was.
    const defaultChannel = channelHost?.channels.defaultChannel ?? null;
    // Its failure is the connection's too (`status.lastError`, machines/connection.ts `recordOwnChannelFailure`).
    const ownChannel = defaultChannel === null ? null : { model, render: () => renderer.request() };
    if (channelHost !== null && handles !== null && defaultChannel !== null && ownChannel !== null) {
      handles.set(defaultChannel, channelHost.channels.runtime.openChannel(channelHost, defaultChannel, {}, ownChannel));
    }

    const connection: Connection<M, TOut> = {
      start() {
        assertUsable();
        if (started) return;
        started = true;
        unwatchEnvironment = watchEnvironment(resolved.environment, deliver);
        deliver({ type: 'client.connect' });
      },
      stop() {
        if (stopped) return;
        // An open socket gets a close frame (1000) before the actor is stopped and the socket terminated.
        const closing = started && actor.getSnapshot().matches({ session: 'open' });
        if (closing) deliver({ type: 'client.disconnect', code: 1000, reason: '' });
        stopped = true;
        renderer.stop();
        unwatchEnvironment?.();
        unwatchEnvironment = null;
        // The channels' actors stop first: XState stops only the children in the actor's snapshot, and they are
        // not there (machines/connection.ts, `subscriptionId`).
        deliver({ type: 'client.stop' });
        if (!readyToStop()) {
          // The actor is busy with another event (stop() came from a status listener or from model.update), and
          // the close and `client.stop` wait in its mailbox. Stopping now would drop them (a stop clears the
          // mailbox): the server would see 1006 and the channels' actors would run on. The actor stops once both
          // are handled (see `next`).
          stopWhenReady = true;
          return;
        }
        // `complete` then reports `closed`.
        stopActor();
      },
      connect() {
        assertUsable();
        if (!started) return connection.start();
        deliver({ type: 'client.connect' });
      },
      send(message) {
        assertUsable();
        const { frame, ackId, channel, awaitsMark } = protocol.encode(message);
        if (exceedsBytes(frame, config.maxMessageBytes)) {
          throw new StatesocketError(
            'ERR_PAYLOAD_TOO_LARGE',
            `message of ${frameBytes(frame)} bytes exceeds maxMessageBytes (${config.maxMessageBytes}); nothing was queued. ` +
              'Split it, or raise maxMessageBytes (and the server limit) together.',
          );
        }
        // version 2: the server said how large a frame it takes (welcome.maxMessageBytes); a larger one would close with 1009
        const serverLimit = protocol.channels?.session?.maxMessageBytes;
        if (serverLimit !== undefined && exceedsBytes(frame, serverLimit)) {
          throw new StatesocketError(
            'ERR_PAYLOAD_TOO_LARGE',
            `message of ${frameBytes(frame)} bytes exceeds the server's limit (welcome.maxMessageBytes, ${serverLimit}); nothing was queued. Split it.`,
          );
        }
        const snapshot = actor.getSnapshot();
        const queues = ackId !== undefined || !snapshot.matches({ session: { open: { flow: 'flowing' } } });
        const queued = snapshot.context.outbox.size;
        if (queues && admitToOutbox(snapshot.context.outbox, config.outbox).kind === 'refuse') {
          throw new StatesocketError(
            'ERR_OUTBOX_FULL',
            `the outbox holds ${queued} of ${config.outbox.limit} entries and outbox.overflow is 'reject'; ` +
              'nothing queued was lost. Wait for the connection to open, or raise outbox.limit.',
          );
        }
        if (ackId === undefined) deliver({ type: 'client.send', frame });
        else if (channel === undefined) deliver({ type: 'client.send', frame, ackId });
        else deliver(awaitsMark ? { type: 'client.send', frame, ackId, channel, awaitsMark } : { type: 'client.send', frame, ackId, channel });
      },
      retry() {
        assertUsable();
        deliver({ type: 'client.retry' });
      },
      disconnect(code = 1000, reason = '') {
        assertUsable();
        if (!isSendableCloseCode(code)) {
          throw new RangeError(`statesocket: disconnect code must be 1000 or 3000–4999; received ${code}`);
        }
        if (typeof reason !== 'string' || utf8Length(reason) > 123) {
          throw new RangeError(
            `statesocket: disconnect reason must be a string of at most 123 UTF-8 bytes; received ${
              typeof reason === 'string' ? `${utf8Length(reason)} bytes` : typeof reason
            }`,
          );
        }
        deliver({ type: 'client.disconnect', code, reason });
      },
      setOnline(online) {
        if (typeof online !== 'boolean') {
          throw new TypeError(`statesocket: setOnline takes true or false; received ${describeValue(online)}`);
        }
        if (stopped) return;
        deliver({ type: online ? 'network.online' : 'network.offline' });
      },
      getStatus: () => status,
      getOutbox: () => outboxEntries(actor.getSnapshot().context.outbox),
      subscribe: (listener) => {
        if (typeof listener !== 'function') {
          throw new TypeError(`statesocket: subscribe takes a function, called with each new status; received ${describeValue(listener)}`);
        }
        return listeners.add(listener);
      },
      channel<CM extends AnyModel = Store>(name: string, options: ChannelOptions<CM> = {}): Channel<CM> {
        assertUsable();
        if (channelHost === null || handles === null) {
          throw new TypeError(
            `statesocket: channel() needs a protocol with channels, createChannelProtocol() (the default); this connection's protocol is ${protocolLabel(protocol.name)}`,
          );
        }
        const problem = channelHost.channels.nameProblem(name);
        if (problem !== null) throw new StatesocketError('ERR_INVALID_CHANNEL', problem);
        checkChannelOptions(name, options);
        const held = handles.get(name);
        if (held !== undefined && isHeld(held)) {
          if (options.model !== undefined && options.model !== (held.model as unknown)) {
            throw new TypeError(`statesocket: channel ${JSON.stringify(name)} is already held with another Model; unsubscribe it first`);
          }
          // presence is fixed at the first call: asking again for what the held channel lacks (or has) would be ignored silently
          if (options.presence !== undefined && Boolean(options.presence) !== (held.presence !== null)) {
            throw new TypeError(
              `statesocket: channel ${JSON.stringify(name)} is already held ${held.presence === null ? 'without' : 'with'} presence; unsubscribe it first, then open it ${held.presence === null ? 'with' : 'without'} presence`,
            );
          }
          takes.set(held, (takes.get(held) ?? 0) + 1);
          return held as unknown as Channel<CM>;
        }
        if (name === defaultChannel && options.model !== undefined && options.model !== (model as unknown)) {
          throw new TypeError(`statesocket: channel ${JSON.stringify(name)} is the connection's own Model (connection.model); open it without \`model\``);
        }
        // the default channel failed (or was unsubscribed): asked for again, it subscribes anew, still with the connection's own Model and view
        const own = name === defaultChannel && ownChannel !== null ? (ownChannel as unknown as { model: CM; render(): void }) : undefined;
        const handle = channelHost.channels.runtime.openChannel(channelHost, name, options, own);
        handles.set(name, handle as unknown as Channel<AnyModel>);
        takes.set(handle, 1);
        return handle;
      },
      model,
      actor,
      [HISTORY]: history,
      [FRAMES]: renderer,
    } satisfies Omit<Connection<M, TOut>, 'history'> & { [HISTORY]: History; [FRAMES]: Renderer } as unknown as Connection<M, TOut>;
    Object.defineProperty(connection, 'history', { get: historyOf, enumerable: true, configurable: true });

    if (resolved.autoStart) connection.start();
    return connection;
  };
}

export type { ConnectionContext };
