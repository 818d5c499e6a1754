import { describe, expect, it } from 'vitest';
import { createSyncServer, type SyncServer } from '../src/server/sync-server.js';
import { createOp, createSyncProtocol } from '../src/sync/client-protocol.js';
import { createTestConnection, type FakeWebSocket } from '../src/testing/index.js';
import type { Store } from '../src/store.js';

/** Wires a fake socket to the server logic in memory: what one writes, the other receives at once. */
function link(socket: FakeWebSocket, server: SyncServer, urlToken?: string) {
  const peer = {
    send: (frame: string) => socket.readyState === 1 && socket.receive(frame),
    close: (code: number, reason: string) => socket.serverClose(code, reason),
    get bufferedAmount() {
      return 0;
    },
  };
  socket.open();
  const session = server.connect(peer, { urlToken: urlToken ?? null });
  let delivered = 0;
  const pump = () => {
    while (delivered < socket.sent.length) session.receive(socket.sent[delivered++] as string);
  };
  const originalSend = socket.send.bind(socket);
  socket.send = (data) => {
    originalSend(data);
    pump();
  };
  pump();
  return session;
}

function syncConnection(token?: string) {
  const t = createTestConnection({ protocol: createSyncProtocol(token === undefined ? {} : { token }) });
  return { t, store: t.connection.model };
}

describe('sync protocol', () => {
  it('opens with hello and gets a snapshot', () => {
    const server = createSyncServer({ random: () => 0.5 });
    server.change({ set: { a: 1 } });
    const { t, store } = syncConnection();
    link(t.socket, server);
    expect(JSON.parse(t.socket.sent[0] as string)).toEqual({ type: 'hello', v: 1 });
    expect(store.getData()).toEqual({ a: 1 });
    expect(store.position()).toEqual({ epoch: server.epoch, seq: 1 });
    t.connection.stop();
  });

  it('resumes with since after a reconnect and replays only what was missed', () => {
    const server = createSyncServer();
    const { t, store } = syncConnection();
    link(t.socket, server);
    server.change({ set: { a: 1 } });
    t.socket.drop();
    server.change({ set: { b: 2 } });
    server.change({ delete: ['a'] });
    t.connection.retry();
    link(t.socket, server);
    expect(JSON.parse(t.socket.sent[0] as string)).toEqual({ type: 'hello', v: 1, epoch: server.epoch, since: 1 });
    expect(server.counters.replays).toBe(1);
    expect(store.getData()).toEqual({ b: 2 });
    expect(store.position()?.seq).toBe(3);
    t.connection.stop();
  });

  it('adopts a new epoch snapshot after a restart, leaving no stale keys', () => {
    const server = createSyncServer({ logSize: 10 });
    const { t, store } = syncConnection();
    link(t.socket, server);
    server.change({ set: { stale: true } });
    t.socket.drop();
    server.restart();
    server.change({ delete: ['stale'], set: { fresh: 1 } });
    t.connection.retry();
    link(t.socket, server);
    expect(store.getData()).toEqual({ fresh: 1 });
    expect(store.position()).toEqual({ epoch: server.epoch, seq: 1 });
    t.connection.stop();
  });

  it('falls back to a snapshot when the log no longer reaches back', () => {
    const server = createSyncServer({ logSize: 2 });
    const { t, store } = syncConnection();
    link(t.socket, server);
    t.socket.drop();
    for (let i = 0; i < 5; i++) server.change({ set: { [`k${i}`]: i } });
    t.connection.retry();
    link(t.socket, server);
    expect(server.counters.snapshotsSent).toBe(2);
    expect(store.getData()).toEqual({ k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 });
    t.connection.stop();
  });

  it('drops duplicates and asks for a resync on a gap instead of applying out of order', () => {
    const { t, store } = syncConnection();
    t.open();
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 5, data: { a: 1 } });
    t.socket.receive({ type: 'patch', epoch: 'e', seq: 5, set: { a: 'dup' } });
    expect(store.getData()).toEqual({ a: 1 });
    t.socket.receive({ type: 'patch', epoch: 'e', seq: 7, set: { a: 'gap' } });
    expect(store.getData()).toEqual({ a: 1 });
    expect(t.socket.sentMessages().at(-1)).toEqual({ type: 'hello', v: 1 });
    t.socket.receive({ type: 'patch', epoch: 'e', seq: 8, set: { a: 'still waiting' } });
    expect(store.getData()).toEqual({ a: 1 });
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 8, data: { a: 8 } });
    t.socket.receive({ type: 'patch', epoch: 'e', seq: 9, set: { b: 9 } });
    expect(store.getData()).toEqual({ a: 8, b: 9 });
    t.connection.stop();
  });

  it('applies every op exactly once across reconnects and re-sends until acked', () => {
    const server = createSyncServer();
    const { t, store } = syncConnection();
    t.connection.send(createOp({ set: { x: 1 } }, 'op-1'));
    link(t.socket, server);
    // the op goes out after the hello, is applied, its patch and ack come back
    expect(server.counters.opsApplied).toBe(1);
    expect(t.connection.getStatus().outboxSize).toBe(0);
    // an op whose ack is lost: the server applied it, the client re-sends it after a reconnect
    const session = { ack: true };
    const realReceive = t.socket.receive.bind(t.socket);
    t.socket.receive = (data) => {
      if (!session.ack && String(data).includes('"ack"')) return;
      realReceive(data);
    };
    session.ack = false;
    t.connection.send(createOp({ set: { y: 2 } }, 'op-2'));
    expect(server.counters.opsApplied).toBe(2);
    expect(t.connection.getStatus().outboxSize).toBe(1);
    t.socket.drop();
    t.connection.retry();
    link(t.socket, server);
    expect(server.counters).toMatchObject({ opsApplied: 2, opsDuplicate: 1 });
    expect(t.connection.getStatus().outboxSize).toBe(0);
    expect(store.getData()).toEqual({ x: 1, y: 2 });
    t.connection.stop();
  });

  it('settles an op the server refuses, and records the rejection', () => {
    const server = createSyncServer();
    const { t } = syncConnection();
    link(t.socket, server);
    t.connection.send({ type: 'op', id: 'bad', set: { ok: 1 } });
    t.socket.send(JSON.stringify({ type: 'op', id: 'worse', set: 'nope' }));
    expect(t.connection.getStatus().lastRejected).toEqual({
      code: 'ERR_SERVER_REJECTED',
      message: 'ERR_INVALID_FRAME: set must be an object of key → JSON value; received a string',
    });
    t.connection.stop();
  });

  it('sends the token in hello and is closed with 4401 when it is wrong', () => {
    const server = createSyncServer({ token: 'secret' });
    const { t } = syncConnection('wrong');
    link(t.socket, server);
    expect(t.connection.getStatus()).toMatchObject({ state: 'closed', lastError: { code: 'ERR_FATAL_CLOSE', closeCode: 4401 } });
    const ok = syncConnection('secret');
    link(ok.t.socket, server);
    expect(ok.t.connection.getStatus().state).toBe('open');
    expect(ok.store.position()).not.toBeNull();
    t.connection.stop();
    ok.t.connection.stop();
  });

  it('rejects a send the protocol cannot carry', () => {
    const { t } = syncConnection();
    // Refused by the types too; a JavaScript caller gets the TypeError.
    // @ts-expect-error not an op
    expect(() => t.connection.send({ hello: 'world' })).toThrow(/sync protocol: send\(\) takes/);
    // @ts-expect-error set is not an object
    expect(() => t.connection.send({ type: 'op', set: 5 })).toThrow(/invalid op: op\.set: expected an object/);
    t.connection.stop();
  });

  const nested = (depth: number): unknown => (depth === 0 ? 1 : { x: nested(depth - 1) });

  it.each([
    ['NaN', { a: Number.NaN }, 'set."a" is NaN: numbers must be finite'],
    ['Infinity', { b: Infinity }, 'set."b" is Infinity: numbers must be finite'],
    ['a Date', { d: new Date(0) }, 'set."d" is a Date, not a JSON value'],
    ['a Map', { m: new Map([[1, 2]]) }, 'set."m" is a Map, not a JSON value'],
    ['undefined', { u: undefined }, 'set."u" is undefined, not a JSON value'],
    ['a value nested too deep', { deep: nested(65) }, 'nests deeper than maxValueDepth (64 arrays/objects)'],
    ['__proto__ deep inside', JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as Record<string, unknown>, 'set."a"."__proto__": the key "__proto__" is not allowed'],
  ])('refuses an op whose set holds %s, with the rule the server applies, before anything is queued', (_name, set, problem) => {
    const { t } = syncConnection();
    t.open();
    let caught: unknown;
    try {
      t.connection.send(createOp({ set } as never, 'op-1'));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect((caught as Error).message).toContain('sync protocol: invalid op "op-1": ');
    expect((caught as Error).message).toContain(problem);
    expect(t.connection.getStatus().outboxSize).toBe(0);
    expect(t.socket.sentMessages().filter((m) => (m as { type: string }).type === 'op')).toEqual([]);
    t.connection.stop();
  });

  it('takes an op at the default depth limit, and -0 and large finite numbers', () => {
    const { t } = syncConnection();
    t.open();
    t.connection.send(createOp({ set: { deep: nested(63) as never, zero: -0, big: 1e308 } }, 'op-1'));
    expect(t.connection.getStatus().outboxSize).toBe(1);
    t.connection.stop();
  });
});

/** A user's Model: only update() and getData(), no positions; it applies snapshot and patch messages. */
function plainModel(refuse: (message: { type: string; set?: Record<string, unknown> }) => boolean = () => false) {
  let data: Record<string, unknown> = {};
  const seen: string[] = [];
  const model = {
    update(message: unknown) {
      const m = message as { type: string; data?: Record<string, unknown>; set?: Record<string, unknown>; delete?: string[] };
      if (refuse(m)) throw new RangeError('this model refuses it');
      seen.push(m.type);
      if (m.type === 'snapshot') data = { ...m.data };
      else if (m.type === 'patch') {
        data = { ...data };
        for (const key of m.delete ?? []) delete data[key];
        Object.assign(data, m.set);
      }
    },
    getData: () => data,
  };
  return { model, seen };
}

const hellosOf = (socket: FakeWebSocket) =>
  socket.sentMessages().filter((message) => (message as { type: string }).type === 'hello');

describe('sync protocol with any Model', () => {
  it('runs a plain { update, getData } Model through a drop and a replay', () => {
    const server = createSyncServer();
    server.change({ set: { a: 1 } });
    const { model, seen } = plainModel();
    const t = createTestConnection({ protocol: createSyncProtocol(), model });
    link(t.socket, server);
    expect(t.connection.getStatus().state).toBe('open');
    server.change({ set: { b: 2 } });
    t.socket.drop();
    server.change({ delete: ['a'] });
    server.change({ set: { c: 3 } });
    t.connection.retry();
    link(t.socket, server);
    // resumed from the protocol's own position: a replay of seq 3 and 4, not a second snapshot
    expect(hellosOf(t.socket)).toEqual([{ type: 'hello', v: 1, epoch: server.epoch, since: 2 }]);
    expect(server.counters).toMatchObject({ replays: 1, snapshotsSent: 1 });
    expect(seen).toEqual(['snapshot', 'patch', 'patch', 'patch']);
    expect(model.getData()).toEqual(server.data());
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: { code: 'ERR_ABNORMAL_CLOSE' }, lastRejected: null });
    t.connection.stop();
  });

  it('keeps a position per connection when one protocol object serves two', () => {
    const server = createSyncServer();
    const protocol = createSyncProtocol();
    const first = createTestConnection({ protocol });
    link(first.socket, server);
    server.change({ set: { a: 1 } });
    server.change({ set: { b: 2 } });
    const second = createTestConnection({ protocol, model: plainModel().model });
    link(second.socket, server);
    // the second connection has applied nothing yet: it asks for a snapshot, not a resume from the first one's seq
    expect(hellosOf(second.socket)).toEqual([{ type: 'hello', v: 1 }]);
    first.socket.drop();
    first.connection.retry();
    link(first.socket, server);
    expect(hellosOf(first.socket)).toEqual([{ type: 'hello', v: 1, epoch: server.epoch, since: 2 }]);
    expect(second.connection.model.getData()).toEqual({ a: 1, b: 2 });
    first.connection.stop();
    second.connection.stop();
  });

  it('does not move the position past a message the Model refused', () => {
    const { model } = plainModel((m) => m.set?.bad !== undefined);
    const t = createTestConnection({ protocol: createSyncProtocol(), model });
    t.open();
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 1, data: { a: 1 } });
    t.socket.receive({ type: 'patch', epoch: 'e', seq: 2, set: { bad: true } });
    expect(t.connection.getStatus().lastRejected).toEqual({ code: 'ERR_MODEL_REJECTED', message: 'this model refuses it' });
    t.socket.drop();
    t.connection.retry();
    t.open();
    expect(hellosOf(t.socket)).toEqual([{ type: 'hello', v: 1, epoch: 'e', since: 1 }]);
    t.connection.stop();
  });

  it('asks for a snapshot after a gap, whatever the Model', () => {
    const { model } = plainModel();
    const t = createTestConnection({ protocol: createSyncProtocol(), model });
    t.open();
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 1, data: { a: 1 } });
    t.socket.receive({ type: 'patch', epoch: 'e', seq: 3, set: { a: 3 } });
    expect(hellosOf(t.socket)).toEqual([{ type: 'hello', v: 1 }, { type: 'hello', v: 1 }]);
    expect(model.getData()).toEqual({ a: 1 });
    t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 3, data: { a: 3 } });
    expect(model.getData()).toEqual({ a: 3 });
    t.connection.stop();
  });

  it('refuses a protocol whose forConnection() does not return a protocol', () => {
    const broken = { name: 'broken', decode: () => [], encode: () => ({ frame: '' }), forConnection: () => ({}) as never };
    expect(() => createTestConnection({ protocol: broken })).toThrow(/forConnection\(\) must return a protocol with decode\(\) and encode\(\)/);
  });
});

describe('sync server', () => {
  it('answers bad frames with an error frame and counts them', () => {
    const server = createSyncServer();
    const frames: string[] = [];
    const session = server.connect({ send: (f) => frames.push(f), close: () => {}, bufferedAmount: 0 });
    session.receive('{nope');
    session.receive('{"type":"op","id":"a"}');
    session.receive('{"type":"launch"}');
    expect(frames.map((f) => JSON.parse(f).code)).toEqual(['ERR_MALFORMED_FRAME', 'ERR_HELLO_REQUIRED', 'ERR_INVALID_FRAME']);
    expect(server.counters.rejectedFrames).toBe(3);
    expect(server.seq).toBe(0);
  });

  it('closes a slow consumer with 1013', () => {
    const server = createSyncServer({ maxBufferedBytes: 10 });
    const closes: number[] = [];
    const peer = { send: () => {}, close: (code: number) => closes.push(code), bufferedAmount: 100 };
    server.connect(peer).receive('{"type":"hello","v":1}');
    expect(closes).toEqual([1013]);
    expect(server.counters.slowConsumers).toBe(1);
  });

  it('bounds the dedup record', () => {
    const server = createSyncServer({ dedupSize: 2, dedupRetentionMs: 0 });
    const session = server.connect({ send: () => {}, close: () => {}, bufferedAmount: 0 });
    session.receive('{"type":"hello","v":1}');
    for (const id of ['a', 'b', 'c', 'a']) session.receive(JSON.stringify({ type: 'op', id, set: { [id]: 1 } }));
    expect(server.persisted().appliedOpIds).toEqual(['c', 'a']);
    expect(server.counters.opsApplied).toBe(4);
  });
});
