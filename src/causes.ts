/**
 * The event behind each snapshot a connection's actor reports, so that
 * history names the event that changed the state. XState's snapshots do not
 * say which event made them, and an inspection observer on every event cost a
 * fifth of each one (bench/RESULTS.md, scenario 6). So events are noted as
 * they are sent, oldest first: the mailbox processes them in that order, and
 * every event processed gives one snapshot. An event reaches the actor one of
 * three ways, and each is noted:
 *
 * - `actor.send`: the facade, the chart's own `self.send` (the socket's
 *   events among them: src/socket.ts reports through it), and anyone holding
 *   `connection.actor`. `watch(actor)` replaces the actor's `send` with one
 *   that notes the event first (XState makes `send` an own property, bound
 *   to the actor, so this costs one function per connection). A connection
 *   without an actor (src/runner.ts) notes from its runner's own `send`
 *   instead (`follow`).
 * - A delayed event (`after`) is sent by one of the machine's timers:
 *   `duringTimer()` runs the timer's callback and watches inspection for that
 *   while only, so no observer runs for any other event.
 *
 * A class, so that a connection holds one small object.
 */
import type { AnyActor, InspectionEvent } from 'xstate';

export class Causes {
  /**
   * The types of the events the actor has yet to report a snapshot for, oldest first (starting is the first):
   * the oldest in `#first`, the others (events sent while one is processed) in `#later`, made only then. Most
   * events are reported before the next is sent, and an array kept per connection keeps its grown backing store.
   */
  #first: string | null = 'xstate.init';
  #later: string[] | null = null;
  // private fields: the effects hold this object, and an inspector's serializer walks them (it must not reach the actor)
  #actor: AnyActor | null = null;

  /**
   * Notes every event sent with `actor.send` from now on. Call once, with the
   * actor just created, before anything is sent to it.
   */
  watch(actor: AnyActor): void {
    this.#actor = actor;
    const send = actor.send;
    actor.send = (event) => {
      this.note(event.type);
      send.call(actor, event);
    };
  }

  /**
   * Follows `runner` (src/runner.ts), which notes what it is sent itself (`note`, from its own `send`):
   * no wrapper per connection.
   */
  follow(runner: AnyActor): void {
    this.#actor = runner;
  }

  /** Notes an event on its way to the actor (a stopped actor processes none, so none is noted). */
  note(type: string): void {
    if (this.#actor?.getSnapshot().status === 'active') this.#push(type);
  }

  /** Notes the event when `inspection` is the actor receiving a delayed event. */
  nameDelayed(inspection: InspectionEvent): void {
    if (inspection.type === '@xstate.event' && inspection.actorRef === this.#actor && inspection.event.type.startsWith('xstate.after.')) {
      this.#push(inspection.event.type);
    }
  }

  /** Runs one of the machine's timer callbacks, noting the delayed event it sends (the clock's `around`, src/clock.ts). */
  duringTimer(fire: () => void): void {
    if (this.#actor === null) return fire();
    const watching = this.#actor.system.inspect((inspection: InspectionEvent) => this.nameDelayed(inspection));
    try {
      fire();
    } finally {
      watching.unsubscribe();
    }
  }

  /** The type of the event behind the snapshot just reported; `xstate.unknown` when none was noted. */
  next(): string {
    const type = this.#first;
    if (type === null) return 'xstate.unknown';
    const later = this.#later;
    this.#first = later?.shift() ?? null;
    if (later !== null && later.length === 0) this.#later = null;
    return type;
  }

  #push(type: string): void {
    if (this.#first === null) this.#first = type;
    else (this.#later ??= []).push(type);
  }
}
