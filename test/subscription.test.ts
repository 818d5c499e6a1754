/**
 * The subscription chart (machines/subscription.ts): one channel's lifecycle, as pure
 * transitions, and as the connection chart's children (placeholder effects: no socket; the
 * subscription actor provided, as src/channel-runtime.ts does).
 * test/channels.test.ts replays its paths on a real connection.
 */
import { createActor, initialTransition, transition, type AnyActorRef, type SnapshotFrom } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine, subscriptionId } from '../machines/connection.js';
import { outboxEntries } from '../machines/outbox.js';
import { resnapshotDelayMs, subscriptionMachine } from '../machines/subscription.js';
import type { SubscriptionEvent } from '../machines/subscription.types.js';
import { resolveOptions } from '../src/options.js';
import { TestClock, createFakeSockets } from '../src/testing/index.js';

type Snapshot = SnapshotFrom<typeof subscriptionMachine>;

/** The connection chart with its subscription actor (a placeholder in the chart: src/ supplies it for protocols with channels). */
const withSubscriptions = connectionMachine.provide({ actors: { subscription: subscriptionMachine } });

const input = { channel: 'notes' };
const refusedFinal: SubscriptionEvent = { type: 'channel.refused', channel: 'notes', code: 'ERR_CHANNEL_FORBIDDEN', message: 'no' };
const refusedForNow: SubscriptionEvent = { type: 'channel.refused', channel: 'notes', code: 'ERR_RATE_LIMITED', message: 'slow down', retryAfterMs: 1000 };
const modelThrew: SubscriptionEvent = { type: 'model.rejected', channel: 'notes', message: 'model.update threw on snapshot E:1 of notes: boom' };
const opened: SubscriptionEvent = { type: 'connection.opened' };
const synced: SubscriptionEvent = { type: 'channel.synced', channel: 'notes' };
/** The delayed transition out of `rejected` (pure transitions take it as an event). */
const waited = { type: 'xstate.after.retryDelay.subscription.rejected' } as unknown as SubscriptionEvent;
const stayedLive = { type: 'xstate.after.stableAfter.subscription.settling' } as unknown as SubscriptionEvent;

/** The chart with its requests to the parent as plain named actions: pure transitions have no parent to send to. */
const standalone = subscriptionMachine.provide({
  actions: { requestSubscribe: () => {}, requestSubscribeAndResend: () => {}, requestUnsubscribe: () => {}, reportFailure: () => {}, reportEnded: () => {} },
});

/** Plays events from the initial state with pure transitions; returns the last snapshot and every action's type. */
function play(...events: SubscriptionEvent[]): { snapshot: Snapshot; actions: string[] } {
  let [snapshot, executed] = initialTransition(standalone, input);
  const actions = executed.map((action) => action.type);
  for (const event of events) {
    [snapshot, executed] = transition(standalone, snapshot, event);
    actions.push(...executed.map((action) => action.type));
  }
  return { snapshot, actions };
}

const stateOf = (snapshot: Snapshot) => snapshot.value;

/** The connection chart with channels, open on a TestClock, recording every subscribe it writes. */
function openParent() {
  const clock = new TestClock();
  const requests: unknown[] = [];
  const parent = createActor(
    withSubscriptions.provide({ actions: { writeSubscribe: (_args, params) => requests.push(params ?? 'from event') } }),
    { input: { config: resolveOptions({ url: 'ws://statesocket.test/', WebSocket: createFakeSockets().WebSocket }, undefined).config }, clock },
  );
  parent.start();
  parent.send({ type: 'client.connect' });
  parent.send({ type: 'socket.opened', url: 'ws://statesocket.test/', socketId: 1, at: 0 });
  return { clock, requests, parent };
}

describe('subscription chart', () => {
  it.each([
    { events: [], state: 'unsubscribed' },
    { events: [{ type: 'connection.opened' }], state: 'subscribing' },
    { events: [{ type: 'connection.opened' }, { type: 'channel.synced', channel: 'notes' }], state: 'subscribed' },
    { events: [{ type: 'connection.opened' }, { type: 'channel.synced', channel: 'notes' }, { type: 'connection.lost' }], state: 'unsubscribed' },
    { events: [{ type: 'connection.opened' }, refusedFinal], state: 'failed' },
    { events: [{ type: 'connection.opened' }, refusedForNow], state: 'retrying' },
    { events: [{ type: 'connection.opened' }, refusedForNow, { type: 'connection.lost' }], state: 'unsubscribed' },
    { events: [{ type: 'connection.opened' }, { type: 'client.unsubscribe' }], state: 'unsubscribing' },
    { events: [{ type: 'connection.opened' }, { type: 'client.unsubscribe' }, { type: 'channel.unsubscribed', channel: 'notes' }], state: 'ended' },
    { events: [{ type: 'connection.opened' }, { type: 'client.unsubscribe' }, { type: 'connection.lost' }], state: 'ended' },
    { events: [{ type: 'client.unsubscribe' }], state: 'ended' },
    { events: [opened, modelThrew], state: 'rejected' },
    { events: [opened, synced, modelThrew], state: 'rejected' },
    { events: [opened, modelThrew, synced], state: 'rejected' },
    { events: [opened, modelThrew, { type: 'channel.resync', channel: 'notes', reason: 'gap' }], state: 'rejected' },
    { events: [opened, modelThrew, waited], state: 'subscribing' },
    { events: [opened, modelThrew, waited, synced], state: 'settling' },
    { events: [opened, modelThrew, waited, synced, stayedLive], state: 'subscribed' },
    { events: [opened, modelThrew, waited, synced, modelThrew], state: 'rejected' },
    { events: [opened, modelThrew, { type: 'connection.lost' }], state: 'unsubscribed' },
    { events: [opened, modelThrew, refusedFinal], state: 'failed' },
    { events: [opened, modelThrew, { type: 'client.unsubscribe' }], state: 'unsubscribing' },
    { events: [modelThrew], state: 'unsubscribed' },
  ] as Array<{ events: SubscriptionEvent[]; state: string }>)('goes to $state after $events.length events', ({ events, state }) => {
    expect(stateOf(play(...events).snapshot)).toBe(state);
  });

  it('tags subscribed data live and every other state stale', () => {
    const live = play({ type: 'connection.opened' }, { type: 'channel.synced', channel: 'notes' }).snapshot;
    expect(live.hasTag('live')).toBe(true);
    expect(live.hasTag('stale')).toBe(false);
    for (const snapshot of [play().snapshot, play({ type: 'connection.opened' }).snapshot, play({ type: 'connection.opened' }, refusedForNow).snapshot]) {
      expect(snapshot.hasTag('stale')).toBe(true);
      expect(snapshot.hasTag('live')).toBe(false);
    }
  });

  it('fails with the code of a final refusal and tells the connection', () => {
    const { snapshot, actions } = play({ type: 'connection.opened' }, refusedFinal);
    expect(snapshot.status).toBe('done');
    expect(snapshot.context.lastError).toEqual({ code: 'ERR_CHANNEL_FORBIDDEN', message: 'no' });
    expect(actions).toContain('reportFailure');
  });

  it('goes stale with ERR_MODEL_REJECTED when the Model throws, and waits longer with each rejection in a row', () => {
    const first = play(opened, synced, modelThrew);
    expect(first.snapshot.hasTag('stale')).toBe(true);
    expect(first.snapshot.context).toMatchObject({
      lastError: { code: 'ERR_MODEL_REJECTED', message: 'model.update threw on snapshot E:1 of notes: boom' },
      rejections: 1,
      retryDelayMs: resnapshotDelayMs(1, 0),
    });
    expect(first.actions).not.toContain('requestSubscribe');
    const again = play(opened, synced, modelThrew, waited, modelThrew, waited, modelThrew);
    expect(again.snapshot.context).toMatchObject({ rejections: 3, retryDelayMs: resnapshotDelayMs(3, 0), resubscribes: 2 });
    expect(again.actions.filter((action) => action === 'requestSubscribe')).toHaveLength(2);
  });

  it('is live again in settling, and forgets the streak only after stableAfter', () => {
    const settling = play(opened, modelThrew, waited, synced).snapshot;
    expect(settling.hasTag('live')).toBe(true);
    expect(settling.hasTag('subscribed')).toBe(true);
    expect(settling.context).toMatchObject({ lastError: null, rejections: 1 });
    expect(play(opened, modelThrew, waited, synced, stayedLive).snapshot.context.rejections).toBe(0);
  });

  it('subscribes again after a gap, asking the connection to write the subscribe', () => {
    const { snapshot, actions } = play({ type: 'connection.opened' }, { type: 'channel.synced', channel: 'notes' }, { type: 'channel.resync', channel: 'notes', reason: 'gap' });
    expect(stateOf(snapshot)).toBe('subscribing');
    expect(snapshot.context.resubscribes).toBe(1);
    expect(actions).toContain('requestSubscribe');
  });

  it('keeps the subscription without presence when presence is refused', () => {
    const { snapshot } = play({ type: 'connection.opened' }, { type: 'channel.synced', channel: 'notes' }, { type: 'channel.presence.refused', channel: 'notes', message: 'no presence' });
    expect(stateOf(snapshot)).toBe('subscribed');
    expect(snapshot.context.presenceRefused).toBe('no presence');
  });

  it('waits retryAfterMs after a transient refusal, then subscribes again and resends', () => {
    const { clock, requests, parent } = openParent();
    parent.send({ type: 'client.subscribe', channel: 'notes' });
    const child = () => parent.system.get(subscriptionId('notes')) as AnyActorRef;
    parent.send({ ...refusedForNow, socketId: 1, at: 0 } as never);
    expect(child().getSnapshot().value).toBe('retrying');
    clock.advance(999);
    expect(child().getSnapshot().value).toBe('retrying');
    clock.advance(1);
    expect(child().getSnapshot().value).toBe('subscribing');
    expect(requests).toEqual([{ channel: 'notes' }, 'from event']);
    parent.stop();
  });
});

describe('subscription actors of the connection chart', () => {
  it('forwards a Model\'s rejection to its channel alone, which subscribes again after the wait', () => {
    const { clock, requests, parent } = openParent();
    parent.send({ type: 'client.subscribe', channel: 'notes' });
    parent.send({ type: 'client.subscribe', channel: 'other' });
    parent.send({ type: 'channel.synced', channel: 'other', socketId: 1, at: 0 });
    parent.send({ type: 'model.rejected', channel: 'notes', message: 'boom' });
    const child = (channel: string) => parent.system.get(subscriptionId(channel)) as AnyActorRef;
    expect(child('notes').getSnapshot().value).toBe('rejected');
    expect(child('other').getSnapshot().value).toBe('subscribed');
    expect(parent.getSnapshot().matches({ session: 'open' })).toBe(true);
    clock.advance(resnapshotDelayMs(1, 0));
    expect(child('notes').getSnapshot().value).toBe('subscribing');
    expect(requests).toEqual([{ channel: 'notes' }, { channel: 'other' }, 'from event']);
    parent.stop();
  });

  const config = resolveOptions({ url: 'ws://statesocket.test/', WebSocket: createFakeSockets().WebSocket }, undefined).config;
  const start = () => {
    const actor = createActor(withSubscriptions, { input: { config }, clock: new TestClock() });
    actor.start();
    return actor;
  };
  const from = { socketId: 1, at: 0 };
  // a running subscription actor, by its system id (not among the snapshot's children: machines/connection.ts, `subscriptionId`)
  const child = (actor: ReturnType<typeof start>, channel: string) => actor.system.get(subscriptionId(channel)) as AnyActorRef | undefined;

  it('spawns one child per channel, which follows the connection open and lost', () => {
    const actor = start();
    actor.send({ type: 'client.subscribe', channel: 'a' });
    actor.send({ type: 'client.subscribe', channel: 'b' });
    expect(child(actor, 'a')?.getSnapshot().value).toBe('unsubscribed');
    actor.send({ type: 'client.connect' });
    actor.send({ type: 'socket.opened', url: 'ws://x/', ...from });
    expect(child(actor, 'a')?.getSnapshot().value).toBe('subscribing');
    expect(child(actor, 'b')?.getSnapshot().value).toBe('subscribing');
    actor.send({ type: 'channel.synced', channel: 'a', ...from });
    expect(child(actor, 'a')?.getSnapshot().value).toBe('subscribed');
    expect(child(actor, 'b')?.getSnapshot().value).toBe('subscribing');
    actor.send({ type: 'socket.closed', code: 1006, reason: '', wasClean: false, ...from });
    expect(child(actor, 'a')?.getSnapshot().value).toBe('unsubscribed');
    expect(child(actor, 'b')?.getSnapshot().value).toBe('unsubscribed');
    actor.stop();
  });

  it('fails a refused channel alone and drops its ops from the one outbox', () => {
    const actor = start();
    actor.send({ type: 'client.subscribe', channel: 'a' });
    actor.send({ type: 'client.subscribe', channel: 'b' });
    actor.send({ type: 'client.send', frame: 'op a', ackId: 'a 1', channel: 'a' });
    actor.send({ type: 'client.send', frame: 'op b', ackId: 'b 1', channel: 'b' });
    actor.send({ type: 'client.connect' });
    actor.send({ type: 'socket.opened', url: 'ws://x/', ...from });
    const a = child(actor, 'a');
    actor.send({ type: 'channel.refused', channel: 'a', code: 'ERR_CHANNEL_FORBIDDEN', message: 'no', ...from });
    expect(a?.getSnapshot().status).toBe('done');
    expect(child(actor, 'a')).toBeUndefined();
    expect(child(actor, 'b')?.getSnapshot().value).toBe('subscribing');
    expect(actor.getSnapshot().matches({ session: 'open' })).toBe(true);
    expect(outboxEntries(actor.getSnapshot().context.outbox).map((entry) => entry.ackId)).toEqual(['b 1']);
    actor.stop();
  });

  it('removes an unsubscribed channel once the server confirms', () => {
    const actor = start();
    actor.send({ type: 'client.connect' });
    actor.send({ type: 'socket.opened', url: 'ws://x/', ...from });
    actor.send({ type: 'client.subscribe', channel: 'a' });
    expect(child(actor, 'a')?.getSnapshot().value).toBe('subscribing');
    actor.send({ type: 'client.unsubscribe', channel: 'a' });
    expect(child(actor, 'a')?.getSnapshot().value).toBe('unsubscribing');
    actor.send({ type: 'channel.unsubscribed', channel: 'a', ...from });
    expect(child(actor, 'a')).toBeUndefined();
    actor.stop();
  });

  it('ignores frames of a channel it does not hold', () => {
    const actor = start();
    actor.send({ type: 'client.connect' });
    actor.send({ type: 'socket.opened', url: 'ws://x/', ...from });
    actor.send({ type: 'channel.synced', channel: 'nobody', ...from });
    expect(actor.getSnapshot().matches({ session: 'open' })).toBe(true);
    actor.stop();
  });
});
