/**
 * The upgrades of one HTTP server (src/server/upgrade-routes.ts): several sync servers on one
 * HTTP server, upgrades to a path none of them serves, and other `upgrade` listeners next to
 * them, ws's `new WebSocketServer({ server })` among them (hostile review of issue 12, items 1,
 * 3 and 5). Real HTTP servers on 127.0.0.1 and port 0; everything is registered for cleanup;
 * tests wait on events (a `TestClock` drives the deadlines), never on time.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { attachSyncServer, type AttachSyncServerOptions, type AttachedSyncServer } from '../../src/server/node-server.js';
import { UPGRADE_CONFLICT_WARNING } from '../../src/server/upgrade-routes.js';
import { TestClock } from '../../src/testing/clock.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';

/** An HTTP server of the user's, closed after the test. Listens once `listen()` is awaited. */
function userServer() {
  const http = createServer((_req, res) => res.end('my app'));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  const listen = async () => {
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return (http.address() as AddressInfo).port;
  };
  return { http, listen };
}

function attach(http: Server, options: AttachSyncServerOptions): AttachedSyncServer {
  const sync = attachSyncServer(http, options);
  onCleanup(() => sync.close());
  return sync;
}

/** The warnings `process.emitWarning` got during the test, printed nowhere. */
function captureWarnings(): string[] {
  const warnings: string[] = [];
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation(((message: string | Error, options?: { code?: string }) => {
    if (options?.code === UPGRADE_CONFLICT_WARNING) warnings.push(String(message));
  }) as typeof process.emitWarning);
  onCleanup(() => spy.mockRestore());
  return warnings;
}

/** A WebSocket upgrade request written by hand: what the server answers first, and when it closes the socket. */
function rawUpgrade(port: number, path: string) {
  const socket = connect({ port, host: '127.0.0.1' });
  onCleanup(() => {
    socket.destroy();
  });
  socket.on('error', () => {});
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  return { socket, closed: () => withTimeout(closed, `the upgrade to ${path} to be closed`) };
}

/** How a ws client's upgrade ends: opened (and its first message, if any), or refused with an HTTP status. */
function wsClient(url: string) {
  const ws = new WebSocket(url);
  onCleanup(() => ws.terminate());
  ws.on('error', () => {});
  const outcome = new Promise<{ status?: number; opened?: true; message?: string }>((resolve) => {
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('message', (data) => resolve({ opened: true, message: String(data) }));
  });
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return {
    ws,
    outcome: () => withTimeout(outcome, `the outcome of ${url}`),
    opened: () => withTimeout(opened, `${url} to open`),
    closed: () => withTimeout(closed, `${url} to close`),
  };
}

/** A sync protocol client that said hello and got its snapshot. */
async function greeted(url: string): Promise<void> {
  const client = wsClient(url);
  await client.opened();
  const snapshot = new Promise<void>((resolve) =>
    client.ws.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'snapshot') resolve();
    }),
  );
  client.ws.send(JSON.stringify({ type: 'hello', v: 1 }));
  await withTimeout(snapshot, `the snapshot from ${url}`);
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Resolves when the HTTP server's upgrade listeners have all seen an upgrade (a listener added last). */
function upgradeSeen(http: Server): Promise<void> {
  return withTimeout(new Promise<void>((resolve) => http.once('upgrade', () => setImmediate(resolve))), 'the upgrade');
}

describe('several sync servers on one HTTP server', () => {
  it('refuses a second sync server on a path already served, when it is attached', () => {
    const { http } = userServer();
    attach(http, { path: '/same' });
    expect(() => attachSyncServer(http, { path: '/same' })).toThrow(
      new RangeError(
        'attachSyncServer: path "/same" is already served by another sync server on this HTTP server; give each sync server a path of its own, or close() the other first',
      ),
    );
    attach(http, { path: '/other' });
    expect(() => attachSyncServer(http, {})).not.toThrow(); // '/' is free
  });

  it('serves the first one on that path, and frees the path on close()', async () => {
    const { http, listen } = userServer();
    const first = attach(http, { path: '/same' });
    expect(() => attachSyncServer(http, { path: '/same' })).toThrow(RangeError);
    const port = await listen();
    await greeted(`ws://127.0.0.1:${port}/same`);
    expect(first.stats().open).toBe(1);
    await first.close();
    const second = attach(http, { path: '/same' });
    await greeted(`ws://127.0.0.1:${port}/same`);
    expect(second.stats().open).toBe(1);
  });

  it('serves each path, and answers 404 to an upgrade on a path none serves, closing it', async () => {
    const { http, listen } = userServer();
    const a = attach(http, { path: '/a' });
    const b = attach(http, { path: '/b' });
    const port = await listen();
    await greeted(`ws://127.0.0.1:${port}/a`);
    await greeted(`ws://127.0.0.1:${port}/b`);
    const stray = rawUpgrade(port, '/zzz');
    expect(await stray.closed()).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect([a.stats().open, b.stats().open]).toEqual([1, 1]);
    expect(http.listenerCount('upgrade')).toBe(2); // one dispatcher and its marker, whatever the number of sync servers
  });

  it('keeps counting an upgrade left to another listener, and destroys it when nobody answered by the hello deadline', async () => {
    const clock = new TestClock();
    const { http, listen } = userServer();
    const a = attach(http, { path: '/a', helloTimeoutMs: 2_000, clock });
    const b = attach(http, { path: '/b', helloTimeoutMs: 1_000, clock });
    http.on('upgrade', () => {}); // yours, answering nothing
    const port = await listen();
    const seen = upgradeSeen(http);
    const stray = rawUpgrade(port, '/zzz');
    await seen;
    await nextTurn();
    expect([a.stats().unupgraded, b.stats().unupgraded]).toEqual([1, 1]);
    clock.advance(1_000); // b's deadline
    expect(await stray.closed()).toBe(''); // destroyed, nothing written
    expect([a.stats().unupgraded, b.stats().unupgraded]).toEqual([0, 0]);
  });

  it('stops counting an upgrade another listener answered, and never destroys it', async () => {
    const clock = new TestClock();
    const { http, listen } = userServer();
    const a = attach(http, { path: '/a', helloTimeoutMs: 1_000, clock });
    attach(http, { path: '/b', helloTimeoutMs: 1_000, clock });
    const chat = new WebSocketServer({ noServer: true });
    onCleanup(() => chat.close());
    chat.on('connection', (ws) => ws.send('chat'));
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/chat') chat.handleUpgrade(req, socket, head, (ws) => chat.emit('connection', ws, req));
    });
    const port = await listen();
    const user = wsClient(`ws://127.0.0.1:${port}/chat`);
    expect(await user.outcome()).toEqual({ opened: true, message: 'chat' });
    expect(a.stats().unupgraded).toBe(0);
    clock.advance(1_000);
    await nextTurn();
    expect(user.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe("next to another WebSocket server: ws's { server } option cannot share the HTTP server", () => {
  it('serves both with the noServer pattern, without a warning', async () => {
    const warnings = captureWarnings();
    const { http, listen } = userServer();
    attach(http, { path: '/sync' });
    const chat = new WebSocketServer({ noServer: true });
    onCleanup(() => chat.close());
    chat.on('connection', (ws) => ws.send('chat'));
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/chat') return;
      chat.handleUpgrade(req, socket, head, (ws) => chat.emit('connection', ws, req));
    });
    const port = await listen();
    await greeted(`ws://127.0.0.1:${port}/sync`);
    expect(await wsClient(`ws://127.0.0.1:${port}/chat`).outcome()).toEqual({ opened: true, message: 'chat' });
    expect(warnings).toEqual([]);
  });

  it("warns when it is attached next to a WebSocketServer({ server }), and leaves its path's upgrades to ws", async () => {
    const warnings = captureWarnings();
    const { http, listen } = userServer();
    const chat = new WebSocketServer({ server: http, path: '/chat' });
    onCleanup(() => chat.close());
    chat.on('connection', (ws) => ws.send('chat'));
    const sync = attach(http, { path: '/sync' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^ws's new WebSocketServer\(\{ server \}\) listens for upgrades on this HTTP server.*\{ noServer: true \}/);
    const port = await listen();
    expect(await wsClient(`ws://127.0.0.1:${port}/sync`).outcome()).toEqual({ status: 400 }); // ws's answer
    expect(await wsClient(`ws://127.0.0.1:${port}/chat`).outcome()).toEqual({ opened: true, message: 'chat' });
    expect(sync.stats().open).toBe(0);
    expect(warnings).toHaveLength(1); // once
  });

  it('warns at the first upgrade when the WebSocketServer({ server }) came later, and never writes into a socket ws answers', async () => {
    const warnings = captureWarnings();
    const { http, listen } = userServer();
    const sync = attach(http, { path: '/sync' });
    const chat = new WebSocketServer({ server: http, path: '/chat' });
    onCleanup(() => chat.close());
    expect(warnings).toEqual([]);
    const port = await listen();
    // Before: the sync server upgraded it, then ws wrote its 400 into the WebSocket ("RSV1 must be clear").
    expect(await wsClient(`ws://127.0.0.1:${port}/sync`).outcome()).toEqual({ status: 400 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot share the HTTP server/);
    expect(sync.stats().open).toBe(0);
  });

  it('does not crash next to a WebSocketServer({ server }) without a path, which takes every upgrade', async () => {
    const warnings = captureWarnings();
    const { http, listen } = userServer();
    attach(http, { path: '/sync' });
    const chat = new WebSocketServer({ server: http });
    onCleanup(() => chat.close());
    chat.on('connection', (ws) => ws.send('chat'));
    const port = await listen();
    // Before: both called handleUpgrade on the socket and ws threw, uncaught.
    expect(await wsClient(`ws://127.0.0.1:${port}/sync`).outcome()).toEqual({ opened: true, message: 'chat' });
    expect(warnings).toHaveLength(1);
  });

  it('leaves alone an upgrade on its path that another listener answered first, and warns', async () => {
    const warnings = captureWarnings();
    const { http, listen } = userServer();
    http.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    const sync = attach(http, { path: '/sync' });
    const port = await listen();
    expect(await rawUpgrade(port, '/sync').closed()).toBe('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    expect(sync.stats().open).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^an upgrade to \/sync, a sync server's path, was answered by another 'upgrade' listener/);
  });

  it('warns when a listener of yours destroys the WebSockets it accepted (socket.destroy() for paths not yours)', async () => {
    const warnings = captureWarnings();
    const { http, listen } = userServer();
    attach(http, { path: '/sync' });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      if (req.url !== '/chat') (socket as Socket).destroy(); // the ws README's router, next to the sync server
    });
    const port = await listen();
    const client = wsClient(`ws://127.0.0.1:${port}/sync`);
    await client.closed();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^another 'upgrade' listener on this HTTP server ended a WebSocket the sync server had accepted on \/sync/);
  });
});
