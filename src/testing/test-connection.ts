/**
 * `createTestConnection`: a real connection (the real chart, socket actor,
 * model and view wiring) on a simulated clock, with fake sockets and a seeded
 * random source. Nothing runs unless the test moves the clock or the socket.
 */
import type { Connection } from '../connection.js';
import { createConnectionFactory } from '../connection.js';
import type { ConnectionOptions } from '../options.js';
import type { Store } from '../store.js';
import { rawProtocol, type Protocol } from '../protocol.js';
import type { AnyModel, DataOf } from '../types.js';
import { timeoutScheduler } from '../scheduler.js';
import { TestClock, seededRandom } from './clock.js';
import type { FakeSockets, FakeWebSocket } from './fake-websocket.js';
import { createFakeSockets } from './fake-websocket.js';

/**
 * The options of `createConnection`, but `protocol` defaults to `rawProtocol`:
 * tests hand-write the frames the fake socket receives, and see exactly what
 * was sent (no `hello`). Pass `createChannelProtocol()` (what `createConnection`
 * speaks by default, the sync protocol's version 2) or `createSyncProtocol()`
 * (version 1) to test the sync path.
 */
export type TestConnectionOptions<M extends AnyModel = Store, TOut = unknown> = Omit<ConnectionOptions<M, TOut>, 'WebSocket' | 'clock' | 'url'> & {
  /** @default 'ws://statesocket.test/' */
  url?: ConnectionOptions<M, TOut>['url'];
  /**
   * Seed of the random source used for backoff jitter (ignored when `random` is given).
   * @default 1
   */
  seed?: number;
  /**
   * Frame length of the render scheduler, on the simulated clock.
   * @default 16
   */
  frameMs?: number;
};

export interface TestConnection<M extends AnyModel = Store, TOut = unknown> {
  connection: Connection<M, TOut>;
  clock: TestClock;
  sockets: FakeSockets;
  /** The newest fake socket. */
  readonly socket: FakeWebSocket;
  /** Moves simulated time forward, firing timers at their deadlines. */
  advance(ms: number): void;
  /** Opens the newest socket (the handshake succeeds). */
  open(): FakeWebSocket;
}

export function createTestConnection<M extends AnyModel = Store, TOut = unknown>(
  options: TestConnectionOptions<M, TOut> = {},
): TestConnection<M, TOut> {
  const { seed = 1, frameMs = 16, url = 'ws://statesocket.test/', ...rest } = options;
  const clock = new TestClock();
  const sockets = createFakeSockets();
  const createConnection = createConnectionFactory(() => sockets.WebSocket);
  const connection = createConnection<M, TOut>({
    schedule: timeoutScheduler(frameMs, clock),
    random: seededRandom(seed),
    ...rest,
    // Without a protocol, TOut is unknown (the default type argument): rawProtocol's.
    protocol: rest.protocol ?? (rawProtocol as Protocol<DataOf<M>, TOut>),
    url,
    clock,
    now: rest.now ?? (() => clock.now()),
  });
  return {
    connection,
    clock,
    sockets,
    get socket() {
      return sockets.latest;
    },
    advance: (ms) => clock.advance(ms),
    open() {
      const socket = sockets.latest;
      socket.open();
      return socket;
    },
  };
}
