/**
 * The ChartRunner (src/runner.ts) with channels: the runner's system holds the channels' subscription
 * actors, and `connection.actor` moves them to the actor's. A user's channel scenario runs on a connection
 * never promoted, promoted at once, and promoted at each step on the way (between events, and in the
 * middle of one: from a channel's status listener, from its Model's update) must look the same: status,
 * history, outbox, frames, the channels' statuses, Models and subscription states, the ops' answers.
 */
import { describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';
import type { Channel } from '../src/channel.js';
import { createStore } from '../src/store.js';
import { createChannelProtocol } from '../src/sync/client-protocol-v2.js';
import { createTestConnection, type FakeWebSocket } from '../src/testing/index.js';
import { seen, type Twin } from './support/twin.js';

/** Where a run reads `connection.actor`: never, before anything, or at the scenario's step of that number. */
type Promotion = 'never' | 'at once' | number;

interface Run {
  t: Twin;
  socket: () => FakeWebSocket;
  channel(name: string, options?: { presence?: boolean; model?: ReturnType<typeof createStore> }): Channel;
  /** A place in the scenario where the run may promote (its number counts from 0). */
  step(): void;
  /** The ops' answers, in the order they came. */
  answers: string[];
  send(channel: Channel, op: Record<string, unknown>): void;
}

const welcome = (socket: FakeWebSocket, time = 1_000) =>
  socket.receive({ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time });
const live = (socket: FakeWebSocket, channel: string, epoch: string, seq: number, data: Record<string, unknown> = {}) =>
  socket.receive({ type: 'snapshot', channel, epoch, seq, data }, { type: 'synced', channel, epoch, seq });

/** Runs `scenario` once per promotion and returns what a user saw each time, by promotion. */
async function runAll(steps: number, scenario: (run: Run) => void): Promise<Map<Promotion, unknown>> {
  const promotions: Promotion[] = ['never', 'at once', ...Array.from({ length: steps }, (_, i) => i)];
  const views = new Map<Promotion, unknown>();
  for (const promotion of promotions) views.set(promotion, await runOnce(promotion, scenario));
  return views;
}

async function runOnce(promotion: Promotion, scenario: (run: Run) => void): Promise<unknown> {
  const t = createTestConnection({
    protocol: createChannelProtocol({ clientId: 'c1', defaultChannel: false }),
    random: () => 0.5,
    heartbeat: { intervalMs: 5_000, timeoutMs: 2_000, message: 'ping' },
  }) as unknown as Twin;
  if (promotion === 'at once') t.connection.actor.getSnapshot();
  const channels: Channel[] = [];
  const answers: string[] = [];
  let steps = 0;
  const run: Run = {
    t,
    socket: () => t.socket,
    channel: (name, options = {}) => {
      const channel = (t.connection as unknown as { channel(name: string, options: object): Channel }).channel(name, options);
      channels.push(channel);
      return channel;
    },
    step: () => {
      if (steps++ === promotion) t.connection.actor.getSnapshot();
    },
    answers,
    send: (channel, op) => {
      channel.send(op).then(
        () => answers.push(`${channel.name} ok`),
        (error: { code?: string }) => answers.push(`${channel.name} ${error.code}`),
      );
    },
  };
  scenario(run);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const view = structuredClone({
    ...seen(t),
    channels: channels.map((channel) => ({
      status: channel.getStatus(),
      data: (channel.model as ReturnType<typeof createStore>).getData(),
      subscription: stateOf(channel.actor),
    })),
    answers,
  });
  t.connection.stop();
  return view;
}

const stateOf = (actor: AnyActorRef) => {
  const snapshot = actor.getSnapshot() as { status: string; value: unknown };
  return { status: snapshot.status, value: snapshot.value };
};

/** Every run's view equals the unpromoted run's. */
function expectAlike(views: Map<Promotion, unknown>): void {
  const never = views.get('never');
  for (const [promotion, view] of views) expect(view, `promoted ${String(promotion)}`).toEqual(never);
}

describe('the runner with channels: never promoted, promoted at once, promoted on the way', () => {
  it('subscribes, goes live, takes patches and ops, reconnects and resubscribes, unsubscribes', async () => {
    const views = await runAll(8, (run) => {
      const prices = run.channel('prices');
      const notes = run.channel('notes');
      run.send(prices, { set: { early: 1 } });
      run.step();
      const socket = run.t.open();
      welcome(socket);
      run.step();
      live(socket, 'prices', 'P', 0, { a: 1 });
      live(socket, 'notes', 'N', 4);
      run.step();
      socket.receive({ type: 'patch', channel: 'prices', epoch: 'P', seq: 1, set: { a: 2 } }, { type: 'ack', channel: 'prices', n: 1 });
      run.send(notes, { set: { n: 1 } });
      run.step();
      run.t.advance(6_000);
      socket.receive({ type: 'pong' });
      socket.drop();
      run.step();
      run.t.advance(10_000);
      const again = run.socket();
      again.open();
      welcome(again, 20_000);
      run.step();
      live(again, 'prices', 'P', 1, { a: 2 });
      again.receive({ type: 'ack', channel: 'notes', n: 5 });
      notes.unsubscribe();
      run.step();
      again.receive({ type: 'unsubscribed', channel: 'notes' });
      run.step();
      run.t.advance(1_000);
    });
    expectAlike(views);
    const view = views.get('never') as { status: { state: string }; channels: Array<{ status: { state: string }; data: unknown }> };
    expect(view.status.state).toBe('open');
    expect(view.channels.map((channel) => channel.status.state)).toEqual(['subscribed', 'ended']);
    expect(view.channels[0]!.data).toEqual({ a: 2 });
  });

  it("a transient refusal: the subscription's retry timer is pending across the promotion and fires once, at its time", async () => {
    const views = await runAll(5, (run) => {
      const busy = run.channel('busy');
      const socket = run.t.open();
      welcome(socket, 5_000);
      live(socket, 'busy', 'B', 0);
      run.send(busy, { set: { a: 1 } });
      socket.receive({ type: 'unsubscribed', channel: 'busy', code: 'ERR_CHANNEL_UNAVAILABLE', message: 'later', retryAfterMs: 1_000 });
      run.step();
      run.t.advance(700);
      run.step();
      run.t.advance(799);
      run.step();
      run.t.advance(1);
      run.step();
      live(socket, 'busy', 'B', 0);
      socket.receive({ type: 'ack', channel: 'busy', n: 1 });
      run.step();
      run.t.advance(60_000);
    });
    expectAlike(views);
    const view = views.get('never') as { written: string[][]; answers: string[] };
    expect(view.written[0]!.filter((frame) => frame.includes('"subscribe"'))).toHaveLength(2);
    expect(view.answers).toEqual(['busy ok']);
  });

  it('promoted in the middle of an event: from a channel status listener, then from the Model of a channel', async () => {
    const views: unknown[] = [];
    for (const promote of [false, true]) {
      views.push(
        await runOnce('never', (run) => {
          const prices = run.channel('prices');
          const model = createStore();
          const update = model.update.bind(model);
          model.update = (message) => {
            update(message);
            // inside the connection's transition: the actor takes over once it is done
            if (promote) run.t.connection.actor.getSnapshot();
            run.send(feed, { set: { from: 'update' } });
          };
          const feed = run.channel('feed', { model });
          prices.subscribe((status) => {
            if (status.state !== 'subscribed') return;
            if (promote && status.live) run.t.connection.actor.getSnapshot();
            run.send(prices, { set: { from: 'listener' } });
          });
          const socket = run.t.open();
          welcome(socket);
          live(socket, 'prices', 'P', 0);
          live(socket, 'feed', 'F', 0);
          socket.receive({ type: 'patch', channel: 'feed', epoch: 'F', seq: 1, set: { x: 1 } });
          socket.receive({ type: 'ack', channel: 'prices', n: 1 }, { type: 'ack', channel: 'feed', n: 1 });
          run.t.advance(3_000);
        }),
      );
    }
    expect(views[1]).toEqual(views[0]);
  });

  it("a subscription added after the promotion lives in the actor's system beside the ones the runner made", () => {
    const t = createTestConnection({ protocol: createChannelProtocol({ defaultChannel: false }) }) as unknown as Twin;
    const connection = t.connection as unknown as { channel(name: string): Channel; actor: { system: { get(id: string): unknown; getAll(): Record<string, unknown> } } };
    const before = connection.channel('before');
    const socket = t.open();
    const system = connection.actor.system;
    const after = connection.channel('after');
    expect(system.get('channel:before')).toBe(before.actor);
    expect(system.get('channel:after')).toBe(after.actor);
    expect(Object.keys(system.getAll())).toEqual(['connection', 'channel:before', 'channel:after']);
    before.unsubscribe();
    socket.receive({ type: 'unsubscribed', channel: 'before' });
    expect(system.get('channel:before')).toBeUndefined();
    t.connection.stop();
    expect(after.getStatus().state).toBe('ended');
  });
});
