/**
 * What the hook tests share: a connection's options on fake sockets and a TestClock (the render
 * scheduler too: a frame is 16 ms of simulated time), a simple Model, and `settle()`, which lets
 * the microtask that starts a hook's connection run.
 */
import { act } from '@testing-library/react';
import { rawProtocol, timeoutScheduler, type ConnectionOptions, type Model, type Protocol } from '../../src/index.js';
import { TestClock, createFakeSockets, seededRandom } from '../../src/testing/index.js';

export type Data = Record<string, unknown>;

/** A Model whose data is the last message received (a new object each time). */
export function lastMessageModel(): Model<Data, Data> {
  let data: Data = {};
  return {
    update: (message) => {
      data = message;
    },
    getData: () => data,
  };
}

export function harness<M extends Model<unknown, never> = Model<Data, Data>>(protocol: Protocol<never, unknown> = rawProtocol as never) {
  const clock = new TestClock();
  const sockets = createFakeSockets();
  const model = lastMessageModel();
  /** Fresh options (a new object, as an inline literal in a component gives each render). */
  const options = (extra: Partial<ConnectionOptions<M, unknown>> = {}): ConnectionOptions<M, unknown> => ({
    url: 'ws://statesocket.test/',
    WebSocket: sockets.WebSocket,
    clock,
    now: () => clock.now(),
    random: seededRandom(1),
    schedule: timeoutScheduler(16, clock),
    protocol: protocol as never,
    environment: false,
    model: model as unknown as M,
    ...extra,
  });
  return {
    clock,
    sockets,
    model,
    options,
    /** One render frame of simulated time, inside act(). */
    frame: () => act(() => clock.advance(16)),
  };
}

/** Lets the microtask that starts (or stops) a hook's connection run, inside act(). */
export async function settle(): Promise<void> {
  await act(async () => {});
}
