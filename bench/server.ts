/**
 * The bench server: a child process the parent starts, kills, stops and
 * restarts. Controlled over IPC (never over the network, so a stopped or
 * flooded server cannot delay its own control channel).
 *
 * - `ws://127.0.0.1:P/`: a sync-protocol feed. Every connection gets a
 *   `snapshot`, then every broadcast `patch`; `{"type":"ping"}` is answered
 *   with `{"type":"pong"}`; anything else (a hello) is ignored.
 * - `ws://127.0.0.1:P/blast?n=N`: the handshake is done by hand and the
 *   snapshot and N patches are written straight to the TCP socket from one
 *   pre-framed buffer, as fast as the socket drains: the server is never what
 *   limits a client's throughput. `&channel=NAME`: the same on a channel,
 *   in protocol version 2's frames (`blastChannelTexts`).
 *
 * - `http://127.0.0.1:P/browser/NAME.html`: a page of the browser scenario, read from the
 *   directory `serve-pages` named (nothing is served before; other names are 404).
 *
 * IPC in: `listen {port}` (a standby binds only then), `prepare-blast {n, channel?}`,
 * `broadcast {ratePerSec, count?}`, `broadcast-stop`, `stats`, `serve-pages {dir}`.
 * IPC out: `ready` (standby loaded), `listening {port, at}`, `prepared`,
 * `stats {accepts, open, broadcasts}`, `serving`, `error {message}`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { attachToParent, fail, on, send } from './lib/ipc.js';
import { wallNow } from './lib/time.js';
import { blastChannelTexts, blastTexts, encodeTextFrames, keyFor, patchText, rowFor, snapshotText, type Row } from './wire.js';

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Bytes per write while blasting: large enough that syscalls do not limit the rate. */
const BLAST_CHUNK_BYTES = 256 * 1024;
/** Tries to get an odd port from port 0 (see `listenOnOddPort`). */
const ODD_PORT_TRIES = 20;

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Binds port 0, keeping the port only when it is odd. Linux's connect() takes
 * even ephemeral ports first (bind(0) odd ones), so a client retrying every
 * millisecond while the server is down will not pick our port as its own local
 * port and connect to itself (TCP self-connect), which would keep the
 * restarted server from binding it.
 */
async function listenOnOddPort(server: Server): Promise<number> {
  for (let i = 0; i < ODD_PORT_TRIES; i++) {
    const port = await listen(server, 0);
    if (port % 2 === 1) return port;
    await close(server);
  }
  return (server.address() as AddressInfo | null)?.port ?? listen(server, 0);
}

export async function runBenchServer(argv: readonly string[]): Promise<void> {
  attachToParent();
  const standby = argv.includes('--standby');
  const epoch = `bench-${process.pid}`;
  let seq = 0;
  const data: Record<string, Row> = {};
  const clients = new Set<WebSocket>();
  const accepts: number[] = [];
  let broadcasts = 0;
  let broadcastTimer: NodeJS.Timeout | undefined;
  const blasts = new Map<string, Buffer>();
  const blastFor = (n: number, channel: string | null): Buffer => {
    const key = `${n}:${channel ?? ''}`;
    let payload = blasts.get(key);
    if (payload === undefined) {
      payload = encodeTextFrames(channel === null ? blastTexts(n) : blastChannelTexts(n, channel));
      blasts.set(key, payload);
    }
    return payload;
  };

  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });
  let pagesDir: string | null = null;
  const server = createServer((req, res) => {
    const name = /^\/browser\/([a-z0-9-]+\.html)$/.exec(req.url ?? '')?.[1];
    if (req.method !== 'GET' || name === undefined || pagesDir === null) return void res.writeHead(404).end();
    readFile(join(pagesDir, name)).then(
      (body) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(404).end(),
    );
  });

  const accept = (ws: WebSocket) => {
    accepts.push(wallNow());
    ws.on('error', () => {});
    ws.on('close', () => clients.delete(ws));
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const text = raw.toString('utf8');
      if (!text.includes('"ping"')) return;
      try {
        if ((JSON.parse(text) as { type?: unknown }).type === 'ping') ws.send('{"type":"pong"}');
      } catch {
        // not JSON: ignored, like any other client frame
      }
    });
    ws.send(snapshotText(epoch, seq, data));
    clients.add(ws);
  };

  const blast = (req: IncomingMessage, socket: Socket, n: number, channel: string | null) => {
    accepts.push(wallNow());
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string') return socket.destroy();
    const acceptKey = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', () => {}); // the client's hello and close frames: read and ignored
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey}\r\n\r\n`);
    const bytes = blastFor(n, channel);
    let offset = 0;
    const pump = () => {
      while (offset < bytes.length && !socket.destroyed) {
        const end = Math.min(offset + BLAST_CHUNK_BYTES, bytes.length);
        const more = socket.write(bytes.subarray(offset, end));
        offset = end;
        if (!more) return void socket.once('drain', pump);
      }
    };
    pump();
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/blast') return blast(req, socket as Socket, Number(url.searchParams.get('n') ?? '0'), url.searchParams.get('channel'));
    wss.handleUpgrade(req, socket, head, accept);
  });

  on('prepare-blast', (message) => {
    const n = Number(message.n);
    const channel = typeof message.channel === 'string' ? message.channel : null;
    void send({ type: 'prepared', n, bytes: blastFor(n, channel).length });
  });
  on('broadcast', (message) => {
    clearInterval(broadcastTimer);
    const everyMs = 1000 / Number(message.ratePerSec);
    let left = message.count === undefined ? Infinity : Number(message.count);
    broadcastTimer = setInterval(() => {
      seq++;
      data[keyFor(seq)] = rowFor(seq);
      const frame = patchText(epoch, seq);
      for (const ws of clients) ws.send(frame);
      broadcasts++;
      if (--left <= 0) clearInterval(broadcastTimer);
    }, everyMs);
  });
  on('broadcast-stop', () => {
    clearInterval(broadcastTimer);
    void send({ type: 'broadcast-stopped', broadcasts });
  });
  on('serve-pages', (message) => {
    pagesDir = String(message.dir);
    void send({ type: 'serving' });
  });
  on('stats', () => {
    void send({ type: 'stats', accepts, open: clients.size, broadcasts });
  });

  const announce = async (port: number) => send({ type: 'listening', port, at: wallNow() });
  if (standby) {
    on('listen', (message) => {
      listen(server, Number(message.port)).then(announce, fail);
    });
    await send({ type: 'ready' });
  } else {
    await announce(await listenOnOddPort(server));
  }
}
