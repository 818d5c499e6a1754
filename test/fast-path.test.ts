/**
 * The fast path (src/fast-path.ts) against the chart: every hot event, in every state of the
 * chart a connection can rest in, goes to two twin connections, one with the fast path and one
 * with an inspector attached (every event through XState's macrostep), and both must end with the
 * same status, Model, outbox, history and frames written.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionEvent } from '../machines/connection.types.js';
import { fastPathStats } from '../src/fast-path.js';
import { rawProtocol, type Protocol } from '../src/protocol.js';
import { createStore } from '../src/store.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { createTestConnection } from '../src/testing/test-connection.js';
import type { ConnectionOptions } from '../src/options.js';
import { seen as seenByUser, type Twin } from './support/twin.js';


interface Setup {
  name: string;
  options?: Partial<ConnectionOptions<ReturnType<typeof createStore>, unknown>>;
  /** Brings a twin to the state; the same steps for both. */
  reach(t: Twin): void;
}

const HEARTBEAT = { intervalMs: 1_000, timeoutMs: 500, message: '{"type":"ping"}' };

/** The states a connection rests in (transient `failing` and `heartbeat.choosing` excepted), each with a way there. */
const SETUPS: Setup[] = [
  { name: 'idle', options: { autoStart: false }, reach: () => {} },
  { name: 'connecting', reach: () => {} },
  { name: 'open (settling, no heartbeat, flowing)', reach: (t) => void t.open() },
  { name: 'open (stable)', reach: (t) => (t.open(), t.advance(60_000)) },
  { name: 'open (heartbeat waiting)', options: { heartbeat: HEARTBEAT }, reach: (t) => void t.open() },
  { name: 'open (awaiting pong)', options: { heartbeat: HEARTBEAT }, reach: (t) => (t.open(), t.advance(1_000)) },
  {
    name: 'open (congested)',
    reach: (t) => {
      const socket = t.open();
      socket.bufferedAmount = Number.MAX_SAFE_INTEGER;
      t.connection.actor.send({ type: 'client.send', frame: 'fills the buffer' });
    },
  },
  {
    name: 'closing',
    reach: (t) => {
      t.open().hangOnClose = true;
      t.connection.disconnect();
    },
  },
  { name: 'errored (waiting)', reach: (t) => t.open().drop() },
  { name: 'errored (offline)', reach: (t) => (t.open().drop(), t.connection.setOnline(false)) },
  {
    name: 'errored (hidden)',
    reach: (t) => {
      t.open().drop();
      t.connection.actor.send({ type: 'page.hidden' });
      t.advance(60_000);
    },
  },
  { name: 'errored (suspended)', reach: (t) => (t.open(), t.connection.actor.send({ type: 'page.suspended' })) },
  { name: 'closed', reach: (t) => (t.open(), t.connection.disconnect()) },
];

/** The hot events, each as a function of the twin (its socket id): fresh and stale reads, and every shape of send. */
const HOT: { name: string; event(socketId: number, i: number): ConnectionEvent }[] = [
  { name: 'message.received', event: (socketId, i) => ({ type: 'message.received', messages: [{ n: i }], socketId, at: 100 + i }) },
  { name: 'message.received, two messages', event: (socketId, i) => ({ type: 'message.received', messages: [{ a: i }, { b: i }], socketId, at: 100 + i }) },
  { name: 'message.received, stale', event: (socketId, i) => ({ type: 'message.received', messages: [{ stale: i }], socketId: socketId - 1, at: 100 + i }) },
  { name: 'client.send', event: (_, i) => ({ type: 'client.send', frame: `plain ${i}` }) },
  { name: 'client.send awaiting an ack', event: (_, i) => ({ type: 'client.send', frame: `op ${i}`, ackId: `a${i}` }) },
  { name: 'client.send held', event: (_, i) => ({ type: 'client.send', frame: `held ${i}`, ackId: `h${i}`, channel: 'c', hold: true }) },
  { name: 'client.send awaiting a mark', event: (_, i) => ({ type: 'client.send', frame: `mark ${i}`, ackId: `m${i}`, channel: 'c', awaitsMark: true }) },
];

const PROTOCOLS: { name: string; make(): Protocol<unknown, unknown> }[] = [
  { name: 'raw protocol', make: () => rawProtocol as Protocol<unknown, unknown> },
  { name: 'sync protocol', make: () => createSyncProtocol() as unknown as Protocol<unknown, unknown> },
];

/** Everything a user can see of a twin. */
function seen(t: Twin) {
  return { ...seenByUser(t), state: t.connection.actor.getSnapshot().value };
}

function twins(setup: Setup, protocol: () => Protocol<unknown, unknown>, outbox: ConnectionOptions<never, unknown>['outbox']): [Twin, Twin] {
  const make = (inspected: boolean) => {
    // the raw protocol hands the store what it receives: keys the store takes
    const t = createTestConnection({
      ...setup.options,
      model: createStore(),
      protocol: protocol(),
      ...(outbox === undefined ? {} : { outbox }),
      ...(inspected ? { inspect: { inspect: () => {} } } : {}),
    }) as unknown as Twin;
    setup.reach(t);
    return t;
  };
  return [make(false), make(true)];
}

describe('the fast path', () => {
  const outboxes: { name: string; outbox?: ConnectionOptions<never, unknown>['outbox'] }[] = [
    { name: 'an outbox with room' },
    { name: 'a full outbox, drop-oldest', outbox: { limit: 2, overflow: 'drop-oldest' } },
    { name: 'a full outbox, drop-newest', outbox: { limit: 2, overflow: 'drop-newest' } },
    { name: 'a full outbox, reject', outbox: { limit: 2, overflow: 'reject' } },
  ];
  for (const { name: protocolName, make } of PROTOCOLS) {
    for (const setup of SETUPS) {
      for (const { name: outboxName, outbox } of outboxes) {
        it(`agrees with the chart: ${protocolName}, ${setup.name}, ${outboxName}`, () => {
          const [fast, full] = twins(setup, make, outbox);
          expect(seen(fast)).toEqual(seen(full));
          const fastBefore = fastPathStats.fast;
          for (let round = 0; round < 3; round++) {
            for (const [i, hot] of HOT.entries()) {
              const index = round * HOT.length + i;
              const socketId = fast.connection.actor.getSnapshot().context.socketId;
              fast.connection.actor.send(hot.event(socketId, index));
              full.connection.actor.send(hot.event(socketId, index));
              expect(seen(fast), `${hot.name}, round ${round}`).toEqual(seen(full));
            }
            fast.advance(16);
            full.advance(16);
            expect(seen(fast)).toEqual(seen(full));
          }
          const took = fastPathStats.fast - fastBefore;
          // in open the hot events take the fast path; the inspected twin never does
          if (setup.name.startsWith('open') && !setup.name.includes('congested')) expect(took).toBeGreaterThan(0);
          fast.connection.stop();
          full.connection.stop();
          expect(seen(fast)).toEqual(seen(full));
        });
      }
    }
  }

  it('reaches every state a connection rests in', () => {
    const reached = new Set<string>();
    for (const setup of SETUPS) {
      const [t] = twins(setup, PROTOCOLS[0]!.make, undefined);
      for (const node of (t.connection.actor.getSnapshot() as unknown as { _nodes: { id: string; type: string }[] })._nodes) {
        if (node.type === 'atomic') reached.add(node.id);
      }
      t.connection.stop();
    }
    const transient = new Set(['connection.failing', 'connection.session.open.heartbeat.choosing']);
    const chart = fastPathChartAtoms().filter((id) => !transient.has(id));
    // `answered` is reached by a pong: the sync protocol's frames (checked through the socket below)
    expect(chart.filter((id) => !reached.has(id))).toEqual(['connection.session.open.heartbeat.answered']);
  });

  it('agrees with the chart after a pong (heartbeat answered), sync protocol, through the socket', () => {
    const setup: Setup = {
      name: 'answered',
      options: { heartbeat: HEARTBEAT },
      reach: (t) => {
        const socket = t.open();
        t.advance(1_000);
        socket.receive({ type: 'pong' });
        t.advance(500);
      },
    };
    const [fast, full] = twins(setup, PROTOCOLS[1]!.make, undefined);
    expect(fast.connection.actor.getSnapshot().matches({ session: { open: { heartbeat: 'answered' } } })).toBe(true);
    for (let seq = 1; seq <= 5; seq++) {
      for (const t of [fast, full]) {
        t.socket.receive(seq === 1 ? { type: 'snapshot', epoch: 'e', seq: 1, data: { a: 1 } } : { type: 'patch', epoch: 'e', seq, set: { a: seq } });
        t.connection.send({ type: 'op', id: `op-${seq}`, set: { b: seq } });
      }
      expect(seen(fast)).toEqual(seen(full));
    }
    expect(fast.connection.model.getData()).toEqual({ a: 5 });
    fast.connection.stop();
    full.connection.stop();
  });

  it('makes a snapshot with the fields, in the order, of the snapshot XState makes', () => {
    const [fast, full] = twins(SETUPS[2]!, PROTOCOLS[1]!.make, undefined);
    const before = fastPathStats.fast;
    for (const t of [fast, full]) {
      t.socket.receive({ type: 'snapshot', epoch: 'e', seq: 1, data: { a: 1 } });
      t.connection.send({ type: 'op', id: 'op-1', set: { b: 1 } });
    }
    expect(fastPathStats.fast).toBe(before + 2);
    const fields = (t: Twin) => Object.keys(t.connection.actor.getSnapshot());
    expect(fields(fast)).toEqual(fields(full));
    expect(fast.connection.actor.getSnapshot().hasTag('open')).toBe(true);
    fast.connection.stop();
    full.connection.stop();
  });

  it('steps aside while an inspector is attached with actor.system.inspect()', () => {
    const t = createTestConnection({ model: createStore() });
    const socket = t.open();
    const inspected: string[] = [];
    const subscription = t.connection.actor.system.inspect((event) => {
      if (event.type === '@xstate.event') inspected.push(event.event.type);
    });
    const before = fastPathStats.fast;
    const sourced = fastPathStats.sourced;
    socket.receive({ a: 1 });
    t.connection.send('x');
    expect(fastPathStats.fast).toBe(before);
    expect(inspected).toEqual(expect.arrayContaining(['message.received', 'client.send']));
    subscription.unsubscribe();
    socket.receive({ a: 2 });
    expect(fastPathStats.fast).toBe(before + 1);
    // the configuration's source answered (no walk of the whole configuration)
    expect(fastPathStats.sourced).toBe(sourced + 1);
    expect(t.connection.getStatus().counters.received).toBe(2);
    t.connection.stop();
  });
});

/** The atomic states of the chart, by id. */
function fastPathChartAtoms(): string[] {
  const t = createTestConnection();
  const ids: string[] = [];
  const walk = (node: { id: string; type: string; states: Record<string, unknown> }) => {
    if (node.type === 'atomic') ids.push(node.id);
    for (const child of Object.values(node.states)) walk(child as typeof node);
  };
  walk(t.connection.actor.getSnapshot().machine.root as unknown as { id: string; type: string; states: Record<string, unknown> });
  t.connection.stop();
  return ids;
}
