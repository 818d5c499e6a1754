/**
 * The sync server on an engine that answers later (test/support/controlled-engine.ts: the memory
 * engine behind held promises): one client's ops on one channel appended one at a time and acked
 * in order, later frames of the channel waiting behind a pending one, other channels passing, the
 * ack sent only after the append resolved and the patch went out, and an unavailable engine
 * closing every client with 1013 (never an error frame with the op's n) until it is back.
 */
import { describe, expect, it, vi } from 'vitest';
import { EngineUnavailableError, type Engine, type EngineStatus } from '../../src/server/engine.js';
import { memoryEngine } from '../../src/server/engines/memory.js';
import { startSyncServer } from '../../src/server/start.js';
import { onCleanup } from '../support/cleanup.js';
import { createSyncServer, type SyncServer } from '../../src/server/sync-server.js';
import { controlledEngine, settle } from '../support/controlled-engine.js';
import { CATCH_UP_WAIT_MS } from '../../src/server/session.js';

interface Frame {
  type: string;
  [key: string]: unknown;
}

/** A version 2 client on `server`, greeted as `id`, recording frames and closes. */
function client(server: SyncServer, id: string) {
  const frames: Frame[] = [];
  const closes: number[] = [];
  const session = server.connect({
    send: (text) => frames.push(JSON.parse(text) as Frame),
    close: (code) => closes.push(code),
    bufferedAmount: 0,
  });
  const c = {
    frames,
    closes,
    send(frame: object) {
      session.receive(JSON.stringify(frame));
      return c;
    },
    /** The frames' types (with channel and n or seq), in order. */
    summary: () => frames.map((f) => [f.type, f.channel, f.n ?? f.seq].filter((x) => x !== undefined).join(' ')),
  };
  c.send({ type: 'hello', v: 2, client: id });
  return c;
}

async function subscribed(server: SyncServer, id: string, channels: string[]) {
  const c = client(server, id);
  for (const channel of channels) c.send({ type: 'subscribe', channel });
  await settle();
  expect(c.frames.filter((f) => f.type === 'synced').map((f) => f.channel)).toEqual(channels);
  c.frames.length = 0;
  return c;
}

const op = (channel: string, n: number, set: Record<string, unknown>) => ({ type: 'op', channel, n, set });

/** A server on a controlled engine, closed after the test. */
function setup() {
  const control = controlledEngine();
  const server = createSyncServer({ engine: control.engine });
  onCleanup(() => server.close());
  return { control, server };
}

describe('a server on an engine that answers later', () => {
  it('greets and subscribes through the engine, and applies ops with acks after their patches', async () => {
    const { control, server } = setup();
    const a = await subscribed(server, 'a1', ['c']);
    a.send(op('c', 1, { x: 1 }));
    expect(a.frames).toEqual([]); // nothing before the engine answered
    await settle();
    expect(a.summary()).toEqual(['patch c 1', 'ack c 1']);
    expect(server.channelState('c').data).toEqual({ x: 1 });
  });

  it('appends one client op of a channel at a time, in order, and acks them in order', async () => {
    const { control, server } = setup();
    const a = await subscribed(server, 'a1', ['c']);
    control.hold('append');
    for (let n = 1; n <= 3; n++) a.send(op('c', n, { n }));
    await settle();
    expect(control.waiting('append')).toBe(1); // the second waits for the first
    for (let n = 1; n <= 3; n++) {
      control.releaseOne('append');
      await settle();
      expect(control.waiting('append')).toBe(n < 3 ? 1 : 0);
    }
    expect(a.summary()).toEqual(['patch c 1', 'ack c 1', 'patch c 2', 'ack c 2', 'patch c 3', 'ack c 3']);
  });

  it('keeps later frames of the channel behind a pending append, and lets other channels pass', async () => {
    const { control, server } = setup();
    const a = await subscribed(server, 'a1', ['c', 'd']);
    control.hold('append');
    a.send(op('c', 1, { x: 1 }));
    a.send({ type: 'unsubscribe', channel: 'c' });
    a.send({ type: 'ping' });
    a.send(op('d', 1, { y: 1 }));
    await settle();
    // The ping is of no channel: answered at once; d's op waits for the engine, not for c's.
    expect(a.summary()).toEqual(['pong']);
    expect(control.waiting('append')).toBe(2);
    control.releaseOne('append'); // c's
    await settle();
    control.releaseOne('append'); // d's
    await settle();
    expect(a.summary()).toEqual(['pong', 'patch c 1', 'ack c 1', 'unsubscribed c', 'patch d 1', 'ack d 1']);
  });

  it('sends the ack only once the entry reached the followed copy (its patch first), even when the append resolves before', async () => {
    const { control, server } = setup();
    const a = await subscribed(server, 'a1', ['c']);
    const b = await subscribed(server, 'b1', ['c']);
    control.entriesLate();
    a.send(op('c', 1, { x: 1 }));
    await settle();
    expect(control.calls.filter((m) => m === 'append')).toHaveLength(1);
    expect(a.frames).toEqual([]); // applied by the engine, but not yet followed here: no ack
    control.tellEntries();
    await settle();
    expect(a.summary()).toEqual(['patch c 1', 'ack c 1']);
    expect(b.summary()).toEqual(['patch c 1']);
  });

  it('answers a subscribe ahead of its copy (entries still on their way from the engine) by replay once they arrived, not with an older snapshot', async () => {
    const { control, server } = setup();
    const a = client(server, 'a1').send({ type: 'subscribe', channel: 'c' });
    await settle();
    const epoch = a.frames.find((f) => f.type === 'synced')?.epoch;
    a.frames.length = 0;
    control.entriesLate();
    a.send(op('c', 1, { x: 1 }));
    await settle();
    // b saw seq 1 through another instance; this instance's copy is still at 0
    const b = client(server, 'b1').send({ type: 'subscribe', channel: 'c', epoch, since: 1 });
    await settle();
    expect(b.summary()).toEqual(['welcome']);
    control.tellEntries();
    await settle();
    expect(b.summary()).toEqual(['welcome', 'synced c 1']);
    expect(a.summary()).toEqual(['patch c 1', 'ack c 1']);
    expect(server.counters.snapshotsSent).toBe(1);
  });

  it('resumes a version 1 hello ahead of its copy by replay once the entries arrived, not with an older snapshot', async () => {
    const { control, server } = setup();
    const a = client(server, 'a1').send({ type: 'subscribe', channel: 'default' });
    await settle();
    const epoch = a.frames.find((f) => f.type === 'synced')?.epoch;
    control.entriesLate();
    void server.change({ set: { x: 1 } });
    await settle();
    // a version 1 client that saw seq 1 through another instance; this instance's copy is still at 0
    const frames: Frame[] = [];
    const v1 = server.connect({ send: (text) => frames.push(JSON.parse(text) as Frame), close: () => {}, bufferedAmount: 0 });
    v1.receive(JSON.stringify({ type: 'hello', v: 1, epoch, since: 1 }));
    await settle();
    expect(frames).toEqual([]);
    control.tellEntries();
    await settle();
    expect(frames.map((f) => f.type)).not.toContain('snapshot');
    expect(server.counters.snapshotsSent).toBe(1);
  });

  it('answers a subscribe ahead of what the store ever reached with a snapshot after the wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { server } = setup();
      const a = client(server, 'a1').send({ type: 'subscribe', channel: 'c' });
      await settle();
      const epoch = a.frames.find((f) => f.type === 'synced')?.epoch;
      const b = client(server, 'b1').send({ type: 'subscribe', channel: 'c', epoch, since: 5 });
      await settle();
      expect(b.summary()).toEqual(['welcome']);
      await vi.advanceTimersByTimeAsync(CATCH_UP_WAIT_MS);
      expect(b.summary()).toEqual(['welcome', 'snapshot c 0', 'synced c 0']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('queues frames behind a hello that awaits the engine, and handles them after the welcome', async () => {
    const { control, server } = setup();
    control.hold('claimClient');
    const a = client(server, 'a1').send({ type: 'subscribe', channel: 'c' }).send(op('c', 1, { x: 1 }));
    await settle();
    expect(a.frames).toEqual([]);
    control.releaseOne('claimClient');
    await settle();
    expect(a.summary()).toEqual(['welcome', 'snapshot c 0', 'synced c 0', 'patch c 1', 'ack c 1']);
  });

  it('orders the server changes of a channel as called, each resolving after its patch went out', async () => {
    const { control, server } = setup();
    const a = await subscribed(server, 'a1', ['c']);
    control.hold('append');
    const first = server.change({ set: { k: 1 } }, 'c');
    const second = server.change({ set: { k: 2 } }, 'c');
    await settle();
    expect(control.waiting('append')).toBe(1);
    control.releaseOne('append');
    await expect(first).resolves.toMatchObject({ channel: 'c', seq: 1 });
    await settle();
    control.releaseOne('append');
    await expect(second).resolves.toMatchObject({ channel: 'c', seq: 2 });
    expect(a.summary()).toEqual(['patch c 1', 'patch c 2']);
    expect(server.channelState('c').data).toEqual({ k: 2 });
  });
});

describe('the engine option', () => {
  it("refuses initial or onChange beside an engine (they are the memory engine's), naming them", () => {
    const engine = memoryEngine();
    expect(() => createSyncServer({ engine, initial: { data: {}, appliedOpIds: [] } })).toThrow(/initial and onChange are the memory engine's/);
    expect(() => createSyncServer({ engine, onChange: () => {} })).toThrow(TypeError);
  });
});

describe("the memory engine and the caller's entry sizes", () => {
  it('takes the sizes when they cover the change, and measures the keys they leave out', async () => {
    const engine = memoryEngine();
    onCleanup(async () => {
      await engine.close();
    });
    // {"a":"xxxx","b":"yy","d":1}: 2 + 10 + 8 + 5 + 2 commas = 27 bytes, "b" measured by the engine.
    expect(await engine.append('sizes', { set: { a: 'xxxx', b: 'yy' } }, undefined, { maxDataBytes: 1_000, entryBytes: new Map([['a', 10]]) })).toMatchObject({ status: 'applied' });
    expect(await engine.append('sizes', { set: { d: 1 } }, undefined, { maxDataBytes: 1_000, entryBytes: new Map([['d', 5]]) })).toMatchObject({ status: 'applied' });
    // A delete beside the sizes: the engine measures the change itself ("c": 4 + 52 bytes; "d" goes).
    expect(await engine.append('sizes', { set: { c: 'z'.repeat(50) }, delete: ['d'] }, undefined, { maxDataBytes: 30, entryBytes: new Map([['c', 56]]) })).toEqual({ status: 'tooLarge', bytes: 2 + 10 + 8 + 56 + 2 });
    expect(await engine.append('sizes', { set: { c: 'z'.repeat(50) } }, undefined, { maxDataBytes: 30, entryBytes: new Map([['c', 56]]) })).toEqual({ status: 'tooLarge', bytes: 27 + 1 + 56 });
  });
});

describe('instances sharing one engine', () => {
  it('delivers one channel across instances, and replays from the engine log what a newer instance never held', async () => {
    const engine = memoryEngine();
    const one = createSyncServer({ engine });
    const two = createSyncServer({ engine });
    const a = await subscribed(one, 'a1', ['c']);
    const b = await subscribed(two, 'b1', ['c']);
    for (let n = 1; n <= 3; n++) a.send(op('c', n, { n }));
    expect(b.summary()).toEqual(['patch c 1', 'patch c 2', 'patch c 3']);
    const epoch = b.frames[0]?.epoch;
    // A third instance starts following at seq 3: its own log is empty. A client at seq 1 moves to it.
    const three = createSyncServer({ engine });
    const moved = client(three, 'm1').send({ type: 'subscribe', channel: 'c', epoch, since: 1 });
    await settle();
    expect(moved.summary()).toEqual(['welcome', 'patch c 2', 'patch c 3', 'synced c 3']);
    expect(three.counters.replays).toBe(1);
    expect(three.counters.snapshotsSent).toBe(0);
    // A version 1 client's resync on it replays from the engine's log too.
    const v1: Frame[] = [];
    const session = three.connect({ send: (text) => v1.push(JSON.parse(text) as Frame), close: () => {}, bufferedAmount: 0 });
    const defaultEpoch = one.epoch;
    for (let i = 1; i <= 2; i++) one.change({ set: { i } });
    two.change({ set: { i: 3 } });
    session.receive(JSON.stringify({ type: 'hello', v: 1, epoch: defaultEpoch, since: 1 }));
    await settle();
    expect(v1.map((f) => `${f.type} ${String(f.seq)}`)).toEqual(['patch 2', 'patch 3']);
    for (const server of [one, two, three]) server.close();
    await engine.close();
  });
});

describe('the feed on instances sharing one engine', () => {
  it('runs on the one instance holding the lease, never at twice the rate; another takes over when it stops', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    onCleanup(() => {
      vi.useRealTimers();
    });
    const engine = memoryEngine();
    onCleanup(async () => {
      await engine.close();
    });
    const options = { host: '127.0.0.1', port: 0, feedRatePerSec: 100, feedChannel: 'prices', engine };
    const one = await startSyncServer(options);
    onCleanup(() => one.close());
    const two = await startSyncServer(options);
    onCleanup(() => two.close());
    vi.advanceTimersByTime(1_000);
    await settle();
    expect(one.stats().feedChanges).toBe(100);
    expect(two.stats().feedChanges).toBe(0);
    one.stopFeed(); // gives the lease up
    vi.advanceTimersByTime(5_000); // two renews (every third of FEED_LEASE_MS) and takes it
    await settle();
    expect(one.stats().feedChanges).toBe(100);
    expect(two.stats().feedChanges).toBeGreaterThan(0);
  });
});

describe('the feed on an engine that answers later', () => {
  it('starts without the channel loaded, and goes on from its prices once loaded', async () => {
    const control = controlledEngine();
    control.inner.append('prices', { set: { 'BTC-USD': 70_000 } });
    const server = await startSyncServer({ host: '127.0.0.1', port: 0, feedRatePerSec: 50, feedChannel: 'prices', engine: control.engine });
    onCleanup(() => server.close());
    for (let i = 0; i < 500 && server.stats().feedChanges < 10; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.stats().feedChanges).toBeGreaterThanOrEqual(10);
    const price = server.core.channelState('prices').data['BTC-USD'] as number;
    expect(Math.abs(price / 70_000 - 1)).toBeLessThan(0.02); // went on from 70,000 (±0.2 % a change), not from the 64,000 it starts with
  });
});

describe('an unavailable engine', () => {
  it('closes every client with 1013 and answers no op with an error carrying its n; serves again once the engine is back', async () => {
    const { control, server } = setup();
    const a = await subscribed(server, 'a1', ['c']);
    const b = await subscribed(server, 'b1', ['d']);
    control.hold('append');
    a.send(op('c', 1, { x: 1 }));
    await settle();
    control.goDown();
    control.releaseOne('append'); // rejects: the store is gone
    await settle();
    expect(a.closes).toEqual([1013]);
    expect(b.closes).toEqual([1013]);
    expect(a.frames.filter((f) => f.type === 'error')).toEqual([]);
    expect(server.counters.engineOutages).toBe(1);
    // While it is away, a new connection is closed with 1013 at once.
    const early = client(server, 'e1');
    expect(early.closes).toEqual([1013]);
    // Back: the client reconnects and sends its op again, which applies once.
    control.unhold('append');
    control.comeBack();
    const again = await subscribed(server, 'a1', ['c']);
    again.send(op('c', 1, { x: 1 }));
    await settle();
    expect(again.summary()).toEqual(['patch c 1', 'ack c 1']);
    expect(server.counters.engineOutages).toBe(1);
  });

  it('closes every presence member with 1013 when the engine throws at once (no promise) as it goes down', () => {
    // Found by the simulator with several instances (runSimulation({ instances })): the members'
    // detach threw out of the outage handling, and the clients after the first stayed open.
    const inner = memoryEngine();
    let down = false;
    const statusListeners = new Set<(status: EngineStatus) => void>();
    const unlessDown = () => {
      if (down) throw new EngineUnavailableError('the test engine is down');
    };
    const engine: Engine = {
      ...inner,
      detach: (...args) => (unlessDown(), inner.detach(...args)),
      leave: (...args) => (unlessDown(), inner.leave(...args)),
      onStatus(listener) {
        statusListeners.add(listener);
        return () => statusListeners.delete(listener);
      },
    };
    const server = createSyncServer({ engine });
    onCleanup(() => server.close());
    const a = client(server, 'a1').send({ type: 'subscribe', channel: 'room', presence: true });
    const b = client(server, 'b1').send({ type: 'subscribe', channel: 'room', presence: true });
    expect(b.frames.some((f) => f.type === 'presence')).toBe(true);
    down = true;
    expect(() => {
      for (const listener of statusListeners) listener('unavailable');
    }).not.toThrow();
    expect([a.closes, b.closes]).toEqual([[1013], [1013]]);
    expect(server.counters.engineOutages).toBe(1);
  });

  it('treats a rejection of any engine call as the outage (a subscribe whose follow fails)', async () => {
    const { control, server } = setup();
    const a = await subscribed(server, 'a1', ['c']);
    control.hold('follow');
    a.send({ type: 'subscribe', channel: 'other' });
    await settle();
    control.goDown();
    control.releaseOne('follow');
    await settle();
    expect(a.closes).toEqual([1013]);
    expect(a.frames.filter((f) => f.type === 'error' || f.type === 'unsubscribed')).toEqual([]);
  });
});
