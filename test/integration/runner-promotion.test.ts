/**
 * Integration: the Node entry's createConnection runs its chart on a ChartRunner (src/runner.ts) until
 * `connection.actor` is read. Against a real ws server on 127.0.0.1 with real timers: reconnects without
 * ever reading the actor, and a promotion while the retry timer is pending (the actor adopts it: one
 * reconnect, and retry() cancels it in the actor's scheduler).
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Connection } from '../../src/connection.js';
import { createConnection } from '../../src/node.js';
import { rawProtocol } from '../../src/protocol.js';
import type { Store } from '../../src/store.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';
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
