/**
 * The socket adapter on the browser's own WebSocket, in real Chromium (issue 15): a browser fires every message
 * as a task of its own, so the connection decodes and applies each one inside its message event, with no
 * microtask after it (src/socket.ts, `readsOneFramePerTask`). The page (bundled here with esbuild) connects with
 * the raw protocol to a `ws` server on 127.0.0.1 that sends a few frames and closes; it records, after each
 * message event's listener returned, how many messages the Model had applied.
 *
 * Chromium: CHROMIUM_PATH, default /usr/bin/chromium (`apt-get install -y chromium` on Debian).
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.js';

const WAIT_MS = 20_000;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

/** What the page reports once the connection closed. */
interface PageReport {
  /** After each message event's listener returned: how many messages the Model held. */
  afterEachEvent: number[];
  applied: unknown[];
  state: string;
  counters: { received: number; rejected: number };
}

/** The page: a connection on the browser's WebSocket, its `onmessage` listener watched through a subclass. */
const PAGE_SOURCE = `
import { createConnection, rawProtocol } from './src/index.js';
window.runPage = (url) => new Promise((resolve) => {
  const applied = [];
  const afterEachEvent = [];
  const model = { update: (message) => void applied.push(message), getData: () => applied };
  class WatchedWebSocket extends WebSocket {
    get onmessage() { return super.onmessage; }
    set onmessage(listener) {
      super.onmessage = listener === null ? null : (event) => {
        listener(event);
        afterEachEvent.push(applied.length);
      };
    }
  }
  const connection = createConnection({ url, WebSocket: WatchedWebSocket, protocol: rawProtocol, model, reconnect: false });
  const unsubscribe = connection.subscribe((status) => {
    if (status.state !== 'closed' && status.state !== 'failed') return;
    unsubscribe();
    resolve({ afterEachEvent, applied, state: status.state, counters: { received: status.counters.received, rejected: status.counters.rejected } });
  });
});
`;

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(() => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}. Install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH.`);
  }
});

/** An HTTP server for the page and a `ws` server on it that sends `frames` to each connection, then closes with 1000. */
async function startServer(frames: readonly string[]): Promise<{ port: number }> {
  const bundled = await build({
    stdin: { contents: PAGE_SOURCE, resolveDir: fileURLToPath(new URL('../../', import.meta.url)), loader: 'ts' },
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    logLevel: 'silent',
  });
  const html = `<!doctype html><meta charset="utf-8"><script>${bundled.outputFiles[0]!.text}</script>`;
  const server: Server = createServer((req, res) => {
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => {
    for (const frame of frames) socket.send(frame);
    socket.close(1000);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port };
}

async function runPage(port: number): Promise<PageReport> {
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  const report = await page.evaluate((url) => (window as unknown as { runPage: (u: string) => Promise<PageReport> }).runPage(url), `ws://127.0.0.1:${port}/`);
  expect(errors).toEqual([]);
  return report;
}

describe("the browser's WebSocket", () => {
  it('applies each message inside its own message event, in order', async () => {
    const frames = ['{"n":1}', '{"n":2}', '{"n":3}'];
    const { port } = await startServer(frames);
    const report = await runPage(port);
    expect(report.afterEachEvent).toEqual([1, 2, 3]);
    expect(report.applied).toEqual(frames.map((frame) => JSON.parse(frame)));
    expect(report.counters).toEqual({ received: 3, rejected: 0 });
    expect(report.state).toBe('closed');
  });

  it('rejects a malformed message in its event and applies the ones around it', async () => {
    const { port } = await startServer(['{"n":1}', '{not json', '{"n":3}']);
    const report = await runPage(port);
    expect(report.afterEachEvent).toEqual([1, 1, 2]);
    expect(report.applied).toEqual([{ n: 1 }, { n: 3 }]);
    expect(report.counters).toEqual({ received: 3, rejected: 1 });
  });
});
