/**
 * What must hold in every simulated run: checked after every step (one live socket, a bounded
 * and ordered outbox, seq never going backwards in an epoch, each op applied once, a store that
 * refuses a message leaving its data as it was, an attempt counter that resets only after a
 * stable connection) and once healed (open, outbox drained, model equal to the server's data,
 * nothing left after `stop()`). The first one broken ends the run with a message naming it.
 */
import { outboxEntries } from '../../../machines/outbox.js';
import type { Connection } from '../../connection.js';
import { stateNameOf } from '../../status.js';
import type { SyncServer } from '../../server/sync-server.js';
import type { Store } from '../../store.js';
import type { TestClock } from '../clock.js';

/** An invariant broke: the run ends with this message. */
export class InvariantError extends Error {}

/** The readiness states the sim's sockets share with WebSocket. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 3;

/** A socket as the invariants see it. */
export interface WatchedSocket {
  readonly id: number;
  readonly readyState: number;
  readonly onmessage: unknown;
}

/**
 * The real store, watched: a message it refuses must leave its data exactly as it was.
 * Everything but `update` is the real store's (its members are closures, so delegation is enough).
 */
export function watchStore(realStore: Store): { store: Store; violation(): string | null } {
  let storeViolation: string | null = null;
  const watchedStore = Object.create(realStore) as Store;
  watchedStore.update = (message) => {
    const before = realStore.getData();
    try {
      realStore.update(message);
    } catch (error) {
      if (realStore.getData() !== before) {
        storeViolation ??= `a message the store refused changed its data: ${JSON.stringify(message).slice(0, 80)}`;
      }
      throw error;
    }
  };
  return { store: watchedStore, violation: () => storeViolation };
}

/**
 * Traces the client's state changes and watches its attempt counter, which resets only after a
 * connection stayed open for `stableAfterMs`. A subscriber must not throw into XState: a broken
 * rule is kept and reported by the next check.
 */
export function watchStatus(
  connection: Connection,
  clock: TestClock,
  trace: (line: string) => void,
  stableAfterMs: number,
): { violation(): string | null; fatalClose(): string | null } {
  let lastState = stateNameOf(connection.actor.getSnapshot());
  let attemptAtConnect = 0;
  let openedAt: number | null = null;
  let fatalClose: string | null = null;
  let violation: string | null = null;

  connection.subscribe((status) => {
    if (status.state !== lastState) {
      trace(
        `client: ${lastState} → ${status.state}${status.lastError && status.state !== 'open' ? ` (${status.lastError.code}${status.lastError.closeCode ? ` ${status.lastError.closeCode}` : ''})` : ''} attempt ${status.attempt}`,
      );
      if (status.state === 'connecting') attemptAtConnect = status.attempt;
      if (status.state === 'open') openedAt = clock.now();
      if (status.state === 'errored' && openedAt !== null && lastState === 'open') {
        // the attempt counter resets only after a connection stayed open for stableAfterMs
        if (clock.now() - openedAt < stableAfterMs && status.attempt < attemptAtConnect) {
          violation ??= (
            `attempt counter reset after ${clock.now() - openedAt} ms open (< stableAfterMs ${stableAfterMs}): ${attemptAtConnect} → ${status.attempt}`
          );
        }
      }
      if (status.state === 'closed' && status.lastError?.code === 'ERR_FATAL_CLOSE') {
        fatalClose = `fatal close ${status.lastError.closeCode}`;
      }
      lastState = status.state;
    }
  });
  return { violation: () => violation, fatalClose: () => fatalClose };
}

export interface StepCheckInput {
  connection: Connection;
  store: Store;
  sockets: readonly WatchedSocket[];
  applyCounts: ReadonlyMap<string, number>;
  outboxLimit: number;
  /** Rules broken in callbacks (subscribers, the watched store), reported here. */
  violations: ReadonlyArray<() => string | null>;
}

/** Returns the check run after every step; it throws InvariantError naming the first rule broken. */
export function createStepCheck(input: StepCheckInput): () => void {
  const { connection, store, sockets, applyCounts, outboxLimit, violations } = input;
  let lastPosition = store.position();
  return () => {
    for (const violation of violations) {
      const broken = violation();
      if (broken !== null) throw new InvariantError(broken);
    }
    const snapshot = connection.actor.getSnapshot();
    if (snapshot.status !== 'active') throw new InvariantError(`the actor is ${snapshot.status}: ${String(snapshot.error)}`);
    const state = stateNameOf(snapshot);
    if (!['idle', 'connecting', 'open', 'errored', 'closed'].includes(state)) throw new InvariantError(`invalid state ${state}`);
    const attached = sockets.filter((s) => s.readyState !== CLOSED && s.onmessage !== null);
    if (attached.length > 1) throw new InvariantError(`${attached.length} live sockets: #${attached.map((s) => s.id).join(', #')}`);
    const outbox = outboxEntries(snapshot.context.outbox);
    if (outbox.length > outboxLimit) throw new InvariantError(`outbox holds ${outbox.length} > limit ${outboxLimit}`);
    for (let i = 1; i < outbox.length; i++) {
      if ((outbox[i] as { id: number }).id <= (outbox[i - 1] as { id: number }).id) throw new InvariantError('the outbox reordered');
    }
    const position = store.position();
    if (position !== null && lastPosition !== null && position.epoch === lastPosition.epoch && position.seq < lastPosition.seq) {
      throw new InvariantError(`seq went backwards: ${lastPosition.seq} → ${position.seq} in epoch ${position.epoch}`);
    }
    if (position !== null) lastPosition = position;
    for (const [id, count] of applyCounts) if (count > 1) throw new InvariantError(`op ${id} applied ${count} times`);
  };
}

/** Once healed and quiet: nothing unacknowledged, the model equal to the server's data, every op applied once. */
export function checkConverged(connection: Connection, server: SyncServer, applyCounts: ReadonlyMap<string, number>, opIds: readonly string[]): void {
  const outbox = connection.getStatus().outboxSize;
  if (outbox > 0) throw new InvariantError(`${outbox} op(s) still unacknowledged after healing`);
  const expected = server.data();
  const actual = connection.model.getData();
  if (JSON.stringify(sortKeys(actual)) !== JSON.stringify(sortKeys(expected))) {
    throw new InvariantError(`model differs from the server's data:\n  client ${JSON.stringify(sortKeys(actual))}\n  server ${JSON.stringify(sortKeys(expected))}`);
  }
  for (const id of opIds) {
    if (applyCounts.get(id) !== 1) throw new InvariantError(`op ${id} applied ${applyCounts.get(id) ?? 0} times`);
  }
}

/** After `stop()`: no timer and no socket left. */
export function checkStopped(clock: TestClock, sockets: readonly WatchedSocket[]): void {
  if (clock.pendingTimers > 0) throw new InvariantError(`${clock.pendingTimers} timer(s) left after stop()`);
  const live = sockets.filter((s) => s.readyState !== CLOSED && s.onmessage !== null);
  if (live.length > 0) throw new InvariantError(`${live.length} socket(s) left after stop()`);
}

/** The object with its keys in order: documents compare as JSON whatever order their keys came in. */
export function sortKeys(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
