import { request } from 'node:http';
import { createWebSocketInspector } from '@statelyai/inspect';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startInspectorServer, type RunningInspectorServer } from '../../src/inspect/relay-server.js';
import { createConnection } from '../../src/node.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function relay(options: Parameters<typeof startInspectorServer>[0] = {}): Promise<RunningInspectorServer> {
  const server = await startInspectorServer({ port: 0, buildPage: 'lazy', ...options });
  cleanups.push(() => server.close());
  return server;
}

/** Opens a socket; `onMessage` is attached at once (the relay's first frames can arrive with the handshake). */
function open(url: string, headers: Record<string, string> = {}, onMessage?: (data: unknown) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    cleanups.push(() => socket.terminate());
    if (onMessage !== undefined) socket.on('message', onMessage);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A page socket that collects parsed messages; `until` waits for one that matches. */
async function pageSocket(server: RunningInspectorServer) {
  const messages: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  const socket = await open(`ws://127.0.0.1:${server.port}/page`, { origin: `http://127.0.0.1:${server.port}` }, (data) => {
    messages.push(JSON.parse(String(data)) as Record<string, unknown>);
    for (const waiter of waiters) waiter();
  });
  const until = (match: (message: Record<string, unknown>) => boolean, what: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = messages.find(match);
        if (found === undefined) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${messages.map((m) => m.type).join(', ')}`));
      }, 5000);
      if (!check()) waiters.add(check);
    });
  return { socket, messages, until };
}

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the close code once the socket closes. */
const closed = (socket: WebSocket) => new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

describe('inspector relay server', () => {
  describe('binding', () => {
    it('listens on 127.0.0.1 and refuses a host option', async () => {
      const server = await relay();
      expect(server.host).toBe('127.0.0.1');
      expect(server.pageUrl).toBe(`http://127.0.0.1:${server.port}/`);
      expect(server.sourceUrl).toBe(`ws://127.0.0.1:${server.port}/inspect`);
      await expect(startInspectorServer({ host: '0.0.0.0' } as never)).rejects.toThrow(/127\.0\.0\.1 only/);
      await expect(startInspectorServer({ port: 70_000 })).rejects.toThrow(RangeError);
    });

    it('reports a taken port with the listen error code', async () => {
      const server = await relay();
      await expect(startInspectorServer({ port: server.port, buildPage: 'lazy' })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    });
  });

  describe('the page', () => {
    it('serves a self-contained page: HTML, its bundle and elkjs, nothing from elsewhere', async () => {
      const server = await relay();
      const html = await get(server.port, '/');
      expect(html.status).toBe(200);
      expect(html.headers['content-type']).toMatch(/text\/html/);
      expect(html.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
      expect(html.body).toContain('<script type="module" src="/inspector.js">');
      expect(html.body).not.toMatch(/(src|href)="https?:/);
      const bundle = await get(server.port, '/inspector.js');
      expect(bundle.status).toBe(200);
      expect(bundle.headers['content-type']).toMatch(/javascript/);
      expect(bundle.body).toContain('__inspector');
      expect(bundle.body).not.toContain('innerHTML');
      const elk = await get(server.port, '/elk.js');
      expect(elk.status).toBe(200);
      expect(elk.body).toContain('ELK');
      expect((await get(server.port, '/nope')).status).toBe(404);
    });

    it('answers only to a loopback Host header (DNS rebinding)', async () => {
      const server = await relay();
      expect((await get(server.port, '/', { host: `evil.example:${server.port}` })).status).toBe(421);
      expect((await get(server.port, '/', { host: `localhost:${server.port}` })).status).toBe(200);
    });

    it('refuses page sockets from another origin; sources may come from any origin', async () => {
      const server = await relay();
      await expect(open(`ws://127.0.0.1:${server.port}/page`, { origin: 'https://evil.example' })).rejects.toThrow(/403/);
      await open(server.sourceUrl, { origin: 'http://localhost:5173' });
      await expect(open(`ws://127.0.0.1:${server.port}/other`)).rejects.toThrow(/404/);
    });
  });

  describe('relaying', () => {
    it('relays a real connection to a page: the machine, its events and snapshots, ids prefixed', async () => {
      const server = await relay();
      const page = await pageSocket(server);
      const connection = createConnection({ url: 'ws://127.0.0.1:9/?token=s3cret', inspect: { url: server.sourceUrl } });
      cleanups.push(() => connection.stop());
      const actor = await page.until((m) => m.type === '@xstate.actor' && m.name === 'connection', 'the connection actor');
      expect(actor.sessionId).toMatch(/^s1:x:\d+$/);
      expect(actor.definition).toEqual(expect.stringContaining('awaitingPong'));
      await page.until((m) => m.type === '@xstate.snapshot' && JSON.stringify(m).includes('errored'), 'a snapshot in errored');
      expect(JSON.stringify(page.messages)).not.toContain('s3cret');
    });

    it("accepts @statelyai/inspect's stock WebSocket inspector as a source", async () => {
      const server = await relay();
      const page = await pageSocket(server);
      const inspector = createWebSocketInspector({ url: server.sourceUrl, serializationDepthLimit: 60 });
      cleanups.push(() => inspector.stop());
      const connection = createConnection({ url: 'ws://127.0.0.1:9/', inspect: inspector });
      cleanups.push(() => connection.stop());
      const actor = await page.until((m) => m.type === '@xstate.actor' && m.name === 'connection', 'the connection actor');
      expect(actor).toMatchObject({ sessionId: expect.stringMatching(/^s1:x:\d+$/), relaySourceId: 's1' });
      expect(actor.definition).toEqual(expect.stringContaining('awaitingPong'));
    });

    it('gives a page opened late the machine and its current state', async () => {
      const server = await relay();
      const source = await open(server.sourceUrl);
      source.send(JSON.stringify({ type: '@xstate.actor', sessionId: 'x:0', name: 'm', definition: '{"id":"m","initial":"a","states":{"a":{},"b":{}}}' }));
      source.send(JSON.stringify({ type: '@xstate.snapshot', sessionId: 'x:0', event: { type: 'go' }, snapshot: { value: 'b', status: 'active' } }));
      const first = await pageSocket(server);
      await first.until((m) => m.type === '@xstate.snapshot', 'the live snapshot');
      const late = await pageSocket(server);
      await late.until((m) => m.type === '@xstate.snapshot', 'the replayed snapshot');
      expect(late.messages.map((m) => m.type)).toEqual(['relay.hello', '@xstate.actor', '@xstate.snapshot']);
      expect(late.messages[2]).toMatchObject({ sessionId: 's1:x:0', snapshot: { value: 'b' } });
    });

    it('survives garbage from a source and keeps relaying', async () => {
      const server = await relay({ maxFrameBytes: 4096 });
      const page = await pageSocket(server);
      const bad = await open(server.sourceUrl);
      for (const frame of ['{', 'null', '[]', '{"type":"@xstate.actor"}', '{"type":"other","sessionId":"x"}']) bad.send(frame);
      bad.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      bad.send(Buffer.from([0xff, 0xfe]), { binary: false }); // invalid UTF-8 in a text frame: ws closes with 1007
      expect(await closed(bad)).toBe(1007);
      const big = await open(server.sourceUrl);
      big.send('x'.repeat(10_000)); // over maxPayload: ws closes with 1009
      expect(await closed(big)).toBe(1009);

      const good = await open(server.sourceUrl);
      good.send(JSON.stringify({ type: '@xstate.event', sessionId: 'x:0', event: { type: 'still.here' } }));
      const relayed = await page.until((m) => m.type === '@xstate.event', 'the good frame');
      expect(relayed).toMatchObject({ sessionId: 's3:x:0', relaySourceId: 's3' });
      expect(server.stats()).toMatchObject({ rejected: 6, relayed: 1 });
      expect((await get(server.port, '/')).status).toBe(200);
    });

    it('closes every socket on close()', async () => {
      const server = await startInspectorServer({ port: 0, buildPage: 'lazy' });
      const page = await pageSocket(server);
      const source = await open(server.sourceUrl);
      const codes = Promise.all([closed(page.socket), closed(source)]);
      await server.close();
      expect((await codes).length).toBe(2);
    });
  });
});
