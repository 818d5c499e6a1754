/**
 * nginx from deploy/nginx.conf in front of plain Node servers that show what arrives: the headers
 * WebSocket and --trust-proxy need, upgrades passed through, and /control/ kept out however it is spelt.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { startNginx } from '../support/cluster.js';

/** An HTTP server answering every request with the headers it received, and echoing WebSocket messages. */
interface Echo {
  port: number;
  requests: Array<{ url: string; headers: IncomingHttpHeaders }>;
  upgrades: IncomingHttpHeaders[];
}

const servers: Server[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function startEcho(): Promise<Echo> {
  const echo: Echo = { port: 0, requests: [], upgrades: [] };
  const server = createServer((req, res) => {
    echo.requests.push({ url: req.url ?? '', headers: req.headers });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ from: 'upstream' }));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    echo.upgrades.push(req.headers);
    socket.on('message', (data) => socket.send(`echo:${String(data)}`));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  echo.port = (server.address() as AddressInfo).port;
  return echo;
}

/** A request over node:http with the path exactly as written (fetch would normalize it). */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('nginx from deploy/nginx.conf', () => {
  it('passes the client address on (X-Forwarded-For, X-Real-IP) and the Host as the client sent it', async () => {
    const echo = await startEcho();
    const nginx = await startNginx([echo.port]);
    const answer = await rawGet(nginx.port, '/app/index.html', { 'x-forwarded-for': '203.0.113.7' });
    expect(answer).toEqual({ status: 200, body: '{"from":"upstream"}' });
    const headers = echo.requests[0]?.headers;
    // nginx appends the address it saw: the instance takes the right-most entry it does not trust.
    expect(headers?.['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(headers?.['x-real-ip']).toBe('127.0.0.1');
    expect(headers?.host).toBe(`127.0.0.1:${nginx.port}`);
    expect(headers?.connection).toBe('close');
    expect(headers?.upgrade).toBeUndefined();
  });

  it('passes WebSocket upgrades through, with Upgrade and Connection, both ways', async () => {
    const echo = await startEcho();
    const nginx = await startNginx([echo.port]);
    const socket = new WebSocket(nginx.url);
    sockets.push(socket);
    const reply = new Promise<string>((resolve, reject) => {
      socket.once('message', (data) => resolve(String(data)));
      socket.once('error', reject);
    });
    socket.once('open', () => socket.send('hello'));
    expect(await reply).toBe('echo:hello');
    expect(echo.upgrades[0]?.upgrade).toBe('websocket');
    expect(echo.upgrades[0]?.connection).toBe('upgrade');
    expect(echo.upgrades[0]?.['x-forwarded-for']).toBe('127.0.0.1');
  });

  it.each(['/control/state', '/control/drop', '//control/state', '/%63ontrol/state', '/control/../control/state', '/x/../control/state'])(
    'does not proxy %s (404 from nginx)',
    async (path) => {
      const echo = await startEcho();
      const nginx = await startNginx([echo.port]);
      const answer = await rawGet(nginx.port, path, { authorization: 'Bearer 0123456789abcdef0123' });
      expect(answer.status).toBe(404);
      expect(answer.body).toContain('nginx');
      expect(echo.requests).toEqual([]);
    },
  );

  it('balances across every upstream', async () => {
    const echoes = await Promise.all([startEcho(), startEcho(), startEcho()]);
    const nginx = await startNginx(echoes.map((echo) => echo.port));
    for (let i = 0; i < 6; i++) await rawGet(nginx.port, `/${i}`);
    expect(echoes.map((echo) => echo.requests.length)).toEqual([2, 2, 2]);
  });
});
