/**
 * A connection without channels runs its chart on a ChartRunner until `connection.actor` is
 * read, which promotes it to a real XState actor (src/runner.ts). The same scripted scenario
 * (connect, messages, sends, acks, drop, the retry timer, a heartbeat timeout, stop) runs on a
 * connection that never has its actor read, one whose actor is read at once, and ones promoted
 * mid-way: all must end with the same status, history (with its simulated times), outbox, Model
 * and frames written.
 */
import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { createStore } from '../src/store.js';
import { createTestConnection } from '../src/testing/test-connection.js';
import { ackingProtocol } from './support/acking-protocol.js';
import { seen, type Twin } from './support/twin.js';


/** When the scenario reads `connection.actor` (promoting the connection). */
type Promotion = 'never' | 'at once' | 'retry pending' | 'in a listener' | 'in model.update' | 'heartbeat pending';

function make(promoteInUpdate = false): Twin {
  const store = createStore();
  let t: Twin | null = null;
  const update = store.update.bind(store);
  // read in the middle of a transition (the chart's updateModel action): the actor starts from the snapshot that event ends with
  if (promoteInUpdate) {
    store.update = (message) => {
      if (t !== null) t.connection.actor.getSnapshot();
      update(message);
    };
  }
  return (t = createTestConnection({
    model: store,
    protocol: ackingProtocol,
    heartbeat: { intervalMs: 1_000, timeoutMs: 500, message: 'ping' },
  }) as unknown as Twin);
}

/** The scenario, reading `connection.actor` where `promotion` says; returns what was seen after each step. */
function run(promotion: Promotion): ReturnType<typeof seen>[] {
  const t = make(promotion === 'in model.update');
  const views: ReturnType<typeof seen>[] = [];
  const step = () => views.push(structuredClone(seen(t)));
  const promote = (at: Promotion) => {
    if (promotion === at) expect(t.connection.actor.getSnapshot().status).toBe('active');
  };
  promote('at once');
  if (promotion === 'in a listener') {
    // read while the chart is busy with the event that opened the socket
    const unsubscribe = t.connection.subscribe((status) => {
      if (status.state === 'open') {
        unsubscribe();
        t.connection.actor.getSnapshot();
      }
    });
  }
  t.open();
  step();
  t.socket.receive({ a: 1 }, { b: 2 });
  t.connection.send({ type: 'op', id: 'a' });
  t.connection.send({ type: 'op', id: 'b' });
  t.connection.send({ type: 'note' });
  step();
  t.socket.receive({ type: 'ack', id: 'a' });
  step();
  t.socket.drop();
  step();
  promote('retry pending');
  // the retry timer fires once, at the same simulated time, whoever runs it
  for (let i = 0; i < 600 && t.connection.getStatus().state !== 'connecting'; i++) t.advance(50);
  step();
  t.open();
  t.socket.receive({ type: 'ack', id: 'b' }, { c: 3 });
  step();
  t.advance(1_000);
  step();
  promote('heartbeat pending');
  // no pong: the heartbeat times out and the attempt fails
  t.advance(500);
  step();
  t.connection.send({ type: 'op', id: 'c' });
  t.connection.stop();
  step();
  expect(t.connection.getStatus().state).toBe('closed');
  return views;
}

describe('running without an actor', () => {
  const without = run('never');

  for (const promotion of ['at once', 'retry pending', 'in a listener', 'in model.update', 'heartbeat pending'] as const) {
    it(`runs the scenario as an actor does: promoted ${promotion}`, () => {
      expect(run(promotion)).toEqual(without);
    });
  }

  it('goes through the whole scenario (connects twice, the retry and the heartbeat timeout in history)', () => {
    const last = without.at(-1)!;
    expect(last.written).toHaveLength(2);
    expect(last.history.map((entry) => entry.state)).toEqual(['idle', 'connecting', 'open', 'errored', 'connecting', 'open', 'errored', 'closed']);
    expect(last.history.some((entry) => entry.event.startsWith('xstate.after.'))).toBe(true);
    expect(last.history.find((entry) => entry.error?.code === 'ERR_HEARTBEAT_TIMEOUT')).toBeDefined();
  });

  it('keeps the same actor once promoted, and stops it with the connection', () => {
    const t = make();
    t.open();
    const actor = t.connection.actor;
    expect(t.connection.actor).toBe(actor);
    t.connection.stop();
    expect(actor.getSnapshot().status).toBe('stopped');
  });

  it("hands its pending timers to the actor's scheduler, where XState's cancel finds them", () => {
    const t = make();
    t.open();
    t.socket.drop();
    const scheduled = () =>
      Object.values((t.connection.actor.system as unknown as { getSnapshot(): { _scheduledEvents: Record<string, { event: { type: string } }> } }).getSnapshot()._scheduledEvents).map(
        (entry) => entry.event.type,
      );
    expect(scheduled()).toEqual([expect.stringMatching(/^xstate\.after\..*errored/)]);
    // retry() leaves the wait: the exit cancels the timer, by its id, in the actor's scheduler
    t.connection.retry();
    expect(t.connection.getStatus().state).toBe('connecting');
    expect(scheduled().every((type) => !type.includes('errored'))).toBe(true);
    t.connection.stop();
  });

  it('shows the last snapshot when promoted after stop()', () => {
    const t = make();
    t.open();
    t.connection.stop();
    expect(t.connection.actor.getSnapshot().status).toBe('stopped');
    expect(t.connection.getStatus().state).toBe('closed');
  });

  it('lets an inspector attached through connection.actor.system.inspect() see every transition from then on', () => {
    const t = make();
    t.open();
    t.socket.drop();
    const entered = t.connection.history.length;
    const snapshots: string[] = [];
    const events: string[] = [];
    t.connection.actor.system.inspect((inspection: InspectionEvent) => {
      if (inspection.type === '@xstate.event') events.push(inspection.event.type);
      if (inspection.type === '@xstate.snapshot') snapshots.push(JSON.stringify((inspection.snapshot as unknown as { value: unknown }).value));
    });
    for (let i = 0; i < 600 && t.connection.getStatus().state !== 'connecting'; i++) t.advance(50);
    t.open();
    t.socket.receive({ a: 1 });
    t.connection.send({ type: 'note' });
    t.connection.stop();
    // the retry timer's event, the socket's, the facade's
    expect(events[0]).toMatch(/^xstate\.after\./);
    expect(events).toEqual(expect.arrayContaining(['socket.opened', 'message.received', 'client.send', 'client.stop']));
    // every state the connection entered since, in the inspector's snapshots too
    const states = t.connection.history.slice(entered).map((entry) => entry.state);
    expect(states).toEqual(['connecting', 'open', 'closed']);
    expect(snapshots.length).toBeGreaterThanOrEqual(events.length - 1);
    expect(snapshots.some((value) => value.includes('"open"'))).toBe(true);
  });
});
