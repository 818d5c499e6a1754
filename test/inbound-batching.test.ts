import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { readsOneFramePerTask } from '../src/socket.js';
import { createStore, type Store } from '../src/store.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { createTestConnection, FakeWebSocket, type TestConnectionOptions } from '../src/testing/index.js';
import type { Model } from '../src/types.js';

/** A test connection that records every event the machine received, by type. */
function recorded(options: TestConnectionOptions = {}) {
  const events: Array<{ type: string; messages?: unknown[] }> = [];
  let root: unknown = null;
  const t = createTestConnection({
    ...options,
    inspect: {
      inspect: (inspection: InspectionEvent) => {
        if (inspection.type === '@xstate.event' && inspection.actorRef === root) events.push(inspection.event as never);
      },
    },
  });
  root = t.connection.actor;
  const received = () => events.filter((event) => event.type === 'message.received');
  return { t, events, received };
}

function syncConnection() {
  const t = createTestConnection({ protocol: createSyncProtocol() });
  return { t, store: t.connection.model };
}

const patch = (seq: number, set: Record<string, number | string>) => ({ type: 'patch', epoch: 'e', seq, set });

describe('inbound batching', () => {
  it('hands the frames of one read to the chart as one message.received, in order', () => {
    const { t, received } = recorded();
    t.open();
    t.socket.receive({ type: 'snapshot', data: { a: 1 } }, { type: 'patch', set: { b: 2 } }, { type: 'patch', delete: ['a'] });
    expect(received()).toHaveLength(1);
    expect(received()[0]?.messages).toHaveLength(3);
    expect(t.connection.model.getData()).toEqual({ b: 2 });
    expect(t.connection.getStatus().counters).toMatchObject({ received: 3, rejected: 0 });
    t.connection.stop();
  });

  it('applies what a real socket read at the next microtask, when the transport does not mark the end of a read', async () => {
    const { t, received } = recorded();
    const socket = t.open();
    const deliver = (data: unknown) => socket.onmessage?.({ type: 'message', data: JSON.stringify(data) });
    deliver({ type: 'snapshot', data: { a: 1 } });
    deliver({ type: 'patch', set: { a: 2 } });
    expect(t.connection.model.getData()).toEqual({});
    await Promise.resolve();
    expect(t.connection.model.getData()).toEqual({ a: 2 });
    expect(received()).toHaveLength(1);
    t.connection.stop();
  });

  it('applies the frames read before a close before the chart sees the close', () => {
    const { t, events } = recorded();
    const socket = t.open();
    socket.onmessage?.({ type: 'message', data: '{"type":"snapshot","data":{"kept":true}}' });
    socket.drop();
    expect(t.connection.model.getData()).toEqual({ kept: true });
    const types = events.map((event) => event.type).filter((type) => type.startsWith('message.') || type.startsWith('socket.'));
    expect(types.slice(-2)).toEqual(['message.received', 'socket.closed']);
    expect(t.connection.getStatus().state).toBe('errored');
    t.connection.stop();
  });

  it('splits a read around a rejected frame and keeps the order of everything else', () => {
    const { t, events } = recorded();
    t.open();
    t.socket.receive({ type: 'patch', set: { a: 1 } }, '{"broken', { type: 'patch', set: { a: 2, b: 2 } });
    const types = events.map((event) => event.type).filter((type) => type.startsWith('message.'));
    expect(types).toEqual(['message.received', 'message.rejected', 'message.received']);
    expect(t.connection.model.getData()).toEqual({ a: 2, b: 2 });
    expect(t.connection.getStatus().counters).toMatchObject({ received: 3, rejected: 1 });
    t.connection.stop();
  });

  it('rejects one message the model refuses and applies the rest of the read', () => {
    const data: unknown[] = [];
    const model: Model<unknown[]> = {
      update(message) {
        if (message === 'bad') throw new TypeError('not today');
        data.push(message);
      },
      getData: () => data,
    };
    const t = createTestConnection({ model });
    t.open();
    t.socket.receive('"one"', '"bad"', '"two"');
    expect(data).toEqual(['one', 'two']);
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastRejected: { code: 'ERR_MODEL_REJECTED', message: 'not today' },
      counters: { received: 3, rejected: 1 },
    });
    t.connection.stop();
  });

  it('drops what is read after the socket was replaced', () => {
    const t = createTestConnection();
    const socket = t.open();
    socket.onmessage?.({ type: 'message', data: '{"type":"snapshot","data":{"late":true}}' });
    t.connection.disconnect();
    socket.onreadend?.();
    expect(t.connection.model.getData()).toEqual({});
    t.connection.stop();
  });
});

describe('sync protocol, a read at a time', () => {
  it('checks the sequence of a read against the messages before it, not yet applied', () => {
    const { t, store } = syncConnection();
    t.open();
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 1, data: {} }, patch(2, { a: 2 }), patch(3, { a: 3 }), patch(4, { b: 4 }));
    expect(store.getData()).toEqual({ a: 3, b: 4 });
    expect(store.position()).toEqual({ epoch: 'e', seq: 4 });
    t.connection.stop();
  });

  it('drops a duplicate inside one read', () => {
    const { t, store } = syncConnection();
    t.open();
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 1, data: {} }, patch(2, { a: 2 }), patch(2, { a: 'dup' }), patch(3, { b: 3 }));
    expect(store.getData()).toEqual({ a: 2, b: 3 });
    expect(t.connection.getStatus().counters.rejected).toBe(0);
    t.connection.stop();
  });

  it('classifies the rest of a read again when the model refuses a patch in it: a gap, not an out-of-order apply', () => {
    const store = createStore();
    // a model with a rule of its own on top of the store
    const model = {
      update(message: unknown) {
        if ((message as { set?: { bad?: unknown } }).set?.bad !== undefined) throw new RangeError('no bad values here');
        store.update(message);
      },
      getData: () => store.getData(),
    };
    const t = createTestConnection({ protocol: createSyncProtocol(), model });
    t.open();
    const hellos = () => t.socket.sentMessages().filter((message) => (message as { type: string }).type === 'hello');
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 1, data: {} }, patch(2, { bad: 1 }), patch(3, { a: 3 }), patch(4, { a: 4 }));
    expect(store.getData()).toEqual({});
    expect(hellos()).toEqual([{ type: 'hello', v: 1 }, { type: 'hello', v: 1 }]);
    expect(t.connection.getStatus().counters.rejected).toBe(1);
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 4, data: { a: 4 } });
    expect(store.getData()).toEqual({ a: 4 });
    t.connection.stop();
  });

  it('applies what came before a gap, then asks for a snapshot and ignores the rest of the read', () => {
    const { t, store } = syncConnection();
    t.open();
    const hellos = () => t.socket.sentMessages().filter((message) => (message as { type: string }).type === 'hello');
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 1, data: {} }, patch(2, { a: 2 }), patch(4, { a: 'gap' }), patch(5, { a: 'after' }));
    expect(store.getData()).toEqual({ a: 2 });
    expect(hellos().at(-1)).toEqual({ type: 'hello', v: 1 });
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 5, data: { a: 5 } }, patch(6, { b: 6 }));
    expect(store.getData()).toEqual({ a: 5, b: 6 });
    t.connection.stop();
  });
});

describe('a read per task (the browser)', () => {
  class HostWebSocket extends FakeWebSocket {}
  const browser = { WebSocket: HostWebSocket };
  const socket = new HostWebSocket('ws://127.0.0.1:1/');

  it.each([
    ['the browser\'s own WebSocket', socket, browser, true],
    ['a subclass of it', new (class extends HostWebSocket {})('ws://127.0.0.1:1/'), browser, true],
    ['a browser with a `process` shim that is not Node', socket, { ...browser, process: { versions: {} } }, true],
    ['a socket that is not the host\'s WebSocket (ws, a fake, a user\'s)', new FakeWebSocket('ws://127.0.0.1:1/'), browser, false],
    ['Node\'s own WebSocket (undici), jsdom, Bun, Deno: they say they are Node', socket, { ...browser, process: { versions: { node: '22.0.0' } } }, false],
    ['a host without a WebSocket', socket, {}, false],
  ])('%s', (_name, candidate, host, expected) => {
    expect(readsOneFramePerTask(candidate, host)).toBe(expected);
  });

  it('keeps batching in Node, whatever socket it is handed', () => {
    expect(readsOneFramePerTask(socket)).toBe(false);
  });
});
