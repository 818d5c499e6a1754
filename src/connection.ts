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
import { ChartRunner } from './runner.js';
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
 * for the sync protocol, anything for `rawProtocol`). Its methods work
 * detached too (`const { send } = connection`).
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
  /**
   * The XState actor running the chart. A connection whose protocol has no channels and that has no `inspect`
   * option runs its chart without an actor (less heap) until this is first read: the actor is then created
   * from the current state and runs everything from then on (pending timers, queued events and listeners carry over).
   */
  readonly actor: ConnectionActor;
}

/** Names a protocol without channels the way its user made it: version 1's name alone ("statesocket") reads as the default. */
function protocolLabel(name: string): string {
  if (name === 'statesocket') return 'createSyncProtocol(), the sync protocol\'s version 1';
  if (name === 'raw') return 'rawProtocol';
  return JSON.stringify(name);
}

/** Where the facade keeps its history (`connection.history` reads it). */
const HISTORY = Symbol('statesocket.history');

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

/** The fast path's switch: off while an inspector is attached (it sees every transition). */
class InspectorCount {
  count = 0;
  enabled(): boolean {
    return this.count === 0;
  }
}

/** What `channel()` hands the channels' runtime (src/channel-runtime.ts). */
interface ChannelHost {
  actor: ConnectionActor;
  channels: NonNullable<Protocol<unknown>['channels']>;
  config: ReturnType<typeof resolveOptions>['config'];
  schedule: ReturnType<typeof resolveOptions>['schedule'];
  failed: (code: ErrorCode, message: string) => void;
  assertUsable(): void;
  outbox(): ConnectionContext['outbox'];
  canWriteNow(): boolean;
  frames: Renderer;
}

type Resolved = ReturnType<typeof resolveOptions>;

/**
 * The connection `createConnection` returns: its state in fields, its methods once on the prototype
 * (an object literal of closures cost about 1 KiB per connection, issue 15). It only sends events to
 * the actor and reads its snapshots; history, status and listeners follow the snapshots it reports.
 */
/** The methods of `Connection`, each bound to its connection on first read (`bindOnRead`, after the class). */
const BOUND_METHODS = ['start', 'stop', 'connect', 'send', 'retry', 'disconnect', 'setOnline', 'getStatus', 'getOutbox', 'subscribe', 'channel'] as const;

/**
 * What follows a connection's chart for it: the observer of its actor (or runner), and its renderer's
 * host. One small object with its methods on the prototype (closures for each cost about 0.4 KiB per
 * connection, issue 15); the connection is a private field, so an inspector's serializer, which walks
 * the channels' input (their host holds the renderer), does not walk the whole connection, options
 * and view included.
 */
class Link {
  readonly #connection: LiveConnection<AnyModel, unknown>;

  constructor(connection: LiveConnection<AnyModel, unknown>) {
    this.#connection = connection;
  }

  next(snapshot: ConnectionSnapshot): void {
    this.#connection.next(snapshot);
  }

  /**
   * The actor stopped (it reports no snapshot for that, and runs no exit action: the socket is released here):
   * history and status end `closed`, wherever stop() was called from.
   */
  complete(): void {
    const connection = this.#connection;
    releaseSocket(connection.effects);
    connection.update(connection.ref.getSnapshot(), 'client.stop');
  }

  error(error: unknown): void {
    releaseSocket(this.#connection.effects);
    // A throw inside the machine is a bug in statesocket or in a provided effect: surface it.
    queueMicrotask(() => {
      throw error;
    });
  }

  // ── the renderer's host ──
  status(): ConnectionStatus {
    return this.#connection.current;
  }

  rendered(): void {
    const connection = this.#connection;
    connection.update(connection.reported, 'view.rendered');
  }

  get failed(): (code: ErrorCode, message: string) => void {
    return this.#connection.failed;
  }
}

class LiveConnection<M extends AnyModel, TOut> {
  readonly model: M;
  /** What runs the chart: the actor, or (until `connection.actor` is read) a ChartRunner in its place (src/runner.ts). */
  ref: ConnectionActor;
  /** The runner, until promoted to an actor; null when the connection runs an actor from the start. */
  private runner: ChartRunner | null = null;
  readonly [HISTORY]: History;
  readonly [FRAMES]: Renderer;
  /** Records a throw from a user callback the connection carried on after (status.lastCallbackError). */
  readonly failed = (code: ErrorCode, message: string): void => this.reportCallbackFailure(code, message);
  private readonly config: Resolved['config'];
  private readonly environment: Resolved['environment'];
  private readonly protocol: Protocol<unknown>;
  /** (Read by its Link, as are `ref`, `reported`, `current`, `next` and `update`: not part of `Connection`.) */
  readonly effects: ConnectionEffects;
  private readonly causes = new Causes();
  private readonly listeners: Listeners;
  private readonly countersOf = createCounters();
  private readonly inspectors = new InspectorCount();
  private stopped = false;
  /** stop() was called while the actor was handling an event: it stops once the close and the `client.stop` it queued have been handled. */
  private stopWhenReady = false;
  private started = false;
  /** The actor exists: a callback failure can be reported to it. */
  private ready = false;
  private unwatchEnvironment: (() => void) | null = null;
  /** The snapshot the actor last reported (mid-transition, getSnapshot() still returns the one before). */
  reported: ConnectionSnapshot;
  current: ConnectionStatus;
  private readonly channelHost: ChannelHost | null = null;
  /** Only a protocol with channels holds any (heap per connection, issue 15: nothing for the others). */
  private readonly handles: Map<string, Channel<AnyModel>> | null = null;
  /** The connection's own Model is the default channel: subscribed on every connect, as version 1's document was. */
  private readonly defaultChannel: string | null = null;
  /** Its failure is the connection's too (`status.lastError`, machines/connection.ts `recordOwnChannelFailure`). */
  private readonly ownChannel: { model: M; render(): void } | null = null;

  constructor(resolved: Resolved, protocol: Protocol<unknown>, model: M) {
    this.config = resolved.config;
    this.environment = resolved.environment;
    this.protocol = protocol;
    this.model = model;
    const config = resolved.config;
    const failed = this.failed;
    // The user's policies, guarded: a throw falls back to the default and is reported (src/policies.ts).
    const now = guardNow(resolved.now, failed);
    const shouldReconnect = guardShouldReconnect(resolved.shouldReconnect, failed);
    const random = guardRandom(resolved.random, failed);
    const link = new Link(this);
    const renderer = new Renderer(resolved.view as View<never> | undefined, model, resolved.schedule, link);
    this[FRAMES] = renderer;
    const causes = this.causes;
    // Handed to the shared machine through the actor's input (src/effects.ts).
    this.effects = {
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
      protocol,
      greeting: resolved.greeting as ConnectionEffects['greeting'],
      now,
      random,
      renderer,
      reportCallbackFailure: failed,
      causes,
      // an inspector sees every transition: while one is attached, every event takes XState's macrostep
      fastPath: this.inspectors,
      liveSocket: null,
    };
    // The live socket (a SocketAttempt: the ws socket, its net.Socket, its server…) is state, not input: an
    // inspector's serializer walks the actor's input, and walking the socket's graph runs the heap out.
    Object.defineProperty(this.effects, 'liveSocket', { enumerable: false });
    const input: LiveInput = { config, ...environmentState(resolved.environment), effects: this.effects };
    /** Inspectors attached to the actor's system: the `inspect` option's, and any `actor.system.inspect()` since. */
    if (resolved.inspect) this.inspectors.count = 1;
    // a protocol with channels brings the chart with their effects (src/channel-runtime.ts)
    const machine = withFastPath(protocol.channels?.runtime.machine() ?? liveMachine);
    // each timer fires inside causes.duringTimer, which names the delayed event it sends
    const clock = createClock(resolved.clock, failed, (fire) => causes.duringTimer(fire));
    let actor: ConnectionActor;
    if (!resolved.inspect) {
      // Nothing needs an actor yet (nobody inspects): a runner steps the chart, its system holding the channels'
      // subscription actors, and `connection.actor` promotes it (issue 15: an actor and its system were a quarter
      // of a connection's heap; a message on a channel cost 1.69× one without channels on an actor).
      const runner = new ChartRunner(machine, { input, clock, systemId: CONNECTION_SYSTEM_ID, causes });
      this.runner = runner;
      actor = runner as unknown as ConnectionActor;
      // the runner's `send` notes what it sends
      causes.follow(actor);
    } else {
      actor = createActor(machine, { input, systemId: CONNECTION_SYSTEM_ID, clock, ...(resolved.inspect ? { inspect: resolved.inspect } : {}) });
      this.watchInspectors(actor);
      // From here `actor.send` notes what it sends: the facade's events, the chart's `self.send`, and anyone's holding `connection.actor`.
      causes.watch(actor);
    }
    this.ref = actor;
    this.ready = true;

    // History, status and listeners follow the snapshots the actor reports.
    this[HISTORY] = new History(resolved.historyLimit, now);
    this.listeners = new Listeners(failed);
    this.reported = actor.getSnapshot();
    this.current = statusOf(this.reported, this.countersOf(this.reported.context.counters, 0));
    actor.subscribe(link);
    // Running from the start, in `idle` (no socket, no timer): a send before start() enters the outbox at once,
    // so the outbox the facade checks is the one the chart keeps. start() is the connect.
    actor.start();

    // ── channels (protocols with channels) ────────────────────────────────
    const channels = protocol.channels;
    if (channels !== undefined) {
      // what runs the chart now: the runner, or the actor `connection.actor` promoted it to (`ref`)
      const connection = this;
      const channelHost: ChannelHost = {
        get actor() {
          return connection.ref;
        },
        channels,
        config,
        schedule: resolved.schedule,
        failed,
        assertUsable: () => this.assertUsable(),
        outbox: () => this.ref.getSnapshot().context.outbox,
        canWriteNow: () => this.ref.getSnapshot().matches({ session: 'open' }),
        frames: renderer,
      };
      this.channelHost = channelHost;
      // the protocol's own frames (a refreshed token's `auth`) go on the open socket, never into the outbox of a later one
      channels.attach((frame) => {
        if (!this.stopped && this.ref.getSnapshot().matches({ session: 'open' })) this.ref.send({ type: 'client.send', frame });
      }, failed);
      const handles = new Map<string, Channel<AnyModel>>();
      this.handles = handles;
      const defaultChannel = channels.defaultChannel ?? null;
      this.defaultChannel = defaultChannel;
      if (defaultChannel !== null) {
        const ownChannel = { model, render: () => renderer.request() };
        this.ownChannel = ownChannel;
        handles.set(defaultChannel, channels.runtime.openChannel(channelHost, defaultChannel, {}, ownChannel));
      }
    }
  }

  /**
   * The XState actor running the chart. A connection without one (see the constructor) gets it on the
   * first read: created from the current snapshot, it takes over the runner's timers, waiting events and
   * observers (src/runner.ts), and runs everything from then on. The connection's own code reads `ref`.
   */
  get actor(): ConnectionActor {
    const runner = this.runner;
    if (runner !== null) {
      this.runner = null;
      this.ref = runner.promote((promoted) => {
        const actor = promoted as ConnectionActor;
        this.causes.watch(actor);
        this.watchInspectors(actor);
      }) as ConnectionActor;
    }
    return this.ref;
  }

  /** Counts the inspectors attached to the actor's system (`system.inspect()`): the fast path steps aside while one is. */
  private watchInspectors(actor: ConnectionActor): void {
    const inspectors = this.inspectors;
    countInspectors(actor, (change) => (inspectors.count += change));
  }

  /** Every state entered, oldest first, bounded by `historyLimit`. */
  get history(): readonly HistoryEntry[] {
    return this[HISTORY].entries;
  }

  next(snapshot: ConnectionSnapshot): void {
    this.reported = snapshot;
    this.update(snapshot, this.causes.next());
    // stop() was called while the actor was busy (from a listener, or from model.update): the close and
    // `client.stop` went into its mailbox behind the event it was handling; once both are handled, the actor stops
    if (this.stopWhenReady && this.readyToStop()) {
      this.stopWhenReady = false;
      this.stopActor();
    }
  }

  /** History first, then status, then listeners: a listener sees all three agree. */
  update(snapshot: ConnectionSnapshot, eventType: string): void {
    const state = stateNameOf(snapshot);
    this[HISTORY].record(snapshot, state, eventType);
    const renderer = this[FRAMES];
    const next = statusOf(snapshot, this.countersOf(snapshot.context.counters, renderer.renders), state);
    if (sameStatus(next, this.current)) return;
    const previous = this.current;
    this.current = next;
    // Any change a view could show gets a (coalesced) render. A render, or a view that threw, only
    // bumps its own bookkeeping: rendering for that would make a throwing view retry every frame.
    if (!onlyBookkeepingChanged(previous, next)) renderer.request();
    // A listener's failure is reported once per status change; not for the status that reports it (that would loop).
    this.listeners.notify(next, eventType !== 'callback.failed');
  }

  private reportCallbackFailure(code: ErrorCode, message: string): void {
    // `now` runs before the actor exists (nothing reports then) and after stop()
    if (!this.ready || this.stopped || this.ref.getSnapshot().status !== 'active') return;
    this.ref.send({ type: 'callback.failed', code, message });
  }

  /** Stops the actor; every op still unanswered settles first (`ChannelSupport.connectionStopped`): nothing waits forever. */
  private stopActor(): void {
    this.protocol.channels?.connectionStopped(outboxEntries(this.ref.getSnapshot().context.outbox));
    this.ref.stop();
  }

  /** After stop(): the close (if one was owed) and `client.stop` have been handled. */
  private readyToStop(): boolean {
    const snapshot = this.ref.getSnapshot();
    return snapshot.status !== 'active' || (!snapshot.matches({ session: 'open' }) && !holdsSubscriptions(this.ref.system));
  }

  private assertUsable(): void {
    if (this.stopped) throw new StatesocketError('ERR_STOPPED', 'this connection was stopped with stop(); create a new one');
  }

  start(): void {
    this.begin();
  }

  /** start()'s body, for the connection's own calls (`this.start` would bind it: see `bindOnRead`). */
  begin(): void {
    this.assertUsable();
    if (this.started) return;
    this.started = true;
    this.unwatchEnvironment = watchEnvironment(this.environment, (event) => this.ref.send(event));
    this.ref.send({ type: 'client.connect' });
  }

  stop(): void {
    if (this.stopped) return;
    const actor = this.ref;
    // An open socket gets a close frame (1000) before the actor is stopped and the socket terminated.
    const closing = this.started && actor.getSnapshot().matches({ session: 'open' });
    if (closing) actor.send({ type: 'client.disconnect', code: 1000, reason: '' });
    this.stopped = true;
    this[FRAMES].stop();
    this.unwatchEnvironment?.();
    this.unwatchEnvironment = null;
    // The channels' actors stop first: XState stops only the children in the actor's snapshot, and they are
    // not there (machines/connection.ts, `subscriptionId`).
    actor.send({ type: 'client.stop' });
    if (!this.readyToStop()) {
      // The actor is busy with another event (stop() came from a status listener or from model.update), and
      // the close and `client.stop` wait in its mailbox. Stopping now would drop them (a stop clears the
      // mailbox): the server would see 1006 and the channels' actors would run on. The actor stops once both
      // are handled (see `next`).
      this.stopWhenReady = true;
      return;
    }
    // `complete` then reports `closed`.
    this.stopActor();
  }

  connect(): void {
    this.assertUsable();
    if (!this.started) return this.begin();
    this.ref.send({ type: 'client.connect' });
  }

  send(message: TOut): void {
    this.assertUsable();
    const protocol = this.protocol;
    const config = this.config;
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
    const snapshot = this.ref.getSnapshot();
    const queues = ackId !== undefined || !snapshot.matches({ session: { open: { flow: 'flowing' } } });
    const queued = snapshot.context.outbox.size;
    if (queues && admitToOutbox(snapshot.context.outbox, config.outbox).kind === 'refuse') {
      throw new StatesocketError(
        'ERR_OUTBOX_FULL',
        `the outbox holds ${queued} of ${config.outbox.limit} entries and outbox.overflow is 'reject'; ` +
          'nothing queued was lost. Wait for the connection to open, or raise outbox.limit.',
      );
    }
    const ref = this.ref;
    if (ackId === undefined) ref.send({ type: 'client.send', frame });
    else if (channel === undefined) ref.send({ type: 'client.send', frame, ackId });
    else ref.send(awaitsMark ? { type: 'client.send', frame, ackId, channel, awaitsMark } : { type: 'client.send', frame, ackId, channel });
  }

  retry(): void {
    this.assertUsable();
    this.ref.send({ type: 'client.retry' });
  }

  disconnect(code = 1000, reason = ''): void {
    this.assertUsable();
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
    this.ref.send({ type: 'client.disconnect', code, reason });
  }

  setOnline(online: boolean): void {
    if (typeof online !== 'boolean') {
      throw new TypeError(`statesocket: setOnline takes true or false; received ${describeValue(online)}`);
    }
    if (this.stopped) return;
    this.ref.send({ type: online ? 'network.online' : 'network.offline' });
  }

  getStatus(): ConnectionStatus {
    return this.current;
  }

  getOutbox(): readonly OutboxEntry[] {
    return outboxEntries(this.ref.getSnapshot().context.outbox);
  }

  subscribe(listener: (status: ConnectionStatus) => void): () => void {
    if (typeof listener !== 'function') {
      throw new TypeError(`statesocket: subscribe takes a function, called with each new status; received ${describeValue(listener)}`);
    }
    return this.listeners.add(listener);
  }

  channel<CM extends AnyModel = Store>(name: string, options: ChannelOptions<CM> = {}): Channel<CM> {
    this.assertUsable();
    const channelHost = this.channelHost;
    const handles = this.handles;
    if (channelHost === null || handles === null) {
      throw new TypeError(
        `statesocket: channel() needs a protocol with channels, createChannelProtocol() (the default); this connection's protocol is ${protocolLabel(this.protocol.name)}`,
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
    const defaultChannel = this.defaultChannel;
    if (name === defaultChannel && options.model !== undefined && options.model !== (this.model as unknown)) {
      throw new TypeError(`statesocket: channel ${JSON.stringify(name)} is the connection's own Model (connection.model); open it without \`model\``);
    }
    // the default channel failed (or was unsubscribed): asked for again, it subscribes anew, still with the connection's own Model and view
    const own = name === defaultChannel && this.ownChannel !== null ? (this.ownChannel as unknown as { model: CM; render(): void }) : undefined;
    const handle = channelHost.channels.runtime.openChannel(channelHost, name, options, own);
    handles.set(name, handle as unknown as Channel<AnyModel>);
    takes.set(handle, 1);
    return handle;
  }
}

/**
 * Every method of a connection also works detached (`const { send } = connection`,
 * `useSyncExternalStore(connection.subscribe, connection.getStatus)`), as users expect of a handle.
 * Binding all eleven in the constructor cost about 0.6 KiB per connection (issue 15), most of them
 * never read: so each is a getter on the prototype that binds the method on its first read and
 * keeps the bound function as the connection's own property (the same function on every read after).
 */
function bindOnRead(prototype: object, names: readonly string[]): void {
  for (const name of names) {
    const body = (prototype as Record<string, (...args: never[]) => unknown>)[name]!;
    Object.defineProperty(prototype, name, {
      configurable: true,
      get(this: object) {
        const bound = body.bind(this);
        Object.defineProperty(this, name, { value: bound, configurable: true, enumerable: true, writable: true });
        return bound;
      },
    });
  }
}
bindOnRead(LiveConnection.prototype, BOUND_METHODS);

/**
 * Builds `createConnection` for a platform: the Node entry passes `ws`, the
 * browser entry passes the global `WebSocket`.
 */
export function createConnectionFactory(platformWebSocket: () => WebSocketConstructor | undefined) {
  return function createConnection<M extends AnyModel = Store, TOut = SyncOutbound>(options: ConnectionOptions<M, TOut>): Connection<M, TOut> {
    const resolved = resolveOptions(options, platformWebSocket());
    const minMessageBytes = resolved.protocol.channels?.minMessageBytes ?? 0;
    if (resolved.config.maxMessageBytes < minMessageBytes) {
      // the server keeps every frame it cannot chunk within this many bytes: a smaller limit would refuse some of them
      throw new RangeError(
        `statesocket: option \`maxMessageBytes\` must be at least ${minMessageBytes} with a protocol with channels; received ${resolved.config.maxMessageBytes}`,
      );
    }
    // This connection's own protocol state (the sync protocol's position): a protocol object may serve many connections.
    const protocol = withInboundSchema(protocolForConnection(resolved.protocol), resolved.inbound);
    // No model given: M is Store (the default type argument), and the Model is a store.
    const model = resolved.model ?? (createStore() as AnyModel as M);
    const connection = new LiveConnection<M, TOut>(resolved as unknown as Resolved, protocol as Protocol<unknown>, model);
    if (resolved.autoStart) connection.begin();
    return connection as Connection<M, TOut>;
  };
}

export type { ConnectionContext };
