/**
 * `attachSyncServer`: the sync server mounted on a user's own `http.createServer`, which
 * answers its own routes, with the sync server on `/sync`. Every limit of issue 11 applies
 * as it does to `startSyncServer`. Real servers on 127.0.0.1 and port 0, real `ws` clients;
 * everything is registered for cleanup, and tests wait on events, never on time.
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { attachSyncServer, type AttachSyncServerOptions, type AttachedSyncServer } from '../../src/server/node-server.js';
import { SERVER_LIMITS } from '../../src/server/server-options.js';
import { ChangeRefusedError } from '../../src/server/sync-server.js';
import { startServer, startSyncServer } from '../../src/server/start.js';
import { TestClock } from '../../src/testing/clock.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';

interface UserApp {
  http: Server;
  sync: AttachedSyncServer;
  port: number;
  /** `ws://127.0.0.1:<port>/sync` */
  url: string;
}

/** A user's HTTP server with a route of its own (`GET /mine`), and the sync server on `/sync`. */
async function userApp(options: AttachSyncServerOptions = {}): Promise<UserApp> {
  const http = createServer((req, res) => {
    if (sync.handleControl(req, res)) return;
    if (req.url === '/mine') {
      res.end('my route');
      return;
    }
    res.statusCode = 404;
    res.end('not mine either');
  });
  const sync = attachSyncServer(http, { path: '/sync', ...options });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  onCleanup(() => sync.close());
  const { port } = http.address() as AddressInfo;
  return { http, sync, port, url: `ws://127.0.0.1:${port}/sync` };
}

/** Polls a server-side condition on the event loop (setImmediate, not a sleep). */
const until = (condition: () => boolean, what: string) =>
  withTimeout(
    (async () => {
      while (!condition()) await new Promise((resolve) => setImmediate(resolve));
    })(),
    what,
  );

interface Frame {
  type: string;
  [key: string]: unknown;
}

/** A raw ws client that records its frames and its close. */
function client(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  onCleanup(() => ws.terminate());
  const events = new EventEmitter();
  const frames: Frame[] = [];
  let close: { code: number; reason: string } | null = null;
  let opened = false;
  ws.on('open', () => {
    opened = true;
    events.emit('change');
  });
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as Frame);
    events.emit('change');
  });
  ws.on('close', (code, reason) => {
    close = { code, reason: reason.toString() };
    events.emit('change');
  });
  ws.on('error', () => {}); // the close carries what the tests look at
  const when = <T>(value: () => T | undefined, what: string) =>
    withTimeout(
      new Promise<T>((resolve) => {
        const check = () => {
          const found = value();
          if (found === undefined) return;
          events.off('change', check);
          resolve(found);
        };
        events.on('change', check);
        check();
      }),
      what,
    );
  return {
    ws,
    frames,
    send: (frame: unknown) => ws.send(JSON.stringify(frame)),
    opened: () => when(() => (opened ? true : undefined), `${url} to open`),
    closed: () => when(() => close ?? undefined, `${url} to close`),
    frame: (type: string, what = `a ${type} frame`) => when(() => frames.find((f) => f.type === type), what),
  };
}

/** A client that said hello and received its snapshot. */
async function greeted(url: string, hello: Record<string, unknown> = {}) {
  const c = client(url);
  await c.opened();
  c.send({ type: 'hello', v: 1, ...hello });
  await c.frame('snapshot');
  return c;
}

describe('attachSyncServer on a server of yours', () => {
  it('serves the sync protocol on its path and leaves your routes to your handler', async () => {
    const app = await userApp();
    expect(await (await fetch(`http://127.0.0.1:${app.port}/mine`)).text()).toBe('my route');
    const c = await greeted(app.url);
    await expect(app.sync.change({ set: { price: 1 } })).resolves.toEqual({ epoch: app.sync.core.epoch, seq: 1 });
    expect(await c.frame('patch')).toMatchObject({ seq: 1, set: { price: 1 } });
    expect(app.sync.stats().open).toBe(1);
  });

  it('answers 404 to an upgrade on another path when nothing else listens for upgrades', async () => {
    const app = await userApp();
    const other = new WebSocket(`ws://127.0.0.1:${app.port}/elsewhere`);
    onCleanup(() => other.terminate());
    other.on('error', () => {});
    const status = await withTimeout(
      new Promise<number | undefined>((resolve) => other.once('unexpected-response', (_req, res) => resolve(res.statusCode))),
      'the answer to the upgrade',
    );
    expect(status).toBe(404);
  });

  it('leaves an upgrade on another path to your own upgrade listener', async () => {
    const app = await userApp();
    app.http.on('upgrade', (req, socket) => {
      if (req.url === '/yours') socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    const other = new WebSocket(`ws://127.0.0.1:${app.port}/yours`);
    onCleanup(() => other.terminate());
    other.on('error', () => {});
    const status = await withTimeout(
      new Promise<number | undefined>((resolve) => other.once('unexpected-response', (_req, res) => resolve(res.statusCode))),
      'the answer to the upgrade',
    );
    expect(status).toBe(418);
    await greeted(app.url); // its own path still works
  });

  it('answers no control route unless control is on; with it, handleControl answers them', async () => {
    const off = await userApp();
    expect(off.sync.controlToken).toBeUndefined();
    expect(await (await fetch(`http://127.0.0.1:${off.port}/control/state`)).text()).toBe('not mine either');

    const on = await userApp({ control: true });
    const state = await fetch(`http://127.0.0.1:${on.port}/control/state`, { headers: { authorization: `Bearer ${on.sync.controlToken}` } });
    expect(await state.json()).toMatchObject({ ok: true, seq: 0, data: {} });
    expect((await fetch(`http://127.0.0.1:${on.port}/control/state`)).status).toBe(401);
  });

  it('refuses host, port and staticHandler, which belong to startSyncServer, and unknown options', () => {
    const http = createServer();
    expect(() => attachSyncServer(http, { host: '0.0.0.0' } as AttachSyncServerOptions)).toThrow(
      new TypeError(
        'attachSyncServer: host is an option of startSyncServer, which creates and listens on an HTTP server of its own; your server listens where its listen() call says',
      ),
    );
    expect(() => attachSyncServer(http, { path: '/sync', port: 8080 } as AttachSyncServerOptions)).toThrow(/^attachSyncServer: port is an option of startSyncServer/);
    expect(() => attachSyncServer(http, { staticHandler: () => false } as AttachSyncServerOptions)).toThrow(
      /^attachSyncServer: staticHandler is an option of startSyncServer.*your server answers its own requests/,
    );
    expect(() => attachSyncServer(http, { pth: '/sync' } as AttachSyncServerOptions)).toThrow(new TypeError('attachSyncServer: unknown option pth; see NodeServerOptions (docs/server.md#options)'));
    expect(() => attachSyncServer(http, { authThrottle: { foo: 1 } } as AttachSyncServerOptions)).toThrow(/^attachSyncServer: unknown option authThrottle\.foo/);
    expect(http.listenerCount('upgrade')).toBe(0);
    expect(http.listenerCount('connection')).toBe(1); // Node's own
  });

  it('refuses change() after close() with ERR_STOPPED, writing nothing, and leaves control requests to you', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'statesocket-attach-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const dataFile = join(dir, 'data.json');
    const app = await userApp({ dataFile, control: true });
    app.sync.change({ set: { a: 1 } });
    const written = readFileSync(dataFile, 'utf8');
    await app.sync.close();
    let refusal: unknown;
    try {
      app.sync.change({ set: { a: 2 } });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ChangeRefusedError);
    expect(refusal).toMatchObject({ code: 'ERR_STOPPED', message: expect.stringMatching(/closed with close\(\)/) as unknown });
    expect(readFileSync(dataFile, 'utf8')).toBe(written);
    expect(app.sync.core.data()).toEqual({ a: 1 });
    const change = await fetch(`http://127.0.0.1:${app.port}/control/change`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.sync.controlToken}`, 'content-type': 'application/json' },
      body: '{"set":{"a":3}}',
    });
    expect(await change.text()).toBe('not mine either');
    expect(readFileSync(dataFile, 'utf8')).toBe(written);
  });

  it('close() stops the sync server, restores headersTimeout and leaves your server running', async () => {
    const app = await userApp();
    const before = app.sync.stats();
    expect(before.open).toBe(0);
    const c = await greeted(app.url);
    await app.sync.close();
    expect((await c.closed()).code).toBe(1006);
    expect(app.http.listenerCount('upgrade')).toBe(0);
    expect(app.http.headersTimeout).toBe(60_000); // Node's default, lowered while mounted
    expect(await (await fetch(`http://127.0.0.1:${app.port}/mine`)).text()).toBe('my route');
  });
});

describe('limits under attachSyncServer', () => {
  it('closes a foreign Origin with 4403', async () => {
    const app = await userApp();
    const c = client(app.url, { origin: 'http://evil.example' });
    expect(await c.closed()).toEqual({ code: 4403, reason: 'origin http://evil.example is not allowed' });
    expect(app.sync.stats().originFailures).toBe(1);
  });

  it('closes connections over maxConnections and maxConnectionsPerAddress with 1013', async () => {
    const total = await userApp({ maxConnections: 1 });
    await greeted(total.url);
    expect(await client(total.url).closed()).toEqual({ code: 1013, reason: 'server at its limit of 1 connections; try again later' });
    const perAddress = await userApp({ maxConnectionsPerAddress: 1 });
    await greeted(perAddress.url);
    expect((await client(perAddress.url).closed()).reason).toBe('too many connections from 127.0.0.1 (limit 1); try again later');
  });

  it('closes a connection without a hello within helloTimeoutMs with 1013, and bounds request headers by it', async () => {
    const clock = new TestClock();
    const app = await userApp({ helloTimeoutMs: 300, clock });
    expect(app.http.headersTimeout).toBe(SERVER_LIMITS.minHttpTimeoutMs);
    const silent = client(app.url);
    await silent.opened();
    clock.advance(300);
    expect(await silent.closed()).toEqual({ code: 1013, reason: "expected the statesocket sync protocol's hello within 300 ms" });
    expect(app.sync.stats().helloTimeouts).toBe(1);
  });

  it('refuses a wrong token with 4401 and holds the next attempt from that address', async () => {
    const clock = new TestClock();
    const app = await userApp({ token: 's3cret', clock });
    expect((await client(`${app.url}?token=guess`).closed()).code).toBe(4401);
    const next = client(app.url);
    await next.opened();
    await until(() => app.sync.stats().authHeld === 1, 'the next attempt to be held');
    next.send({ type: 'hello', v: 1, token: 's3cret' });
    clock.advance(250);
    await next.frame('snapshot', 'the snapshot after the hold');
  });

  it('refuses ops past the value and data limits', async () => {
    const app = await userApp({ maxValueDepth: 2, maxDataBytes: 64 });
    const c = await greeted(app.url);
    c.send({ type: 'op', id: 'deep', set: { a: [[[1]]] } });
    c.send({ type: 'op', id: 'big', set: { a: 'x'.repeat(100) } });
    await until(() => c.frames.filter((f) => f.type === 'error').length === 2, 'both refusals');
    expect(c.frames.filter((f) => f.type === 'error')).toMatchObject([
      { id: 'deep', code: 'ERR_INVALID_FRAME' },
      { id: 'big', code: 'ERR_DATA_LIMIT' },
    ]);
    expect(app.sync.core.data()).toEqual({});
  });

  it('closes a slow consumer with 1013', async () => {
    const app = await userApp({ maxBufferedBytes: 150, control: true });
    const c = await greeted(app.url);
    const stall = await fetch(`http://127.0.0.1:${app.port}/control/stall?ms=200`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.sync.controlToken}` },
    });
    expect(stall.status).toBe(200);
    for (let i = 0; i < 3; i++) app.sync.change({ set: { pad: 'x'.repeat(100) } });
    expect(app.sync.stats().slowConsumers).toBe(1);
    expect((await c.closed()).code).toBe(1013);
  });

  it('keeps op ids for dedupRetentionMs: a new op when the record is full of younger ids gets 1013', async () => {
    const clock = new TestClock();
    const app = await userApp({ dedupSize: 1, dedupRetentionMs: 1_000, clock });
    const c = await greeted(app.url);
    c.send({ type: 'op', id: 'first', set: { a: 1 } });
    await c.frame('ack');
    c.send({ type: 'op', id: 'second', set: { a: 2 } });
    expect(await c.closed()).toEqual({ code: 1013, reason: 'too many ops; try again later' });
    expect(app.sync.core.data()).toEqual({ a: 1 });
  });

  it(`caps your server's sockets that have not upgraded, per address at ${SERVER_LIMITS.unupgradedSocketsPerAddress}`, async () => {
    const app = await userApp({ maxConnections: 1, maxConnectionsPerAddress: 1 });
    const halfSent = () => {
      const socket = connect({ port: app.port, host: '127.0.0.1' });
      onCleanup(() => {
        socket.destroy();
      });
      socket.on('error', () => {});
      socket.write(`GET /mine HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\n`);
      return new Promise<void>((resolve) => socket.once('close', () => resolve()));
    };
    for (let i = 0; i < SERVER_LIMITS.unupgradedSocketsPerAddress; i++) void halfSent();
    await until(() => app.sync.stats().unupgraded === SERVER_LIMITS.unupgradedSocketsPerAddress, 'the sockets to be counted');
    await withTimeout(halfSent(), 'the socket over the cap to be destroyed');
    expect(app.sync.stats().socketsRefused).toBe(1);
  });
});

describe('startSyncServer', () => {
  it('has no control routes unless control is on, and serves on `path`', async () => {
    const server = await startSyncServer({ host: '127.0.0.1', port: 0, path: '/sync' });
    onCleanup(() => server.close());
    expect(server.controlToken).toBeUndefined();
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/sync`);
    expect((await fetch(`http://127.0.0.1:${server.port}/control/state`)).status).toBe(404);
    await greeted(server.url);
  });

  it('accepts upgrades on every path without `path`, as the server always did', async () => {
    const server = await startSyncServer({ host: '127.0.0.1', port: 0 });
    onCleanup(() => server.close());
    expect(server.path).toBeUndefined();
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/`);
    await greeted(`ws://127.0.0.1:${server.port}/any/path`);
  });

  it('keeps startServer as a deprecated alias with its control routes on', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0 });
    onCleanup(() => server.close());
    const state = await fetch(`http://127.0.0.1:${server.port}/control/state`, { headers: { authorization: `Bearer ${server.controlToken}` } });
    expect(state.status).toBe(200);
  });

  it('refuses a controlToken with control: false, naming both', async () => {
    await expect(startSyncServer({ port: 0, control: false, controlToken: 'a-long-enough-secret' })).rejects.toThrow(/^startSyncServer: controlToken needs control: true/);
    expect(() => attachSyncServer(createServer(), { path: 'sync' })).toThrow(/^attachSyncServer: path must start with "\/"/);
  });
});
