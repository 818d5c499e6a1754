/**
 * The connection's channel actors (machines/connection.ts, `subscriptionId`): each is the
 * connection's child, held under its system id rather than in the snapshot's `children` (which
 * XState copies at every spawn and stop: quadratic in the channels held), and `connection.stop()`
 * stops them all, wherever it is called from. A real connection on a TestClock and a fake socket.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from '../src/channel.js';
import { createStore } from '../src/store.js';
import { createChannelProtocol } from '../src/sync/client-protocol-v2.js';
import { createTestConnection, type FakeWebSocket, type TestConnection } from '../src/testing/index.js';

const welcome = (socket: FakeWebSocket) =>
  socket.receive({ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time: 1_000 });

/** The system ids of the subscription actors still registered with the connection's system. */
const registered = (t: TestConnection<never, never>) =>
  Object.keys(t.connection.actor.system.getAll()).filter((id) => id.startsWith('channel:'));

describe('channel actors', () => {
  it('holds each channel as a child found by its system id, none of them in the snapshot\'s children', () => {
    const t = createTestConnection({ protocol: createChannelProtocol({ clientId: 'c1' }) });
    const socket = t.open();
    welcome(socket);
    const channels = Array.from({ length: 200 }, (_, i) => t.connection.channel(`c${i}`));
    for (const channel of channels) expect(t.connection.actor.system.get(`channel:${channel.name}`)).toBe(channel.actor);
    // the children XState copies at every spawn and stop: none (the socket is an effect, not a child), whatever the channels held
    expect(Object.keys(t.connection.actor.getSnapshot().children)).toEqual([]);
    expect(registered(t as never)).toHaveLength(201); // and the default channel
    expect(channels.every((channel) => channel.getStatus().state === 'subscribing')).toBe(true);
    t.connection.stop();
  });

  it('drops a failed channel\'s actor from the registry, and holds the name again on the next channel()', () => {
    const t = createTestConnection({ protocol: createChannelProtocol({ clientId: 'c1', defaultChannel: false }) });
    const socket = t.open();
    welcome(socket);
    const first = t.connection.channel('a');
    socket.receive({ type: 'unsubscribed', channel: 'a', code: 'ERR_CHANNEL_FORBIDDEN', message: 'no' });
    expect(first.getStatus().state).toBe('failed');
    expect(registered(t as never)).toEqual([]);
    const again = t.connection.channel('a');
    expect(again.actor).not.toBe(first.actor);
    expect(t.connection.actor.system.get('channel:a')).toBe(again.actor);
    expect(again.getStatus().state).toBe('subscribing');
    t.connection.stop();
  });
});

describe('stopping a connection with channels', () => {
  /** Where stop() is called from, on an open connection holding three channels (one waiting to retry, its timer pending). */
  const stopFrom = {
    'a plain call': (t: TestConnection<never, never>) => t.connection.stop(),
    'a status listener': (t: TestConnection<never, never>) => {
      t.connection.subscribe(() => t.connection.stop());
      t.connection.send({ type: 'op', set: { x: 1 } } as never);
    },
    'a channel status listener': (t: TestConnection<never, never>, channels: Array<Channel>) => {
      channels[0]!.subscribe(() => t.connection.stop());
      t.socket.receive({ type: 'synced', channel: 'c0', epoch: 'E', seq: 0 });
    },
    'model.update': (t: TestConnection<never, never>) => {
      t.socket.receive({ type: 'patch', channel: 'c1', epoch: 'E', seq: 1, set: { y: 1 } });
    },
  };

  it.each(Object.keys(stopFrom) as Array<keyof typeof stopFrom>)(
    'ends every channel and leaves no actor or timer behind when stop() comes from %s',
    (from) => {
      let stopOnUpdate = false;
      const t = createTestConnection({ protocol: createChannelProtocol({ clientId: 'c1' }) });
      const socket = t.open();
      welcome(socket);
      const store = createStore();
      const model = {
        ...store,
        update(message: unknown) {
          store.update(message as never);
          if (stopOnUpdate) t.connection.stop();
        },
        getData: () => store.getData(),
        position: () => store.position(),
      };
      const channels = [t.connection.channel('c0'), t.connection.channel('c1', { model: model as never }), t.connection.channel('busy')];
      const defaultChannel = t.connection.channel('default');
      socket.receive(
        { type: 'snapshot', channel: 'c0', epoch: 'E', seq: 0, data: {} },
        { type: 'snapshot', channel: 'c1', epoch: 'E', seq: 0, data: {} },
        { type: 'synced', channel: 'c1', epoch: 'E', seq: 0 },
        { type: 'unsubscribed', channel: 'busy', code: 'ERR_CHANNEL_UNAVAILABLE', message: 'later', retryAfterMs: 1_000 },
      );
      expect(channels.map((channel) => channel.getStatus().state)).toEqual(['subscribing', 'subscribed', 'retrying']);
      stopOnUpdate = from === 'model.update';

      stopFrom[from](t as never, channels as never);

      expect(t.connection.getStatus().state).toBe('closed');
      expect(t.connection.actor.getSnapshot().status).toBe('stopped');
      expect(socket.closeCalls).toEqual([{ code: 1000, reason: '' }]);
      for (const channel of [...channels, defaultChannel]) {
        expect(channel.getStatus().state).toBe('ended');
        expect(channel.actor.getSnapshot().status).toBe('stopped');
      }
      expect(registered(t as never)).toEqual([]);
      expect(t.sockets.live).toHaveLength(0);
      expect(t.clock.pendingTimers).toBe(0);
    },
  );
});
