/**
 * Integration: a real `ws` client (the Node entry's createConnection) against
 * real servers on 127.0.0.1 and a free port. Every server, socket and
 * connection is registered for cleanup; tests wait on events, never on time.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Connection } from '../../src/connection.js';
import { createConnection } from '../../src/node.js';
import type { ConnectionOptions } from '../../src/options.js';
import { rawProtocol } from '../../src/protocol.js';
import type { Store, StoreData } from '../../src/store.js';
import type { ConnectionStatus, WebSocketConstructor } from '../../src/types.js';
import { SAFETY_TIMEOUT_MS, onCleanup, withTimeout } from '../support/cleanup.js';

/** Longest any single wait may take before the test fails with a description of what it waited for. */

// ── cleanup registry ───────────────────────────────────────────────────────


/** Resolves with the status once `predicate` holds: now, or at a later status change. */
function waitFor(
  connection: Connection,
  predicate: (status: ConnectionStatus) => boolean,
  what = predicate.toString(),
): Promise<ConnectionStatus> {
  let unsubscribe = () => {};
  const reached = new Promise<ConnectionStatus>((resolve) => {
    const check = (status: ConnectionStatus) => {
      if (!predicate(status)) return;
      unsubscribe();
      resolve(status);
    };
    unsubscribe = connection.subscribe(check);
    check(connection.getStatus());
  });
  const described = () => `${what} (last status: ${JSON.stringify(connection.getStatus())})`;
  return withTimeout(reached, what).catch((error: Error) => {
    unsubscribe();
    throw new Error(`${error.message}; ${described()}`);
  });
}

/** Resolves once `predicate` holds: now, or after a later `event` on `emitter`. */
function until(emitter: EventEmitter, event: string, predicate: () => boolean, what: string): Promise<void> {
  const reached = new Promise<void>((resolve) => {
    const check = () => {
      if (!predicate()) return;
      emitter.off(event, check);
      resolve();
    };
    emitter.on(event, check);
    check();
  });
  return withTimeout(reached, what);
}

// ── servers ────────────────────────────────────────────────────────────────

interface TestServer {
  port: number;
  url: string;
  /** Every socket the server accepted, oldest first. */
  sockets: WebSocket[];
  /** Text of every message received, in order. */
  messages: string[];
  /** Emits 'connection', 'message' and 'close' after the arrays above are updated. */
  events: EventEmitter;
  /** Sockets not yet closed. */
  openSockets(): WebSocket[];
  /** Resolves with the n-th accepted socket (1-based). */
  nthSocket(n: number): Promise<WebSocket>;
  /** Drops every socket (no close frame) and stops listening; safe to call twice. */
  close(): Promise<void>;
}

/** A ws server on 127.0.0.1 (a free port unless one is given), closed after the test. */
async function startServer(options: { port?: number; onConnection?: (socket: WebSocket) => void } = {}): Promise<TestServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: options.port ?? 0 });
  const events = new EventEmitter();
  const sockets: WebSocket[] = [];
  const messages: string[] = [];
  let closing: Promise<void> | null = null;
  const close = () => {
    for (const socket of sockets) socket.terminate();
    closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return closing;
  };
  onCleanup(close);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    }),
    'the server to listen',
  );

  server.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('message', (data: RawData) => {
      messages.push(data.toString());
      events.emit('message');
    });
    socket.on('close', () => events.emit('close'));
    options.onConnection?.(socket);
    events.emit('connection');
  });

  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    sockets,
    messages,
    events,
    openSockets: () => sockets.filter((socket) => socket.readyState !== WebSocket.CLOSED),
    async nthSocket(n) {
      await until(events, 'connection', () => sockets.length >= n, `connection #${n} at the server`);
      return sockets[n - 1] as WebSocket;
    },
    close,
  };
}

/** A TCP server that accepts connections and never answers: a handshake that hangs. */
async function startSilentTcpServer(): Promise<{ url: string; sockets: Socket[]; events: EventEmitter }> {
  const sockets: Socket[] = [];
  const events = new EventEmitter();
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {}); // a reset from the client is expected here
    events.emit('connection');
  });
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  onCleanup(() => {
    for (const socket of sockets) socket.destroy();
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
      server.listen(0, '127.0.0.1');
    }),
    'the TCP server to listen',
  );
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, sockets, events };
}

/** Records uncaught exceptions for the rest of the test; `first` resolves at the first one. */
function captureUncaughtExceptions(): { errors: unknown[]; first: Promise<void> } {
  const errors: unknown[] = [];
  let seen = () => {};
  const first = new Promise<void>((resolve) => {
    seen = resolve;
  });
  const listener = (error: unknown) => {
    errors.push(error);
    seen();
  };
  process.on('uncaughtException', listener);
  onCleanup(() => {
    process.off('uncaughtException', listener);
  });
  return { errors, first };
}

/**
 * An HTTP server that upgrades every WebSocket request by hand (RFC 6455 §4.2.2) and then writes
 * `frame`'s raw bytes, and nothing more: a frame header can announce a payload that never comes.
 * `received` collects what the client writes after the handshake.
 */
async function startRawFrameServer(frame: Buffer): Promise<{ url: string; received: Buffer[]; events: EventEmitter }> {
  const received: Buffer[] = [];
  const events = new EventEmitter();
  const sockets: Duplex[] = [];
  const server = createHttpServer();
  server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
    sockets.push(socket);
    socket.on('error', () => {}); // the client may reset the connection
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      events.emit('data');
    });
    const accept = createHash('sha1').update(`${String(request.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.write(frame);
  });
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  onCleanup(() => {
    for (const socket of sockets) socket.destroy();
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
      server.listen(0, '127.0.0.1');
    }),
    'the HTTP server to listen',
  );
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, received, events };
}

/** The header of an unmasked text frame announcing `length` payload bytes (64-bit length form), and the first bytes of it. */
function textFrameHeader(length: number, firstBytes: string): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0x81; // FIN, text
  header[1] = 127; // a 64-bit length follows
  header.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([header, Buffer.from(firstBytes)]);
}

/** The close code of the first (masked) close frame in what a client wrote, or null. */
function clientCloseCode(bytes: Buffer): number | null {
  if (bytes.length < 8 || ((bytes[0] as number) & 0x0f) !== 0x8) return null;
  const mask = bytes.subarray(2, 6);
  return (((bytes[6] as number) ^ (mask[0] as number)) << 8) | ((bytes[7] as number) ^ (mask[1] as number));
}

// ── clients ────────────────────────────────────────────────────────────────

/** A raw-protocol connection (these servers are plain `ws`) with tiny reconnect delays, stopped after the test. */
function connect(url: string, options: Partial<ConnectionOptions<Store, unknown>> = {}): Connection<Store, unknown> {
  const connection = createConnection({
    url,
    protocol: rawProtocol,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  onCleanup(() => connection.stop());
  return connection;
}

/** `ws`, with every instance it creates recorded (to watch the raw client socket). */
function trackedWebSocket(): { WebSocket: WebSocketConstructor; created: WebSocket[] } {
  const created: WebSocket[] = [];
  class TrackedWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      created.push(this);
    }
  }
  return { WebSocket: TrackedWebSocket as unknown as WebSocketConstructor, created };
}

const states = (connection: Connection) => connection.history.map((entry) => entry.state);
const json = (value: unknown) => JSON.stringify(value);

// ── the specification ──────────────────────────────────────────────────────

describe('receiving data', () => {
  it('applies the snapshot and the patches the server sends to the model', async () => {
    const server = await startServer({
      onConnection(socket) {
        socket.send(json({ type: 'snapshot', data: { BTC: 64_000, ETH: 3_100, SOL: 150 } }));
        socket.send(json({ type: 'patch', set: { BTC: 64_100.5 } }));
        socket.send(json({ type: 'patch', set: { EUR: 1.08 }, delete: ['SOL'] }));
      },
    });
    const connection = connect(server.url);

    await waitFor(connection, (s) => s.state === 'open' && s.counters.received === 3, 'open with 3 messages received');

    expect(connection.model.getData()).toEqual({ BTC: 64_100.5, ETH: 3_100, EUR: 1.08 });
    expect(connection.getStatus().counters.rejected).toBe(0);
  });

  it('parses a binary frame of UTF-8 JSON', async () => {
    const server = await startServer({
      onConnection(socket) {
        const bytes = Buffer.from(json({ type: 'snapshot', data: { name: 'café ✓ 東京' } }), 'utf8');
        socket.send(bytes, { binary: true });
      },
    });
    const connection = connect(server.url);

    await waitFor(connection, (s) => s.counters.received === 1, 'one message received');

    expect(connection.model.getData()).toEqual({ name: 'café ✓ 東京' });
    expect(connection.getStatus().counters.rejected).toBe(0);
  });

  it('applies a burst of frames in order, and stops listening to a socket it leaves', async () => {
    const tracked = trackedWebSocket();
    const server = await startServer({
      onConnection(socket) {
        // written back to back: the client reads many of them at once, and they reach the chart as one event per read
        socket.send(json({ type: 'snapshot', data: {} }));
        for (let i = 0; i < 300; i++) socket.send(json({ type: 'patch', set: { n: i, [`k${i % 3}`]: i } }));
      },
    });
    const connection = connect(server.url, { WebSocket: tracked.WebSocket, reconnect: false });

    await waitFor(connection, (s) => s.counters.received === 301, '301 frames received');

    expect(connection.model.getData()).toEqual({ n: 299, k0: 297, k1: 298, k2: 299 });
    expect(connection.getStatus().counters.rejected).toBe(0);
    const socket = tracked.created[0] as WebSocket;
    expect(socket.listenerCount('message')).toBe(1);
    connection.stop();
    expect(socket.listenerCount('message')).toBe(0);
  });

  it('rejects and counts a malformed text frame and stays open', async () => {
    const server = await startServer();
    const connection = connect(server.url);
    const socket = await server.nthSocket(1);
    await waitFor(connection, (s) => s.state === 'open', 'open');

    socket.send('{"type": "snapshot", "data": {');
    const status = await waitFor(connection, (s) => s.counters.rejected === 1, 'one rejected frame');

    expect(status.state).toBe('open');
    expect(status.lastRejected?.code).toBe('ERR_MALFORMED_FRAME');
    // and the connection still works
    socket.send(json({ type: 'patch', set: { after: true } }));
    await waitFor(connection, (s) => s.counters.received === 2, 'a second message');
    expect(connection.model.getData()).toEqual({ after: true });
    expect(connection.getStatus().state).toBe('open');
  });
});

describe('maxMessageBytes in Node', () => {
  it('refuses an inbound frame over the limit from its header, before its payload arrives, and closes with 1009', async () => {
    // 50 MiB announced, under ws's own 100 MiB default, and never sent: a client that buffers up to the frame's end waits forever
    const server = await startRawFrameServer(textFrameHeader(50 * 1024 * 1024, '{"type":"snapshot"'));
    // ws's own WebSocket, given explicitly, is limited the same way
    const connection = connect(server.url, { maxMessageBytes: 1024, reconnect: false, WebSocket: WebSocket as unknown as WebSocketConstructor });

    const status = await waitFor(connection, (s) => s.state === 'closed', 'closed after the oversized frame');

    expect(status.lastRejected).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE', message: expect.stringContaining('over maxMessageBytes (1024)') });
    expect(status.lastError?.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect(status.counters).toMatchObject({ received: 1, rejected: 1 });
    await until(server.events, 'data', () => clientCloseCode(Buffer.concat(server.received)) !== null, "the client's close frame");
    expect(clientCloseCode(Buffer.concat(server.received))).toBe(1009);
  });

  it('takes frames up to the limit', async () => {
    const data = { text: 'x'.repeat(2000) };
    const server = await startServer({ onConnection: (socket) => socket.send(json({ type: 'snapshot', data })) });
    const frameBytes = json({ type: 'snapshot', data }).length;
    const connection = connect(server.url, { maxMessageBytes: frameBytes });

    await waitFor(connection, (s) => s.counters.received === 1, 'the frame at the limit');
    expect(connection.model.getData()).toEqual(data);
    expect(connection.getStatus()).toMatchObject({ state: 'open', counters: { rejected: 0 } });
  });
});

describe('reconnecting', () => {
  it('reconnects after the server drops the connection without a close frame', async () => {
    const server = await startServer();
    const connection = connect(server.url);
    const first = await server.nthSocket(1);
    await waitFor(connection, (s) => s.state === 'open', 'the first open');

    first.terminate();
    await server.nthSocket(2);
    const status = await waitFor(connection, (s) => s.state === 'open' && s.counters.reconnects === 1, 'open again');

    expect(states(connection)).toEqual(['idle', 'connecting', 'open', 'errored', 'connecting', 'open']);
    const errored = connection.history.find((entry) => entry.state === 'errored');
    expect(errored?.error).toEqual({ code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 });
    expect(status.lastClose).toMatchObject({ code: 1006, wasClean: false });
  });

  it('delivers sends made while the server is down, in order, once it is back on the same port', async () => {
    const first = await startServer();
    const connection = connect(first.url);
    await waitFor(connection, (s) => s.state === 'open', 'open');

    await first.close();
    await waitFor(connection, (s) => s.state === 'errored', 'errored (server gone)');
    const ops = [1, 2, 3, 4, 5].map((n) => ({ type: 'op' as const, id: String(n), set: { n } }));
    for (const op of ops) connection.send(op);
    expect(connection.getStatus().outboxSize).toBe(ops.length);

    const second = await startServer({ port: first.port });
    await until(second.events, 'message', () => second.messages.length >= ops.length, `${ops.length} messages at the server`);
    await waitFor(connection, (s) => s.state === 'open' && s.outboxSize === 0, 'open with the outbox flushed');

    expect(second.messages.map((text) => JSON.parse(text))).toEqual(ops);
    expect(first.messages).toEqual([]);
    expect(second.sockets).toHaveLength(1);
  });
});

describe('close codes', () => {
  it('treats 4401 as fatal: closed, no retry planned, no new connection', async () => {
    const server = await startServer({ onConnection: (socket) => socket.close(4401, 'unauthorized') });
    const connection = connect(server.url);

    const status = await waitFor(connection, (s) => s.state === 'closed' && s.lastClose !== null, 'closed by the server');

    expect(status.lastError).toMatchObject({ code: 'ERR_FATAL_CLOSE', closeCode: 4401 });
    expect(status.lastClose).toMatchObject({ code: 4401, reason: 'unauthorized', wasClean: true });
    expect(status.nextRetryAt).toBeNull();
    expect(connection.actor.getSnapshot().matches('closed')).toBe(true);
    expect(server.sockets).toHaveLength(1);
    expect(states(connection)).toEqual(['idle', 'connecting', 'open', 'closed']);
  });

  it('closes cleanly with the code and reason given to disconnect()', async () => {
    const server = await startServer();
    const connection = connect(server.url);
    const socket = await server.nthSocket(1);
    await waitFor(connection, (s) => s.state === 'open', 'open');
    const closedAtServer = new Promise<{ code: number; reason: string }>((resolve) => {
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });

    connection.disconnect(1000, 'bye');

    expect(await withTimeout(closedAtServer, 'the close at the server')).toEqual({ code: 1000, reason: 'bye' });
    const status = await waitFor(connection, (s) => s.lastClose !== null, 'the close handshake to finish');
    expect(status.state).toBe('closed');
    expect(status.lastClose).toEqual({ code: 1000, reason: 'bye', wasClean: true });
    expect(connection.actor.getSnapshot().matches('closed')).toBe(true);
  });
});

describe('connect timeout', () => {
  it('gives up on a handshake that never completes, without an uncaught error', async () => {
    const uncaught = captureUncaughtExceptions();
    const tcp = await startSilentTcpServer();
    const ws = trackedWebSocket();
    // A long reconnect wait keeps the test on the first attempt.
    const connection = connect(tcp.url, {
      WebSocket: ws.WebSocket,
      connectTimeoutMs: 200,
      reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
      random: () => 0.5,
    });

    await until(tcp.events, 'connection', () => tcp.sockets.length === 1, 'the TCP server to accept the client');
    const status = await waitFor(connection, (s) => s.state === 'errored', 'errored after the connect timeout');
    expect(status.lastError?.code).toBe('ERR_CONNECT_TIMEOUT');

    // ws emits 'error' and then 'close' when a CONNECTING socket is terminated:
    // a 'close' means the 'error' found the library's handler; an unhandled
    // 'error' is thrown instead, and 'close' never comes.
    const raw = ws.created[0] as WebSocket;
    const closed = new Promise<void>((resolve) => {
      if (raw.readyState === WebSocket.CLOSED) resolve();
      else raw.once('close', () => resolve());
    });
    await withTimeout(Promise.race([closed, uncaught.first]), 'the abandoned client socket to close');
    expect(uncaught.errors).toEqual([]);
    expect(raw.readyState).toBe(WebSocket.CLOSED);
    expect(connection.getStatus().state).toBe('errored');
  });
});

describe('stopping', () => {
  it('leaves no open socket at the server after stop()', async () => {
    const server = await startServer();
    const connection = connect(server.url);
    await server.nthSocket(1);
    await waitFor(connection, (s) => s.state === 'open', 'open');

    connection.stop();

    await until(server.events, 'close', () => server.openSockets().length === 0, 'the server socket to close');
    expect(server.openSockets()).toEqual([]);
    expect(() => connection.send({ type: 'op', set: { late: true } })).toThrow(expect.objectContaining({ code: 'ERR_STOPPED' }));
  });

  it('delivers what was sent in the same turn as stop(), in order, before the close frame', async () => {
    // Node writes a turn's frames together at its end (the TCP socket corked): stop() lets them go first.
    const server = await startServer();
    const connection = connect(server.url);
    const socket = await server.nthSocket(1);
    await waitFor(connection, (s) => s.state === 'open', 'open');
    const closedAtServer = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const ops = Array.from({ length: 50 }, (_, n) => ({ type: 'op' as const, id: String(n), set: { n } }));

    for (const op of ops) connection.send(op);
    connection.stop();

    expect(await withTimeout(closedAtServer, 'the close at the server')).toBe(1000);
    expect(server.messages.map((text) => JSON.parse(text))).toEqual(ops);
  });
});
