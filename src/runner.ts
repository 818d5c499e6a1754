/**
 * A connection's chart without an XState actor (issue 15: an `Actor` and the system
 * `createActor` builds for it held about 3.6 KiB of every connection, a dozen closures and
 * four Maps among them). A `ChartRunner` keeps the snapshot itself and steps it with the
 * machine's own `transition(snapshot, event, scope)` (the ActorLogic interface), the runner
 * being the scope: the chart runs exactly as in an actor. What an `Actor` does around the
 * transition is done here the same way, and checked against XState 5's `Actor` (xstate's
 * dist, `class Actor`, `createSystem`, `Mailbox`):
 *
 * - a mailbox: an event sent while one is processed (an action's `self.send`, a listener,
 *   `model.update`) waits, and runs after it, in order; `stop()` drops what waits;
 * - actions: run during the transition once started; the initial state's wait for `start()`;
 *   `defer`red ones (sendTo, delayed raise, cancel) run once the snapshot is set, before
 *   observers hear of it;
 * - delayed events (`after`, delayed raise or sendTo self) on the connection's clock, by id,
 *   so `cancel` finds them; all cancelled on stop;
 * - observers: `next` for every snapshot while active, `complete` once stopped, `error` on a
 *   throw (the runner then stops).
 *
 * - children: the channels' subscription actors are XState actors created with the runner as their
 *   parent (machines/connection.ts, `createSubscription`); the runner's system (`RunnerSystem`) is
 *   what XState's `Actor` reads of its parent's: registry by system id, session ids, scheduler
 *   (their `after` waits), relay (`sendParent`, `sendTo`), inspection, clock and logger.
 *
 * Nothing outside the connection sees the runner: `connection.actor` promotes it to a real
 * actor (`promote`), created from the current snapshot, which takes over the runner's pending
 * timers, its children's included (the same clock timers, the same ids in its scheduler: XState's
 * cancel finds them), its waiting events, its observers and its children (their parent, their
 * system, their system ids in its registry). The connection creates a real actor from the start
 * for an `inspect` option (the inspector sees every actor from its creation).
 */
import { createActor, type AnyActorRef, type AnyStateMachine, type EventObject, type InspectionEvent } from 'xstate';
import type { Clock } from './types.js';

const NOT_STARTED = 0;
const RUNNING = 1;
const STOPPED = 2;

type Snapshot = ReturnType<AnyStateMachine['getInitialSnapshot']>;

/** An observer as the runner keeps it (the connection passes an object with all three). */
export interface RunnerObserver {
  next?: (snapshot: never) => void;
  error?: (error: unknown) => void;
  complete?: () => void;
}

/**
 * One pending delayed event, as XState's scheduler keeps it: `key` is its `${source.sessionId}.${id}` (the scheduler's
 * key), `adoptedBy` the XState scheduler's callback once an actor has taken the timer over.
 */
interface Timer {
  key: string;
  id: string;
  source: AnyActorRef;
  target: AnyActorRef;
  event: EventObject;
  delay: number;
  handle: unknown;
  adoptedBy: (() => void) | null;
}

/** What a runner is created with; the actor it may be promoted to is created with the same. */
export interface RunnerOptions {
  input: unknown;
  clock: Clock;
  systemId: string;
  /** Notes the type of every event sent with `send` (src/causes.ts: an actor's `send` is wrapped for that instead). */
  causes: { note(type: string): void };
}

/** As XState reports a throw nobody listens for. */
function reportUnhandledError(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}

/**
 * The runner whose transition runs now. XState's macrostep calls `actorScope.actionExecutor(action)`
 * without its object (it swaps the function in and out around each microstep), so the executor
 * cannot use `this`: it finds its runner here (saved and restored around every transition, so one
 * connection's action driving another connection nests correctly).
 */
let current: ChartRunner | null = null;

/** `actorScope.actionExecutor`, as `Actor`'s: run a custom action now once started, else after the snapshot is set. */
function actionExecutor(action: { exec?: (info: unknown, params: unknown) => void; info: unknown; params: unknown }): void {
  const runner = current!;
  if (action.exec === undefined) return;
  if (runner.status === RUNNING) action.exec(action.info, action.params);
  else (runner.deferred ??= []).push(() => action.exec!(action.info, action.params));
}

/** What the runner reads and writes of an XState actor (its child, or the actor it is promoted to): fields `Actor` keeps. */
interface ActorInternals {
  sessionId: string;
  systemId?: string;
  _parent?: unknown;
  system: unknown;
  _actorScope: { system: unknown };
  _stop(): void;
}

/** The system of an XState actor, as far as the runner hands it its work once promoted. */
interface XStateSystem {
  get(systemId: string): unknown;
  getAll(): Record<string, unknown>;
  _bookId(): string;
  _register(sessionId: string, actor: AnyActorRef): string;
  _unregister(actor: AnyActorRef): void;
  _set(systemId: string, actor: AnyActorRef): void;
  _relay(source: AnyActorRef | undefined, target: AnyActorRef, event: EventObject): void;
  _sendInspectionEvent(event: InspectionEvent): void;
  scheduler: {
    schedule(source: AnyActorRef, target: AnyActorRef, event: EventObject, delay: number, id?: string): void;
    cancel(source: AnyActorRef, id: string): void;
    cancelAll(source: AnyActorRef): void;
  };
}

/** Session ids of the actors created on a runner's system (the channels' subscriptions): `s:N`, never one of XState's `x:N`. */
let sessions = 0;

/**
 * The runner's actor system: what a machine's transition, statesocket's own code and XState's `Actor` (the
 * connection's children, `createActor(..., { parent: runner })`: the channels' subscription actors) reach of
 * one: the scheduler, the relay, inspection (src/causes.ts watches delayed events with it) and the registry
 * of system ids. As XState's `createSystem`, except where the runner differs from an actor (its own timers
 * and inspectors), and: once the runner is promoted, everything but the runner's own timers is the actor's
 * system's (the children move there, see `adopt`).
 */
class RunnerSystem {
  /** Observers of inspection events (only src/causes.ts's, while a timer fires); made on first use. */
  inspectors: Set<(event: InspectionEvent) => void> | null = null;
  /** The children held by system id (null until the first): the runner itself is not here. */
  actors: Map<string, AnyActorRef> | null = null;
  constructor(readonly runner: ChartRunner) {}

  /** The promoted actor's system, which does the work from then on; null before. */
  private get promoted(): XStateSystem | null {
    return (this.runner.actor?.system as XStateSystem | undefined) ?? null;
  }

  get scheduler(): this {
    return this;
  }

  get _clock(): Clock {
    return this.runner.options.clock;
  }

  get _logger(): (...args: unknown[]) => void {
    return console.log;
  }

  /** The promoted actor's system once it has taken the timers over (`handOver`): it schedules from then on. */
  private get scheduling(): XStateSystem | null {
    return this.runner.promotion?.handedOver === true ? this.promoted : null;
  }

  schedule(source: AnyActorRef, target: AnyActorRef, event: EventObject, delay: number, id: string = Math.random().toString(36).slice(2)): void {
    const runner = this.runner;
    const scheduling = this.scheduling;
    if (scheduling !== null) return scheduling.scheduler.schedule(source, target, event, delay, id);
    const key = `${source.sessionId}.${id}`;
    const timer: Timer = { key, id, source, target, event, delay, handle: undefined, adoptedBy: null };
    (runner.timers ??= new Map()).set(key, timer);
    timer.handle = runner.options.clock.setTimeout(() => runner.fire(timer), delay);
  }

  cancel(source: AnyActorRef, id: string): void {
    const timers = this.runner.timers;
    const key = `${source.sessionId}.${id}`;
    const timer = timers?.get(key);
    if (timer === undefined) return this.scheduling?.scheduler.cancel(source, id);
    timers!.delete(key);
    this.runner.options.clock.clearTimeout(timer.handle);
  }

  cancelAll(source: AnyActorRef): void {
    const timers = this.runner.timers;
    if (timers !== null) for (const timer of [...timers.values()]) if (timer.source === source) this.cancel(source, timer.id);
    this.scheduling?.scheduler.cancelAll(source);
  }

  _relay(source: AnyActorRef | undefined, target: AnyActorRef, event: EventObject): void {
    const promoted = this.promoted;
    if (promoted !== null) return promoted._relay(source, target, event);
    this._sendInspectionEvent({ type: '@xstate.event', sourceRef: source, actorRef: target, event } as unknown as InspectionEvent);
    (target as unknown as { _send(event: EventObject): void })._send(event);
  }

  _sendInspectionEvent(event: InspectionEvent): void {
    const promoted = this.promoted;
    if (promoted !== null) return promoted._sendInspectionEvent(event);
    const inspectors = this.inspectors;
    if (inspectors === null || inspectors.size === 0) return;
    for (const inspector of [...inspectors]) inspector({ ...event, rootId: this.runner.sessionId } as InspectionEvent);
  }

  inspect(observer: ((event: InspectionEvent) => void) | { next?: (event: InspectionEvent) => void }): { unsubscribe(): void } {
    const fn = typeof observer === 'function' ? observer : (event: InspectionEvent) => observer.next?.(event);
    const inspectors = (this.inspectors ??= new Set());
    inspectors.add(fn);
    return {
      unsubscribe: () => {
        inspectors.delete(fn);
        // src/causes.ts watches for the length of one timer's callback: no Set kept between
        if (inspectors.size === 0 && this.inspectors === inspectors) this.inspectors = null;
      },
    };
  }

  get(systemId: string): unknown {
    const promoted = this.promoted;
    if (promoted !== null) return promoted.get(systemId);
    if (systemId === this.runner.options.systemId) return this.runner.status !== STOPPED ? this.runner : undefined;
    return this.actors?.get(systemId);
  }

  getAll(): Record<string, unknown> {
    const promoted = this.promoted;
    if (promoted !== null) return promoted.getAll();
    const all: Record<string, unknown> = this.runner.status === STOPPED ? {} : { [this.runner.options.systemId]: this.runner };
    for (const [systemId, actor] of this.actors ?? []) all[systemId] = actor;
    return all;
  }

  _bookId(): string {
    return this.promoted?._bookId() ?? `s:${sessions++}`;
  }

  _register(sessionId: string, actor: AnyActorRef): string {
    // XState's system keeps its actors by session id, and reads them nowhere: only the actor's system is told
    return this.promoted?._register(sessionId, actor) ?? sessionId;
  }

  _unregister(actor: AnyActorRef): void {
    const promoted = this.promoted;
    if (promoted !== null) return promoted._unregister(actor);
    const systemId = (actor as unknown as ActorInternals).systemId;
    if (systemId !== undefined && this.actors?.get(systemId) === actor) this.actors.delete(systemId);
  }

  _set(systemId: string, actor: AnyActorRef): void {
    const promoted = this.promoted;
    if (promoted !== null) {
      // a child created by the event the runner was promoted during: the actor's child from the start
      this.runner.adopt(actor);
      return promoted._set(systemId, actor);
    }
    const actors = (this.actors ??= new Map());
    const existing = actors.get(systemId) ?? (systemId === this.runner.options.systemId ? this.runner : undefined);
    if (existing !== undefined && (existing as unknown) !== actor) throw new Error(`Actor with system ID '${systemId}' already exists.`);
    actors.set(systemId, actor);
  }
}

/** The clock a promoted actor runs on: the runner's own, except that it hands XState the runner's pending timers (`adopt`). */
class AdoptingClock implements Clock {
  constructor(
    private readonly base: Clock,
    private readonly adopting: Timer[],
  ) {}

  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown {
    const timer = this.adopting.shift();
    if (timer === undefined) return this.base.setTimeout(fn, ms);
    // the runner's timer keeps its clock timer (its time and handle); when it fires, XState's callback runs
    timer.adoptedBy = fn as () => void;
    return timer.handle;
  }

  clearTimeout(id: unknown): void {
    this.base.clearTimeout(id);
  }
}

/** Runs `machine` for one connection; see the module comment. It is its own `actorScope`. */
export class ChartRunner {
  status = NOT_STARTED;
  snapshot: Snapshot;
  readonly system: RunnerSystem;
  /** Events waiting for the one being processed (null until the first). */
  queue: EventObject[] | null = null;
  processing = false;
  deferred: (() => void)[] | null = null;
  observers: RunnerObserver[] | null = null;
  timers: Map<string, Timer> | null = null;
  /** The actor this runner was promoted to; from then on every event goes to it. */
  actor: AnyActorRef | null = null;
  /** The actor's own `send` (the connection wraps `actor.send` to note causes; the runner's events were noted already). */
  private deliver: ((event: EventObject) => void) | null = null;

  readonly input: unknown;
  readonly clock: Clock;
  readonly systemId: string;
  readonly causes: RunnerOptions['causes'];

  constructor(
    readonly logic: AnyStateMachine,
    options: RunnerOptions,
  ) {
    this.input = options.input;
    this.clock = options.clock;
    this.systemId = options.systemId;
    this.causes = options.causes;
    this.system = new RunnerSystem(this);
    this.snapshot = this.step(() => logic.getInitialSnapshot(this as never, options.input as never));
  }

  /** What it was created with, where an Actor keeps it (src/effects.ts reads `self.options.input.effects`): itself, no object more. */
  get options(): RunnerOptions {
    return this;
  }

  // ── the actor scope XState's transition reads ──
  get self(): this {
    return this;
  }
  get id(): string {
    return this.options.systemId;
  }
  get sessionId(): string {
    return this.options.systemId;
  }
  get logger(): (...args: unknown[]) => void {
    return console.log;
  }
  get actionExecutor(): typeof actionExecutor {
    return actionExecutor;
  }
  set actionExecutor(executor: typeof actionExecutor) {
    // XState's microstep wraps the executor for the step and puts it back: an own property for the while
    Object.defineProperty(this, 'actionExecutor', { value: executor, writable: true, configurable: true });
  }
  defer(fn: () => void): void {
    (this.deferred ??= []).push(fn);
  }
  emit(): void {
    // nobody can listen (`actor.on` needs the actor: `connection.actor` promotes)
  }
  stopChild(child: AnyActorRef): void {
    // as an Actor's; a child the runner made is the promoted actor's child once promoted (`adopt`)
    const parent = (child as unknown as ActorInternals)._parent;
    if (parent !== this && (parent === undefined || parent !== this.actor)) {
      throw new Error(`Cannot stop child actor ${child.id} of ${this.id} because it is not a child`);
    }
    (child as unknown as ActorInternals)._stop();
  }

  // ── the ActorRef the chart and the connection use ──
  getSnapshot(): Snapshot {
    return this.snapshot;
  }

  send(event: EventObject): void {
    this.options.causes.note(event.type);
    this.system._relay(undefined, this as never, event);
  }

  _send(event: EventObject): void {
    if (this.deliver !== null) return this.deliver(event);
    if (this.status === STOPPED) return;
    if (this.status !== RUNNING || this.processing) {
      (this.queue ??= []).push(event);
      return;
    }
    this.flush(event);
  }

  subscribe(observer: RunnerObserver): { unsubscribe(): void } {
    if (this.status !== STOPPED) (this.observers ??= []).push(observer);
    return {
      unsubscribe: () => {
        const at = this.observers?.indexOf(observer) ?? -1;
        if (at >= 0) this.observers!.splice(at, 1);
      },
    };
  }

  start(): this {
    if (this.status === RUNNING) return this;
    this.status = RUNNING;
    const init = { type: 'xstate.init', input: this.options.input };
    const status = this.snapshot.status;
    if (status === 'done') {
      this.update(this.snapshot, init);
      return this;
    }
    if (status === 'error') {
      this.error((this.snapshot as { error?: unknown }).error);
      return this;
    }
    // as an Actor's mailbox starts only after this update: what the initial actions send waits for the observers to hear the initial snapshot
    this.processing = true;
    try {
      this.update(this.snapshot, init);
    } finally {
      this.processing = false;
    }
    this.flush();
    return this;
  }

  stop(): this {
    if (this.deliver !== null) {
      (this.actor as unknown as { stop(): void }).stop();
      return this;
    }
    if (this.status === STOPPED) return this;
    if (this.queue !== null) this.queue.length = 0;
    if (this.status === NOT_STARTED) {
      this.status = STOPPED;
      return this;
    }
    this._send({ type: 'xstate.stop' });
    return this;
  }

  toJSON(): { xstate$$type: number; id: string } {
    return { xstate$$type: 1, id: this.id };
  }

  // ── internals ──
  /** Runs a transition with this runner as the action executor's. */
  private step(transition: () => Snapshot): Snapshot {
    const outer = current;
    current = this;
    try {
      return transition();
    } catch (error) {
      return { ...this.snapshot, status: 'error', error } as Snapshot;
    } finally {
      current = outer;
    }
  }

  /**
   * Processes `first` (when given), then every event sent meanwhile, in order. The waiting list is made
   * only when an event arrives during another, and dropped once drained: an array kept per connection
   * keeps its grown backing store (about 0.15 KiB).
   */
  private flush(first?: EventObject): void {
    this.processing = true;
    try {
      if (first !== undefined) this.process(first);
      let queue: EventObject[] | null;
      while ((queue = this.queue) !== null && queue.length > 0 && this.deliver === null) this.process(queue.shift()!);
      if (this.deliver === null) this.queue = null;
    } finally {
      this.processing = false;
    }
    if (this.actor !== null && this.status !== STOPPED) this.handOver(true);
  }

  private process(event: EventObject): void {
    const before = this.snapshot;
    const outer = current;
    current = this;
    let next: Snapshot;
    try {
      next = this.logic.transition(before, event, this as never);
    } catch (error) {
      this.snapshot = { ...before, status: 'error', error } as Snapshot;
      this.error(error);
      return;
    } finally {
      current = outer;
    }
    this.update(next, event);
    if (event.type === 'xstate.stop') {
      this.stopProcedure();
      this.complete();
    }
  }

  private update(snapshot: Snapshot, _event: EventObject): void {
    this.snapshot = snapshot;
    const deferred = this.deferred;
    if (deferred !== null) {
      let fn: (() => void) | undefined;
      while ((fn = deferred.shift()) !== undefined) {
        try {
          fn();
        } catch (error) {
          deferred.length = 0;
          this.snapshot = { ...snapshot, status: 'error', error } as Snapshot;
        }
      }
      // made again by the next transition that defers: no grown array kept per connection
      if (this.deferred === deferred) this.deferred = null;
    }
    switch (this.snapshot.status) {
      case 'active':
        this.notify(snapshot);
        break;
      case 'done':
        this.notify(snapshot);
        this.stopProcedure();
        this.complete();
        break;
      case 'error':
        this.error((this.snapshot as { error?: unknown }).error);
        break;
    }
  }

  private notify(snapshot: Snapshot): void {
    const observers = this.observers;
    if (observers === null) return;
    for (const observer of [...observers]) {
      try {
        observer.next?.(snapshot as never);
      } catch (error) {
        reportUnhandledError(error);
      }
    }
  }

  private stopProcedure(): void {
    if (this.status !== RUNNING) return;
    this.system.cancelAll(this as never);
    if (this.queue !== null) this.queue.length = 0;
    this.status = STOPPED;
  }

  private complete(): void {
    const observers = this.observers ?? [];
    this.observers = null;
    for (const observer of observers) {
      try {
        observer.complete?.();
      } catch (error) {
        reportUnhandledError(error);
      }
    }
  }

  private error(error: unknown): void {
    this.stopProcedure();
    const observers = this.observers ?? [];
    this.observers = null;
    if (observers.length === 0) return reportUnhandledError(error);
    let unheard = false;
    for (const observer of observers) {
      unheard ||= observer.error === undefined;
      try {
        observer.error?.(error);
      } catch (thrown) {
        reportUnhandledError(thrown);
      }
    }
    if (unheard) reportUnhandledError(error);
  }

  /** A timer of this runner fired (on the clock, around the connection's `causes.duringTimer`). */
  fire(timer: Timer): void {
    if (timer.adoptedBy !== null) return timer.adoptedBy();
    this.timers?.delete(timer.key);
    this.system._relay(timer.source, timer.target, timer.event);
  }

  /**
   * The real actor, created from the current snapshot; `adopted(actor)` runs before any event reaches it
   * (the connection watches its `send`). While the runner is processing an event (a listener or an action
   * asked), the actor starts once that event is done: events the runner holds, and those sent to it
   * meanwhile, wait in the actor's mailbox, in the order they were sent.
   */
  promote(adopted: (actor: AnyActorRef) => void): AnyActorRef {
    if (this.actor !== null) return this.actor;
    const timers: Timer[] = [];
    const { input, systemId, clock } = this.options;
    const actor = createActor(this.logic, { snapshot: this.snapshot, input, systemId, clock: new AdoptingClock(clock, timers) } as never) as unknown as AnyActorRef;
    this.actor = actor;
    this.promotion = { adopting: timers, stopRequested: false, restoreSystem: null, handedOver: false };
    // the children (the channels' subscription actors) become the actor's: its system holds them by system id
    // from now on, as XState's holds an actor's children; their timers stay the runner's until the hand-over
    const system = actor.system as unknown as XStateSystem;
    for (const [childId, child] of this.system.actors ?? []) {
      this.adopt(child);
      system._set(childId, child);
      system._register(child.sessionId, child);
    }
    this.system.actors = null;
    const deliver = (actor as { send(event: EventObject): void }).send;
    adopted(actor);
    if (this.status === STOPPED) {
      // nothing runs any more: the actor only shows the last snapshot
      (actor as unknown as { stop(): void }).stop();
      this.deliver = deliver;
      return actor;
    }
    // events already waiting go first
    const queue = this.queue ?? [];
    this.queue = null;
    for (const event of queue) deliver(event);
    this.deliver = deliver;
    if (!this.processing) {
      this.handOver(false);
      return actor;
    }
    // Until the event being processed is done, the actor is not started, and a stop() (the connection's, from a
    // callback of this event) would only mark it stopped, to be started by handOver all the same: it is noted
    // instead, and the runner stops once the event is done (`handOver`): the connection ends `closed`, as with an actor.
    // Its snapshot meanwhile is the runner's, which the event moves on (as an Actor's moves before its observers hear it).
    const early = actor as unknown as { stop(): unknown; getSnapshot(): Snapshot };
    early.stop = () => {
      this.promotion!.stopRequested = true;
      return actor;
    };
    early.getSnapshot = () => this.snapshot;
    // and its system's scheduled events are the runner's timers (XState's system lists them under `sessionId.id`)
    const listing = system as unknown as { getSnapshot(): { _scheduledEvents: Record<string, unknown> } };
    const ownGetSnapshot = listing.getSnapshot;
    listing.getSnapshot = () => ({ _scheduledEvents: this.scheduledFor(actor) });
    this.promotion!.restoreSystem = () => (listing.getSnapshot = ownGetSnapshot);
    return actor;
  }

  /** The runner's pending timers (its own and its children's) as entries of XState's `system._snapshot._scheduledEvents`, the runner's being `actor`'s. */
  private scheduledFor(actor: AnyActorRef): Record<string, unknown> {
    const scheduled: Record<string, unknown> = {};
    const as = (ref: AnyActorRef): AnyActorRef => ((ref as unknown) === this ? actor : ref);
    for (const timer of this.timers?.values() ?? []) {
      const source = as(timer.source);
      scheduled[`${source.sessionId}.${timer.id}`] = { source, target: as(timer.target), event: timer.event, delay: timer.delay, id: timer.id, startedAt: Date.now() };
    }
    return scheduled;
  }

  /**
   * Makes a child of the runner (an actor created with `parent: runner`) the promoted actor's: its parent (its
   * `sendParent`, the actor's `stopChild`), and once the actor has taken the timers over, its system.
   */
  adopt(child: AnyActorRef): void {
    const internals = child as unknown as ActorInternals;
    if (internals._parent === this) internals._parent = this.actor;
    if (this.promotion?.handedOver === true && internals.system === this.system) internals.system = internals._actorScope.system = this.actor!.system;
  }

  /**
   * Made by `promote` (no field more per connection until then): `adopting`, the pending timers' list the promoted
   * actor's clock adopts from (see `handOver`); `stopRequested`, stop() was called on the actor before the hand-over;
   * `restoreSystem` puts back its system's own `getSnapshot` (see `promote`); `handedOver`, the actor has taken the
   * timers over and schedules from then on (the runner's system hands it every call).
   */
  promotion: { adopting: Timer[]; stopRequested: boolean; restoreSystem: (() => void) | null; handedOver: boolean } | null = null;

  /** Gives the actor the runner's last snapshot (`moved`: an event was processed since the actor was created), timers and observers, and starts it. */
  private handOver(moved: boolean): void {
    const actor = this.actor as unknown as {
      _snapshot: Snapshot;
      _actorScope: unknown;
      sessionId: string;
      system: { _snapshot: { _scheduledEvents: Record<string, unknown> } };
      subscribe(observer: RunnerObserver): unknown;
      start(): void;
      stop(): void;
    };
    const promotion = this.promotion!;
    if (promotion.stopRequested) {
      // stopped before it ran: the runner stops (its observers complete, its timers are cancelled, what was sent
      // to the actor meanwhile is dropped, as a stop drops what waits), and the actor only shows the last snapshot
      const deliver = this.deliver;
      this.deliver = null;
      this.queue = null;
      this.flush({ type: 'xstate.stop' });
      this.deliver = deliver;
    }
    if (moved) {
      delete (actor as { stop?: unknown }).stop;
      delete (actor as { getSnapshot?: unknown }).getSnapshot;
      promotion.restoreSystem?.();
      promotion.restoreSystem = null;
    }
    if (promotion.stopRequested) {
      actor._snapshot = this.logic.restoreSnapshot!(this.snapshot as never, actor._actorScope as never) as Snapshot;
      actor.stop();
      return;
    }
    // the event promote() was called during moved the snapshot on: the unstarted actor takes the one it ended with
    if (moved) {
      actor._snapshot = this.logic.restoreSnapshot!(this.snapshot as never, actor._actorScope as never) as Snapshot;
    }
    // XState's system.start() schedules these in order; the adopting clock hands each its running timer
    Object.assign(actor.system._snapshot._scheduledEvents, this.scheduledFor(actor as never));
    for (const timer of this.timers?.values() ?? []) promotion.adopting.push(timer);
    this.timers = null;
    // from here the actor's system schedules, and the children run on it
    promotion.handedOver = true;
    for (const child of Object.values((actor.system as unknown as XStateSystem).getAll())) if (child !== actor) this.adopt(child as AnyActorRef);
    // the actor reports its (unchanged) snapshot once as it starts: the observers have seen it
    for (const observer of this.observers ?? []) {
      let started = false;
      actor.subscribe({
        next: (snapshot) => (started ? observer.next?.(snapshot) : (started = true)),
        error: (error) => observer.error?.(error),
        complete: () => observer.complete?.(),
      });
    }
    this.observers = null;
    this.status = STOPPED;
    actor.start();
  }
}
