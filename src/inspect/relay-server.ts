/**
 * The inspector relay on the network (Node only): `relay-core.ts` behind a
 * `ws` server on an `http.Server`, bound to 127.0.0.1 and nothing else.
 *
 * ```
 *  inspected process ── ws://127.0.0.1:PORT/inspect ──▶ core.receive ──┐
 *  (createRelayInspector, or the stock createWebSocketInspector)       │ prefix ids,
 *                                                                      │ replay buffer
 *  browser ── GET http://127.0.0.1:PORT/ ─────────▶ page (HTML, /inspector.js, /elk.js)
 *          ── ws://127.0.0.1:PORT/page ◀────────────────── relay.hello, replay, live ┘
 * ```
 *
 * It never binds another interface: what an inspected process sends (its
 * context and events, redacted or not) is for the person at this machine.
 * Pages must come from the relay's own origin (another site in the same browser
 * could otherwise open `/page` and read the stream); sources may come from any
 * origin, since a browser app on its dev server is a source. The Host header
 * must name the loopback (DNS rebinding).
 *
 * Imports `ws` and `node:*`: never part of a browser bundle.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { loadPageBundle, type PageBundle } from './page-files.js';
import { pageHtml } from './page-html.js';
import { createRelayCore, DEFAULT_RELAY_CORE_OPTIONS, type RelayCore, type RelayStats } from './relay-core.js';

export interface InspectorServerOptions {
  /**
   * TCP port on 127.0.0.1; 0 picks a free one (read it back from `port`).
   * The host is always 127.0.0.1 and cannot be changed.
   * @default 8090
   */
  port?: number;
  /**
   * Events and snapshots replayed to a page that opens late, besides the latest
   * actor and snapshot of every session (always kept).
   * @default 1000
   */
  replayLimit?: number;
  /**
   * Sessions (actors) remembered for replay; stopped ones are forgotten first.
   * @default 200
   */
  maxSessions?: number;
  /**
   * Largest frame a source may send, in bytes (ws `maxPayload`); a larger one
   * closes that source with 1009. A machine definition is the largest message.
   * @default 8388608 (8 MiB)
   */
  maxFrameBytes?: number;
  /**
   * A page that has this many bytes waiting to be sent (a stalled tab) is
   * closed with 1013; it reconnects and gets the replay.
   * @default 16777216 (16 MiB)
   */
  maxPageBufferedBytes?: number;
  /**
   * Reads the page's built scripts (`dist/www/inspector/`) at startup (the
   * default) or on the first request for them, which makes starting the relay
   * nearly free when nobody looks.
   * @default 'startup'
   */
  buildPage?: 'startup' | 'lazy';
}

export const DEFAULT_INSPECTOR_SERVER_OPTIONS = {
  host: '127.0.0.1',
  port: 8090,
  replayLimit: DEFAULT_RELAY_CORE_OPTIONS.replayLimit,
  maxSessions: DEFAULT_RELAY_CORE_OPTIONS.maxSessions,
  maxFrameBytes: 8 * 1024 * 1024,
  maxPageBufferedBytes: 16 * 1024 * 1024,
  buildPage: 'startup',
} as const;

export interface RunningInspectorServer {
  /** Always `127.0.0.1`. */
  readonly host: string;
  readonly port: number;
  /** Open this in a browser: `http://127.0.0.1:PORT/`. */
  readonly pageUrl: string;
  /** Give this to inspectors: `ws://127.0.0.1:PORT/inspect`. */
  readonly sourceUrl: string;
  readonly core: RelayCore;
  stats(): RelayStats;
  /** Closes every socket and the listener. */
  close(): Promise<void>;
}

const KNOWN_OPTIONS = new Set(['port', 'replayLimit', 'maxSessions', 'maxFrameBytes', 'maxPageBufferedBytes', 'buildPage']);

function wholeNumber(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`startInspectorServer: ${name} must be a whole number from ${min} to ${max}; received ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Starts the relay on 127.0.0.1.
 *
 * @example
 * ```ts
 * const relay = await startInspectorServer({ port: 0 });
 * const connection = createConnection({ url, inspect: { url: relay.sourceUrl } });
 * console.log(`open ${relay.pageUrl}`);
 * ```
 * @throws TypeError/RangeError for a bad option (naming it and the value);
 *   the listen error (EADDRINUSE: `code` is kept) when the port is taken
 */
export async function startInspectorServer(options: InspectorServerOptions = {}): Promise<RunningInspectorServer> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`startInspectorServer: options must be an object; received ${JSON.stringify(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (name === 'host') {
      throw new TypeError('startInspectorServer: host cannot be set; the relay listens on 127.0.0.1 only (what it relays is private)');
    }
    if (!KNOWN_OPTIONS.has(name)) throw new TypeError(`startInspectorServer: unknown option ${JSON.stringify(name)}`);
  }
  const d = DEFAULT_INSPECTOR_SERVER_OPTIONS;
  const port = wholeNumber('port', options.port, d.port, 0, 65_535);
  const maxFrameBytes = wholeNumber('maxFrameBytes', options.maxFrameBytes, d.maxFrameBytes, 1024, 2 ** 31 - 1);
  const maxPageBufferedBytes = wholeNumber('maxPageBufferedBytes', options.maxPageBufferedBytes, d.maxPageBufferedBytes, 1024, Number.MAX_SAFE_INTEGER);
  const buildPage = options.buildPage ?? d.buildPage;
  if (buildPage !== 'startup' && buildPage !== 'lazy') {
    throw new RangeError(`startInspectorServer: buildPage must be 'startup' or 'lazy'; received ${JSON.stringify(buildPage)}`);
  }
  const core = createRelayCore({
    replayLimit: wholeNumber('replayLimit', options.replayLimit, d.replayLimit, 0, 1_000_000),
    maxSessions: wholeNumber('maxSessions', options.maxSessions, d.maxSessions, 1, 100_000),
    maxFrameLength: maxFrameBytes,
  });

  let bundle: Promise<PageBundle> | null = null;
  const pageBundle = () => (bundle ??= loadPageBundle());
  if (buildPage === 'startup') await pageBundle();

  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes });
  let actualPort = port;
  const html = pageHtml();

  /** Host header names this relay on the loopback (a rebound DNS name does not). */
  const isLocalHost = (host: string | undefined) =>
    host === `127.0.0.1:${actualPort}` || host === `localhost:${actualPort}` || host === `[::1]:${actualPort}`;
  const isOwnOrigin = (origin: string | undefined) =>
    origin === undefined || origin === `http://127.0.0.1:${actualPort}` || origin === `http://localhost:${actualPort}`;

  const server = createServer((req, res) => {
    void answer(req, res);
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
      res.end(body);
    };
    try {
      if (!isLocalHost(req.headers.host)) return send(421, 'text/plain; charset=utf-8', 'the inspector answers to 127.0.0.1 or localhost only\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'GET only\n', { allow: 'GET, HEAD' });
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (path === '/' || path === '/index.html') {
        return send(200, 'text/html; charset=utf-8', html, {
          'content-security-policy':
            `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; ` +
            `connect-src ws://127.0.0.1:${actualPort} ws://localhost:${actualPort}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        });
      }
      if (path === '/inspector.js') return send(200, 'text/javascript; charset=utf-8', (await pageBundle()).js);
      if (path === '/elk.js') return send(200, 'text/javascript; charset=utf-8', (await pageBundle()).elk);
      if (path === '/stats') return send(200, 'application/json', `${JSON.stringify(core.stats())}\n`);
      if (path === '/favicon.ico') return send(204, 'text/plain', '');
      return send(404, 'text/plain; charset=utf-8', `not found: ${path} (the page is at /)\n`);
    } catch (error) {
      if (!res.headersSent) send(500, 'text/plain; charset=utf-8', `inspector page failed to load: ${(error as Error).message}\n`);
      else res.destroy();
    }
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (!isLocalHost(req.headers.host)) return refuse(421, 'Misdirected Request');
    if (path === '/inspect') {
      return wss.handleUpgrade(req, socket, head, (ws) => acceptSource(ws));
    }
    if (path === '/page') {
      if (!isOwnOrigin(req.headers.origin)) return refuse(403, 'Forbidden');
      return wss.handleUpgrade(req, socket, head, (ws) => acceptPage(ws));
    }
    return refuse(404, 'Not Found');
  });

  function track(ws: WebSocket): void {
    sockets.add(ws);
    ws.on('error', () => {}); // a broken peer only closes; 'close' follows
    ws.on('close', () => sockets.delete(ws));
  }

  function acceptSource(ws: WebSocket): void {
    track(ws);
    const id = core.openSource();
    ws.on('message', (data, isBinary) => {
      core.receive(id, isBinary ? data : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8'));
    });
    ws.on('close', () => core.closeSource(id));
  }

  function acceptPage(ws: WebSocket): void {
    track(ws);
    const remove = core.addPage((frame) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > maxPageBufferedBytes) {
        // Better a reload with the replay than a tab ever further behind.
        ws.close(1013, 'too far behind; reconnect for the replay');
        return;
      }
      ws.send(frame);
    });
    ws.on('message', () => {}); // pages have nothing to say
    ws.on('close', remove);
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, d.host);
  });
  actualPort = (server.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  return {
    host: d.host,
    port: actualPort,
    pageUrl: `http://${d.host}:${actualPort}/`,
    sourceUrl: `ws://${d.host}:${actualPort}/inspect`,
    core,
    stats: () => core.stats(),
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
