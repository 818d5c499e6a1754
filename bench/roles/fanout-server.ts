/**
 * Scenario 10, server side: one broadcasting server in a process of its own (run with
 * --expose-gc), so its CPU time, heap and event-loop delay are its own and nothing else's.
 *
 * - `statesocket`: the reference server (`startSyncServer`), its feed made with `server.change()`
 *   on one channel, as `--feed-rate` does; the engine named by `engine`: memory, or Redis
 *   (`startSyncServer({ redis: { url, prefix } })` on the shared Redis, a key prefix of the run's
 *   own shared by the row's instances, so a change made on the first reaches the subscribers of
 *   the others through Redis).
 * - `ws`: the floor. A `ws` WebSocketServer; each change is `JSON.stringify`'d once into the same
 *   patch text statesocket sends, then `ws.send(text)` to every client: the broadcast loop people
 *   write by hand.
 * - `socketio`: what users pick instead. A socket.io server with its Redis adapter (`ioredis`
 *   clients on the shared Redis, a key prefix of the run's own), `io.emit('patch', frame)` with the
 *   same patch as an object (socket.io encodes it once per broadcast).
 *
 * Every change sets one row (bench/wire.ts `rowFor`) plus `t`, the wall-clock time it was made.
 *
 * The rows that use Redis count the Redis commands this process sends (bench/roles/fanout-redis.ts).
 *
 * IPC in: `heap`, `redis-commands`, `feed {changesPerSec}` (a steady rate, `FEED_TICK_MS` ticks), `saturate
 * {changesPerSec, aheadChanges}` (a rate above what the server sends, never more than
 * `aheadChanges` past the lowest seq every receiver has: `credit {seq}`), `measure {windowMs}`,
 * `feed-stop`, `finish`.
 * IPC out: `listening {url}`, `heap`, `redis-commands {counts}` (since the start), `feeding {seq}`,
 * `measured`, `feed-stopped {changes, seq}` (once every change made was applied).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import type { NodeServerOptions } from '../../src/server/server-options.js';
import { startSyncServer } from '../../src/server/start.js';
import type { Json } from '../../src/store.js';
import { next, on, send } from '../lib/ipc.js';
import { sleep, wallNow } from '../lib/time.js';
import { keyFor, rowFor } from '../wire.js';
import type { FanoutServerKind } from './fanout-receiver.js';
import { countRedisCommands } from './fanout-redis.js';
import { heapAfterGc } from './sync-server.js';

/** Where statesocket keeps its channels: in the process, or in Redis (`statesocket/server/redis`). */
export type FanoutEngine = 'memory' | 'redis';

export interface FanoutServerParams {
  kind: FanoutServerKind;
  engine: FanoutEngine;
  /** The connections it must admit (every one comes from 127.0.0.1). */
  connections: number;
  channel: string;
  /** socketio and the Redis engine: the Redis URL and a key prefix of this run's own. */
  redisUrl: string;
  redisPrefix: string;
  /** Whether this instance runs the feed (the first of a row's instances). */
  feeds: boolean;
}

/** The steady feed's timer period: changes due are made in one batch per tick. */
export const FEED_TICK_MS = 10;
/** `monitorEventLoopDelay` resolution, ms (the smallest Node allows). */
export const ELD_RESOLUTION_MS = 1;

/** The engine's part of statesocket's options. */
function engineOptions(params: FanoutServerParams): Partial<NodeServerOptions> {
  switch (params.engine) {
    case 'memory':
      return {};
    case 'redis':
      return { redis: { url: params.redisUrl, prefix: `${params.redisPrefix}:` } };
  }
}

/** Whether this server talks to Redis (and so counts its commands). */
export function usesRedis(params: Pick<FanoutServerParams, 'kind' | 'engine'>): boolean {
  return params.kind === 'socketio' || (params.kind === 'statesocket' && params.engine === 'redis');
}

interface Broadcaster {
  url: string;
  /** Makes change `seq` (wall time `t` in its row) and sends it to every subscriber; returns its seq. */
  change(seq: number, t: number): number;
  /** Resolves once every change made so far was applied (statesocket appends asynchronously). */
  applied(): Promise<void>;
  subscribers(): number;
  close(): Promise<void>;
}

function patchFrame(channel: string, epoch: string, seq: number, t: number) {
  return { type: 'patch', channel, epoch, seq, set: { [keyFor(seq)]: { ...rowFor(seq), t } } };
}

function listen(http: HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve((http.address() as AddressInfo).port));
  });
}

async function statesocketBroadcaster(params: FanoutServerParams): Promise<Broadcaster> {
  const server = await startSyncServer({
    host: '127.0.0.1',
    port: 0,
    maxConnectionsPerAddress: params.connections + 100,
    maxConnections: Math.max(10_000, params.connections + 100),
    ...engineOptions(params),
  });
  let latest: Promise<unknown> = Promise.resolve();
  return {
    url: server.url,
    change: (seq, t) => {
      // Appended in call order (one at a time per channel); a refusal is a broken bench: end loudly.
      latest = server.change({ set: { [keyFor(seq)]: { ...rowFor(seq), t } as unknown as Json } }, params.channel).catch((error: unknown) => {
        console.error(error);
        process.exit(1);
      });
      return seq;
    },
    // Changes of one channel are applied in call order: the latest one settles last.
    applied: async () => {
      await latest;
    },
    subscribers: () => server.stats().subscriptions,
    close: () => server.close(),
  };
}

async function wsBroadcaster(params: FanoutServerParams): Promise<Broadcaster> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const clients = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    clients.add(ws);
    ws.on('error', () => {});
    ws.on('close', () => clients.delete(ws));
  });
  const port = await listen(http);
  const epoch = `ws-${process.pid}`;
  return {
    url: `ws://127.0.0.1:${port}/`,
    change: (seq, t) => {
      const text = JSON.stringify(patchFrame(params.channel, epoch, seq, t));
      for (const ws of clients) ws.send(text);
      return seq;
    },
    applied: async () => {},
    subscribers: () => clients.size,
    close: async () => {
      for (const ws of clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

async function socketioBroadcaster(params: FanoutServerParams): Promise<Broadcaster> {
  // Loaded here: the other kinds never load socket.io or a Redis client.
  const [{ Server }, { createAdapter }, { Redis }] = await Promise.all([import('socket.io'), import('@socket.io/redis-adapter'), import('ioredis')]);
  const pub = new Redis(params.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  const sub = pub.duplicate();
  try {
    await Promise.all([pub.connect(), sub.connect()]);
  } catch (error) {
    pub.disconnect();
    sub.disconnect();
    throw new Error(
      `the socket.io row needs Redis at ${params.redisUrl} (${(error as Error).message}); start one: redis-server --port 6379 --bind 127.0.0.1 --save "" --daemonize yes`,
    );
  }
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false, adapter: createAdapter(pub, sub, { key: params.redisPrefix }) });
  const port = await listen(http);
  const epoch = `socketio-${process.pid}`;
  return {
    url: `http://127.0.0.1:${port}`,
    change: (seq, t) => {
      io.emit('patch', patchFrame(params.channel, epoch, seq, t));
      return seq;
    },
    applied: async () => {},
    subscribers: () => io.engine.clientsCount,
    close: async () => {
      io.disconnectSockets(true);
      await io.close();
      pub.disconnect();
      sub.disconnect();
    },
  };
}

const BROADCASTERS: Record<FanoutServerKind, (params: FanoutServerParams) => Promise<Broadcaster>> = {
  statesocket: statesocketBroadcaster,
  ws: wsBroadcaster,
  socketio: socketioBroadcaster,
};

export async function fanoutServerRole(params: FanoutServerParams): Promise<never> {
  const redisCommands = usesRedis(params) ? await countRedisCommands() : () => ({});
  const server = await BROADCASTERS[params.kind](params);
  let seq = 0;
  let changes = 0;
  let credit = 0;
  let feedTimer: NodeJS.Timeout | undefined;

  const makeChange = () => {
    seq = server.change(seq + 1, wallNow());
    changes++;
  };
  const stopFeeding = () => {
    clearInterval(feedTimer);
    feedTimer = undefined;
  };
  /**
   * Changes due at `changesPerSec` in `FEED_TICK_MS` ticks, as a feed makes them; with `ahead`,
   * no more than `ahead` past the lowest seq every receiver has, the rest of a tick's due
   * changes dropped (a saturated server is offered more than it sends, and nothing piles up).
   */
  const startFeed = (changesPerSec: number, ahead?: number) => {
    stopFeeding();
    const started = wallNow();
    let made = 0;
    feedTimer = setInterval(() => {
      const due = Math.floor(((wallNow() - started) * changesPerSec) / 1000);
      const room = ahead === undefined ? due - made : Math.min(due - made, ahead - (seq - credit));
      for (let i = 0; i < room; i++) makeChange();
      made = due;
    }, FEED_TICK_MS);
  };

  on('heap', () => void heapAfterGc().then((heap) => send({ type: 'heap', ...heap, subscribers: server.subscribers() })));
  on('redis-commands', () => void send({ type: 'redis-commands', counts: redisCommands() }));
  on('credit', (message) => {
    credit = Math.max(credit, Number(message.seq));
  });
  on('feed', (message) => {
    startFeed(Number(message.changesPerSec));
    void send({ type: 'feeding', seq });
  });
  on('saturate', (message) => {
    credit = Math.max(credit, seq);
    startFeed(Number(message.changesPerSec), Number(message.aheadChanges));
    void send({ type: 'feeding', seq });
  });
  on('measure', (message) => {
    const windowMs = Number(message.windowMs);
    const histogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    const cpuBefore = process.cpuUsage();
    const changesBefore = changes;
    const started = wallNow();
    histogram.enable();
    void sleep(windowMs).then(() => {
      histogram.disable();
      const cpu = process.cpuUsage(cpuBefore);
      const elapsedMs = wallNow() - started;
      void send({
        type: 'measured',
        elapsedMs,
        changes: changes - changesBefore,
        subscribers: server.subscribers(),
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
        heapUsed: process.memoryUsage().heapUsed,
        eldP50Ms: histogram.percentile(50) / 1e6,
        eldP99Ms: histogram.percentile(99) / 1e6,
        eldMaxMs: histogram.max / 1e6,
      });
    });
  });
  on('feed-stop', () => {
    stopFeeding();
    void server.applied().then(() => send({ type: 'feed-stopped', changes, seq }));
  });

  await send({ type: 'listening', url: server.url, feeds: params.feeds });
  await next('finish');
  stopFeeding();
  await server.close();
  process.exit(0);
}
