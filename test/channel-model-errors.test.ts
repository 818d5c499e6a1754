/**
 * A channel whose Model or View throws (docs/channels.md, "Refusals and limits"): a real
 * connection (chart, subscription actors, socket actor, protocol version 2) on a TestClock, the
 * server's frames scripted through the fake socket. The channel says it is stale and why, asks
 * for a fresh snapshot after a wait that grows while the Model keeps throwing, and never
 * disturbs the connection or another channel.
 */
import { describe, expect, it } from 'vitest';
import { MODEL_RETRY, resnapshotDelayMs } from '../machines/subscription.js';
import type { ChannelStatus } from '../src/channel.js';
import { createChannelProtocol } from '../src/sync/client-protocol-v2.js';
import { createStore, type StoreData } from '../src/store.js';
import { createTestConnection, type FakeWebSocket } from '../src/testing/index.js';
import type { StandardSchemaV1 } from '../src/standard-schema.js';
import type { Model } from '../src/types.js';

/** A Model that throws on the frames `refuses` picks, and applies the others to a store. */
function pickyModel(refuses: (frame: { type: string; seq: number }) => boolean): Model<StoreData> & { thrown: Error[] } {
  const store = createStore();
  const thrown: Error[] = [];
  return {
    thrown,
    update(message) {
      const frame = message as { type: string; seq: number };
      if (refuses(frame)) {
        const error = new TypeError(`cannot take ${frame.type} ${frame.seq}`);
        thrown.push(error);
        throw error;
      }
      store.update(message);
    },
    getData: () => store.getData(),
  };
}

function setup(model: Model<StoreData>, random = () => 0) {
  const t = createTestConnection({ protocol: createChannelProtocol({ defaultChannel: false }), random });
  const renders: ChannelStatus[] = [];
  const heard: ChannelStatus[] = [];
  const notes = t.connection.channel('notes', { model, view: { render: (_data, status) => renders.push(status) } });
  notes.subscribe((status) => heard.push(status));
  const prices = t.connection.channel('prices');
  const socket = t.open();
  socket.receive({ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time: 1_000 });
  return { t, notes, prices, socket, renders, heard };
}

/** What the client wrote since `from` (JSON frames parsed). */
const written = (socket: FakeWebSocket, from = 0) => socket.sentMessages().slice(from) as Array<Record<string, unknown>>;
const subscribes = (socket: FakeWebSocket, from = 0) => written(socket, from).filter((frame) => frame.type === 'subscribe');

const snapshot = (channel: string, seq: number, data: StoreData = {}, epoch = 'E') => ({ type: 'snapshot', channel, epoch, seq, data });
const synced = (channel: string, seq: number, epoch = 'E') => ({ type: 'synced', channel, epoch, seq });
const patch = (channel: string, seq: number, set: StoreData, epoch = 'E') => ({ type: 'patch', channel, epoch, seq, set });

describe('a Model that throws on its snapshot', () => {
  it('leaves the channel stale with ERR_MODEL_REJECTED and its cause, tells its listeners and view, and disturbs nobody else', () => {
    const model = pickyModel((frame) => frame.type === 'snapshot');
    const { t, notes, prices, socket, renders, heard } = setup(model);
    // the snapshot and its synced in one read: the synced was read before the Model threw
    socket.receive(snapshot('notes', 4, { a: 1 }), synced('notes', 4), snapshot('prices', 7, { p: 1 }), synced('prices', 7));
    t.advance(50);

    expect(notes.getStatus()).toMatchObject({
      state: 'rejected',
      live: false,
      lastError: { code: 'ERR_MODEL_REJECTED', message: 'model.update threw on snapshot E:4 of notes: cannot take snapshot 4', cause: model.thrown[0] },
      retryDelayMs: resnapshotDelayMs(1, 0),
    });
    expect(heard.at(-1)).toBe(notes.getStatus());
    expect(renders.at(-1)).toBe(notes.getStatus());
    // the other channel and the connection go on; the connection counted the message as rejected, as it always did
    expect(prices.getStatus()).toMatchObject({ state: 'subscribed', live: true, lastError: null });
    expect(prices.model.getData()).toEqual({ p: 1 });
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: null, lastRejected: { code: 'ERR_MODEL_REJECTED' }, counters: { rejected: 1 } });
    t.connection.stop();
  });

  it('drops the patches that follow and asks for a fresh snapshot only after the wait, however the server answers meanwhile', () => {
    const model = pickyModel((frame) => frame.type === 'snapshot');
    const { t, notes, prices, socket } = setup(model);
    socket.receive(snapshot('notes', 4), snapshot('prices', 7, { p: 1 }), synced('prices', 7));
    const from = socket.sentMessages().length;
    // in later reads: its synced (out of step with the position the Model never took) and patches
    socket.receive(synced('notes', 4));
    socket.receive(patch('notes', 5, { b: 1 }), patch('notes', 7, { c: 1 }), patch('prices', 8, { p: 2 }));
    expect(subscribes(socket, from)).toEqual([]);
    expect(notes.getStatus().state).toBe('rejected');
    expect(notes.model.getData()).toEqual({});
    expect(prices.model.getData()).toEqual({ p: 2 });

    t.advance(resnapshotDelayMs(1, 0) - 1);
    expect(subscribes(socket, from)).toEqual([]);
    t.advance(1);
    // no position: the server answers with a snapshot
    expect(subscribes(socket, from)).toEqual([{ type: 'subscribe', channel: 'notes' }]);
    expect(notes.getStatus()).toMatchObject({ state: 'subscribing', live: false, resubscribes: 1, lastError: { code: 'ERR_MODEL_REJECTED' } });
    t.connection.stop();
  });

  it('waits longer after each rejection in a row, up to a bound, so a Model that always throws never loops hot', () => {
    const model = pickyModel(() => true);
    const { t, notes, socket } = setup(model);
    const waits: number[] = [];
    for (let round = 0; round < 9; round++) {
      socket.receive(snapshot('notes', round), synced('notes', round));
      expect(notes.getStatus().state).toBe('rejected');
      const wait = notes.getStatus().retryDelayMs ?? 0;
      waits.push(wait);
      const before = subscribes(socket).length;
      t.advance(wait - 1);
      expect(subscribes(socket).length).toBe(before);
      t.advance(1);
      expect(subscribes(socket).length).toBe(before + 1);
    }
    // random 0: half of min(60 s, 1 s × 2^(n − 1))
    expect(waits).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect(notes.getStatus().resubscribes).toBe(9);
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', counters: { rejected: 9 } });
    t.connection.stop();
  });

  it('takes the wait between half and all of its bound from the connection\'s random source', () => {
    expect([0, 0.5, 0.999_999].map((r) => resnapshotDelayMs(1, r))).toEqual([500, 750, 1_000]);
    expect(resnapshotDelayMs(20, 0.999_999)).toBe(MODEL_RETRY.maxDelayMs);
    // a random source outside [0, 1) cannot stretch or shorten it past its bounds
    expect([Number.NaN, -1, 7].map((r) => resnapshotDelayMs(2, r))).toEqual([1_000, 1_000, 2_000]);
    const model = pickyModel((frame) => frame.type === 'snapshot');
    const { t, notes, socket } = setup(model, () => 0.5);
    socket.receive(snapshot('notes', 1));
    expect(notes.getStatus().retryDelayMs).toBe(750);
    t.connection.stop();
  });
});

describe('recovering', () => {
  it('goes live again with the fresh snapshot the Model takes, the error cleared', () => {
    let refuse = true;
    const model = pickyModel(() => refuse);
    const { t, notes, socket, heard } = setup(model);
    socket.receive(snapshot('notes', 4, { a: 1 }), synced('notes', 4));
    refuse = false;
    t.advance(notes.getStatus().retryDelayMs ?? 0);
    socket.receive(snapshot('notes', 6, { a: 2 }), synced('notes', 6));
    expect(notes.getStatus()).toMatchObject({ state: 'subscribed', live: true, lastError: null, retryDelayMs: null });
    expect(notes.model.getData()).toEqual({ a: 2 });
    expect(heard.map((status) => status.state)).toEqual(['subscribing', 'rejected', 'subscribing', 'subscribed']);
    // patches apply again from the snapshot's position
    socket.receive(patch('notes', 7, { b: 1 }));
    expect(notes.model.getData()).toEqual({ a: 2, b: 1 });
    t.connection.stop();
  });

  it('forgets the streak once the channel stays live for a minute, not before', () => {
    let refuse = true;
    const model = pickyModel((frame) => refuse || frame.seq === 10 || frame.seq === 20);
    const { t, notes, socket } = setup(model);
    socket.receive(snapshot('notes', 1), synced('notes', 1));
    refuse = false;
    t.advance(notes.getStatus().retryDelayMs ?? 0);
    socket.receive(snapshot('notes', 2), synced('notes', 2));
    expect(notes.getStatus().live).toBe(true);
    // a patch it throws on soon after: the second rejection in a row waits longer
    t.advance(MODEL_RETRY.stableAfterMs - 1);
    socket.receive(...Array.from({ length: 8 }, (_, i) => patch('notes', 3 + i, { n: i })));
    expect(notes.getStatus()).toMatchObject({ state: 'rejected', retryDelayMs: resnapshotDelayMs(2, 0) });
    t.advance(notes.getStatus().retryDelayMs ?? 0);
    socket.receive(snapshot('notes', 10 + 1), synced('notes', 11));
    // live a minute: the next rejection starts over
    t.advance(MODEL_RETRY.stableAfterMs);
    socket.receive(...Array.from({ length: 9 }, (_, i) => patch('notes', 12 + i, { n: i })));
    expect(notes.getStatus()).toMatchObject({ state: 'rejected', retryDelayMs: resnapshotDelayMs(1, 0) });
    expect(notes.model.getData()).toMatchObject({ n: 7 });
    t.connection.stop();
  });

  it('subscribes at once, without a position, on the next connection when the socket drops during the wait', () => {
    const model = pickyModel((frame) => frame.type === 'snapshot' && frame.seq === 4);
    const { t, notes, socket } = setup(model);
    socket.receive(snapshot('notes', 4), synced('notes', 4));
    socket.drop();
    expect(notes.getStatus()).toMatchObject({ state: 'unsubscribed', live: false, lastError: { code: 'ERR_MODEL_REJECTED' } });
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    const next = t.open();
    expect(subscribes(next)).toEqual([{ type: 'subscribe', channel: 'notes' }, { type: 'subscribe', channel: 'prices' }]);
    next.receive(snapshot('notes', 5, { ok: 1 }), synced('notes', 5));
    expect(notes.getStatus()).toMatchObject({ state: 'subscribed', live: true, lastError: null });
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('sends ops while it waits (the server still holds the channel), and unsubscribes cleanly', async () => {
    const model = pickyModel((frame) => frame.type === 'snapshot');
    const { t, notes, socket } = setup(model);
    socket.receive(snapshot('notes', 1));
    const answer = notes.send({ set: { x: 1 } });
    expect(written(socket).at(-1)).toEqual({ type: 'op', channel: 'notes', n: 1, set: { x: 1 } });
    socket.receive({ type: 'ack', channel: 'notes', n: 1 });
    await expect(answer).resolves.toBeUndefined();
    notes.unsubscribe();
    expect(written(socket).at(-1)).toEqual({ type: 'unsubscribe', channel: 'notes' });
    socket.receive({ type: 'unsubscribed', channel: 'notes' });
    expect(notes.getStatus().state).toBe('ended');
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
  });
});

describe('a Model that throws on a patch', () => {
  it('keeps the position before the patch, drops the later ones, and replaces the data with a fresh snapshot', () => {
    const model = pickyModel((frame) => frame.type === 'patch' && frame.seq === 5);
    const { t, notes, socket } = setup(model);
    socket.receive(snapshot('notes', 3, { a: 1 }), synced('notes', 3), patch('notes', 4, { b: 1 }));
    expect(notes.getStatus().live).toBe(true);
    const from = socket.sentMessages().length;
    // the patch it throws on, then one that would apply, in the same read; then more in the next
    socket.receive(patch('notes', 5, { c: 1 }), patch('notes', 6, { d: 1 }));
    socket.receive(patch('notes', 7, { e: 1 }));
    expect(notes.getStatus()).toMatchObject({ state: 'rejected', live: false, lastError: { code: 'ERR_MODEL_REJECTED', message: expect.stringContaining('patch E:5') } });
    expect(notes.model.getData()).toEqual({ a: 1, b: 1 });
    // no gap was taken for a reason to subscribe at once
    expect(subscribes(socket, from)).toEqual([]);
    t.advance(notes.getStatus().retryDelayMs ?? 0);
    expect(subscribes(socket, from)).toEqual([{ type: 'subscribe', channel: 'notes' }]);
    socket.receive(snapshot('notes', 7, { a: 1, b: 1, c: 1, d: 1, e: 1 }), synced('notes', 7), patch('notes', 8, { f: 1 }));
    expect(notes.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    expect(notes.model.getData()).toEqual({ a: 1, b: 1, c: 1, d: 1, e: 1, f: 1 });
    t.connection.stop();
  });

  it('rejects the connection\'s own Model as the default channel the same way, the connection staying open', () => {
    const model = pickyModel((frame) => frame.type === 'patch');
    const t = createTestConnection({ protocol: createChannelProtocol({ clientId: 'c1' }), model, random: () => 0 });
    const socket = t.open();
    socket.receive(snapshot('default', 1, { a: 1 }), synced('default', 1), patch('default', 2, { b: 1 }));
    expect(t.connection.channel('default').getStatus()).toMatchObject({ state: 'rejected', live: false, lastError: { code: 'ERR_MODEL_REJECTED' } });
    // the connection's status shows it as a rejected message (not a failure: the channel recovers by itself)
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: null, lastRejected: { code: 'ERR_MODEL_REJECTED' } });
    t.advance(resnapshotDelayMs(1, 0));
    expect(subscribes(socket).at(-1)).toEqual({ type: 'subscribe', channel: 'default' });
    t.connection.stop();
  });
});

describe('a View that throws', () => {
  it('is reported and skipped: the channel stays live, its data applied, other views render, later renders are tried again', () => {
    const t = createTestConnection({ protocol: createChannelProtocol({ clientId: 'c1', defaultChannel: false }) });
    let calls = 0;
    const notes = t.connection.channel('notes', {
      view: {
        render: () => {
          calls++;
          throw new Error('view bug');
        },
      },
    });
    const seen: StoreData[] = [];
    const prices = t.connection.channel('prices', { view: { render: (data) => seen.push(data) } });
    const socket = t.open();
    socket.receive(snapshot('notes', 1, { a: 1 }), synced('notes', 1), snapshot('prices', 1, { p: 1 }), synced('prices', 1));
    t.advance(50);
    socket.receive(patch('notes', 2, { b: 1 }), patch('prices', 2, { p: 2 }));
    t.advance(50);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(notes.getStatus()).toMatchObject({ state: 'subscribed', live: true, lastError: null });
    expect(notes.model.getData()).toEqual({ a: 1, b: 1 });
    expect(prices.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    expect(seen.at(-1)).toEqual({ p: 2 });
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: null, lastCallbackError: { code: 'ERR_RENDER_FAILED' } });
    // the position moved with the data: a reconnect resumes after seq 2
    socket.drop();
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    expect(subscribes(t.open())[0]).toEqual({ type: 'subscribe', channel: 'notes', epoch: 'E', since: 2 });
    t.connection.stop();
  });
});

describe('an inbound schema that refuses a channel\'s data', () => {
  /** Refuses a snapshot or patch that carries the key `bad`; everything else passes as it is. */
  const noBadKeys: StandardSchemaV1 = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate(value) {
        const { data, set } = value as { data?: StoreData; set?: StoreData };
        if ((data ?? set ?? {}).bad !== undefined) return { issues: [{ message: 'no bad keys', path: [data === undefined ? 'set' : 'data', 'bad'] }] };
        return { value };
      },
    },
  };

  function refusing(options: { defaultChannel?: boolean } = {}) {
    const t = createTestConnection({
      protocol: createChannelProtocol({ clientId: 'c1', defaultChannel: options.defaultChannel ?? false }),
      inbound: noBadKeys,
      random: () => 0,
    });
    const heard: ChannelStatus[] = [];
    const notes = t.connection.channel('notes');
    notes.subscribe((status) => heard.push(status));
    const prices = t.connection.channel('prices');
    const socket = t.open();
    socket.receive({ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time: 1_000 });
    return { t, notes, prices, socket, heard };
  }

  it('leaves the channel stale with ERR_INVALID_MESSAGE, as a Model that throws does, and disturbs nobody else', () => {
    const { t, notes, prices, socket, heard } = refusing();
    const from = socket.sentMessages().length;
    socket.receive(snapshot('notes', 4, { bad: 1 }), synced('notes', 4), snapshot('prices', 7, { p: 1 }), synced('prices', 7));
    expect(notes.getStatus()).toMatchObject({
      state: 'rejected',
      live: false,
      lastError: { code: 'ERR_INVALID_MESSAGE', message: 'the inbound schema refused snapshot E:4 of notes: the inbound schema refused the message: data.bad: no bad keys' },
      retryDelayMs: resnapshotDelayMs(1, 0),
    });
    expect(heard.at(-1)).toBe(notes.getStatus());
    expect(notes.model.getData()).toEqual({});
    expect(prices.getStatus()).toMatchObject({ state: 'subscribed', live: true, lastError: null });
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: null, lastRejected: { code: 'ERR_INVALID_MESSAGE' }, counters: { rejected: 1 } });
    // its synced, out of step with the snapshot never applied, is not a reason to subscribe at once
    expect(subscribes(socket, from)).toEqual([]);
    t.connection.stop();
  });

  it('asks for a fresh snapshot after the wait, waits longer while refused, and goes live once one passes', () => {
    const { t, notes, socket } = refusing();
    socket.receive(snapshot('notes', 4, { bad: 1 }), synced('notes', 4));
    const from = socket.sentMessages().length;
    t.advance(resnapshotDelayMs(1, 0) - 1);
    expect(subscribes(socket, from)).toEqual([]);
    t.advance(1);
    expect(subscribes(socket, from)).toEqual([{ type: 'subscribe', channel: 'notes' }]);
    socket.receive(snapshot('notes', 5, { bad: 2 }), synced('notes', 5));
    expect(notes.getStatus()).toMatchObject({ state: 'rejected', retryDelayMs: resnapshotDelayMs(2, 0), resubscribes: 1 });
    t.advance(resnapshotDelayMs(2, 0));
    socket.receive(snapshot('notes', 6, { ok: 1 }), synced('notes', 6), patch('notes', 7, { more: 1 }));
    expect(notes.getStatus()).toMatchObject({ state: 'subscribed', live: true, lastError: null });
    expect(notes.model.getData()).toEqual({ ok: 1, more: 1 });
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('keeps the position before a refused patch, drops the later ones, and resubscribes without a position', () => {
    const { t, notes, socket } = refusing();
    // the patch refused in the same read as the snapshot before it: that snapshot still applies, the wait goes on
    socket.receive(snapshot('notes', 3, { a: 1 }), synced('notes', 3), patch('notes', 4, { bad: 1 }), patch('notes', 5, { c: 1 }));
    socket.receive(patch('notes', 6, { d: 1 }));
    expect(notes.getStatus()).toMatchObject({ state: 'rejected', lastError: { code: 'ERR_INVALID_MESSAGE', message: expect.stringContaining('patch E:4 of notes') } });
    expect(notes.model.getData()).toEqual({ a: 1 });
    const from = socket.sentMessages().length;
    t.advance(notes.getStatus().retryDelayMs ?? 0);
    expect(subscribes(socket, from)).toEqual([{ type: 'subscribe', channel: 'notes' }]);
    t.connection.stop();
  });

  it('shows on the connection\'s status for the default channel, the connection staying open', () => {
    const { t, socket } = refusing({ defaultChannel: true });
    socket.receive(snapshot('default', 1, { bad: 1 }), synced('default', 1));
    expect(t.connection.channel('default').getStatus()).toMatchObject({ state: 'rejected', lastError: { code: 'ERR_INVALID_MESSAGE' } });
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: null, lastRejected: { code: 'ERR_INVALID_MESSAGE' } });
    t.connection.stop();
  });
});
