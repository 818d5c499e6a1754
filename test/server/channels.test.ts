/**
 * Protocol version 2 on `createSyncServer` (in memory, on a `TestClock`): channels, marks,
 * refusals, limits, chunks, idle channels, the data file's state, and hostile input of every kind
 * (bad channel names, huge numbers, op and subscribe floods, tiny frame limits).
 */
import { describe, expect, it } from 'vitest';
import { utf8Length } from '../../src/frames.js';
import type { PersistedState, SyncServer, SyncServerOptions } from '../../src/server/sync-server.js';
import { testSyncServer, type Frame } from '../support/sync-server.js';

function setup(options: SyncServerOptions = {}) {
  const { clock, server } = testSyncServer(options);
  return { clock, server, client: (name: string, extra: Record<string, unknown> = {}, urlToken: string | null = null) => client(server, name, extra, urlToken) };
}

/** A version 2 client on `server`, greeted as client id `id`. */
function client(server: SyncServer, id: string, hello: Record<string, unknown> = {}, urlToken: string | null = null) {
  const texts: string[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const peer = {
    buffered: 0,
    send: (text: string) => texts.push(text),
    close: (code: number, reason: string) => closes.push({ code, reason }),
    get bufferedAmount() {
      return peer.buffered;
    },
  };
  const session = server.connect(peer, hello.owner === undefined ? { urlToken } : { urlToken, owner: hello.owner as string });
  const frames = () => texts.map((text) => JSON.parse(text) as Frame);
  const c = {
    peer,
    texts,
    closes,
    session,
    frames,
    send(frame: unknown) {
      session.receive(typeof frame === 'string' ? frame : JSON.stringify(frame));
      return c;
    },
    /** Frames received since the last `take`, emptied. */
    take(): Frame[] {
      const out = frames();
      texts.length = 0;
      return out;
    },
    of: (type: string) => frames().filter((f) => f.type === type),
  };
  const { owner: _owner, ...rest } = hello;
  c.send({ type: 'hello', v: 2, client: id, ...rest });
  return c;
}

describe('channels', () => {
  it('creates a channel on first use and serves it apart from the others', () => {
    const { server, client } = setup();
    const a = client('a1');
    a.take();
    a.send({ type: 'subscribe', channel: 'one' }).send({ type: 'subscribe', channel: 'two' });
    server.change({ set: { x: 1 } }, 'one');
    const frames = a.take();
    expect(frames.map((f) => `${f.type}:${String(f.channel)}`)).toEqual(['snapshot:one', 'synced:one', 'snapshot:two', 'synced:two', 'patch:one']);
    expect(server.channelState('two').data).toEqual({});
    expect(server.counters.channels).toBe(2);
  });

  it('shares the default channel between version 1 and version 2 clients', () => {
    const { server, client } = setup();
    const texts: string[] = [];
    const v1 = server.connect({ send: (t) => texts.push(t), close: () => {}, bufferedAmount: 0 });
    v1.receive('{"type":"hello","v":1}');
    const b = client('b1');
    b.send({ type: 'subscribe', channel: 'default' }).send({ type: 'op', channel: 'default', n: 1, set: { k: 1 } });
    v1.receive('{"type":"op","id":"x","set":{"j":2}}');
    expect(server.data()).toEqual({ k: 1, j: 2 });
    expect(texts.map((t) => JSON.parse(t).type)).toEqual(['snapshot', 'patch', 'patch', 'ack']);
    expect(JSON.parse(texts[1] as string)).not.toHaveProperty('channel');
    expect(b.of('patch').map((p) => p.seq)).toEqual([1, 2]);
  });
});

describe('hostile channel names and numbers', () => {
  it.each([
    ['a space', 'bad name'],
    ['__proto__', '__proto__'],
    ['an empty name', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a star', 'room/*'],
    ['unicode', 'ｒｏｏｍ'],
  ])('refuses %s with ERR_INVALID_CHANNEL, naming it (cut to 128)', (_what, name) => {
    const { server, client } = setup();
    const a = client('a1');
    a.take();
    a.send({ type: 'subscribe', channel: name });
    expect(a.take()).toEqual([{ type: 'unsubscribed', channel: name.slice(0, 128), code: 'ERR_INVALID_CHANNEL', message: expect.any(String) }]);
    a.send({ type: 'op', channel: name, n: 1, set: { a: 1 } });
    expect(a.take()).toEqual([{ type: 'error', code: 'ERR_INVALID_CHANNEL', message: expect.any(String) }]);
    expect(server.channelNames()).toEqual(['default']);
  });

  it('answers a channel that is not a string with ERR_INVALID_FRAME, and a 1 MB name without echoing it', () => {
    const { client } = setup();
    const a = client('a1');
    a.take();
    a.send({ type: 'subscribe', channel: 42 });
    expect(a.take()).toEqual([{ type: 'error', code: 'ERR_INVALID_FRAME', message: expect.stringMatching(/subscribe.channel/) }]);
    a.send({ type: 'subscribe', channel: 'y'.repeat(1_000_000) });
    const [answer] = a.take();
    expect(answer).toMatchObject({ type: 'unsubscribed', code: 'ERR_INVALID_CHANNEL' });
    expect(utf8Length(JSON.stringify(answer))).toBeLessThan(4096);
  });

  it.each([
    ['0', 0],
    ['a fraction', 1.5],
    ['2^53', 2 ** 53],
    ['a string', '1'],
    ['negative', -1],
  ])('refuses n = %s without settling anything', (_what, n) => {
    const { server, client } = setup();
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    a.take();
    a.send({ type: 'op', channel: 'c', n, set: { a: 1 } });
    expect(a.take()).toEqual([{ type: 'error', code: 'ERR_INVALID_FRAME', message: expect.any(String) }]);
    expect(server.channelState('c').seq).toBe(0);
  });

  it('takes n = 2^53 - 1, and never applies an op below it (its answer is unknown: ERR_CLIENT_FORGOTTEN)', () => {
    const { server, client } = setup();
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    a.take();
    a.send({ type: 'op', channel: 'c', n: Number.MAX_SAFE_INTEGER, set: { a: 1 } });
    a.send({ type: 'op', channel: 'c', n: 5, set: { a: 2 } });
    expect(a.take().map((f) => f.code ?? f.type)).toEqual(['patch', 'ack', 'ERR_CLIENT_FORGOTTEN']);
    expect(server.channelState('c').data).toEqual({ a: 1 });
  });

  it('answers an op for a channel not held with ERR_NOT_SUBSCRIBED, applying nothing', () => {
    const { server, client } = setup();
    const a = client('a1');
    a.take();
    a.send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } });
    expect(a.take()).toEqual([{ type: 'error', code: 'ERR_NOT_SUBSCRIBED', message: expect.any(String), channel: 'c' }]);
    expect(server.channelNames()).toEqual(['default']);
  });
});

describe('marks', () => {
  it('applies each op once across reconnects, and tells the mark in synced', () => {
    const { server, client } = setup();
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    for (let n = 1; n <= 5; n++) a.send({ type: 'op', channel: 'c', n, set: { [`k${n}`]: n } });
    a.session.closed();
    const again = client('a1');
    again.take();
    again.send({ type: 'subscribe', channel: 'c' });
    expect(again.of('synced')[0]).toMatchObject({ mark: 5 });
    for (let n = 1; n <= 5; n++) again.send({ type: 'op', channel: 'c', n, re: 0, set: { [`k${n}`]: -n } });
    expect(again.of('ack')).toHaveLength(5);
    expect(again.of('patch')).toHaveLength(0);
    expect(server.channelState('c').data).toEqual({ k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 });
    expect(server.counters.opsDuplicate).toBe(5);
  });

  it('keeps the same numbers apart per user, client and channel', () => {
    const { server, client } = setup();
    const a = client('a1').send({ type: 'subscribe', channel: 'c' }).send({ type: 'subscribe', channel: 'd' });
    const b = client('b1').send({ type: 'subscribe', channel: 'c' });
    a.send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } }).send({ type: 'op', channel: 'd', n: 1, set: { a: 1 } });
    b.send({ type: 'op', channel: 'c', n: 1, set: { b: 1 } });
    expect(server.channelState('c').data).toEqual({ a: 1, b: 1 });
    expect(server.channelState('d').data).toEqual({ a: 1 });
  });

  it('bounds the refusals kept per client (an op flood of refusals), answering a forgotten one ERR_CLIENT_FORGOTTEN', () => {
    const { client } = setup({ maxRefusalsPerClient: 3 });
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    a.take();
    for (let n = 1; n <= 10; n++) a.send({ type: 'op', channel: 'c', n }); // empty: refused
    expect(a.take().every((f) => f.code === 'ERR_INVALID_FRAME')).toBe(true);
    a.send({ type: 'op', channel: 'c', n: 9, set: { x: 1 } }); // kept: the same refusal
    a.send({ type: 'op', channel: 'c', n: 2, set: { x: 1 } }); // forgotten: may have been either
    expect(a.take().map((f) => f.code)).toEqual(['ERR_INVALID_FRAME', 'ERR_CLIENT_FORGOTTEN']);
    a.send({ type: 'subscribe', channel: 'c', acked: 10 }); // the client has every answer
    a.take();
    a.send({ type: 'op', channel: 'c', n: 9, set: { x: 1 } });
    expect(a.take()).toEqual([{ type: 'ack', channel: 'c', n: 9 }]);
  });

  it("evicts the mark of the owner holding the most, never another user's (a flood of client ids)", () => {
    const { server, client } = setup({
      maxClientsPerChannel: 4,
      authenticate: (token) => ({ user: token }),
    });
    const bob = client('bob-1', {}, 'bob').send({ type: 'subscribe', channel: 'c' }).send({ type: 'op', channel: 'c', n: 1, set: { bob: 1 } });
    for (let i = 0; i < 10; i++) {
      client(`flood-${i}`, {}, 'mallory').send({ type: 'subscribe', channel: 'c' }).send({ type: 'op', channel: 'c', n: 1, set: { [`m${i}`]: i } });
    }
    bob.take();
    bob.send({ type: 'op', channel: 'c', n: 1, re: 0, set: { bob: 2 } });
    expect(bob.take()).toEqual([{ type: 'ack', channel: 'c', n: 1 }]);
    expect(server.counters.marksForgotten).toBe(7);
  });

  it('forgets a mark idle for markRetentionMs; its resend gets ERR_CLIENT_FORGOTTEN, a new op applies', () => {
    const { clock, server, client } = setup({ markRetentionMs: 1000 });
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    const first = a.of('welcome')[0]?.time as number;
    a.send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } });
    clock.advance(2000);
    const b = client('b1').send({ type: 'subscribe', channel: 'c' }).send({ type: 'op', channel: 'c', n: 1, set: { b: 1 } });
    expect(b.of('ack')).toHaveLength(1);
    a.take();
    a.send({ type: 'op', channel: 'c', n: 1, re: first, set: { a: 1 } });
    expect(a.take()).toEqual([{ type: 'error', code: 'ERR_CLIENT_FORGOTTEN', message: expect.any(String), channel: 'c', n: 1 }]);
    a.send({ type: 'op', channel: 'c', n: 2, set: { a: 2 } });
    expect(a.take().map((f) => f.type)).toEqual(['patch', 'ack']);
    expect(server.counters.opsForgotten).toBe(1);
  });

  it('treats a resend first written after the horizon as new (a lost first op is not refused)', () => {
    const { clock, client } = setup({ maxClientsPerChannel: 1 });
    client('a1').send({ type: 'subscribe', channel: 'c' }).send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } });
    clock.advance(10);
    client('b1').send({ type: 'subscribe', channel: 'c' }).send({ type: 'op', channel: 'c', n: 1, set: { b: 1 } }); // forgets a1
    clock.advance(10);
    const c = client('c1').send({ type: 'subscribe', channel: 'c' });
    const welcomed = c.of('welcome')[0]?.time as number;
    c.take();
    c.send({ type: 'op', channel: 'c', n: 1, re: welcomed, set: { c: 1 } });
    expect(c.take().map((f) => f.type)).toEqual(['patch', 'ack']);
  });

  it('never issues a time below one it used, when the clock steps back', () => {
    let wall = 5_000_000;
    const { client } = setup({ now: () => wall });
    const t1 = client('a1').of('welcome')[0]?.time as number;
    wall -= 60_000; // an NTP correction
    const t2 = client('b1').of('welcome')[0]?.time as number;
    expect(t2).toBeGreaterThanOrEqual(t1);
  });

  it('keeps marks, refusals and the horizon across a restart from the persisted state', () => {
    let state: PersistedState | undefined;
    const { server, client } = setup({ maxClientsPerChannel: 1, onChange: (get) => (state = get()) });
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    a.send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } }).send({ type: 'op', channel: 'c', n: 2 });
    expect(server.persisted().channels?.c?.marks).toHaveLength(1);
    const restarted = setup({ initial: JSON.parse(JSON.stringify(state)) as PersistedState });
    const again = restarted.client('a1').send({ type: 'subscribe', channel: 'c' });
    expect(again.of('snapshot')[0]).toMatchObject({ seq: 0, data: { a: 1 } });
    expect(again.of('synced')[0]).toMatchObject({ mark: 2 });
    again.take();
    again.send({ type: 'op', channel: 'c', n: 1, re: 0, set: { a: 1 } }).send({ type: 'op', channel: 'c', n: 2, re: 0, set: { a: 1 } });
    expect(again.take().map((f) => f.code ?? f.type)).toEqual(['ack', 'ERR_INVALID_FRAME']);
  });
});

describe('write, then broadcast, then ack', () => {
  it('neither applies, broadcasts nor acks an op whose write fails (1011); the resend applies it once', () => {
    let fail = true;
    const { server, client } = setup({
      onChange: (_state, what) => {
        if (fail && what === 'change') throw new Error('disk full');
      },
    });
    const watcher = client('w1').send({ type: 'subscribe', channel: 'c' });
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    watcher.take();
    a.take();
    a.send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } });
    expect(a.take()).toEqual([]);
    expect(a.closes).toEqual([{ code: 1011, reason: expect.any(String) }]);
    expect(watcher.take()).toEqual([]);
    expect(server.counters.opsNotPersisted).toBe(1);
    fail = false;
    const again = client('a1').send({ type: 'subscribe', channel: 'c' });
    expect(again.of('synced')[0]).not.toHaveProperty('mark');
    again.take();
    again.send({ type: 'op', channel: 'c', n: 1, re: 0, set: { a: 1 } });
    expect(again.take().map((f) => f.type)).toEqual(['patch', 'ack']);
    expect(server.channelState('c')).toMatchObject({ seq: 1, data: { a: 1 } });
  });
});

describe('one connection per client id', () => {
  it('closes the older connection with 4409; its member continues on the newer one without leave or join', () => {
    const { client } = setup();
    const watcher = client('w1').send({ type: 'subscribe', channel: 'room', presence: true });
    const a = client('a1').send({ type: 'subscribe', channel: 'room', presence: true });
    watcher.take();
    const again = client('a1').send({ type: 'subscribe', channel: 'room', presence: true });
    expect(a.closes).toEqual([{ code: 4409, reason: 'client id taken over by a newer connection' }]);
    expect(watcher.take()).toEqual([]);
    expect(again.of('presence')[0]?.members).toHaveLength(2);
  });

});

describe('a client id belongs to one user (per-user tokens)', () => {
  const users = { authenticate: (token: string) => ({ user: token === 'anon' ? null : token }) };

  it("closes another user's hello with the id with 4423; the owner's connection, ops and presence are untouched", () => {
    const { server, client } = setup(users);
    const ann = client('c1', {}, 'ann').send({ type: 'subscribe', channel: 'room', presence: true });
    ann.send({ type: 'op', channel: 'room', n: 1, set: { a: 1 } });
    ann.take();
    const bob = client('c1', {}, 'bob');
    expect(bob.closes).toEqual([{ code: 4423, reason: 'client id belongs to another user; connect with a fresh client id' }]);
    expect(bob.frames()).toEqual([]);
    expect(ann.closes).toEqual([]);
    ann.send({ type: 'op', channel: 'room', n: 2, set: { a: 2 } });
    expect(ann.take().map((f) => f.type)).toEqual(['patch', 'ack']);
    expect(server.channelState('room').data).toEqual({ a: 2 });
    expect(server.counters.clientIdsRefused).toBe(1);
    expect(server.counters.clientsReplaced).toBe(0);
  });

  it('refuses the id to a connection without a user too, and lets the owner replace its own connection (4409)', () => {
    const { client } = setup(users);
    const ann = client('c1', {}, 'ann');
    expect(client('c1', {}, 'anon').closes).toEqual([{ code: 4423, reason: expect.any(String) }]);
    const again = client('c1', {}, 'ann');
    expect(ann.closes).toEqual([{ code: 4409, reason: 'client id taken over by a newer connection' }]);
    expect(again.closes).toEqual([]);
  });

  it('records nothing for connections without a user: they share ids as before', () => {
    const { server, client } = setup(users);
    client('c1', {}, 'anon');
    client('c2', {}, 'anon');
    expect(server.persisted().clientOwners).toEqual([]);
    expect(client('c1', {}, 'ann').closes).toEqual([]);
  });

  it("bounds the ids remembered by maxClientIds, forgetting the flooding user's own first", () => {
    const { server, client } = setup({ ...users, maxClientIds: 3 });
    client('a1', {}, 'ann');
    for (const id of ['m1', 'm2', 'm3', 'm4']) client(id, {}, 'mallory');
    expect(server.persisted().clientOwners?.map(([id, user]) => `${id}:${user}`)).toEqual(['a1:ann', 'm3:mallory', 'm4:mallory']);
    expect(client('a1', {}, 'mallory').closes[0]?.code).toBe(4423);
  });

  it('forgets an id not greeted for markRetentionMs', () => {
    const { clock, client } = setup({ ...users, markRetentionMs: 1000 });
    client('c1', {}, 'ann').session.closed();
    clock.advance(999);
    expect(client('c1', {}, 'bob').closes[0]?.code).toBe(4423);
    clock.advance(1);
    expect(client('c1', {}, 'bob').closes).toEqual([]);
  });

  it('keeps the owners across a restart, and derives them from the marks of a data file written before them', () => {
    let state: PersistedState | undefined;
    const { client } = setup({ ...users, onChange: (get) => (state = get()) });
    const ann = client('c1', {}, 'ann');
    expect(state?.clientOwners).toEqual([['c1', 'ann', expect.any(Number)]]);
    ann.send({ type: 'subscribe', channel: 'room' }).send({ type: 'op', channel: 'room', n: 1, set: { a: 1 } });
    const saved = JSON.parse(JSON.stringify(state)) as PersistedState;
    expect(setup({ ...users, initial: saved }).client('c1', {}, 'bob').closes[0]?.code).toBe(4423);
    const { clientOwners: _dropped, ...older } = saved;
    expect(setup({ ...users, initial: older }).client('c1', {}, 'bob').closes[0]?.code).toBe(4423);
    expect(setup({ ...users, initial: older }).client('c1', {}, 'ann').closes).toEqual([]);
  });
});

describe('limits', () => {
  it('refuses the subscribe past maxChannelsPerConnection with ERR_CHANNEL_LIMIT (final), others untouched', () => {
    const { client } = setup({ maxChannelsPerConnection: 2 });
    const a = client('a1').send({ type: 'subscribe', channel: 'c1' }).send({ type: 'subscribe', channel: 'c2' });
    a.take();
    a.send({ type: 'subscribe', channel: 'c3' }).send({ type: 'subscribe', channel: 'c1', epoch: 'x', since: 0 });
    const [refusal, ...rest] = a.take();
    expect(refusal).toEqual({ type: 'unsubscribed', channel: 'c3', code: 'ERR_CHANNEL_LIMIT', message: expect.stringMatching(/maxChannelsPerConnection/) });
    expect(rest.map((f) => f.type)).toEqual(['snapshot', 'synced']);
  });

  it('refuses a subscribe flood of one channel with ERR_RATE_LIMITED and retryAfterMs, then lets it through a minute later', () => {
    const { clock, client } = setup({ maxSubscribesPerMinute: 3 });
    const a = client('a1');
    for (let i = 0; i < 3; i++) a.send({ type: 'subscribe', channel: 'c' });
    a.take();
    clock.advance(1000);
    a.send({ type: 'subscribe', channel: 'c' });
    expect(a.take()).toEqual([{ type: 'unsubscribed', channel: 'c', code: 'ERR_RATE_LIMITED', message: expect.any(String), retryAfterMs: 59_000 }]);
    a.send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } });
    expect(a.take()[0]).toMatchObject({ code: 'ERR_NOT_SUBSCRIBED' });
    a.send({ type: 'subscribe', channel: 'other' });
    expect(a.take().map((f) => f.type)).toEqual(['snapshot', 'synced']);
    clock.advance(59_000);
    a.send({ type: 'subscribe', channel: 'c' });
    expect(a.take().map((f) => f.type)).toEqual(['snapshot', 'synced']);
  });

  it('bounds what a flood of channel names leaves in memory: maxChannelsInMemory, idle ones unloaded first', () => {
    const { server, client } = setup({ maxChannelsInMemory: 3 });
    const a = client('a1');
    for (let i = 0; i < 3; i++) a.send({ type: 'subscribe', channel: `c${i}` });
    a.take();
    a.send({ type: 'subscribe', channel: 'c3' });
    expect(a.take()).toEqual([{ type: 'unsubscribed', channel: 'c3', code: 'ERR_CHANNEL_UNAVAILABLE', message: expect.any(String), retryAfterMs: expect.any(Number) }]);
    for (let i = 0; i < 100; i++) client(`f${i}`).send({ type: 'subscribe', channel: `flood-${i}` });
    expect(server.channelNames()).toHaveLength(4); // default and c0..c2: refused names leave nothing
    a.send({ type: 'unsubscribe', channel: 'c0' });
    a.send({ type: 'subscribe', channel: 'c3' });
    expect(a.take().map((f) => f.type)).toEqual(['unsubscribed', 'snapshot', 'synced']);
    expect(server.counters.channels).toBe(3);
    expect(server.counters.channelsUnloaded).toBe(1);
    expect(server.channelNames()).not.toContain('c0'); // empty: nothing to keep
  });

  it('unloads a channel idle for channelIdleMs: its data stays, its next load has a new epoch', () => {
    const { clock, server, client } = setup({ channelIdleMs: 1000 });
    const a = client('a1').send({ type: 'subscribe', channel: 'c' }).send({ type: 'op', channel: 'c', n: 1, set: { a: 1 } });
    const epoch = a.of('snapshot')[0]?.epoch;
    a.send({ type: 'unsubscribe', channel: 'c' });
    clock.advance(1000);
    expect(server.counters.channels).toBe(0);
    a.take();
    a.send({ type: 'subscribe', channel: 'c', epoch, since: 1 });
    const [snapshot] = a.take();
    expect(snapshot).toMatchObject({ type: 'snapshot', seq: 0, data: { a: 1 } });
    expect(snapshot?.epoch).not.toBe(epoch);
  });

  it('refuses an op past maxDataBytes of its channel with ERR_DATA_LIMIT; other channels have their own budget', () => {
    const { client } = setup({ maxDataBytes: 100 });
    const a = client('a1').send({ type: 'subscribe', channel: 'c' }).send({ type: 'subscribe', channel: 'd' });
    a.take();
    a.send({ type: 'op', channel: 'c', n: 1, set: { big: 'x'.repeat(90) } });
    a.send({ type: 'op', channel: 'c', n: 2, set: { more: 'x'.repeat(20) } });
    a.send({ type: 'op', channel: 'd', n: 1, set: { more: 'x'.repeat(20) } });
    expect(a.take().map((f) => f.code ?? f.type)).toEqual(['patch', 'ack', 'ERR_DATA_LIMIT', 'patch', 'ack']);
  });
});

describe('chunks', () => {
  it('cuts a snapshot over the client maxMessageBytes into pieces within it, joined exactly', () => {
    const { server, client } = setup();
    server.change({ set: { text: 'é"\\\n😀'.repeat(5000), more: 'x'.repeat(30_000) } }, 'big');
    const a = client('a1', { maxMessageBytes: 4096 });
    a.take();
    a.send({ type: 'subscribe', channel: 'big' });
    const frames = a.take();
    const chunks = frames.filter((f) => f.type === 'chunk');
    expect(chunks.length).toBeGreaterThan(10);
    for (const text of a.texts) expect(utf8Length(text)).toBeLessThanOrEqual(4096);
    const joined = chunks.map((c) => c.data as string).join('');
    expect(utf8Length(joined)).toBe(chunks[0]?.bytes);
    expect(JSON.parse(joined)).toEqual({ type: 'snapshot', channel: 'big', epoch: expect.any(String), seq: 1, data: server.channelState('big').data });
    expect(frames.at(-1)).toMatchObject({ type: 'synced', channel: 'big' });
    expect(server.counters.chunkedFrames).toBe(1);
  });

  it('sends the pieces as the socket drains; other channels pass between them, the same channel waits behind', () => {
    const { server, client } = setup();
    server.change({ set: { text: 'x'.repeat(200_000) } }, 'big');
    const a = client('a1', { maxMessageBytes: 4096 }).send({ type: 'subscribe', channel: 'small' });
    a.take();
    a.peer.buffered = 100_000; // the socket holds more than the low-water mark: pieces wait
    a.send({ type: 'subscribe', channel: 'big' });
    server.change({ set: { p: 1 } }, 'small');
    server.change({ set: { p: 1 } }, 'big');
    expect(a.take().map((f) => `${f.type}:${String(f.channel)}`)).toEqual(['patch:small']);
    a.peer.buffered = 0;
    a.session.drained();
    const after = a.take();
    expect(after.filter((f) => f.type === 'chunk').length).toBeGreaterThan(40);
    expect(after.slice(-2).map((f) => f.type)).toEqual(['synced', 'patch']);
  });

  it('counts what waits behind a chunked frame against maxBufferedBytes (a client that reads nothing)', () => {
    const { server, client } = setup({ maxBufferedBytes: 50_000 });
    server.change({ set: { text: 'x'.repeat(100_000) } }, 'big');
    const a = client('a1', { maxMessageBytes: 4096 });
    a.peer.buffered = 70_000;
    a.send({ type: 'subscribe', channel: 'big' });
    for (let i = 0; i < 100 && a.closes.length === 0; i++) server.change({ set: { n: i, pad: 'y'.repeat(1000) } }, 'big');
    expect(a.closes).toEqual([{ code: 1013, reason: expect.stringMatching(/slow consumer/) }]);
  });
});

describe('changes', () => {
  it('pages under the client maxMessageBytes, at least one patch a page', () => {
    const { server, client } = setup();
    for (let i = 0; i < 10; i++) server.change({ set: { [`k${i}`]: 'x'.repeat(1500) } }, 'c');
    const a = client('a1', { maxMessageBytes: 4096 }).send({ type: 'subscribe', channel: 'c' });
    a.take();
    a.send({ type: 'changes', channel: 'c', ref: 1, since: 0, limit: 100 });
    const [page] = a.take().filter((f) => f.type === 'changelog');
    expect(page).toMatchObject({ ref: 1, more: true });
    expect((page?.patches as unknown[]).length).toBe(2);
    expect(server.counters.changesServed).toBe(1);
  });

  it.each([
    ['a limit of 2^53 - 1', { limit: Number.MAX_SAFE_INTEGER, since: 0 }, 'changelog'],
    ['a since of 2^53 - 1', { limit: 5, since: Number.MAX_SAFE_INTEGER }, 'changelog'],
    ['a limit of 0', { limit: 0 }, 'ERR_INVALID_FRAME'],
    ['no ref', { ref: undefined, limit: 5 }, 'ERR_INVALID_FRAME'],
    ['an epoch without since', { epoch: 'e', limit: 5 }, 'ERR_INVALID_FRAME'],
  ])('answers changes with %s without harm', (_what, fields, answer) => {
    const { server, client } = setup();
    for (let i = 0; i < 3; i++) server.change({ set: { [`k${i}`]: i } }, 'c');
    const a = client('a1').send({ type: 'subscribe', channel: 'c' });
    a.take();
    a.send({ type: 'changes', channel: 'c', ref: 1, ...fields });
    const [frame] = a.take();
    expect(frame?.type === 'changelog' ? 'changelog' : frame?.code).toBe(answer);
    if (frame?.type === 'changelog') expect((frame.patches as unknown[]).length).toBeLessThanOrEqual(3);
  });
});

describe('stored channels', () => {
  const readOnly = {
    authenticate: (token: string) => ({ user: token }),
    authorize: ({ user, action }: { user: string | null; action: string }) => action !== 'publish' || user === 'ann',
  };

  it('leaves nothing behind for publish refusals on channels that store nothing (a subscriber flooding refused ops)', () => {
    const { server, client } = setup({ ...readOnly, channelIdleMs: 1000 });
    const bob = client('b1', {}, 'bob');
    for (let i = 0; i < 50; i++) {
      const name = `flood/${i}`;
      bob.send({ type: 'subscribe', channel: name }).send({ type: 'op', channel: name, n: 1, set: { x: 1 } }).send({ type: 'unsubscribe', channel: name });
    }
    expect(bob.of('error').map((f) => f.code)).toEqual(Array(50).fill('ERR_PUBLISH_FORBIDDEN'));
    expect(Object.keys(server.persisted().channels ?? {})).toEqual([]);
    expect(server.channelNames().filter((name) => name.startsWith('flood/'))).toHaveLength(50); // loaded, idle
  });

  it('judges a resend of an unrecorded refusal again, and never acks it once a mark exists above it', () => {
    let allowed = false;
    const { server, client } = setup({ authenticate: (token) => ({ user: token }), authorize: ({ action }) => action !== 'publish' || allowed });
    const a = client('a1', {}, 'ann').send({ type: 'subscribe', channel: 'room' });
    a.send({ type: 'op', channel: 'room', n: 1, set: { one: 1 } });
    allowed = true; // the permission changes before op 2 (a token refresh, an ACL edit)
    a.send({ type: 'op', channel: 'room', n: 2, set: { two: 2 } });
    a.send({ type: 'op', channel: 'room', n: 1, re: 0, set: { one: 1 } }); // its refusal was lost: resent
    expect(a.of('error').map((f) => `${f.n}:${f.code}`)).toEqual(['1:ERR_PUBLISH_FORBIDDEN', '1:ERR_CLIENT_FORGOTTEN']);
    expect(server.channelState('room').data).toEqual({ two: 2 });
    const b = client('b1', {}, 'bob').send({ type: 'subscribe', channel: 'room' });
    allowed = false;
    b.send({ type: 'op', channel: 'fresh', n: 1, set: { x: 1 } }); // not held: nothing
    b.take();
    allowed = true;
    b.send({ type: 'subscribe', channel: 'other' });
    allowed = false;
    b.send({ type: 'op', channel: 'other', n: 1, set: { x: 1 } });
    allowed = true;
    b.send({ type: 'op', channel: 'other', n: 1, re: 0, set: { x: 1 } });
    expect(b.take().filter((f) => f.type !== 'snapshot' && f.type !== 'synced').map((f) => f.code ?? f.type)).toEqual(['ERR_PUBLISH_FORBIDDEN', 'patch', 'ack']);
    expect(server.channelState('other').data).toEqual({ x: 1 });
  });

  it('refuses an op that would store a channel past maxStoredChannels with ERR_STORAGE_FULL, recording nothing', () => {
    const { server, client } = setup({ maxStoredChannels: 2 });
    const a = client('a1');
    for (const name of ['one', 'two', 'three']) a.send({ type: 'subscribe', channel: name }).send({ type: 'op', channel: name, n: 1, set: { x: 1 } });
    a.send({ type: 'op', channel: 'three', n: 2 }); // an invalid op would record a refusal: refused the same way
    a.send({ type: 'subscribe', channel: 'default' }).send({ type: 'op', channel: 'default', n: 1, set: { d: 1 } }); // default is always stored
    a.send({ type: 'op', channel: 'one', n: 2, set: { y: 1 } }); // stored channels go on
    expect(a.of('error').map((f) => `${f.channel}:${f.n}:${f.code}`)).toEqual(['three:1:ERR_STORAGE_FULL', 'three:2:ERR_STORAGE_FULL']);
    expect(a.of('ack').map((f) => `${f.channel}:${f.n}`)).toEqual(['one:1', 'two:1', 'default:1', 'one:2']);
    expect(Object.keys(server.persisted().channels ?? {}).sort()).toEqual(['default', 'one', 'two']);
    expect(() => server.change({ set: { x: 1 } }, 'four')).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_FULL' }));
    server.change({ delete: ['x', 'y'] }, 'one');
    expect(server.persisted().channels?.one?.marks).toHaveLength(1); // its marks keep it stored
  });

  it('makes room when a stored channel stores nothing any more', async () => {
    const { server } = setup({ maxStoredChannels: 1 });
    server.change({ set: { x: 1 } }, 'one');
    expect(() => server.change({ set: { x: 1 } }, 'two')).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_FULL' }));
    server.change({ delete: ['x'] }, 'one');
    await expect(server.change({ set: { x: 1 } }, 'two')).resolves.toMatchObject({ channel: 'two', seq: 1 });
  });
});
