/**
 * Channels on the client (the sync protocol, version 2: docs/protocol.md, docs/channels.md):
 * a real connection (chart, subscription actors, socket actor, protocol, stores) on a TestClock,
 * with the server's frames scripted through the fake socket as the conformance fixtures
 * (docs/protocol-fixtures/) describe them.
 */
import { describe, expect, it } from 'vitest';
import { getShortestPaths } from 'xstate/graph';
import type { AnyActor, EventFromLogic, SnapshotFrom } from 'xstate';
import { MODEL_RETRY, subscriptionMachine } from '../machines/subscription.js';
import { isStatesocketError } from '../src/errors.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { createChannelProtocol, type ChannelProtocolOptions } from '../src/sync/client-protocol-v2.js';
import { rawProtocol } from '../src/protocol.js';
import { createStore, type StoreData } from '../src/store.js';
import type { ConnectionStatus, Model } from '../src/types.js';
import { createTestConnection, type FakeWebSocket } from '../src/testing/index.js';
import type { ChannelStatus } from '../src/channel.js';
import type { PresenceData } from '../src/presence.js';

type V2Options = ChannelProtocolOptions;

/**
 * A connection whose client id is the stored 'c1' (its ops wait for their channel's first `synced`,
 * which tells the server's mark), or with `stored` false a new id of its own (ops go at once).
 */
function setup(options: V2Options = {}, connection: Parameters<typeof createTestConnection>[0] = {}, stored = true) {
  const t = createTestConnection({ protocol: createChannelProtocol(stored ? { clientId: 'c1', ...options } : options), ...connection });
  const welcome = (socket: FakeWebSocket, time = 1_000, extra: Record<string, unknown> = {}) =>
    socket.receive({ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time, ...extra });
  return { t, welcome };
}

/** What the client wrote since `from` (JSON frames parsed). */
const written = (socket: FakeWebSocket, from = 0) => socket.sentMessages().slice(from) as Array<Record<string, unknown>>;
const types = (frames: Array<Record<string, unknown>>) => frames.map((frame) => `${String(frame.type)}${frame.channel ? ` ${String(frame.channel)}` : ''}`);
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('greeting and subscribing', () => {
  it('says hello with its own client id, then subscribes every channel, then sends the outbox', () => {
    const t = createTestConnection({ protocol: createChannelProtocol() });
    const a = t.connection.channel('a');
    const b = t.connection.channel('b');
    void a.send({ set: { x: 1 } });
    void b.send({ set: { y: 1 } });
    void a.send({ set: { x: 2 } });
    const socket = t.open();
    expect(types(written(socket))).toEqual(['hello', 'subscribe default', 'subscribe a', 'subscribe b', 'op a', 'op b', 'op a']);
    expect(written(socket)[0]).toEqual({ type: 'hello', v: 2, client: expect.any(String), maxMessageBytes: 1_048_576 });
    expect(written(socket).slice(4).map((frame) => frame.n)).toEqual([1, 1, 2]);
    t.connection.stop();
  });

  it('with a stored client id, numbers and writes the ops of a channel once its synced told the mark; other channels go on', () => {
    const { t, welcome } = setup();
    const a = t.connection.channel('a');
    const b = t.connection.channel('b');
    const answers = [a.send({ set: { x: 1 } }), b.send({ set: { y: 1 } }), a.send({ set: { x: 2 } })];
    const socket = t.open();
    welcome(socket);
    expect(types(written(socket))).toEqual(['hello', 'subscribe default', 'subscribe a', 'subscribe b']);
    expect(written(socket)[0]).toEqual({ type: 'hello', v: 2, client: 'c1', maxMessageBytes: 1_048_576 });
    socket.receive({ type: 'snapshot', channel: 'b', epoch: 'B', seq: 0, data: {} }, { type: 'synced', channel: 'b', epoch: 'B', seq: 0 });
    expect(written(socket, 4)).toEqual([{ type: 'op', channel: 'b', n: 1, set: { y: 1 } }]);
    // an op sent now waits behind the channel's earlier ones
    answers.push(a.send({ set: { x: 3 } }));
    expect(written(socket, 5)).toEqual([]);
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'A', seq: 3, data: {} }, { type: 'synced', channel: 'a', epoch: 'A', seq: 3, mark: 5 });
    expect(written(socket, 5).map((frame) => [frame.channel, frame.n, frame.set])).toEqual([
      ['a', 6, { x: 1 }],
      ['a', 7, { x: 2 }],
      ['a', 8, { x: 3 }],
    ]);
    expect(t.connection.getOutbox().map((entry) => entry.ackId)).toEqual(['a 6', 'b 1', 'a 7', 'a 8']);
    // numbered from now on at send(): the mark stays known, across reconnects too
    void a.send({ set: { x: 4 } });
    expect(written(socket).at(-1)).toMatchObject({ channel: 'a', n: 9 });
    t.connection.stop();
  });

  it('subscribes a channel opened while open at once, behind which its ops go', () => {
    const { t, welcome } = setup({ defaultChannel: false }, {}, false);
    const socket = t.open();
    welcome(socket);
    const notes = t.connection.channel('notes', { presence: true });
    void notes.send({ set: { title: 'x' } });
    expect(written(socket)).toEqual([
      { type: 'hello', v: 2, client: expect.any(String), maxMessageBytes: 1_048_576 },
      { type: 'subscribe', channel: 'notes', presence: true },
      { type: 'op', channel: 'notes', n: 1, set: { title: 'x' } },
    ]);
    t.connection.stop();
  });

  it('resumes every channel with its own position and acked after a reconnect, keeping the client id', () => {
    const { t, welcome } = setup();
    const notes = t.connection.channel('notes');
    let socket = t.open();
    welcome(socket);
    socket.receive(
      { type: 'snapshot', channel: 'default', epoch: 'D', seq: 4, data: { a: 1 } },
      { type: 'synced', channel: 'default', epoch: 'D', seq: 4 },
      { type: 'snapshot', channel: 'notes', epoch: 'N', seq: 7, data: { t: 'x' } },
      { type: 'synced', channel: 'notes', epoch: 'N', seq: 7, mark: 2 },
    );
    expect(notes.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    void notes.send({ set: { t: 'y' } }); // n 3: above the server's mark
    socket.drop();
    expect(notes.getStatus()).toMatchObject({ state: 'unsubscribed', live: false });
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    socket = t.open();
    expect(written(socket)).toEqual([
      { type: 'hello', v: 2, client: 'c1', maxMessageBytes: 1_048_576 },
      { type: 'subscribe', channel: 'default', epoch: 'D', since: 4 },
      { type: 'subscribe', channel: 'notes', epoch: 'N', since: 7, acked: 2 },
      { re: 1_000, type: 'op', channel: 'notes', n: 3, set: { t: 'y' } },
    ]);
    expect(notes.getStatus().resubscribes).toBe(1);
    t.connection.stop();
  });

  it('keeps the connection\'s own Model as the default channel, so connection.send() works as before', () => {
    const { t, welcome } = setup();
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'default', epoch: 'D', seq: 0, data: {} }, { type: 'synced', channel: 'default', epoch: 'D', seq: 0 });
    t.connection.send({ type: 'op', set: { k: 1 } });
    expect(written(socket).at(-1)).toEqual({ type: 'op', channel: 'default', n: 1, set: { k: 1 } });
    socket.receive({ type: 'patch', channel: 'default', epoch: 'D', seq: 1, set: { k: 1 } }, { type: 'ack', channel: 'default', n: 1 });
    expect(t.connection.model.getData()).toEqual({ k: 1 });
    expect(t.connection.getOutbox()).toEqual([]);
    expect(t.connection.channel('default').model).toBe(t.connection.model);
    t.connection.stop();
  });
});

describe('ops', () => {
  it('settles send() with the ack, and with the refusal\'s code', async () => {
    const { t, welcome } = setup({ defaultChannel: false }, {}, false);
    const notes = t.connection.channel('notes');
    const socket = t.open();
    welcome(socket);
    const applied = notes.send({ set: { a: 1 } });
    const refused = notes.send({ set: { b: 1 } });
    socket.receive({ type: 'ack', channel: 'notes', n: 1 }, { type: 'error', channel: 'notes', n: 2, code: 'ERR_DATA_LIMIT', message: 'too big' });
    await expect(applied).resolves.toBeUndefined();
    await expect(refused).rejects.toMatchObject({ code: 'ERR_DATA_LIMIT' });
    expect(t.connection.getOutbox()).toEqual([]);
    expect(t.connection.getStatus().lastRejected?.code).toBe('ERR_SERVER_REJECTED');
    t.connection.stop();
  });

  it('leaves ops in the order they were sent, across channels, and counts them all in one outbox', () => {
    const { t } = setup({ defaultChannel: false }, { outbox: { limit: 3 } }, false);
    const a = t.connection.channel('a');
    const b = t.connection.channel('b');
    void a.send({ set: { n: 1 } });
    void b.send({ set: { n: 2 } });
    void a.send({ set: { n: 3 } });
    expect(() => b.send({ set: { n: 4 } })).toThrow(expect.objectContaining({ code: 'ERR_OUTBOX_FULL' }));
    const socket = t.open();
    expect(written(socket).filter((frame) => frame.type === 'op').map((frame) => [frame.channel, (frame.set as { n: number }).n])).toEqual([
      ['a', 1],
      ['b', 2],
      ['a', 3],
    ]);
    t.connection.stop();
  });

  it('rejects an op the outbox overflow policy drops (ERR_OUTBOX_FULL)', async () => {
    for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
      const { t } = setup({ defaultChannel: false }, { outbox: { limit: 1, overflow } });
      const a = t.connection.channel('a');
      const first = a.send({ set: { n: 1 } });
      const second = a.send({ set: { n: 2 } });
      await expect(overflow === 'drop-oldest' ? first : second).rejects.toMatchObject({ code: 'ERR_OUTBOX_FULL' });
      expect(t.connection.getOutbox()).toHaveLength(1);
      t.connection.stop();
    }
  });

  it('ignores ERR_NOT_SUBSCRIBED for an op that raced with a refused subscribe', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const a = t.connection.channel('a');
    const socket = t.open();
    welcome(socket);
    void a.send({ set: { n: 1 } });
    socket.receive({ type: 'error', channel: 'a', code: 'ERR_NOT_SUBSCRIBED', message: 'not held' });
    expect(t.connection.getOutbox()).toHaveLength(1);
    expect(t.connection.getStatus().lastRejected).toBeNull();
    t.connection.stop();
  });

  it('refuses an op over the server\'s frame limit (welcome.maxMessageBytes) before anything is queued', () => {
    const { t, welcome } = setup();
    const a = t.connection.channel('a');
    const socket = t.open();
    welcome(socket, 1_000, { maxMessageBytes: 100 });
    expect(() => a.send({ set: { big: 'x'.repeat(200) } })).toThrow(expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE' }));
    expect(() => t.connection.send({ type: 'op', set: { big: 'x'.repeat(200) } })).toThrow(expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE' }));
    expect(t.connection.getOutbox()).toEqual([]);
    t.connection.stop();
  });

  it('refuses an op that is not one before anything is queued', () => {
    const { t } = setup({ defaultChannel: false });
    const a = t.connection.channel('a');
    expect(() => a.send({})).toThrow(TypeError);
    expect(() => a.send({ set: 5 } as never)).toThrow(TypeError);
    expect(() => a.send(null as never)).toThrow(TypeError);
    // the server's value rule, checked before the op is queued (JSON.stringify would change these without a word)
    expect(() => a.send({ set: { x: Number.NaN } })).toThrow(/invalid op on "a"/);
    expect(() => a.send({ set: { x: new Date(0) } as never })).toThrow(TypeError);
    expect(() => a.send({ set: JSON.parse('{"__proto__": 1}') })).toThrow(TypeError);
    expect(t.connection.getOutbox()).toEqual([]);
    t.connection.stop();
  });
});

describe('refusals', () => {
  it('fails a forbidden channel alone: its ops fail with the code, the other channel and the connection go on', async () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const secret = t.connection.channel('secret');
    const prices = t.connection.channel('prices');
    const pending = secret.send({ set: { a: 1 } });
    const socket = t.open();
    welcome(socket);
    socket.receive(
      { type: 'unsubscribed', channel: 'secret', code: 'ERR_CHANNEL_FORBIDDEN', message: 'not for you' },
      { type: 'error', channel: 'secret', code: 'ERR_NOT_SUBSCRIBED', message: 'not held' },
      { type: 'snapshot', channel: 'prices', epoch: 'P', seq: 1, data: { btc: 1 } },
      { type: 'synced', channel: 'prices', epoch: 'P', seq: 1 },
    );
    expect(secret.getStatus()).toMatchObject({ state: 'failed', live: false, lastError: { code: 'ERR_CHANNEL_FORBIDDEN', message: 'not for you' } });
    expect(prices.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    expect(prices.model.getData()).toEqual({ btc: 1 });
    expect(t.connection.getStatus().state).toBe('open');
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CHANNEL_FORBIDDEN' });
    expect(() => secret.send({ set: { a: 2 } })).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_FORBIDDEN' }));
    // the application may try again: a new subscription
    const again = t.connection.channel('secret');
    expect(again).not.toBe(secret);
    expect(again.getStatus().state).toBe('subscribing');
    t.connection.stop();
  });

  it('settles an op written behind a refused subscribe by the server\'s answer to it, in the channel\'s order', async () => {
    const { t, welcome } = setup({ defaultChannel: false }, {}, false);
    const secret = t.connection.channel('secret');
    const first = secret.send({ set: { a: 1 } });
    const second = secret.send({ set: { a: 2 } });
    const socket = t.open();
    welcome(socket);
    expect(types(written(socket))).toEqual(['hello', 'subscribe secret', 'op secret', 'op secret']);
    let settled = 0;
    for (const answer of [first, second]) answer.catch(() => settled++);
    socket.receive({ type: 'unsubscribed', channel: 'secret', code: 'ERR_CHANNEL_FORBIDDEN', message: 'not for you' });
    await flush();
    // written: each waits for its own answer (which could be an ack, had the channel been held)
    expect(settled).toBe(0);
    socket.receive({ type: 'error', channel: 'secret', code: 'ERR_NOT_SUBSCRIBED', message: 'op 1: not held' });
    await expect(first).rejects.toMatchObject({ code: 'ERR_CHANNEL_FORBIDDEN' });
    // the socket goes before the second one's answer: it may have applied
    socket.drop();
    await expect(second).rejects.toMatchObject({ code: 'ERR_OP_UNCONFIRMED' });
    t.connection.stop();
  });

  it('waits retryAfterMs × (1 + r) after a transient refusal, then subscribes again with the channel\'s ops behind it', () => {
    const { t, welcome } = setup({ defaultChannel: false }, { random: () => 0.5 }, false);
    const busy = t.connection.channel('busy');
    const socket = t.open();
    welcome(socket, 5_000);
    void busy.send({ set: { a: 1 } });
    socket.receive(
      { type: 'unsubscribed', channel: 'busy', code: 'ERR_CHANNEL_UNAVAILABLE', message: 'later', retryAfterMs: 1_000 },
      { type: 'error', channel: 'busy', code: 'ERR_NOT_SUBSCRIBED', message: 'not held' },
    );
    expect(busy.getStatus()).toMatchObject({ state: 'retrying', live: false, retryDelayMs: 1_500 });
    const before = socket.sent.length;
    t.advance(1_499);
    expect(socket.sent.length).toBe(before);
    t.advance(1);
    expect(written(socket, before)).toEqual([
      { type: 'subscribe', channel: 'busy' },
      { re: 5_000, type: 'op', channel: 'busy', n: 1, set: { a: 1 } },
    ]);
    expect(busy.getStatus().state).toBe('subscribing');
    t.connection.stop();
  });

  it('caps a server\'s retryAfterMs at the longest a timer can wait (no subscribe storm from a huge value)', () => {
    const { t, welcome } = setup({ defaultChannel: false }, { random: () => 0.5 }, false);
    const busy = t.connection.channel('busy');
    const socket = t.open();
    welcome(socket, 5_000);
    socket.receive({ type: 'unsubscribed', channel: 'busy', code: 'ERR_CHANNEL_UNAVAILABLE', message: 'later', retryAfterMs: 2 ** 40 });
    expect(busy.getStatus()).toMatchObject({ state: 'retrying', retryDelayMs: 2 ** 31 - 1 });
    const before = socket.sent.length;
    t.advance(60_000);
    expect(socket.sent.length).toBe(before);
    t.advance(2 ** 31 - 1 - 60_000);
    expect(written(socket, before)).toEqual([{ type: 'subscribe', channel: 'busy' }]);
    t.connection.stop();
  });

  it('holds an op sent while the channel waits to retry, and sends it right behind the next subscribe', () => {
    const { t, welcome } = setup({ defaultChannel: false }, { random: () => 0 }, false);
    const busy = t.connection.channel('busy');
    const socket = t.open();
    welcome(socket, 7_000);
    socket.receive({ type: 'unsubscribed', channel: 'busy', code: 'ERR_RATE_LIMITED', message: 'later', retryAfterMs: 500 });
    const before = socket.sent.length;
    void busy.send({ set: { waited: true } });
    expect(socket.sent.length).toBe(before);
    expect(t.connection.getOutbox()).toHaveLength(1);
    t.advance(500);
    expect(written(socket, before)).toEqual([
      { type: 'subscribe', channel: 'busy' },
      { type: 'op', channel: 'busy', n: 1, set: { waited: true } },
    ]);
    t.connection.stop();
  });

  it('fails with ERR_CHANNEL_REFUSED for a code it does not know', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const odd = t.connection.channel('odd');
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'unsubscribed', channel: 'odd', code: 'ERR_SOMETHING_NEW', message: 'new' });
    expect(odd.getStatus().lastError).toEqual({ code: 'ERR_CHANNEL_REFUSED', message: 'new' });
    t.connection.stop();
  });
});

describe('a refused default channel (the connection\'s own Model)', () => {
  /** A connection whose own Model is the default channel, with a view, and a channel it names. */
  function refusedDefault() {
    const renders: Array<{ data: StoreData; status: ConnectionStatus }> = [];
    const { t, welcome } = setup({ token: 't-ann' }, { view: { render: (data, status) => renders.push({ data: data as StoreData, status }) } });
    const own = t.connection.channel('default');
    const notes = t.connection.channel('notes');
    const socket = t.open();
    welcome(socket);
    socket.receive(
      { type: 'unsubscribed', channel: 'default', code: 'ERR_CHANNEL_FORBIDDEN', message: 'user "ann" may not subscribe to default' },
      { type: 'snapshot', channel: 'notes', epoch: 'N', seq: 1, data: { n: 1 } },
      { type: 'synced', channel: 'notes', epoch: 'N', seq: 1 },
    );
    t.advance(50);
    return { t, welcome, socket, own, notes, renders };
  }

  it('shows on the connection\'s status and view, the socket and the other channels going on', () => {
    const { t, socket, own, notes, renders } = refusedDefault();
    const failure = { code: 'ERR_CHANNEL_FORBIDDEN', message: 'channel default (the connection\'s own Model) failed: user "ann" may not subscribe to default' };
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: failure, lastRejected: null });
    expect(renders.at(-1)?.status.lastError).toEqual(failure);
    expect(own.getStatus()).toMatchObject({ state: 'failed', live: false, lastError: { code: 'ERR_CHANNEL_FORBIDDEN' } });
    expect(notes.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    expect(notes.model.getData()).toEqual({ n: 1 });
    expect(socket.readyState).toBe(1);
    t.connection.stop();
  });

  it('is the connection\'s own Model and view again when channel(\'default\') subscribes it anew after the failure', () => {
    const { t, socket, renders } = refusedDefault();
    const from = socket.sentMessages().length;
    const again = t.connection.channel('default');
    expect(written(socket, from)).toEqual([{ type: 'subscribe', channel: 'default' }]);
    expect(again.model).toBe(t.connection.model);
    expect(again.getStatus().state).toBe('subscribing');
    // the failure stays on the connection's status until another replaces it
    expect(t.connection.getStatus().lastError).toMatchObject({ code: 'ERR_CHANNEL_FORBIDDEN' });
    socket.receive({ type: 'snapshot', channel: 'default', epoch: 'D', seq: 3, data: { k: 1 } }, { type: 'synced', channel: 'default', epoch: 'D', seq: 3 });
    t.advance(50);
    expect(again.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    expect(t.connection.model.getData()).toEqual({ k: 1 });
    expect(renders.at(-1)?.data).toEqual({ k: 1 });
    // with another Model it is refused: the default channel is the connection's own
    socket.receive({ type: 'unsubscribed', channel: 'default', code: 'ERR_CHANNEL_FORBIDDEN', message: 'revoked' });
    expect(t.connection.getStatus().lastError).toMatchObject({ code: 'ERR_CHANNEL_FORBIDDEN', message: expect.stringContaining('revoked') });
    expect(() => t.connection.channel('default', { model: createStore() })).toThrow(TypeError);
    t.connection.stop();
  });

  it('leaves the connection\'s status alone when a channel it names fails', () => {
    const { t, welcome } = setup();
    const secret = t.connection.channel('secret');
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'unsubscribed', channel: 'secret', code: 'ERR_CHANNEL_FORBIDDEN', message: 'not for you' });
    expect(secret.getStatus().state).toBe('failed');
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastError: null });
    t.connection.stop();
  });
});

describe('positions', () => {
  /** Channels a (epoch A) and b (epoch B), both live at seq 1. */
  function liveChannels() {
    const { t, welcome } = setup({ defaultChannel: false });
    const a = t.connection.channel('a');
    const b = t.connection.channel('b');
    const socket = t.open();
    welcome(socket);
    socket.receive(
      { type: 'snapshot', channel: 'a', epoch: 'A', seq: 1, data: {} },
      { type: 'synced', channel: 'a', epoch: 'A', seq: 1 },
      { type: 'snapshot', channel: 'b', epoch: 'B', seq: 1, data: {} },
      { type: 'synced', channel: 'b', epoch: 'B', seq: 1 },
    );
    return { t, a, b, socket };
  }

  it('resubscribes one channel without a position after a gap, on the same connection; the others in the read still apply', () => {
    const { t, a, b, socket } = liveChannels();
    const before = socket.sent.length;
    socket.receive(
      { type: 'patch', channel: 'a', epoch: 'A', seq: 3, set: { lost: 1 } },
      { type: 'patch', channel: 'b', epoch: 'B', seq: 2, set: { kept: 1 } },
      { type: 'patch', channel: 'a', epoch: 'A', seq: 4, set: { dropped: 1 } },
    );
    expect(written(socket, before)).toEqual([{ type: 'subscribe', channel: 'a' }]);
    expect(a.model.getData()).toEqual({});
    expect(b.model.getData()).toEqual({ kept: 1 });
    expect(a.getStatus()).toMatchObject({ state: 'subscribing', live: false });
    expect(t.connection.getStatus().state).toBe('open');
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'A', seq: 4, data: { fresh: 1 } }, { type: 'synced', channel: 'a', epoch: 'A', seq: 4 });
    expect(a.model.getData()).toEqual({ fresh: 1 });
    expect(a.getStatus().live).toBe(true);
    t.connection.stop();
  });

  it('resubscribes when synced is not where the channel is, and adopts a new epoch\'s snapshot with seq 0', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const a = t.connection.channel('a');
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'E1', seq: 500, data: { old: 1 } }, { type: 'synced', channel: 'a', epoch: 'E1', seq: 501 });
    expect(written(socket).at(-1)).toEqual({ type: 'subscribe', channel: 'a' });
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'E2', seq: 0, data: { new: 1 } }, { type: 'synced', channel: 'a', epoch: 'E2', seq: 0 });
    expect(a.model.getData()).toEqual({ new: 1 });
    expect(a.getStatus().live).toBe(true);
    expect(a.model.position()).toEqual({ epoch: 'E2', seq: 0 });
    t.connection.stop();
  });

  it('applies a read whose frames alternate between channels each to its own channel, and forgets a channel let go', () => {
    const { t, a, b, socket } = liveChannels();
    const before = socket.sent.length;
    socket.receive(
      { type: 'patch', channel: 'a', epoch: 'A', seq: 2, set: { a2: 1 } },
      { type: 'patch', channel: 'a', epoch: 'A', seq: 3, set: { a3: 1 } },
      { type: 'patch', channel: 'b', epoch: 'B', seq: 2, set: { b2: 1 } },
      { type: 'patch', channel: 'a', epoch: 'A', seq: 4, set: { a4: 1 } },
      { type: 'patch', channel: 'b', epoch: 'B', seq: 3, set: { b3: 1 } },
    );
    expect(a.model.getData()).toEqual({ a2: 1, a3: 1, a4: 1 });
    expect(b.model.getData()).toEqual({ b2: 1, b3: 1 });
    expect(written(socket, before)).toEqual([]);
    // let go of b (its frames apply until the server's answer), then hold it again: frames of the
    // old subscription never reach the new Model
    b.unsubscribe();
    socket.receive({ type: 'patch', channel: 'b', epoch: 'B', seq: 4, set: { late: 1 } }, { type: 'unsubscribed', channel: 'b' });
    const again = t.connection.channel('b');
    socket.receive({ type: 'patch', channel: 'b', epoch: 'B', seq: 5, set: { stale: 1 } });
    expect(again.model.getData()).toEqual({});
    socket.receive({ type: 'snapshot', channel: 'b', epoch: 'B', seq: 5, data: { fresh: 1 } }, { type: 'synced', channel: 'b', epoch: 'B', seq: 5 });
    socket.receive({ type: 'patch', channel: 'a', epoch: 'A', seq: 5, set: { a5: 1 } }, { type: 'patch', channel: 'b', epoch: 'B', seq: 6, set: { b6: 1 } });
    expect(again.model.getData()).toEqual({ fresh: 1, b6: 1 });
    expect(b.model.getData()).toEqual({ b2: 1, b3: 1, late: 1 });
    expect(a.model.getData()).toEqual({ a2: 1, a3: 1, a4: 1, a5: 1 });
    t.connection.stop();
  });

  it('drops frames of channels it does not hold, and frames it does not know (counted)', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'ghost', epoch: 'G', seq: 1, data: { boo: 1 } }, { type: 'synced', channel: 'ghost', epoch: 'G', seq: 1 });
    socket.receive({ type: 'future', channel: 'a' });
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastRejected: { code: 'ERR_UNKNOWN_MESSAGE' } });
    t.connection.stop();
  });
});

describe('chunks', () => {
  const chunked = (id: number, channel: string, frame: object, size: number) => {
    const text = JSON.stringify(frame);
    const pieces: object[] = [];
    const count = Math.ceil(text.length / size);
    for (let i = 0; i < count; i++) pieces.push({ type: 'chunk', id, channel, i, count, bytes: text.length, data: text.slice(i * size, (i + 1) * size) });
    return pieces;
  };

  it('joins a chunked snapshot, with frames of other channels between its pieces', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const big = t.connection.channel('big');
    const prices = t.connection.channel('prices');
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'prices', epoch: 'P', seq: 1, data: {} }, { type: 'synced', channel: 'prices', epoch: 'P', seq: 1 });
    const [first, ...rest] = chunked(1, 'big', { type: 'snapshot', channel: 'big', epoch: 'B', seq: 1, data: { text: 'x'.repeat(10_000) } }, 4_000);
    socket.receive(first, { type: 'patch', channel: 'prices', epoch: 'P', seq: 2, set: { btc: 2 } });
    socket.receive(...rest, { type: 'synced', channel: 'big', epoch: 'B', seq: 1 });
    expect((big.model.getData().text as string).length).toBe(10_000);
    expect(big.getStatus().live).toBe(true);
    expect(prices.model.getData()).toEqual({ btc: 2 });
    t.connection.stop();
  });

  it('fails only that channel with ERR_PAYLOAD_TOO_LARGE past maxReassemblyBytes, and unsubscribes it', () => {
    const { t, welcome } = setup({ defaultChannel: false, maxReassemblyBytes: 8_192 });
    const big = t.connection.channel('big');
    const prices = t.connection.channel('prices');
    const socket = t.open();
    welcome(socket);
    const before = socket.sent.length;
    socket.receive(...chunked(1, 'big', { type: 'snapshot', channel: 'big', epoch: 'B', seq: 1, data: { text: 'x'.repeat(10_000) } }, 4_000));
    socket.receive({ type: 'snapshot', channel: 'prices', epoch: 'P', seq: 1, data: { ok: 1 } }, { type: 'synced', channel: 'prices', epoch: 'P', seq: 1 });
    expect(big.getStatus()).toMatchObject({ state: 'failed', lastError: { code: 'ERR_PAYLOAD_TOO_LARGE' } });
    expect(written(socket, before)).toEqual([{ type: 'unsubscribe', channel: 'big' }]);
    expect(big.model.getData()).toEqual({});
    expect(prices.getStatus().live).toBe(true);
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastRejected: { code: 'ERR_PAYLOAD_TOO_LARGE' } });
    t.connection.stop();
  });

  it('drops a chunked frame whose pieces come out of order (ERR_MALFORMED_FRAME) and resubscribes its channel', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const big = t.connection.channel('big');
    const socket = t.open();
    welcome(socket);
    const pieces = chunked(3, 'big', { type: 'snapshot', channel: 'big', epoch: 'B', seq: 1, data: { text: 'y'.repeat(9_000) } }, 4_000);
    const before = socket.sent.length;
    socket.receive(pieces[0], pieces[2]);
    expect(t.connection.getStatus().lastRejected?.code).toBe('ERR_MALFORMED_FRAME');
    expect(written(socket, before)).toEqual([{ type: 'subscribe', channel: 'big' }]);
    expect(big.getStatus().state).toBe('subscribing');
    t.connection.stop();
  });
});

describe('hostile frames', () => {
  const live = () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const a = t.connection.channel('a');
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'A', seq: 1, data: { keep: 1 } }, { type: 'synced', channel: 'a', epoch: 'A', seq: 1 });
    return { t, a, socket };
  };

  it.each([
    ['a synced with a negative seq', { type: 'synced', channel: 'a', epoch: 'A', seq: -1 }],
    ['a patch without its channel', { type: 'patch', epoch: 'A', seq: 2, set: { x: 1 } }],
    ['a patch naming an invalid channel', { type: 'patch', channel: 'a b', epoch: 'A', seq: 2, set: { x: 1 } }],
    ['retryAfterMs without a code', { type: 'unsubscribed', channel: 'a', retryAfterMs: 10 }],
    ['a piece past its count', { type: 'chunk', id: 1, channel: 'a', i: 2, count: 2, bytes: 10, data: 'x' }],
    ['an epoch of 65 characters', { type: 'snapshot', channel: 'a', epoch: 'e'.repeat(65), seq: 0, data: {} }],
    ['a member without joinedAt', { type: 'join', channel: 'a', member: { client: 'c2', user: null } }],
    ['an ack numbered 0', { type: 'ack', channel: 'a', n: 0 }],
    ['not an object', [1, 2, 3]],
  ])('refuses %s (counted), changing nothing', (_name, frame) => {
    const { t, a, socket } = live();
    socket.receive(frame);
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastRejected: { code: 'ERR_UNKNOWN_MESSAGE' } });
    expect(a.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    expect(a.model.getData()).toEqual({ keep: 1 });
    t.connection.stop();
  });

  it('refuses pieces longer than the frame they announce as they come (the buffer stays bounded)', () => {
    const { t, a, socket } = live();
    const before = socket.sent.length;
    socket.receive({ type: 'chunk', id: 1, channel: 'a', i: 0, count: 1_000_000, bytes: 10, data: 'x'.repeat(11) });
    expect(t.connection.getStatus().lastRejected?.code).toBe('ERR_MALFORMED_FRAME');
    expect(written(socket, before)).toEqual([{ type: 'subscribe', channel: 'a' }]);
    expect(a.model.getData()).toEqual({ keep: 1 });
    t.connection.stop();
  });

  it('refuses a chunked frame that joins into a frame of another channel', () => {
    const { t, socket } = live();
    const text = JSON.stringify({ type: 'snapshot', channel: 'b', epoch: 'B', seq: 0, data: {} });
    socket.receive({ type: 'chunk', id: 1, channel: 'a', i: 0, count: 1, bytes: text.length, data: text });
    expect(t.connection.getStatus().lastRejected?.code).toBe('ERR_MALFORMED_FRAME');
    t.connection.stop();
  });

  it('lets the channel\'s Model refuse a snapshot with a __proto__ key: that channel alone is stale until a fresh snapshot', () => {
    const { t, a, socket } = live();
    socket.receive('{"type":"snapshot","channel":"a","epoch":"A","seq":2,"data":{"__proto__":{"polluted":true}}}');
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastRejected: { code: 'ERR_MODEL_REJECTED' } });
    expect(a.getStatus()).toMatchObject({ state: 'rejected', live: false, lastError: { code: 'ERR_MODEL_REJECTED' } });
    expect(a.model.getData()).toEqual({ keep: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    t.connection.stop();
  });

  it('ignores an ack or a refusal of an op it does not have', () => {
    const { t, a, socket } = live();
    socket.receive({ type: 'ack', channel: 'a', n: 99 }, { type: 'ack', channel: 'nobody', n: 1 });
    expect(t.connection.getStatus().state).toBe('open');
    expect(a.getStatus().live).toBe(true);
    t.connection.stop();
  });
});

describe('presence', () => {
  it('keeps the members from the list, joins and leaves, and renders them', () => {
    const renders: PresenceData[] = [];
    const { t, welcome } = setup({ defaultChannel: false });
    const room = t.connection.channel('room', { presence: { view: { render: (members) => renders.push(members) } } });
    const socket = t.open();
    welcome(socket);
    expect(written(socket).at(-1)).toEqual({ type: 'subscribe', channel: 'room', presence: true });
    socket.receive(
      { type: 'snapshot', channel: 'room', epoch: 'R', seq: 0, data: {} },
      { type: 'synced', channel: 'room', epoch: 'R', seq: 0 },
      { type: 'presence', channel: 'room', members: [{ client: 'c1', user: null, joinedAt: 1 }] },
      { type: 'join', channel: 'room', member: { client: 'c2', user: null, info: { name: 'Bo' }, joinedAt: 2 } },
    );
    expect(room.presence?.getData().map((member) => member.client)).toEqual(['c1', 'c2']);
    socket.receive({ type: 'leave', channel: 'room', client: 'c1', user: null });
    expect(room.presence?.getData().map((member) => member.client)).toEqual(['c2']);
    t.advance(50);
    expect(renders.at(-1)?.map((member) => member.client)).toEqual(['c2']);
    t.connection.stop();
  });

  it('keeps the subscription without presence when presence is forbidden', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const room = t.connection.channel('room', { presence: true });
    const socket = t.open();
    welcome(socket);
    socket.receive(
      { type: 'snapshot', channel: 'room', epoch: 'R', seq: 0, data: {} },
      { type: 'synced', channel: 'room', epoch: 'R', seq: 0 },
      { type: 'error', channel: 'room', code: 'ERR_PRESENCE_FORBIDDEN', message: 'no presence here' },
    );
    expect(room.getStatus()).toMatchObject({ state: 'subscribed', live: true, presenceError: 'no presence here' });
    t.connection.stop();
  });
});

describe('changes', () => {
  it('asks for past patches and resolves with the changelog', async () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const notes = t.connection.channel('notes');
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'notes', epoch: 'N', seq: 5, data: {} }, { type: 'synced', channel: 'notes', epoch: 'N', seq: 5 });
    const page = notes.changes({ since: 0, limit: 2 });
    expect(written(socket).at(-1)).toEqual({ type: 'changes', channel: 'notes', ref: 0, since: 0, epoch: 'N', limit: 2 });
    socket.receive({ type: 'changelog', channel: 'notes', ref: 0, epoch: 'N', patches: [{ seq: 1, set: { a: 1 } }, { seq: 2, delete: ['a'] }], more: true });
    await expect(page).resolves.toEqual({ epoch: 'N', patches: [{ seq: 1, set: { a: 1 } }, { seq: 2, delete: ['a'] }], more: true, gap: false });
    const failed = notes.changes();
    socket.receive({ type: 'error', channel: 'notes', ref: 1, code: 'ERR_NOT_SUBSCRIBED', message: 'not held' });
    await expect(failed).rejects.toMatchObject({ code: 'ERR_NOT_SUBSCRIBED' });
    const lost = notes.changes({ limit: 1 });
    socket.drop();
    await expect(lost).rejects.toMatchObject({ code: 'ERR_NOT_SUBSCRIBED' });
    await expect(notes.changes()).rejects.toMatchObject({ code: 'ERR_NOT_SUBSCRIBED' });
    expect(() => notes.changes({ limit: 0 })).toThrow(RangeError);
    expect(() => notes.changes(null as never)).toThrow(/changes\(\) takes \{ since\?, limit\? \}; received null/);
    t.connection.stop();
  });
});

describe('tokens', () => {
  it('calls a token function before every connect, and sends a fresh token when the server asks', async () => {
    let calls = 0;
    const { t, welcome } = setup({ defaultChannel: false, token: async () => `t${++calls}` });
    await flush();
    let socket = t.open();
    expect(written(socket)[0]).toMatchObject({ type: 'hello', token: 't1' });
    welcome(socket);
    socket.receive({ type: 'refresh', expiresAt: 2_000, expiresInMs: 60_000 });
    await flush();
    expect(written(socket).at(-1)).toEqual({ type: 'auth', token: 't2' });
    socket.serverClose(4419, 'token expired');
    expect(t.connection.getStatus().state).toBe('errored');
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    await flush();
    socket = t.open();
    expect(written(socket)[0]).toMatchObject({ type: 'hello', token: 't3' });
    t.connection.stop();
  });

  it('treats 4419 as final with a fixed token, and 4409 always', () => {
    for (const code of [4419, 4409]) {
      const { t } = setup({ token: 'fixed' });
      const socket = t.open();
      socket.serverClose(code, 'bye');
      expect(t.connection.getStatus()).toMatchObject({ state: 'closed', lastError: { code: 'ERR_FATAL_CLOSE', closeCode: code } });
      t.connection.stop();
    }
  });

  it('reports a token function that fails on refresh, and keeps the connection', async () => {
    let calls = 0;
    const { t, welcome } = setup({
      defaultChannel: false,
      token: () => {
        if (++calls > 1) throw new Error('token service down');
        return 't1';
      },
    });
    await flush();
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'refresh', expiresAt: 2_000, expiresInMs: 60_000 });
    await flush();
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastCallbackError: { code: 'ERR_GREETING_FAILED' } });
    expect(written(socket).some((frame) => frame.type === 'auth')).toBe(false);
    t.connection.stop();
  });

  it('fails the attempt, without connecting, when the token function returns no string (undefined, null, an object)', async () => {
    for (const value of [undefined, null, { token: 'x' }]) {
      const { t } = setup({ token: (() => value) as unknown as () => string });
      await flush();
      expect(t.connection.getStatus()).toMatchObject({ state: 'errored', lastError: { code: 'ERR_GREETING_FAILED', message: expect.stringContaining(`the token function returned ${value === null ? 'null' : typeof value}; expected a string`) } });
      t.connection.stop();
    }
  });

  it('fails the attempt when the token function rejects', async () => {
    const { t } = setup({ token: () => Promise.reject(new Error('token service down')) });
    await flush();
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', lastError: { code: 'ERR_GREETING_FAILED' } });
    t.connection.stop();
  });
});

describe('connection.channel()', () => {
  it('throws a clear error on a protocol without channels', () => {
    for (const protocol of [rawProtocol, createSyncProtocol()]) {
      const { connection } = createTestConnection({ protocol });
      expect(() => connection.channel('a')).toThrow(/channel\(\) needs a protocol with channels, createChannelProtocol\(\)/);
      connection.stop();
    }
  });

  it('shows each channel to an inspector as a subscription actor, channel:NAME, beside the connection', () => {
    const actors: Array<{ id: string; machine: unknown }> = [];
    const { t } = setup({}, {
      inspect: {
        inspect: (event) => {
          const actor = event.actorRef as AnyActor;
          if (event.type === '@xstate.actor' && actor.id !== 'socket') actors.push({ id: actor.id, machine: (actor.logic as { id?: unknown }).id });
        },
      },
    });
    t.connection.channel('notes');
    expect(actors).toEqual([
      { id: t.connection.actor.id, machine: 'connection' },
      { id: 'channel:default', machine: 'subscription' },
      { id: 'channel:notes', machine: 'subscription' },
    ]);
    t.connection.stop();
  });

  it('refuses a name that breaks the name rule', () => {
    const { t } = setup();
    for (const name of ['', 'a b', '__proto__', 'x'.repeat(129), 'ünïcode', 5 as unknown as string]) {
      expect(() => t.connection.channel(name), String(name)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CHANNEL' }));
    }
    t.connection.stop();
  });

  it('needs maxMessageBytes of at least 4096 with version 2', () => {
    expect(() => setup({}, { maxMessageBytes: 4_095 })).toThrow(RangeError);
  });

  it('stops a channel\'s renders with the connection', () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const renders: unknown[] = [];
    const a = t.connection.channel('a', { view: { render: (data) => renders.push(data) } });
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'A', seq: 0, data: { x: 1 } }, { type: 'synced', channel: 'a', epoch: 'A', seq: 0 });
    t.advance(50);
    expect(renders.at(-1)).toEqual({ x: 1 });
    expect(a.getStatus().live).toBe(true);
    socket.receive({ type: 'patch', channel: 'a', epoch: 'A', seq: 1, set: { x: 2 } });
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
    t.advance(50);
    expect(renders.at(-1)).toEqual({ x: 1 });
  });

  it('returns the same handle for the same name while it is held', () => {
    const { t } = setup();
    const a = t.connection.channel('a');
    expect(t.connection.channel('a')).toBe(a);
    expect(() => t.connection.channel('a', { model: createStore() })).toThrow(/already held with another Model/);
    // presence cannot be added or taken away by asking again: it would be ignored silently
    expect(() => t.connection.channel('a', { presence: true })).toThrow(/already held without presence; unsubscribe it first/);
    expect(t.connection.channel('a', { presence: false })).toBe(a);
    const room = t.connection.channel('room', { presence: true });
    expect(() => t.connection.channel('room', { presence: false })).toThrow(/already held with presence/);
    expect(t.connection.channel('room', { presence: true })).toBe(room);
    t.connection.stop();
  });

  it('unsubscribes: the server confirms, the view stops, the channel can be held again', () => {
    const statuses: ChannelStatus['state'][] = [];
    const { t, welcome } = setup({ defaultChannel: false });
    const a = t.connection.channel('a');
    a.subscribe((status) => statuses.push(status.state));
    const socket = t.open();
    welcome(socket);
    a.unsubscribe();
    expect(written(socket).at(-1)).toEqual({ type: 'unsubscribe', channel: 'a' });
    socket.receive({ type: 'unsubscribed', channel: 'a' });
    expect(statuses).toEqual(['subscribing', 'unsubscribing', 'ended']);
    expect(() => a.send({ set: { x: 1 } })).toThrow(expect.objectContaining({ code: 'ERR_NOT_SUBSCRIBED' }));
    expect(t.connection.channel('a')).not.toBe(a);
    t.connection.stop();
  });

  it('holds a channel opened again while its unsubscribe is unanswered (sim seed 463): the new handle subscribes, the old one ends', async () => {
    const { t, welcome } = setup({ defaultChannel: false });
    const old = t.connection.channel('a', { presence: true });
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'e1', seq: 1, data: { x: 1 } }, { type: 'synced', channel: 'a', epoch: 'e1', seq: 1 });
    const pending = old.send({ set: { y: 1 } });
    old.unsubscribe();
    const again = t.connection.channel('a', { presence: true });
    expect(again).not.toBe(old);
    expect(types(written(socket).slice(-3))).toEqual(['op a', 'unsubscribe a', 'subscribe a']);
    expect(old.getStatus().state).toBe('ended');
    // the server answers the op (written before the unsubscribe: it settles by its answer), the unsubscribe, then the new subscribe
    socket.receive({ type: 'ack', channel: 'a', n: 1 }, { type: 'unsubscribed', channel: 'a' });
    await expect(pending).resolves.toBeUndefined();
    socket.receive(
      { type: 'snapshot', channel: 'a', epoch: 'e1', seq: 1, data: { x: 1 } },
      { type: 'synced', channel: 'a', epoch: 'e1', seq: 1 },
      { type: 'presence', channel: 'a', members: [{ client: 'c1', user: null, joinedAt: 5 }] },
    );
    expect(again.getStatus()).toMatchObject({ state: 'subscribed', live: true });
    expect(again.model.getData()).toEqual({ x: 1 });
    expect(again.presence?.getData()).toEqual([{ client: 'c1', user: null, joinedAt: 5 }]);
    socket.receive({ type: 'patch', channel: 'a', epoch: 'e1', seq: 2, set: { z: 2 } });
    expect(again.model.getData()).toEqual({ x: 1, z: 2 });
    const answer = again.send({ set: { w: 3 } });
    const op = written(socket).at(-1) as { n: number };
    socket.receive({ type: 'ack', channel: 'a', n: op.n });
    await expect(answer).resolves.toBeUndefined();
    t.connection.stop();
  });

  it('reports a channel listener that throws, and carries on', () => {
    const { t } = setup({ defaultChannel: false });
    const a = t.connection.channel('a');
    a.subscribe(() => {
      throw new Error('listener bug');
    });
    t.open();
    expect(t.connection.getStatus().lastCallbackError?.code).toBe('ERR_LISTENER_FAILED');
    t.connection.stop();
  });

  it('keeps history naming the events behind each state, with subscription actors talking to the connection', () => {
    const { t, welcome } = setup({ defaultChannel: false }, { random: () => 0 });
    const a = t.connection.channel('a');
    let socket = t.open();
    welcome(socket);
    // a listener that sends while the connection handles a subscription's request
    a.subscribe((status) => {
      if (status.state === 'subscribing' && status.resubscribes === 1) t.connection.channel('b');
    });
    socket.receive({ type: 'unsubscribed', channel: 'a', code: 'ERR_RATE_LIMITED', message: 'slow', retryAfterMs: 10 });
    t.advance(10);
    socket.receive({ type: 'snapshot', channel: 'a', epoch: 'A', seq: 0, data: {} }, { type: 'synced', channel: 'a', epoch: 'A', seq: 0 });
    a.unsubscribe();
    socket.receive({ type: 'unsubscribed', channel: 'a' });
    socket.drop();
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    socket = t.open();
    expect(t.connection.history.map(({ state, event }) => `${state} ${event}`)).toEqual([
      'idle xstate.init',
      'connecting client.connect',
      'open socket.opened',
      'errored socket.closed',
      'connecting xstate.after.reconnectDelay.connection.errored.waiting',
      'open socket.opened',
    ]);
    t.connection.stop();
  });

  it('leaves no timer and no socket after stop()', () => {
    const { t, welcome } = setup({}, { random: () => 0 });
    const a = t.connection.channel('a');
    const socket = t.open();
    welcome(socket);
    socket.receive({ type: 'unsubscribed', channel: 'a', code: 'ERR_RATE_LIMITED', message: 'slow', retryAfterMs: 60_000 });
    expect(a.getStatus().state).toBe('retrying');
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
    expect(t.sockets.live).toHaveLength(0);
    expect(isStatesocketError(new Error('x'))).toBe(false);
  });
});

// ── model-based: the subscription chart's paths, replayed on a real connection ──────────────────

type SubEvent = EventFromLogic<typeof subscriptionMachine>;
type SubSnapshot = SnapshotFrom<typeof subscriptionMachine>;

describe('model-based: the subscription chart on a real connection', () => {
  const events: SubEvent[] = [
    { type: 'connection.opened' },
    { type: 'connection.lost' },
    { type: 'channel.synced', channel: 'a' },
    { type: 'channel.resync', channel: 'a', reason: 'gap' },
    { type: 'channel.refused', channel: 'a', code: 'ERR_CHANNEL_FORBIDDEN', message: 'no' },
    { type: 'channel.refused', channel: 'a', code: 'ERR_RATE_LIMITED', message: 'slow', retryAfterMs: 100 },
    { type: 'channel.unsubscribed', channel: 'a' },
    { type: 'client.unsubscribe' },
    { type: 'model.rejected', channel: 'a', message: 'boom' },
    { type: 'xstate.after.retryDelay.subscription.retrying' } as unknown as SubEvent,
    { type: 'xstate.after.retryDelay.subscription.rejected' } as unknown as SubEvent,
    { type: 'xstate.after.stableAfter.subscription.settling' } as unknown as SubEvent,
  ];
  const standalone = subscriptionMachine.provide({
    actions: { requestSubscribe: () => {}, requestSubscribeAndResend: () => {}, requestUnsubscribe: () => {}, reportFailure: () => {}, reportEnded: () => {} },
  });
  const paths = getShortestPaths(standalone, {
    input: { channel: 'a' },
    events,
    // the streak of Model rejections decides where a synced goes (subscribed or settling)
    serializeState: (snapshot) => JSON.stringify([(snapshot as SubSnapshot).value, (snapshot as SubSnapshot).context.rejections > 0]),
  });
  /** The state a channel reports: `settling` is subscribed (live) to its user. */
  const reported = (value: string) => (value === 'settling' ? 'subscribed' : value);

  it('finds a path to every state', () => {
    expect(new Set(paths.map((path) => JSON.stringify(path.state.value)))).toEqual(
      new Set(['unsubscribed', 'subscribing', 'subscribed', 'settling', 'retrying', 'rejected', 'unsubscribing', 'failed', 'ended'].map((name) => JSON.stringify(name))),
    );
  });

  it('replays every path through the fake socket and the clock, state by state', () => {
    for (const path of paths) {
      const { t, welcome } = setup({ defaultChannel: false }, { random: () => 0 });
      // a Model that throws on data carrying `boom`
      const store = createStore();
      const a = t.connection.channel<Model<StoreData>>('a', {
        model: {
          update(message) {
            const frame = message as { data?: { boom?: number } };
            if (frame.data?.boom !== undefined) throw new Error('boom');
            store.update(message);
          },
          getData: () => store.getData(),
        },
      });
      const trail: string[] = [];
      let position = 0;
      const socket = () => t.sockets.latest;
      for (const step of path.steps) {
        const event = step.event as SubEvent;
        if ((event.type as string) === 'xstate.init') continue;
        trail.push(event.type);
        switch (event.type) {
          case 'connection.opened':
            if (t.connection.getStatus().state !== 'connecting') t.advance(t.connection.getStatus().nextDelayMs ?? 0);
            t.open();
            welcome(socket());
            break;
          case 'connection.lost':
            socket().drop();
            break;
          case 'channel.synced':
            position++;
            socket().receive({ type: 'snapshot', channel: 'a', epoch: 'E', seq: position, data: {} }, { type: 'synced', channel: 'a', epoch: 'E', seq: position });
            break;
          case 'channel.resync':
            socket().receive({ type: 'patch', channel: 'a', epoch: 'E', seq: position + 5, set: { gap: 1 } });
            break;
          case 'channel.refused':
          case 'channel.unsubscribed':
            socket().receive({ type: 'unsubscribed', channel: 'a', ...('code' in event ? { code: event.code, message: event.message } : {}), ...('retryAfterMs' in event ? { retryAfterMs: event.retryAfterMs } : {}) });
            break;
          case 'client.unsubscribe':
            a.unsubscribe();
            break;
          case 'model.rejected':
            position++;
            socket().receive({ type: 'snapshot', channel: 'a', epoch: 'E', seq: position, data: { boom: 1 } });
            break;
          default:
            if ((event.type as string) === 'xstate.after.stableAfter.subscription.settling') t.advance(MODEL_RETRY.stableAfterMs);
            else t.advance(a.getStatus().retryDelayMs ?? 0);
        }
        const expected = reported(String((step.state as SubSnapshot).value));
        expect(a.getStatus().state, `after ${trail.join(' → ')}`).toBe(expected);
        expect(a.getStatus().live, `live after ${trail.join(' → ')}`).toBe(expected === 'subscribed');
      }
      t.connection.stop();
      expect(t.clock.pendingTimers, `timers left after ${trail.join(' → ')}`).toBe(0);
    }
  });
});
