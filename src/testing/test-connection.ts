/**
 * `createTestConnection`: a real connection (the real chart, socket actor,
 * model and view wiring) on a simulated clock, with fake sockets and a seeded
 * random source. Nothing runs unless the test moves the clock or the socket.
 */
import type { Connection } from '../connection.js';
import { createConnectionFactory } from '../connection.js';
import type { ConnectionOptions } from '../options.js';
import { timeoutScheduler } from '../scheduler.js';
import { TestClock, seededRandom } from './clock.js';
import type { FakeSockets, FakeWebSocket } from './fake-websocket.js';
import { createFakeSockets } from './fake-websocket.js';

export type TestConnectionOptions<T> = Omit<ConnectionOptions<T>, 'WebSocket' | 'clock' | 'url'> & {
  /** @default 'ws://statesocket.test/' */
  url?: ConnectionOptions<T>['url'];
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

export interface TestConnection<T> {
  connection: Connection<T>;
  clock: TestClock;
  sockets: FakeSockets;
  /** The newest fake socket. */
  readonly socket: FakeWebSocket;
  /** Moves simulated time forward, firing timers at their deadlines. */
  advance(ms: number): void;
  /** Opens the newest socket (the handshake succeeds). */
  open(): FakeWebSocket;
}

export function createTestConnection<T = unknown>(options: TestConnectionOptions<T> = {}): TestConnection<T> {
  const { seed = 1, frameMs = 16, url = 'ws://statesocket.test/', ...rest } = options;
  const clock = new TestClock();
  const sockets = createFakeSockets();
  const createConnection = createConnectionFactory(() => sockets.WebSocket);
  const connection = createConnection<T>({
    schedule: timeoutScheduler(frameMs, clock),
    random: seededRandom(seed),
    ...rest,
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
