/**
 * Who gets in, proven in real Chromium: a page on another origin (served by a
 * second HTTP server on another 127.0.0.1 port) tries what any site open in the
 * user's browser could try against a local statesocket server: post a plain
 * HTML form to `/control/change`, call the control routes with fetch (even
 * knowing the control token), and open the WebSocket to read and write the
 * document. None of it gets data out or changes anything.
 *
 * Chromium: CHROMIUM_PATH, default /usr/bin/chromium (`apt-get install -y chromium` on Debian).
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, serverState, startServerProcess, type ServerProcess } from '../integration/server-process.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.js';

const WAIT_MS = 20_000;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await killAll();
});

beforeAll(() => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}. Install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH.`);
  }
});

/** The attacker's site: one page, served from its own port (another origin). */
async function serveEvilPage(html: string | (() => string)): Promise<{ origin: string }> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(typeof html === 'string' ? html : html());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function openPage(url: string): Promise<Page> {
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(url);
  return page;
}

/** Resolves with `window.result` once the page's script has set it. */
async function pageResult<T>(page: Page): Promise<T> {
  await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined);
  return page.evaluate(() => (window as unknown as { result: T }).result);
}

async function startTarget(): Promise<ServerProcess> {
  const server = await startServerProcess(['--no-app']);
  return server;
}

describe('a page on another origin', () => {
  it('changes nothing by posting a plain HTML form to /control/change', async () => {
    const server = await startTarget();
    const before = await serverState(server);
    // enctype text/plain lets a form send a body that reads as JSON: name `{"set":{"pwned":1},"x":"` and value `"}`.
    const html = `<!doctype html><body>
      <iframe name="sink"></iframe>
      <form id="attack" method="POST" enctype="text/plain" target="sink" action="http://127.0.0.1:${server.port}/control/change">
        <input name='{"set":{"pwned":1},"x":"' value='"}'>
      </form>
      <script>
        const sink = document.querySelector('iframe');
        sink.addEventListener('load', () => { window.result = { loaded: true }; }, { once: true });
        document.getElementById('attack').submit();
      </script>`;
    const evil = await serveEvilPage(html);
    const page = await openPage(`${evil.origin}/`);
    expect(await pageResult<{ loaded: boolean }>(page)).toEqual({ loaded: true });
    const after = await serverState(server);
    expect(after.data).not.toHaveProperty('pwned');
    expect(after.seq).toBe(before.seq);
    expect(after.counters.controlRefusals).toBe(1);
  });

  it('cannot read /control/state or drive a fault with fetch, even knowing the control token', async () => {
    const server = await startTarget();
    const html = `<!doctype html><script>
      const base = 'http://127.0.0.1:${server.port}/control/';
      const attempt = (path, init) => fetch(base + path, init).then((r) => r.text().then((t) => 'read ' + t), (e) => 'failed ' + e.name);
      Promise.all([
        attempt('state', {}),
        attempt('drop', { method: 'POST', mode: 'no-cors' }),
        attempt('change', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"set":{"pwned":2}}' }),
        attempt('state', { headers: { authorization: 'Bearer ${server.controlToken}' } }),
        attempt('restart', { method: 'POST', headers: { authorization: 'Bearer ${server.controlToken}' } }),
      ]).then((outcomes) => { window.result = outcomes; });
    </script>`;
    const evil = await serveEvilPage(html);
    const page = await openPage(`${evil.origin}/`);
    const outcomes = await pageResult<string[]>(page);
    // CORS hides every answer (no Access-Control-Allow-Origin); no-cors answers are opaque (empty).
    expect(outcomes.filter((outcome) => outcome.includes('"data"'))).toEqual([]);
    const state = await serverState(server);
    expect(state.data).not.toHaveProperty('pwned');
    expect(state.seq).toBe(0);
    expect((state.counters as unknown as { faults: { total: number } }).faults.total).toBe(0);
  });

  it('gets no snapshot over the WebSocket, and its ops change nothing', async () => {
    const server = await startServerProcess(['--no-app', '--feed-rate', '0']);
    const html = `<!doctype html><script>
      const frames = [];
      const ws = new WebSocket('ws://127.0.0.1:${server.port}/');
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: 'hello', v: 1 }));
        ws.send(JSON.stringify({ type: 'op', id: 'evil-op', set: { pwned: 3 } }));
      };
      ws.onmessage = (event) => frames.push(String(event.data));
      ws.onclose = (event) => { window.result = { code: event.code, reason: event.reason, frames }; };
    </script>`;
    const evil = await serveEvilPage(html);
    const page = await openPage(`${evil.origin}/`);
    const result = await pageResult<{ code: number; reason: string; frames: string[] }>(page);
    expect(result).toEqual({ code: 4403, reason: `origin ${evil.origin} is not allowed`, frames: [] });
    const state = await serverState(server);
    expect(state.data).toEqual({});
    expect(state.counters.opsApplied).toBe(0);
    expect(state.counters.connections).toBe(0);
  });

  it('connects when --allowed-origin lists it', async () => {
    // The page's origin must be known before the server starts: serve the page first, filled in when requested.
    let target = 0;
    const { origin } = await serveEvilPage(
      () => `<!doctype html><script>
        const ws = new WebSocket('ws://127.0.0.1:${target}/');
        ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1 }));
        ws.onmessage = (event) => { window.result = JSON.parse(event.data).type; ws.close(); };
        ws.onclose = (event) => { window.result ??= 'closed ' + event.code; };
      </script>`,
    );
    const sync = await startServerProcess(['--no-app', '--allowed-origin', `http://other.example,${origin}`]);
    target = sync.port;
    const page = await openPage(`${origin}/`);
    expect(await pageResult<string>(page)).toBe('snapshot');
  });
});
