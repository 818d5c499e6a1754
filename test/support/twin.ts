/** A connection on the simulated clock as the runner's tests (test/runner*.test.ts) compare them, with and without its actor. */
import type { createStore } from '../../src/store.js';
import type { TestConnection } from '../../src/testing/test-connection.js';

export type Twin = TestConnection<ReturnType<typeof createStore>, unknown>;

/** Everything a user can see of a connection, without reading its actor. */
export function seen(t: Twin) {
  return {
    status: t.connection.getStatus(),
    data: t.connection.model.getData(),
    outbox: t.connection.getOutbox(),
    history: t.connection.history,
    written: t.sockets.all.map((socket) => socket.sent),
    now: t.clock.now(),
  };
}
