/**
 * Model-based tests: the graph utilities walk the chart's state space; every
 * path found is replayed on a real connection (real chart, socket actor and
 * store, fake sockets, simulated clock) and the state is compared after each
 * step. Then, from every reachable state, a healthy server and no user action
 * must bring the machine back to `open`.
 */
import { assign, raise, type EventFromLogic, type InspectionEvent, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../machines/connection.js';
import type { ConnectionEvent } from '../machines/connection.types.js';
import { shouldReconnect } from '../src/close-codes.js';
import { stateNameOf } from '../src/status.js';
import { resolveOptions } from '../src/options.js';
import type { ConnectionOptions } from '../src/options.js';
import type { Store } from '../src/store.js';
import { watchEnvironment } from '../src/environment.js';
import { createFakeEnvironment, createFakeSockets, createTestConnection } from '../src/testing/index.js';

type Snapshot = SnapshotFrom<typeof connectionMachine>;
type Event = EventFromLogic<typeof connectionMachine>;

interface Setup {
  name: string;
  options: Omit<ConnectionOptions<Store, unknown>, 'url'>;
  /** Delays whose timers may not be the next to fire in this setup, so paths must not use them. */
  skipDelays: string[];
}

const setups: Setup[] = [
  {
    name: 'heartbeat on',
    options: { heartbeat: { intervalMs: 1000, timeoutMs: 400 }, reconnect: { maxAttempts: 1, stableAfterMs: 1e9 } },
    skipDelays: ['stableAfter', 'drainCheck'],
  },
  {
    name: 'heartbeat off',
    options: { reconnect: { maxAttempts: 1, stableAfterMs: 5000 } },
    skipDelays: ['drainCheck'],
  },
];

/** The chart with pure stand-ins for its clock-reading effects, for the traversal only. */
function traversalLogic(setup: Setup) {
  return connectionMachine.provide({
    actions: {
      planRetry: assign({ nextDelayMs: 100, nextRetryAt: 100 }),
      recordPing: assign(({ context }) => ({ pingSentAt: context.lastInboundAt + 1 })),
      checkPong: raise({ type: 'heartbeat.checked', at: 0 }),
    },
    guards: {
      isReconnectableClose: ({ event }) => event.type !== 'socket.closed' || shouldReconnect(event),
      // timers fire at their deadline here, so overdue means "nothing came since the ping"
      isPongOverdue: ({ context }) => context.pingSentAt !== null && context.lastInboundAt < context.pingSentAt,
    },
  });
}

function eventsFor(setup: Setup) {
  return (snapshot: Snapshot): Event[] => {
    const { socketId, pingSentAt } = snapshot.context;
    const fromSocket = { socketId, at: 0 };
    const events: Event[] = [
      { type: 'client.connect' },
      { type: 'client.disconnect', code: 1000, reason: '' },
      { type: 'client.retry' },
      { type: 'network.offline' },
      { type: 'network.online' },
      { type: 'page.hidden' },
      { type: 'page.visible' },
      { type: 'page.suspended' },
      { type: 'page.resumed' },
    ];
    if (snapshot.matches({ session: 'connecting' })) {
      events.push({ type: 'socket.opened', url: 'ws://statesocket.test/', ...fromSocket });
    }
    if (snapshot.matches({ session: 'connecting' }) || snapshot.matches({ session: 'open' })) {
      events.push(
        { type: 'socket.errored', code: 'ERR_SOCKET', message: 'boom', ...fromSocket },
        { type: 'socket.closed', code: 1006, reason: '', wasClean: false, ...fromSocket },
        { type: 'socket.closed', code: 4401, reason: '', wasClean: true, ...fromSocket },
      );
    }
    if (snapshot.matches({ session: 'open' })) {
      events.push({ type: 'message.received', messages: [{ type: 'patch', set: { n: 1 } }], socketId, at: (pingSentAt ?? 0) + 1 });
    }
    if (snapshot.matches({ session: { open: { flow: 'flowing' } } })) {
      events.push({ type: 'socket.congested', bufferedAmount: 2_000_000, ...fromSocket });
    }
    if (snapshot.matches({ session: { open: { flow: 'congested' } } })) {
      events.push({ type: 'socket.drained', ...fromSocket });
    }
    if (snapshot.matches({ session: 'closing' })) {
      events.push({ type: 'socket.closed', code: 1000, reason: '', wasClean: true, ...fromSocket });
    }
    for (const node of snapshot._nodes) {
      for (const transition of node.after) {
        const delay = String(transition.delay);
        if (!setup.skipDelays.includes(delay)) events.push({ type: transition.eventType } as Event);
      }
    }
    return events;
  };
}

const serialize = (snapshot: Snapshot) =>
  JSON.stringify({
    value: snapshot.value,
    attempt: Math.min(snapshot.context.attempt, 3),
    online: snapshot.context.online,
    hidden: snapshot.context.pageHidden,
    answered: snapshot.context.pingSentAt !== null && snapshot.context.lastInboundAt >= snapshot.context.pingSentAt,
  });

function pathsFor(setup: Setup) {
  const config = resolveOptions({ url: 'ws://statesocket.test/', WebSocket: createFakeSockets().WebSocket, ...setup.options }, undefined).config;
  return getShortestPaths(traversalLogic(setup), {
    input: { config },
    events: eventsFor(setup),
    serializeState: (snapshot) => serialize(snapshot as Snapshot),
  });
}

/** A real connection plus a way to play one chart event on it as the world would cause it. */
/** The reported state and what a parked machine waits for, by `matches()`: what the facade's faster reading must agree with. */
function reportedByMatches(snapshot: Snapshot): { state: string; parked: string | null } {
  const parked = (['offline', 'hidden', 'suspended'] as const).find((name) => snapshot.matches({ errored: name })) ?? null;
  if (snapshot.matches({ session: 'connecting' })) return { state: 'connecting', parked };
  if (snapshot.matches({ session: 'open' })) return { state: 'open', parked };
  if (snapshot.matches({ session: 'closing' }) || snapshot.matches('closed')) return { state: 'closed', parked };
  if (snapshot.matches('errored')) return { state: 'errored', parked };
  return { state: 'idle', parked };
}

/**
 * History as the inspection stream tells it: every reported state change with
 * the event that caused it (what the facade's cheaper bookkeeping must agree with).
 */
function inspectedHistory() {
  const entries: Array<{ state: string; event: string }> = [];
  const watch = { lastEvent: 'xstate.init', lastState: null as string | null };
  const inspector = {
    inspect: (inspection: InspectionEvent) => {
      // the connection's own actor (the root of its system), not its socket actor
      if (inspection.actorRef.sessionId !== inspection.rootId) return;
      if (inspection.type === '@xstate.event') watch.lastEvent = inspection.event.type;
      if (inspection.type !== '@xstate.snapshot') return;
      const state = stateNameOf(inspection.snapshot as Snapshot);
      if (state === watch.lastState) return;
      watch.lastState = state;
      entries.push({ state, event: watch.lastEvent });
    },
  };
  return { entries, watch, inspector };
}

function realConnection(setup: Setup) {
  const env = createFakeEnvironment();
  const inspected = inspectedHistory();
  const t = createTestConnection({ ...setup.options, autoStart: false, environment: env.targets, inspect: inspected.inspector });
  // the actor runs from creation, in idle (not connected: the paths begin there); listen to the environment
  const unwatch = watchEnvironment(env.targets, (event) => t.connection.actor.send(event));
  // when each active state node was entered, to find the deadline of its delayed transitions
  const enteredAt = new Map<string, number>();
  const track = () => {
    const active = new Set(t.connection.actor.getSnapshot()._nodes.map((node) => node.id));
    for (const id of enteredAt.keys()) if (!active.has(id)) enteredAt.delete(id);
    for (const id of active) if (!enteredAt.has(id)) enteredAt.set(id, t.clock.now());
  };
  track();
  const latest = () => {
    const socket = t.socket;
    socket.hangOnClose = true; // a close we start completes only when a step says so
    return socket;
  };
  const fireDelayed = (type: string) => {
    const [delay = '', ...rest] = type.slice('xstate.after.'.length).split('.');
    const stateId = rest.join('.');
    const snapshot = t.connection.actor.getSnapshot();
    const delays = connectionMachine.implementations.delays as Record<string, (args: unknown) => number>;
    const ms = delays[delay]?.({ context: snapshot.context, event: { type } });
    const since = enteredAt.get(stateId);
    if (ms === undefined || since === undefined) throw new Error(`cannot find the timer of ${type}`);
    t.clock.advance(Math.max(0, since + ms - t.clock.now()));
  };
  const act = (event: ConnectionEvent) => {
    switch (event.type) {
      case 'client.connect':
        return t.connection.connect();
      case 'client.disconnect':
        return t.connection.disconnect();
      case 'client.retry':
        return t.connection.retry();
      case 'network.offline':
        return env.goOffline();
      case 'network.online':
        return env.goOnline();
      case 'page.hidden':
        return env.hide();
      case 'page.visible':
        return env.show();
      case 'page.suspended':
        return env.suspend();
      case 'page.resumed':
        return env.resume();
      case 'socket.opened':
        return latest().open();
      case 'socket.errored':
        return latest().error(event.message);
      case 'socket.closed':
        return event.code === 1006 ? latest().drop() : latest().serverClose(event.code, event.reason);
      case 'message.received':
        return latest().receive(...event.messages);
      case 'socket.congested':
        // the socket actor reports congestion after a write leaves bufferedAmount high
        latest().bufferedAmount = event.bufferedAmount;
        return t.connection.send('filler');
      case 'socket.drained':
        // reported when the next drain check looks: deliver the fact without moving the clock
        latest().bufferedAmount = 0;
        return t.connection.actor.send({ ...event, socketId: t.connection.actor.getSnapshot().context.socketId });
      default:
        if (event.type.startsWith('xstate.after.')) return fireDelayed(event.type);
        throw new Error(`no way to play ${event.type}`);
    }
  };
  const play = (event: ConnectionEvent) => {
    act(event);
    track();
  };
  return { t, env, play, unwatch, inspected: inspected.entries };
}

const leafIds = (node: typeof connectionMachine.root): string[] => {
  const children = Object.values(node.states);
  return children.length === 0 ? [node.id] : children.flatMap(leafIds);
};

describe('model-based', () => {
  const reached = new Set<string>();

  describe.each(setups)('$name', (setup) => {
    const paths = pathsFor(setup);

    it('finds a path to many states', () => {
      expect(paths.length).toBeGreaterThan(20);
    });

    it('replays every path on a real connection, state by state', () => {
      for (const path of paths) {
        const { t, play, unwatch, inspected } = realConnection(setup);
        const trail: string[] = [];
        for (const step of path.steps) {
          if ((step.event.type as string) === 'xstate.init') continue;
          play(step.event as ConnectionEvent);
          trail.push(step.event.type);
          const real = t.connection.actor.getSnapshot();
          expect(serialize(real), `after ${trail.join(' → ')}`).toBe(serialize(step.state as Snapshot));
          const { state, parked } = t.connection.getStatus();
          expect({ state, parked }, `status after ${trail.join(' → ')}`).toEqual(reportedByMatches(real));
        }
        for (const node of t.connection.actor.getSnapshot()._nodes) reached.add(node.id);
        const history = t.connection.history.map(({ state, event }) => ({ state, event }));
        expect(history, `history names the events inspection saw, on ${trail.join(' → ')}`).toEqual(inspected);
        t.connection.stop();
        unwatch();
        expect(t.clock.pendingTimers, `timers left after stop() on ${trail.join(' → ')}`).toBe(0);
        expect(t.sockets.live, `sockets left after stop() on ${trail.join(' → ')}`).toHaveLength(0);
      }
    });

    it('returns to open from every reachable state with a healthy server and no user action', () => {
      let timerCaused = 0;
      for (const path of paths) {
        const { t, env, play, unwatch, inspected } = realConnection(setup);
        for (const step of path.steps) if ((step.event.type as string) !== 'xstate.init') play(step.event as ConnectionEvent);
        const start = stateNameOf(t.connection.actor.getSnapshot());
        if (start === 'closed' || start === 'idle') {
          t.connection.stop();
          unwatch();
          continue;
        }
        // a healthy environment: online, the page visible and shown
        if (!t.connection.getStatus().online) env.goOnline();
        if (t.connection.getStatus().pageHidden) env.show();
        if (t.connection.actor.getSnapshot().matches({ errored: 'suspended' })) env.resume();
        for (let step = 0; step < 20 && t.connection.getStatus().state !== 'open'; step++) {
          const socket = t.sockets.live.at(-1);
          if (socket && socket.readyState === 0) socket.open();
          else {
            const next = t.clock.nextDeadline();
            expect(next, `trapped in ${serialize(t.connection.actor.getSnapshot())}`).not.toBeNull();
            t.advance((next ?? 0) - t.clock.now());
          }
        }
        expect(t.connection.getStatus().state, `from ${path.steps.map((s) => s.event.type).join(' → ')}`).toBe('open');
        const history = t.connection.history.map(({ state, event }) => ({ state, event }));
        expect(history, 'history names the events inspection saw').toEqual(inspected);
        timerCaused += history.filter((entry) => entry.event.startsWith('xstate.after.')).length;
        t.connection.stop();
        unwatch();
      }
      // the way back runs through the backoff timer: history names delayed events too
      expect(timerCaused).toBeGreaterThan(0);
    });
  });

  it('reaches every state of the chart', () => {
    // Transient states (`choosing`, `checkingPong`, `failing`): an `always` transition leaves them in the same step.
    const transient = (id: string) => (connectionMachine.getStateNodeById(id).always?.length ?? 0) > 0;
    const all = leafIds(connectionMachine.root).filter((id) => !transient(id));
    const missing = all.filter((id) => !reached.has(id));
    expect(missing).toEqual([]);
  });
});
