import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.js';
import { InspectorState } from '../../src/inspect/page/inspector-state.js';

const DEFINITION = JSON.stringify(connectionMachine.config);

/** Relay messages, as the page receives them. */
const hello = (sources: Array<{ id: string; connected: boolean }> = []) => ({ type: 'relay.hello', protocol: 1, sources });
const actor = (sessionId: string, relaySourceId: string, extra: Record<string, unknown> = {}) => ({
  type: '@xstate.actor',
  sessionId,
  relaySourceId,
  name: 'connection',
  definition: DEFINITION,
  createdAt: '1000',
  snapshot: { value: 'idle', status: 'active', context: {} },
  ...extra,
});
const snapshot = (sessionId: string, eventType: string, value: unknown, context: unknown = {}, extra: Record<string, unknown> = {}) => ({
  type: '@xstate.snapshot',
  sessionId,
  event: { type: eventType, ...extra },
  snapshot: { value, status: 'active', context },
  createdAt: '2000',
});

describe('inspector page model', () => {
  it('selects the machine of a connected source and lights its states from snapshots', () => {
    const state = new InspectorState();
    state.apply(hello([{ id: 's1', connected: true }]));
    state.apply(actor('s1:x:0', 's1'));
    state.apply(snapshot('s1:x:0', 'client.connect', { session: 'connecting' }));
    expect(state.selectedId).toBe('s1:x:0');
    expect(state.selected?.lastEventType).toBe('client.connect');
    expect(state.takeChanges()).toEqual({ actors: true, chart: true, highlight: true, log: true, context: true });
    expect(state.takeChanges()).toEqual({ actors: false, chart: false, highlight: false, log: false, context: false });
  });

  it('writes one log row per snapshot: event, redacted payload and resulting state', () => {
    const state = new InspectorState();
    state.apply(actor('s1:x:0', 's1'));
    state.apply(snapshot('s1:x:0', 'socket.opened', { session: { open: { flow: 'flowing', heartbeat: 'off', stability: 'settling' } } }, {}, {
      url: 'wss://h/?token=abc',
      socketId: 1,
    }));
    state.apply(snapshot('s1:x:0', 'socket.closed', { errored: 'waiting' }, {}, { code: 1006 }));
    const log = state.logOf(state.selected as NonNullable<typeof state.selected>);
    expect(log.map(({ eventType, payload, state: resulting }) => ({ eventType, payload, resulting }))).toEqual([
      {
        eventType: 'socket.opened',
        payload: '{"url":"wss://h/?token=[redacted]","socketId":1}',
        resulting: 'session.open(flow.flowing, heartbeat.off, stability.settling)',
      },
      { eventType: 'socket.closed', payload: '{"code":1006}', resulting: 'errored.waiting' },
    ]);
    expect(log[1]?.stateIds).toEqual(['connection', 'connection.errored', 'connection.errored.waiting']);
    expect(log[1]?.at).toBe(2000);
  });

  it('caps the log, keeping the newest rows', () => {
    const state = new InspectorState({ logLimit: 100 });
    state.apply(actor('s1:x:0', 's1'));
    for (let i = 0; i < 5000; i++) state.apply(snapshot('s1:x:0', `e${i}`, 'idle'));
    const actorRecord = state.selected as NonNullable<typeof state.selected>;
    const log = state.logOf(actorRecord);
    expect(log).toHaveLength(100);
    expect(log.at(-1)?.eventType).toBe('e4999');
    expect(actorRecord.log.length).toBeLessThanOrEqual(150);
  });

  it('lists several machines, keeps the user choice, and follows new connections until then', () => {
    const state = new InspectorState();
    state.apply(hello([{ id: 's1', connected: true }]));
    state.apply(actor('s1:x:0', 's1'));
    state.apply({ type: 'relay.source.opened', relaySourceId: 's2', at: 1 });
    state.apply(actor('s2:x:0', 's2'));
    state.apply({ type: 'relay.source.closed', relaySourceId: 's1', at: 2 });
    expect(state.machineActors().map((item) => item.sessionId)).toEqual(['s1:x:0', 's2:x:0']);
    expect(state.selectedId).toBe('s2:x:0'); // s1 went away
    state.select('s1:x:0');
    state.apply({ type: 'relay.source.opened', relaySourceId: 's3', at: 3 });
    state.apply(actor('s3:x:0', 's3'));
    expect(state.selectedId).toBe('s1:x:0');
  });

  it('lists only state machines (callback actors such as the socket are not charts)', () => {
    const state = new InspectorState();
    state.apply(actor('s1:x:0', 's1'));
    state.apply(actor('s1:x:1', 's1', { name: 'socket', definition: '{"id":"socket"}', parentId: 's1:x:0' }));
    state.apply(snapshot('s1:x:1', 'write', undefined));
    expect(state.machineActors().map((item) => item.name)).toEqual(['connection']);
    expect(state.selected?.log).toEqual([]);
  });

  it('starts over on relay.hello (a reconnect replays everything)', () => {
    const state = new InspectorState();
    state.apply(actor('s1:x:0', 's1'));
    state.apply(hello());
    expect(state.actors.size).toBe(0);
    expect(state.selectedId).toBeNull();
  });

  it('ignores what it does not understand', () => {
    const state = new InspectorState();
    for (const message of [null, 42, 'x', {}, { type: 'other' }, { type: '@xstate.actor' }, { type: '@xstate.snapshot', sessionId: 'nope' }]) {
      state.apply(message);
    }
    expect(state.messages).toBe(7);
    expect(state.ignored).toBe(7);
    expect(state.actors.size).toBe(0);
  });
});
