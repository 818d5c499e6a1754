/**
 * The Node sync server (`startSyncServer`): real servers on 127.0.0.1 and a free
 * port, real `ws` clients and statesocket connections. Every server, socket,
 * connection, child process and temp directory is registered for cleanup;
 * tests wait on events, never on time.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { isServerSendableCloseCode } from '../../src/server/close-codes.js';
import type { Connection } from '../../src/connection.js';
import { createConnection } from '../../src/node.js';
import type { ConnectionOptions } from '../../src/options.js';
import { isLoopbackAddress } from '../../src/server/access.js';
import { DataFileError } from '../../src/server/data-file.js';
import { SERVER_LIMITS, type NodeServerOptions } from '../../src/server/server-options.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import type { StoreData } from '../../src/store.js';
import { TestClock, seededRandom } from '../../src/testing/clock.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import type { ConnectionStatus } from '../../src/types.js';
import { SAFETY_TIMEOUT_MS, onCleanup, withTimeout } from '../support/cleanup.js';
import { controlRequest } from '../integration/server-process.js';

/** Longest any single wait may take before the test fails with a description of what it waited for. */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

// ── cleanup registry ───────────────────────────────────────────────────────


/** Resolves once `predicate` holds: now, or after a later `event` on `emitter`. */
function until(emitter: EventEmitter, event: string, predicate: () => boolean, what: string): Promise<void> {
  let check = () => {};
  const reached = new Promise<void>((resolve) => {
    check = () => {
      if (!predicate()) return;
      emitter.off(event, check);
      resolve();
    };
    emitter.on(event, check);
  });
  check();
  return withTimeout(reached, what).catch((error: unknown) => {
    emitter.off(event, check);
    throw error;
  });
}

/** Polls a server-side condition on the event loop (setImmediate, not a sleep), bounded by the safety timeout. */
async function eventuallyTrue(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + SAFETY_TIMEOUT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

// ── servers and control requests ───────────────────────────────────────────

/** A server on 127.0.0.1 and a free port, closed after the test. */
async function serve(options: NodeServerOptions = {}): Promise<RunningServer> {
  const server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, ...options });
  onCleanup(() => server.close());
  return server;
}

interface ControlReply {
  status: number;
  body: Record<string, unknown> & { ok: boolean; error?: string };
}

/** `POST /control/<path>` (or another method) and its JSON answer. */
async function control(server: RunningServer, path: string, init: { method?: string; body?: unknown } = {}): Promise<ControlReply> {
  const response = await withTimeout(
    fetch(`http://127.0.0.1:${server.port}/control/${path}`, {
      method: init.method ?? 'POST',
      headers: {
        authorization: `Bearer ${server.controlToken}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    }),
    `the answer to ${init.method ?? 'POST'} /control/${path}`,
  );
  return { status: response.status, body: (await response.json()) as ControlReply['body'] };
}


function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-server-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ── raw ws clients ─────────────────────────────────────────────────────────

interface Frame {
  type: string;
  [key: string]: unknown;
}

interface RawClient {
  ws: WebSocket;
  /** Text of every message received, in order. */
  messages: string[];
  send(frame: unknown): void;
  opened(): Promise<void>;
  closed(): Promise<{ code: number; reason: string }>;
  /** Resolves with the first JSON frame (from message `from` on) that matches. */
  frame(predicate: (frame: Frame) => boolean, what: string, from?: number): Promise<Frame>;
  /** Index of the first matching JSON frame, or -1. */
  indexOf(predicate: (frame: Frame) => boolean): number;
}

function parsed(text: string): Frame | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Frame) : null;
  } catch {
    return null;
  }
}

function connectRaw(url: string, options?: ClientOptions): RawClient {
  const ws = new WebSocket(url, options);
  const events = new EventEmitter();
  const messages: string[] = [];
  let close: { code: number; reason: string } | null = null;
  let open = false;
  ws.on('open', () => {
    open = true;
    events.emit('open');
  });
  ws.on('message', (data) => {
    messages.push(data.toString());
    events.emit('message');
  });
  ws.on('close', (code, reason) => {
    close = { code, reason: reason.toString() };
    events.emit('close');
  });
  ws.on('error', () => {}); // the close event carries what the tests look at
  onCleanup(() => ws.terminate());
  const indexOf = (predicate: (frame: Frame) => boolean, from = 0) => {
    for (let i = from; i < messages.length; i++) {
      const frame = parsed(messages[i] as string);
      if (frame !== null && predicate(frame)) return i;
    }
    return -1;
  };
  return {
    ws,
    messages,
    send: (frame) => ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)),
    opened: () => until(events, 'open', () => open, `${url} to open`),
    async closed() {
      await until(events, 'close', () => close !== null, `${url} to close`);
      return close as { code: number; reason: string };
    },
    async frame(predicate, what, from = 0) {
      await until(events, 'message', () => indexOf(predicate, from) >= 0, what);
      return parsed(messages[indexOf(predicate, from)] as string) as Frame;
    },
    indexOf: (predicate) => indexOf(predicate),
  };
}

/** A raw client that has said hello and received its snapshot. */
async function greeted(url: string, hello: Record<string, unknown> = {}): Promise<{ client: RawClient; snapshot: Frame }> {
  const client = connectRaw(url);
  await client.opened();
  client.send({ type: 'hello', v: 1, ...hello });
  const snapshot = await client.frame((f) => f.type === 'snapshot', 'the snapshot');
  return { client, snapshot };
}

const isPatch = (f: Frame) => f.type === 'patch';

// ── statesocket connections ────────────────────────────────────────────────

function syncConnection(url: string, options: Partial<ConnectionOptions> = {}): Connection {
  const connection = createConnection({
    url,
    protocol: createSyncProtocol(),
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  onCleanup(() => connection.stop());
  return connection;
}

/** Resolves with the status once `predicate` holds: now, or at a later status change. */
function waitFor(connection: Connection, predicate: (status: ConnectionStatus) => boolean, what: string): Promise<ConnectionStatus> {
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
  return withTimeout(reached, what).catch((error: Error) => {
    unsubscribe();
    throw new Error(`${error.message} (last status: ${JSON.stringify(connection.getStatus())})`);
  });
}

// ── the specification ──────────────────────────────────────────────────────

describe('sync over ws', () => {
  it('answers hello with a snapshot', async () => {
    const server = await serve();
    server.core.change({ set: { a: 1 } });
    const { snapshot } = await greeted(server.url);
    expect(snapshot).toEqual({ type: 'snapshot', epoch: server.core.epoch, seq: 1, data: { a: 1 } });
  });

  it('reads binary frames as UTF-8 JSON', async () => {
    const server = await serve();
    const client = connectRaw(server.url);
    await client.opened();
    client.send(Buffer.from(JSON.stringify({ type: 'hello', v: 1 })));
    client.send(Buffer.from('{"type":"ping"}'));
    await client.frame((f) => f.type === 'snapshot', 'the snapshot');
    await client.frame((f) => f.type === 'pong', 'the pong');
    expect(server.stats().rejectedFrames).toBe(0);
  });

  it('acks an op and broadcasts its patch', async () => {
    const server = await serve();
    const { client: writer } = await greeted(server.url);
    const { client: reader } = await greeted(server.url);
    writer.send({ type: 'op', id: 'op-1', set: { a: 1 } });
    await writer.frame((f) => f.type === 'ack' && f.id === 'op-1', 'the ack');
    expect(await reader.frame(isPatch, 'the patch')).toEqual({ type: 'patch', epoch: server.core.epoch, seq: 1, set: { a: 1 } });
  });

  it('feeds server-side changes, one patch per change', async () => {
    const server = await serve({ feedRatePerSec: 200, random: seededRandom(7) });
    const { client, snapshot } = await greeted(server.url);
    await client.frame((f) => isPatch(f) && (f.seq as number) >= (snapshot.seq as number) + 5, 'five feed patches');
    const patches = client.messages.map(parsed).filter((f): f is Frame => f !== null && isPatch(f));
    patches.forEach((patch, i) => {
      expect(patch.seq).toBe((snapshot.seq as number) + i + 1);
      expect(Object.keys(patch.set as object)).toHaveLength(1);
      expect(Object.keys(patch.set as object)[0]).toMatch(/^[A-Z]+-USD$/);
    });
    expect(server.stats().feedChanges).toBeGreaterThanOrEqual(5);
  });
});

describe('fault injection', () => {
  it('drop terminates every socket without a close frame (1006)', async () => {
    const server = await serve();
    const { client } = await greeted(server.url);
    const reply = await control(server, 'drop');
    expect(reply).toMatchObject({ status: 200, body: { ok: true, action: 'drop', sockets: 1 } });
    expect((await client.closed()).code).toBe(1006);
    expect(server.stats().faults).toMatchObject({ drop: 1, total: 1 });
  });

  it.each([
    [4401, 'go away'],
    [1012, 'restarting'],
    [1000, ''],
  ])('close?code=%i sends that close code', async (code, reason) => {
    const server = await serve();
    const { client } = await greeted(server.url);
    const reply = await control(server, `close?code=${code}&reason=${encodeURIComponent(reason)}`);
    expect(reply.status).toBe(200);
    expect(await client.closed()).toEqual({ code, reason });
  });

  it('close?code=none sends a close frame without a code (the client sees 1005)', async () => {
    const server = await serve();
    const { client } = await greeted(server.url);
    expect((await control(server, 'close?code=none')).status).toBe(200);
    expect(await client.closed()).toEqual({ code: 1005, reason: '' });
  });

  it.each(['1005', '1006', '1004', '1015', '999', '2999', '5000', 'abc', ''])(
    'close?code=%s is refused with HTTP 400 and closes nothing',
    async (code) => {
      const server = await serve();
      const { client } = await greeted(server.url);
      const reply = await control(server, `close?code=${code}`);
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatch(/code must be/);
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      expect(server.stats().faults.total).toBe(0);
    },
  );

  it('close refuses a reason over 123 bytes', async () => {
    const server = await serve();
    const reply = await control(server, `close?code=1000&reason=${'x'.repeat(124)}`);
    expect(reply.status).toBe(400);
    expect(reply.body.error).toMatch(/123/);
  });

  it('stall holds frames and reads nothing for ms, then flushes what it held', async () => {
    // A heartbeat short against the stall (five rounds of unanswered pings) but not so short that a loaded
    // machine's event-loop delay alone kills the link before the stall (20 ms did, at load 15 on 2 cores).
    const server = await serve({ heartbeatMs: 200 });
    const { client } = await greeted(server.url);
    const stallMs = 1_000;
    const startedAt = performance.now();
    expect((await control(server, `stall?ms=${stallMs}`)).body).toMatchObject({ ok: true, sockets: 1, ms: stallMs });
    client.send({ type: 'ping' }); // not read until the stall ends
    expect((await control(server, 'change', { body: { set: { held: true } } })).status).toBe(200);
    expect(server.stats()).toMatchObject({ stalled: 1, heldFrames: 1 });

    await client.frame((f) => f.type === 'pong', 'the pong after the stall');
    // Timers may fire a little early; the point is that nothing came through for about stallMs.
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(stallMs - 20);
    const patchAt = client.indexOf((f) => isPatch(f) && (f.set as Record<string, unknown>).held === true);
    expect(patchAt).toBeGreaterThanOrEqual(0);
    expect(patchAt).toBeLessThan(client.indexOf((f) => f.type === 'pong')); // held frames first, then what was read
    // The heartbeat (200 ms) did not kill the stalled link, though its pings could not be answered.
    expect(server.stats()).toMatchObject({ stalled: 0, heldFrames: 0, heartbeatKills: 0, open: 1 });
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('stall refuses ms over 600000', async () => {
    const server = await serve();
    expect((await control(server, 'stall?ms=600001')).status).toBe(400);
  });

  it('garbage: the client rejects the frame with ERR_MALFORMED_FRAME and stays open', async () => {
    const server = await serve();
    const connection = syncConnection(server.url);
    await waitFor(connection, (s) => s.state === 'open' && s.counters.received >= 1, 'open with a snapshot');
    expect((await control(server, 'garbage')).body).toMatchObject({ ok: true, sockets: 1 });
    const status = await waitFor(connection, (s) => s.lastRejected !== null, 'the rejection');
    expect(status.lastRejected?.code).toBe('ERR_MALFORMED_FRAME');
    expect(status.state).toBe('open');
    await control(server, 'change', { body: { set: { after: 1 } } });
    await waitFor(connection, () => connection.model.getData().after === 1, 'the next patch');
    expect(connection.getStatus().state).toBe('open');
    expect(server.stats().faults.garbage).toBe(1);
  });

  it('oversized sends every client a valid JSON text frame of exactly N bytes', async () => {
    const server = await serve();
    const { client } = await greeted(server.url);
    expect((await control(server, 'oversized?bytes=5000')).body).toMatchObject({ ok: true, bytes: 5000 });
    await client.frame((f) => f.type === 'oversized', 'the oversized frame');
    const text = client.messages[client.indexOf((f) => f.type === 'oversized')] as string;
    expect(Buffer.byteLength(text)).toBe(5000);
    expect(JSON.parse(text)).toMatchObject({ type: 'oversized' });
  });

  it('oversized: a Node client with a smaller maxMessageBytes refuses it unread (ws closes with 1009) and reconnects', async () => {
    const server = await serve();
    const connection = syncConnection(server.url, { maxMessageBytes: 4096 });
    await waitFor(connection, (s) => s.state === 'open' && s.counters.received >= 1, 'open with a snapshot');
    await control(server, 'oversized?bytes=5000');
    const status = await waitFor(connection, (s) => s.lastRejected !== null, 'the rejection');
    expect(status.lastRejected?.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    const again = await waitFor(connection, (s) => s.state === 'open' && s.counters.reconnects === 1, 'open again');
    expect(again.lastError?.code).toBe('ERR_PAYLOAD_TOO_LARGE');
  });

  it('oversized refuses sizes that cannot hold the frame', async () => {
    const server = await serve();
    expect((await control(server, 'oversized?bytes=10')).status).toBe(400);
  });

  it('restart starts a new epoch, drops every socket and keeps the data', async () => {
    const server = await serve();
    server.core.change({ set: { kept: true } });
    const { client, snapshot } = await greeted(server.url);
    const reply = await control(server, 'restart');
    expect(reply.status).toBe(200);
    expect(reply.body.epoch).not.toBe(snapshot.epoch);
    expect((await client.closed()).code).toBe(1006);

    // Resuming from the old epoch cannot replay: a snapshot of the new one comes instead.
    const again = await greeted(server.url, { epoch: snapshot.epoch, since: snapshot.seq });
    expect(again.snapshot).toEqual({ type: 'snapshot', epoch: reply.body.epoch, seq: 0, data: { kept: true } });
    const state = await control(server, 'state', { method: 'GET' });
    expect(state.body).toMatchObject({ epoch: reply.body.epoch, seq: 0, data: { kept: true } });
    expect(server.stats().faults).toMatchObject({ restart: 1, total: 1 });
  });

  it('a statesocket connection reconnects after restart and converges on the new epoch', async () => {
    const server = await serve();
    const connection = syncConnection(server.url);
    await waitFor(connection, (s) => s.state === 'open' && s.counters.received >= 1, 'open with a snapshot');
    await control(server, 'restart');
    await control(server, 'change', { body: { set: { fresh: 1 } } });
    await waitFor(connection, () => connection.model.getData().fresh === 1, 'the change after the restart');
  });
});

describe('control routes', () => {
  it('GET /control/state reports epoch, seq, data and counters', async () => {
    const server = await serve();
    await greeted(server.url);
    await control(server, 'change', { body: { set: { a: 1 } } });
    const reply = await control(server, 'state', { method: 'GET' });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      ok: true,
      epoch: server.core.epoch,
      seq: 1,
      data: { a: 1 },
      counters: { open: 1, connections: 1, slowConsumers: 0, rejectedFrames: 0, faults: { total: 0 } },
    });
  });

  it('POST /control/change applies set and delete', async () => {
    const server = await serve();
    await control(server, 'change', { body: { set: { a: 1, b: 2 } } });
    const reply = await control(server, 'change', { body: { delete: ['a'] } });
    expect(reply.body).toMatchObject({ ok: true, seq: 2 });
    expect(server.core.data()).toEqual({ b: 2 });
  });

  it.each([
    ['not JSON', '{'],
    ['an array', []],
    ['neither set nor delete', {}],
    ['set not an object', { set: 1 }],
    ['delete not strings', { delete: [1] }],
  ])('POST /control/change refuses %s with 400', async (_name, body) => {
    const server = await serve();
    const response = await fetch(`http://127.0.0.1:${server.port}/control/change`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.controlToken}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    expect(server.core.seq).toBe(0);
  });

  it('answers 404 for unknown routes and 405 for the wrong method', async () => {
    const server = await serve();
    expect((await control(server, 'explode')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/elsewhere`)).status).toBe(404);
    expect((await control(server, 'drop', { method: 'GET' })).status).toBe(405);
    expect((await control(server, 'state', { method: 'POST' })).status).toBe(405);
  });

  it('hands other routes to staticHandler', async () => {
    const server = await serve({
      staticHandler: (req, res) => {
        if (req.url !== '/') return false;
        res.writeHead(200, { 'content-type': 'text/plain' }).end('app');
        return true;
      },
    });
    expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe('app');
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.255.3.4', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::FFFF:127.1.2.3', true],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['::2', false],
    ['fe80::1', false],
    ['127.0.0', false],
    ['1270.0.0.1', false],
    [undefined, false],
  ])('isLoopbackAddress(%s) is %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });

  it.each([
    [1000, true],
    [1003, true],
    [1004, false],
    [1005, false],
    [1006, false],
    [1007, true],
    [1014, true],
    [1015, false],
    [2999, false],
    [3000, true],
    [4999, true],
    [5000, false],
  ])('isServerSendableCloseCode(%i) is %s', (code, expected) => {
    expect(isServerSendableCloseCode(code)).toBe(expected);
  });
});

describe('control routes: who may use them', () => {
  const EVIL = 'http://evil.example';

  it('answers with the control token in Authorization: Bearer', async () => {
    const server = await serve({ controlToken: 'c0ntrol-t0ken-16' });
    expect(server.controlToken).toBe('c0ntrol-t0ken-16');
    expect((await controlRequest(server, 'change', { headers: { 'content-type': 'application/json' }, body: '{"set":{"a":1}}' })).status).toBe(200);
    expect(server.core.data()).toEqual({ a: 1 });
  });

  it('generates a different control token at every start when none is given', async () => {
    const [a, b] = await Promise.all([serve(), serve()]);
    expect(a.controlToken).toMatch(/^[0-9a-f]{48}$/);
    expect(a.controlToken).not.toBe(b.controlToken);
  });

  it.each([
    ['no Authorization header', null],
    ['a wrong token', 'wrong'],
    ['the token with one character changed', 'c0ntroL-t0ken-16'],
    ['an empty bearer', ''],
  ])('refuses %s with 401 and changes nothing', async (_name, token) => {
    const server = await serve({ controlToken: 'c0ntrol-t0ken-16' });
    for (const action of ['drop', 'restart', 'stall?ms=1000', 'close', 'garbage']) {
      const answer = await controlRequest(server, action, { token });
      expect(answer.status, action).toBe(401);
      expect(answer.headers['www-authenticate']).toMatch(/^Bearer /);
      expect(answer.body.error).toMatch(/Authorization: Bearer/);
    }
    const change = await controlRequest(server, 'change', { token, headers: { 'content-type': 'application/json' }, body: '{"set":{"x":1}}' });
    expect(change.status).toBe(401);
    expect((await controlRequest(server, 'state', { token })).body).not.toHaveProperty('data');
    expect(server.stats().faults.total).toBe(0);
    expect(server.core.seq).toBe(0);
  });

  it.each(['drop', 'restart', 'stall', 'change'])('refuses POST /control/%s from another Origin with 403, even with the token', async (action) => {
    const server = await serve();
    const { client } = await greeted(server.url);
    const answer = await controlRequest(server, action, { headers: { origin: EVIL, 'content-type': 'application/json' }, body: '{"set":{"x":1}}' });
    expect(answer.status).toBe(403);
    expect(answer.body.error).toMatch(/cross-origin/);
    expect(server.stats().faults.total).toBe(0);
    expect(server.core.data()).toEqual({});
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it.each([
    ['text/plain', 'text/plain', '{"set":{"x":1}}'],
    ['a urlencoded form', 'application/x-www-form-urlencoded', 'set=1'],
    ['a multipart form', 'multipart/form-data; boundary=b', '--b\r\n\r\n--b--'],
    ['no content type', undefined, '{"set":{"x":1}}'],
  ])('refuses a change body sent as %s with 415', async (_name, type, body) => {
    const server = await serve();
    const answer = await controlRequest(server, 'change', { headers: type === undefined ? {} : { 'content-type': type }, body });
    expect(answer.status).toBe(415);
    expect(server.core.seq).toBe(0);
  });

  it.each([
    ['a rebound DNS name', 'attacker.example:8080'],
    ['a rebound name without a port', 'attacker.example'],
    ['a LAN address', '192.168.1.10:8080'],
    ['garbage', 'a b'],
  ])('refuses a Host header with %s with 421, on a server with --token too', async (_name, host) => {
    const server = await serve({ token: 's3cret' });
    server.core.change({ set: { secret: 'data' } });
    for (const action of ['state', 'drop']) {
      // The page that rebound its name sends its own origin, which agrees with Host.
      const answer = await controlRequest(server, action, { headers: { host, origin: `http://${host}` } });
      expect(answer.status).toBe(421);
      expect(JSON.stringify(answer.body)).not.toContain('secret');
    }
    expect(server.stats().faults.total).toBe(0);
  });

  it('answers a loopback Host with the same-origin Origin (a page the server serves itself)', async () => {
    const server = await serve();
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `[::1]:${server.port}`]) {
      const answer = await controlRequest(server, 'state', { headers: { host, origin: `http://${host}` } });
      expect(answer.status, host).toBe(200);
    }
    const other = await controlRequest(server, 'state', { headers: { host: `localhost:${server.port}`, origin: 'http://localhost:1' } });
    expect(other.status).toBe(403);
  });

  it('counts refusals', async () => {
    const server = await serve();
    await controlRequest(server, 'drop', { token: null });
    await controlRequest(server, 'drop', { headers: { origin: EVIL } });
    expect(server.stats().controlRefusals).toBe(2);
  });
});

describe('authentication and origin', () => {
  it('accepts the token in the URL query', async () => {
    const server = await serve({ token: 's3cret' });
    const { snapshot } = await greeted(`${server.url}?token=s3cret`);
    expect(snapshot.type).toBe('snapshot');
  });

  it('accepts the token in the hello', async () => {
    const server = await serve({ token: 's3cret' });
    const { snapshot } = await greeted(server.url, { token: 's3cret' });
    expect(snapshot.type).toBe('snapshot');
  });

  it('accepts the upgrade, then closes with 4401 for a wrong URL token', async () => {
    const server = await serve({ token: 's3cret' });
    const client = connectRaw(`${server.url}?token=wrong`);
    await client.opened(); // never a rejected upgrade: a browser would see only 1006
    expect(await client.closed()).toEqual({ code: 4401, reason: 'invalid token' });
    expect(server.stats().authFailures).toBe(1);
  });

  it.each([
    ['a wrong token', { token: 'wrong' }, 'invalid token'],
    ['no token', {}, 'token required'],
  ])('closes with 4401 for a hello with %s', async (_name, hello, reason) => {
    const server = await serve({ token: 's3cret' });
    const client = connectRaw(server.url);
    await client.opened();
    client.send({ type: 'hello', v: 1, ...hello });
    expect(await client.closed()).toEqual({ code: 4401, reason });
  });

  it('accepts the upgrade, then closes with 4403 for a disallowed Origin', async () => {
    const server = await serve({ allowedOrigins: ['http://app.example'] });
    const client = connectRaw(server.url, { origin: 'http://evil.example' });
    await client.opened();
    expect(await client.closed()).toEqual({ code: 4403, reason: 'origin http://evil.example is not allowed' });
    expect(server.stats().originFailures).toBe(1);
    expect(server.core.counters.connections).toBe(0);
  });

  it('refuses a page on another origin by default: 4403, no snapshot, its op changes nothing', async () => {
    const server = await serve();
    const client = connectRaw(server.url, { origin: 'http://evil.example' });
    await client.opened();
    client.send({ type: 'hello', v: 1 });
    client.send({ type: 'op', id: 'evil-1', set: { pwned: true } });
    expect(await client.closed()).toEqual({ code: 4403, reason: 'origin http://evil.example is not allowed' });
    expect(client.indexOf((f) => f.type === 'snapshot')).toBe(-1);
    expect(server.core.data()).toEqual({});
    expect(server.core.counters.connections).toBe(0);
  });

  it.each([
    ['127.0.0.1'],
    ['localhost'],
  ])('lets a page from its own origin through by default (%s)', async (name) => {
    const server = await serve();
    const host = `${name}:${server.port}`;
    const client = connectRaw(server.url, { origin: `http://${host}`, headers: { host } });
    await client.opened();
    client.send({ type: 'hello', v: 1 });
    await client.frame((f) => f.type === 'snapshot', 'the snapshot');
  });

  it('refuses a DNS-rebinding page whose Origin agrees with its Host', async () => {
    const server = await serve();
    const host = `attacker.example:${server.port}`;
    const client = connectRaw(server.url, { origin: `http://${host}`, headers: { host } });
    await client.opened();
    expect((await client.closed()).code).toBe(4403);
    expect(server.stats().originFailures).toBe(1);
  });

  it('refuses a page from the same host on another port, and the "null" origin', async () => {
    const server = await serve();
    for (const origin of [`http://127.0.0.1:${server.port + 1 > 65535 ? 1 : server.port + 1}`, 'null']) {
      const client = connectRaw(server.url, { origin });
      await client.opened();
      expect((await client.closed()).code, origin).toBe(4403);
    }
  });

  it('takes a list of allowed origins and still lets its own origin through', async () => {
    const server = await serve({ allowedOrigins: ['http://a.example', 'https://b.example:8443'] });
    for (const origin of ['http://a.example', 'https://b.example:8443', `http://127.0.0.1:${server.port}`]) {
      const client = connectRaw(server.url, { origin });
      await client.opened();
      client.send({ type: 'hello', v: 1 });
      await client.frame((f) => f.type === 'snapshot', `the snapshot for ${origin}`);
    }
    const refused = connectRaw(server.url, { origin: 'http://c.example' });
    await refused.opened();
    expect((await refused.closed()).code).toBe(4403);
  });

  it('lets the allowed Origin (and clients without one) through', async () => {
    const server = await serve({ allowedOrigins: ['http://app.example'] });
    const allowed = connectRaw(server.url, { origin: 'http://app.example' });
    await allowed.opened();
    allowed.send({ type: 'hello', v: 1 });
    await allowed.frame((f) => f.type === 'snapshot', 'the snapshot');
    await greeted(server.url);
  });
});

describe('limits', () => {
  it('closes a connection that sends a frame over maxPayloadBytes with 1009', async () => {
    const server = await serve({ maxPayloadBytes: 1024 });
    const { client } = await greeted(server.url);
    client.send(JSON.stringify({ type: 'op', id: 'big', set: { pad: 'x'.repeat(2000) } }));
    expect((await client.closed()).code).toBe(1009);
    expect(server.stats().oversizedFrames).toBe(1);
  });

  it('closes a slow consumer with 1013 (held frames count as buffered)', async () => {
    const server = await serve({ maxBufferedBytes: 150 });
    const { client } = await greeted(server.url);
    await control(server, 'stall?ms=200');
    for (let i = 0; i < 3; i++) server.core.change({ set: { pad: 'x'.repeat(100) } });
    expect(server.stats().slowConsumers).toBe(1);
    const close = await client.closed();
    expect(close.code).toBe(1013);
    expect(close.reason).toMatch(/slow consumer/);
  });

  it('terminates a client that does not answer ws pings', async () => {
    const server = await serve({ heartbeatMs: 30 });
    const silent = connectRaw(server.url, { autoPong: false });
    const answering = connectRaw(server.url);
    await Promise.all([silent.opened(), answering.opened()]);
    expect((await silent.closed()).code).toBe(1006);
    expect(server.stats().heartbeatKills).toBe(1);
    expect(answering.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('who gets in: hello deadline, caps, trusted proxies, failed-authentication delay', () => {
  /** Milliseconds until the server's next timer on `clock`, or null. */
  const nextTimerIn = (clock: TestClock) => {
    const next = clock.nextDeadline();
    return next === null ? null : next - clock.now();
  };

  it('closes a connection that sends no hello within helloTimeoutMs with 1013, saying why', async () => {
    const clock = new TestClock();
    const server = await serve({ helloTimeoutMs: 300, clock });
    const silent = connectRaw(server.url);
    await silent.opened();
    const { client: greetedClient } = await greeted(server.url);
    expect(nextTimerIn(clock)).toBe(300); // the silent one's deadline; the greeted one's was cleared
    clock.advance(299);
    expect(server.stats().helloTimeouts).toBe(0);
    clock.advance(1);
    expect(await silent.closed()).toEqual({ code: 1013, reason: "expected the statesocket sync protocol's hello within 300 ms" });
    expect(server.stats().helloTimeouts).toBe(1);
    expect(greetedClient.ws.readyState).toBe(WebSocket.OPEN);
    // The close handshake finished: no deadline and no reaper left.
    await eventuallyTrue(() => server.stats().open === 1, 'the server to see the close');
    expect(clock.pendingTimers).toBe(0);
  });

  it('counts a hello refused for its token as no hello: 4401 at once, no deadline left behind', async () => {
    const clock = new TestClock();
    const server = await serve({ token: 's3cret', helloTimeoutMs: 300, clock });
    const client = connectRaw(server.url);
    await client.opened();
    client.send({ type: 'hello', v: 1, token: 'wrong' });
    expect((await client.closed()).code).toBe(4401);
    await eventuallyTrue(() => server.stats().open === 0, 'the server to forget the connection');
    expect(clock.pendingTimers).toBe(0);
  });

  it('terminates a refused peer that ignores the close frame after closeGraceMs', async () => {
    const clock = new TestClock();
    const server = await serve({ clock });
    // A raw TCP peer: it completes the upgrade, then never answers anything.
    const socket = netConnect(server.port, '127.0.0.1');
    onCleanup(() => {
      socket.destroy();
    });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n',
    );
    await eventuallyTrue(() => received.includes('101 Switching Protocols') && clock.pendingTimers === 1, 'the upgrade and the close frame');
    expect(clock.nextDeadline()! - clock.now()).toBe(SERVER_LIMITS.closeGraceMs);
    expect(server.stats().open).toBe(1);
    clock.advance(SERVER_LIMITS.closeGraceMs);
    await withTimeout(ended, 'the server to terminate the socket');
    await eventuallyTrue(() => server.stats().open === 0, 'the server to forget the socket');
  });

  it('closes connections over maxConnectionsPerAddress with 1013, and admits again once one leaves', async () => {
    const server = await serve({ maxConnectionsPerAddress: 2 });
    const first = await greeted(server.url);
    await greeted(server.url);
    const third = connectRaw(server.url);
    await third.opened();
    expect(await third.closed()).toEqual({ code: 1013, reason: 'too many connections from 127.0.0.1 (limit 2); try again later' });
    expect(server.stats().connectionsRefused).toBe(1);
    first.client.ws.close();
    await first.client.closed();
    await eventuallyTrue(() => server.stats().open === 1, 'the first connection to be gone');
    await greeted(server.url);
  });

  it('closes connections over maxConnections with 1013', async () => {
    const server = await serve({ maxConnections: 1 });
    await greeted(server.url);
    const second = connectRaw(server.url);
    await second.opened();
    expect(await second.closed()).toEqual({ code: 1013, reason: 'server at its limit of 1 connections; try again later' });
  });

  it('reads the client address from X-Forwarded-For only from a trusted proxy', async () => {
    const proxied = await serve({ maxConnectionsPerAddress: 1, trustProxy: ['127.0.0.1'] });
    const viaProxy = (url: string, client: string) => connectRaw(url, { headers: { 'x-forwarded-for': `9.9.9.9, ${client}` } });
    const a = viaProxy(proxied.url, '198.51.100.1');
    const b = viaProxy(proxied.url, '198.51.100.2');
    const a2 = viaProxy(proxied.url, '198.51.100.1');
    await Promise.all([a.opened(), b.opened(), a2.opened()]);
    expect((await a2.closed()).reason).toBe('too many connections from 198.51.100.1 (limit 1); try again later');
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
    expect(b.ws.readyState).toBe(WebSocket.OPEN);

    const direct = await serve({ maxConnectionsPerAddress: 1 });
    const c = viaProxy(direct.url, '198.51.100.1');
    await c.opened();
    const d = viaProxy(direct.url, '198.51.100.2');
    await d.opened();
    expect((await d.closed()).reason).toBe('too many connections from 127.0.0.1 (limit 1); try again later');
  });

  it('counts IPv6 clients per /64 against maxConnectionsPerAddress, and IPv4-mapped ones as IPv4', async () => {
    const server = await serve({ maxConnectionsPerAddress: 1, trustProxy: ['127.0.0.1'] });
    const from = (client: string) => connectRaw(server.url, { headers: { 'x-forwarded-for': client } });
    const a = from('2001:db8:1:2::1');
    await a.opened();
    const sameSlash64 = from('2001:db8:1:2:ffff::9');
    await sameSlash64.opened();
    expect((await sameSlash64.closed()).reason).toBe('too many connections from 2001:db8:1:2::/64 (limit 1); try again later');
    const otherSlash64 = from('2001:db8:1:3::1');
    await otherSlash64.opened();
    const v4 = from('198.51.100.1');
    await v4.opened();
    const mapped = from('::ffff:198.51.100.1');
    await mapped.opened();
    expect((await mapped.closed()).reason).toBe('too many connections from 198.51.100.1 (limit 1); try again later');
    expect(server.stats().connectionsRefused).toBe(2);
    await eventuallyTrue(() => server.stats().open === 3, 'the refused ones to be gone and three served');
  });

  it('holds the next attempt from the same IPv6 /64 after a failure from another address in it', async () => {
    const clock = new TestClock();
    const server = await serve({ token: 's3cret', clock, trustProxy: ['127.0.0.1'] });
    const from = (client: string, url = server.url) => connectRaw(url, { headers: { 'x-forwarded-for': client } });
    const wrong = from('2001:db8:1:2::1', `${server.url}?token=guess`);
    await wrong.opened();
    expect((await wrong.closed()).code).toBe(4401);
    const elsewhere = from('2001:db8:9:9::1');
    await elsewhere.opened();
    const sibling = from('2001:db8:1:2::2');
    await sibling.opened();
    await eventuallyTrue(() => server.stats().authHeld === 1, 'the attempt from the same /64 to be held');
    expect(server.core.counters.connections).toBe(2); // the failed one and the other /64's, not the held one
  });

  it('holds the next attempt from an address that failed, for the computed delay, then serves it', async () => {
    const clock = new TestClock();
    const server = await serve({ token: 's3cret', clock });
    const wrong = connectRaw(`${server.url}?token=guess`);
    await wrong.opened();
    expect((await wrong.closed()).code).toBe(4401);

    const next = connectRaw(server.url);
    await next.opened();
    await eventuallyTrue(() => server.stats().authHeld === 1, 'the second attempt to be held');
    expect(server.core.counters.connections).toBe(1); // not handed to the sync logic yet
    next.send({ type: 'hello', v: 1, token: 's3cret' });
    expect(clock.nextDeadline()! - clock.now()).toBe(250); // authFailureDelayMs(1)
    clock.advance(249);
    expect(server.core.counters.connections).toBe(1);
    clock.advance(1);
    const snapshot = await next.frame((f) => f.type === 'snapshot', 'the snapshot after the hold');
    expect(snapshot.type).toBe('snapshot');
    expect(server.core.counters.connections).toBe(2);
  });

  it('closes with 1013 an attempt that would wait over the largest delay', async () => {
    const clock = new TestClock();
    const server = await serve({ token: 's3cret', clock, authThrottle: { baseDelayMs: 100, maxDelayMs: 150 } });
    const wrong = connectRaw(`${server.url}?token=guess`);
    await wrong.opened();
    await wrong.closed();
    const held = connectRaw(server.url);
    await held.opened();
    await eventuallyTrue(() => server.stats().authHeld === 1, 'the first retry to be held');
    const refused = connectRaw(server.url);
    await refused.opened();
    expect(await refused.closed()).toEqual({ code: 1013, reason: 'too many failed authentications from 127.0.0.1; retry in 1 s' });
    expect(server.stats().authThrottled).toBe(1);
  });

  /** A server with a token, whose address has failed once, the wait after that failure passed. */
  async function afterOneFailure() {
    const clock = new TestClock();
    const server = await serve({ token: 's3cret', clock });
    const wrong = connectRaw(`${server.url}?token=guess`);
    await wrong.opened();
    expect((await wrong.closed()).code).toBe(4401);
    clock.advance(3_000);
    return { clock, server };
  }

  /** Authenticates with the right token, then closes. */
  async function connectAndLeave(url: string) {
    const good = await greeted(url, { token: 's3cret' });
    good.client.ws.close();
    await good.client.closed();
  }

  it('reads every good attempt at once once the delay after a failure has passed', async () => {
    const { clock, server } = await afterOneFailure();
    for (let i = 0; i < 5; i++) {
      await connectAndLeave(server.url);
    }
    expect(server.stats().authHeld).toBe(0);
  });

  it('holds the next guess after a valid token interleaved with guesses: a success buys no fresh budget', async () => {
    const { clock, server } = await afterOneFailure();
    await connectAndLeave(server.url);
    const guess = connectRaw(`${server.url}?token=guess2`);
    await guess.opened();
    expect((await guess.closed()).code).toBe(4401); // read at once: the wait after the first failure had passed
    const next = connectRaw(`${server.url}?token=guess3`);
    await next.opened();
    await eventuallyTrue(() => server.stats().authHeld === 1, 'the guess after the second failure to be held');
    expect(clock.nextDeadline()! - clock.now()).toBe(500); // authFailureDelayMs(2): the count was not wiped
    clock.advance(500);
    expect((await next.closed()).code).toBe(4401);
  });

  it('leaves an address without failures unheld', async () => {
    const clock = new TestClock();
    const server = await serve({ token: 's3cret', clock });
    await greeted(server.url, { token: 's3cret' });
    await greeted(server.url, { token: 's3cret' });
    expect(server.stats().authHeld).toBe(0);
  });
});

describe('options', () => {
  it.each([
    [{ port: -1 }, RangeError, /port/],
    [{ port: 70_000 }, RangeError, /port.*70000/],
    [{ port: '80' }, TypeError, /port.*"80"/],
    [{ host: '' }, RangeError, /host/],
    [{ feedRatePerSec: Number.NaN }, RangeError, /feedRatePerSec.*NaN/],
    [{ feedRatePerSec: -1 }, RangeError, /feedRatePerSec/],
    [{ heartbeatMs: 1.5 }, RangeError, /heartbeatMs.*1\.5/],
    [{ maxPayloadBytes: 0 }, RangeError, /maxPayloadBytes/],
    [{ dedupSize: 0 }, RangeError, /dedupSize/],
    [{ token: 42 }, TypeError, /token.*42/],
    [{ controlToken: '' }, RangeError, /controlToken/],
    [{ controlToken: 'a' }, RangeError, /controlToken must be at least 16 characters, to be a secret nobody guesses; received 1/],
    [{ controlToken: 'x'.repeat(15) }, RangeError, /controlToken must be at least 16 characters/],
    [{ feedRate: 5 }, TypeError, /^startSyncServer: unknown option feedRate; see NodeServerOptions/],
    [{ authThrottle: { foo: 1 } }, TypeError, /^startSyncServer: unknown option authThrottle\.foo; it takes baseDelayMs, maxDelayMs/],
    [{ allowedOrigins: 'http://a.example' }, TypeError, /allowedOrigins/],
    [{ allowedOrigins: ['a.example'] }, RangeError, /allowedOrigins.*"a.example"/],
    [{ random: 'x' }, TypeError, /random/],
    [{ staticHandler: {} }, TypeError, /staticHandler/],
  ])('refuses %o', async (options, type, message) => {
    const attempt = startSyncServer({ port: 0, ...(options as NodeServerOptions) });
    await expect(attempt).rejects.toThrow(type);
    await expect(attempt).rejects.toThrow(message);
  });

  it('rejects with the listen error when the port is taken', async () => {
    const first = await serve();
    await expect(startSyncServer({ port: first.port })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('data file', () => {
  it('persists an op before its ack, and a second server reloads it', async () => {
    const dir = tempDir();
    const file = join(dir, 'data.json');
    const first = await serve({ dataFile: file });
    const { client } = await greeted(first.url);
    client.send({ type: 'op', id: 'op-1', set: { a: 1 } });
    await client.frame((f) => f.type === 'ack', 'the ack');
    // The ack went out after the write: the file already holds the op.
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ data: { a: 1 }, appliedOpIds: ['op-1'], refusedOps: [] });
    await first.close();

    const second = await serve({ dataFile: file });
    expect(second.core.data()).toEqual({ a: 1 });
    const again = await greeted(second.url);
    expect(again.snapshot.data).toEqual({ a: 1 });
    again.client.send({ type: 'op', id: 'op-1', set: { a: 2 } }); // a re-send after the restart
    await again.client.frame((f) => f.type === 'ack', 'the ack of the re-sent op');
    expect(second.core.counters.opsDuplicate).toBe(1);
    expect(second.core.data()).toEqual({ a: 1 });
    expect(readdirSync(dir)).toEqual(['data.json']); // no temp file left behind
  });

  it('throttles feed writes and flushes the last feed change on close', async () => {
    const dir = tempDir();
    const file = join(dir, 'data.json');
    const server = await serve({ dataFile: file, feedRatePerSec: 2000, random: seededRandom(3) });
    const { client } = await greeted(server.url);
    await client.frame((f) => isPatch(f) && (f.seq as number) >= 200, '200 feed patches');
    const { feedChanges, persists } = server.stats();
    expect(persists).toBeLessThan(feedChanges / 10);
    await server.close();
    expect(JSON.parse(readFileSync(file, 'utf8')).data).toEqual(server.core.data());
    expect(readdirSync(dir)).toEqual(['data.json']);
  });

  it.each([
    ['not JSON', '{"data": {'],
    ['an array', '[]'],
    ['without appliedOpIds', '{"data": {}}'],
    ['with data as an array', '{"data": [], "appliedOpIds": []}'],
    ['with ids that are not strings', '{"data": {}, "appliedOpIds": [1]}'],
  ])('refuses to start from a data file that is %s', async (_name, content) => {
    const file = join(tempDir(), 'data.json');
    writeFileSync(file, content);
    const attempt = startSyncServer({ port: 0, dataFile: file });
    await expect(attempt).rejects.toBeInstanceOf(DataFileError);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_DATA_FILE', path: file });
    await expect(attempt).rejects.toThrow(/is corrupt/);
    expect(readFileSync(file, 'utf8')).toBe(content); // left as it was
  });

  it('refuses to start when the data file cannot be written', async () => {
    const file = join(tempDir(), 'missing-dir', 'data.json');
    await expect(startSyncServer({ port: 0, dataFile: file })).rejects.toThrow(/cannot write data file/);
  });
});

describe('close', () => {
  it('terminates every socket and is idempotent', async () => {
    const server = await serve();
    const { client } = await greeted(server.url);
    const closing = server.close();
    expect(server.close()).toBe(closing);
    await closing;
    expect((await client.closed()).code).toBe(1006);
    await expect(fetch(`http://127.0.0.1:${server.port}/control/state`)).rejects.toThrow();
  });

  it('leaves no handles behind: a process that closed the server exits by itself', async () => {
    const dir = tempDir();
    // Every timer kind is running when close() is called: feed, heartbeat, a stall, a data file, keep-alive HTTP.
    const script = `
      import { WebSocket } from 'ws';
      import { startSyncServer } from './src/server/start.js';
      const server = await startSyncServer({ control: true, port: 0, feedRatePerSec: 50, heartbeatMs: 50, dataFile: process.env.DATA_FILE });
      const ws = new WebSocket(server.url);
      // Listened for from the start: on a loaded machine the 50 ms heartbeat may end the socket early,
      // and an await on an event that already passed would leave the process with nothing to do (exit 13).
      const closed = new Promise((resolve) => ws.once('close', resolve));
      const greeted = new Promise((resolve) => ws.once('message', resolve));
      await Promise.race([new Promise((resolve) => ws.once('open', resolve)), closed]);
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'hello', v: 1 }));
      await Promise.race([greeted, closed]);
      await (await fetch('http://127.0.0.1:' + server.port + '/control/stall?ms=60000', { method: 'POST', headers: { authorization: 'Bearer ' + server.controlToken } })).json();
      await server.close();
      await closed;
      console.log('closed');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATA_FILE: join(dir, 'data.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onCleanup(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exit = await withTimeout(
      new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
      'the child process to exit on its own after close()',
      15_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its output: ${output}`);
    });
    // Said in full on failure: a child ended by a signal (another process's kill) is not a handle left behind.
    expect({ ...exit, output }).toEqual({ code: 0, signal: null, output: expect.stringContaining('closed') });
  });
});
