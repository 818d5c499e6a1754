/**
 * Integration: the Node entry's createConnection runs its chart on a ChartRunner (src/runner.ts) until
 * `connection.actor` is read. Against a real ws server on 127.0.0.1 with real timers: reconnects without
 * ever reading the actor, and a promotion while the retry timer is pending (the actor adopts it: one
 * reconnect, and retry() cancels it in the actor's scheduler). With channels (the Node sync server in this
 * process, behind a TCP proxy): a connection never promoted, one promoted at once and one promoted by a
 * channel's listener in the middle of a transition take the same ops and patches, lose the socket, and
 * end alike.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Connection } from '../../src/connection.js';
import { createChannelProtocol, createConnection, type Channel } from '../../src/node.js';
import { rawProtocol } from '../../src/protocol.js';
import { startSyncServer } from '../../src/server/start.js';
import type { Store } from '../../src/store.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { until, waitForChannel } from './channels-support.js';
import { waitFor } from './server-process.js';

async function startServer(): Promise<{ url: string; sockets: WebSocket[]; nth(n: number): Promise<WebSocket> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  const sockets: WebSocket[] = [];
  const events = new EventEmitter();
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.terminate();
        server.close(() => resolve());
      }),
  );
  await withTimeout(new Promise<void>((resolve) => server.once('listening', resolve)), 'the server to listen');
  server.on('connection', (socket) => {
    sockets.push(socket);
    events.emit('connection');
  });
  const nth = (n: number) =>
    withTimeout(
      new Promise<WebSocket>((resolve) => {
        const check = () => {
          if (sockets.length < n) return;
          events.off('connection', check);
          resolve(sockets[n - 1]!);
        };
        events.on('connection', check);
        check();
      }),
      `connection #${n} at the server`,
    );
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets, nth };
}

function connect(url: string, initialDelayMs: number): Connection<Store, unknown> {
  const connection = createConnection({ url, protocol: rawProtocol, reconnect: { initialDelayMs, maxDelayMs: initialDelayMs } });
  onCleanup(() => connection.stop());
  return connection;
}

const scheduled = (connection: Connection<Store, unknown>) =>
  Object.values((connection.actor.system as unknown as { getSnapshot(): { _scheduledEvents: Record<string, { event: { type: string } }> } }).getSnapshot()._scheduledEvents).map(
    (entry) => entry.event.type,
  );

describe('a connection without its actor, on real sockets and timers', () => {
  it('reconnects twice without ever reading connection.actor', async () => {
    const server = await startServer();
    const connection = connect(server.url, 5);
    for (let n = 1; n <= 3; n++) {
      const socket = await server.nth(n);
      await waitFor(connection, (s) => s.state === 'open' && s.counters.reconnects === n - 1, `open #${n}`);
      if (n < 3) socket.terminate();
    }
    expect(connection.history.map((entry) => entry.state)).toEqual(['idle', 'connecting', 'open', 'errored', 'connecting', 'open', 'errored', 'connecting', 'open']);
    expect(server.sockets).toHaveLength(3);
  });

  it('promoted while the retry timer is pending: the actor runs it, once', async () => {
    const server = await startServer();
    const connection = connect(server.url, 50);
    const first = await server.nth(1);
    await waitFor(connection, (s) => s.state === 'open', 'open');
    // promoted by a listener, in the middle of the transition that scheduled the retry
    const off = connection.subscribe((status) => {
      if (status.state !== 'errored') return;
      off();
      connection.actor.getSnapshot();
    });
    first.terminate();
    await waitFor(connection, (s) => s.state === 'errored', 'errored');
    const during = scheduled(connection);
    await server.nth(2);
    await waitFor(connection, (s) => s.state === 'open' && s.counters.reconnects === 1, 'open again');
    expect(during).toEqual([expect.stringMatching(/^xstate\.after\..*errored/)]);
    expect(scheduled(connection).some((type) => type.includes('errored'))).toBe(false);
    expect(connection.actor.getSnapshot().status).toBe('active');
    expect(server.sockets).toHaveLength(2);
  });

  it('promoted while the retry timer is pending, then retry(): the adopted timer is cancelled', async () => {
    const server = await startServer();
    const connection = connect(server.url, 60_000);
    const first = await server.nth(1);
    await waitFor(connection, (s) => s.state === 'open', 'open');
    first.terminate();
    await waitFor(connection, (s) => s.state === 'errored', 'errored');
    expect(scheduled(connection)).toEqual([expect.stringMatching(/^xstate\.after\..*errored/)]);
    connection.retry();
    await server.nth(2);
    await waitFor(connection, (s) => s.state === 'open' && s.counters.reconnects === 1, 'open again');
    expect(scheduled(connection).some((type) => type.includes('errored'))).toBe(false);
  });
});

describe('a connection with channels without its actor, on real sockets and timers', () => {
  type Promotion = 'never' | 'at once' | 'from a listener';

  it('never promoted, promoted at once, promoted from a channel listener mid-transition: the same ops, patches and reconnect', async () => {
    const server = await startSyncServer({ port: 0, host: '127.0.0.1' });
    onCleanup(() => server.close());
    const proxy = await startTcpProxy({ port: server.port });
    onCleanup(() => proxy.close());
    const clients = (['never', 'at once', 'from a listener'] as const).map((promotion: Promotion) => {
      const connection = createConnection<Store>({
        url: `ws://127.0.0.1:${proxy.port}/`,
        protocol: createChannelProtocol({ defaultChannel: false }),
        reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
        heartbeat: { intervalMs: 100, timeoutMs: 200 },
      });
      onCleanup(() => connection.stop());
      if (promotion === 'at once') connection.actor.getSnapshot();
      const room: Channel<Store> = connection.channel('room');
      if (promotion === 'from a listener') {
        const off = room.subscribe((status) => {
          if (!status.live) return;
          off();
          connection.actor.getSnapshot();
        });
      }
      return { promotion, connection, room };
    });
    const everyLive = () => Promise.all(clients.map(({ room }) => waitForChannel(room, (status) => status.live, `${room.name} live`)));
    const fates = async (round: string) =>
      Promise.all(
        clients.map(({ promotion, room }) =>
          withTimeout(room.send({ set: { [`${promotion} ${round}`]: round } }).then(() => 'applied', (error: { code?: string }) => error.code ?? String(error)), 'an op to settle'),
        ),
      );
    await everyLive();
    expect(await fates('first')).toEqual(['applied', 'applied', 'applied']);
    // the socket goes quiet: the heartbeat gives up, the connections reconnect and subscribe again
    proxy.pause('drop');
    await Promise.all(clients.map(({ connection }) => waitFor(connection, (s) => s.state !== 'open', 'the socket lost')));
    proxy.resume();
    await Promise.all(clients.map(({ connection }) => waitFor(connection, (s) => s.state === 'open' && s.counters.reconnects >= 1, 'open again')));
    await everyLive();
    expect(await fates('second')).toEqual(['applied', 'applied', 'applied']);
    const keys = clients.flatMap(({ promotion }) => [`${promotion} first`, `${promotion} second`]).sort();
    for (const { room } of clients) await until(() => Object.keys(room.model.getData()).length === keys.length, 'every op in every Model', () => room.model.getData());
    const seen = clients.map(({ connection, room }) => ({
      data: room.model.getData(),
      channel: room.getStatus().state,
      subscription: (room.actor.getSnapshot() as { value: unknown }).value,
      // the states it went through, each once (how many attempts the quiet socket took depends on real time)
      states: [...new Set(connection.history.map((entry) => entry.state))],
      now: connection.getStatus().state,
    }));
    expect(Object.keys(seen[0]!.data).sort()).toEqual(keys);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    expect(clients.map(({ connection }) => connection.actor.getSnapshot().status)).toEqual(['active', 'active', 'active']);
  });
});
