/**
 * `npm start`: a self-contained demo of a statesocket connection.
 *
 * A local price server sends each client a snapshot, then a few patches a
 * second. About 3 s in, it drops the first client without a close frame
 * (`terminate()`), so the client sees 1006, goes `errored`, reconnects and
 * carries on. The console view prints every state change and a summary of
 * the model; at the end one line sums up the state history and the counters.
 *
 *   npm start                      run for 10 s
 *   npm start -- --duration 30     run for 30 s
 *   npm start -- --duration 0      run until Ctrl-C
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Connection } from '../src/connection.js';
import { createConnection } from '../src/node.js';
import type { StoreData } from '../src/store.js';
import type { RenderScheduler } from '../src/types.js';
import { consoleView } from '../src/views/console.js';

const USAGE = 'usage: npm start -- [--duration SECONDS]   (default 10; 0 runs until Ctrl-C)';
const PATCHES_PER_SECOND = 5;
const DROP_AFTER_MS = 3_000;

type Prices = Record<string, number>;

// ── command line ───────────────────────────────────────────────────────────

/** Reads `--duration S`; returns seconds (0 = until Ctrl-C), or null after printing usage. */
function readDurationSeconds(): number | null {
  let values: { duration?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        duration: { type: 'string', short: 'd', default: '10' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return null;
  }
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  const seconds = Number(values.duration);
  if (!Number.isFinite(seconds) || seconds < 0) {
    console.error(`--duration must be a number of seconds, 0 or more; received ${JSON.stringify(values.duration)}\n${USAGE}`);
    return null;
  }
  return seconds;
}

// ── the fake price feed (server side) ─────────────────────────────────────

/** A random walk over a few prices; each tick moves one or two of them. */
function createPriceFeed() {
  const prices: Prices = { BTC: 64_250.5, ETH: 3_105.25, SOL: 148.8, AAPL: 191.3, EUR: 1.0842 };
  const symbols = Object.keys(prices);
  return {
    snapshot: (): Prices => ({ ...prices }),
    tick(): Prices {
      const changed: Prices = {};
      const count = 1 + Math.floor(Math.random() * 2);
      for (let i = 0; i < count; i++) {
        const symbol = symbols[Math.floor(Math.random() * symbols.length)] as string;
        const price = (prices[symbol] as number) * (1 + (Math.random() - 0.5) / 500);
        prices[symbol] = Number(price.toPrecision(6));
        changed[symbol] = prices[symbol];
      }
      return changed;
    },
  };
}

/** Sends a client the snapshot, then a patch every 1/PATCHES_PER_SECOND s until it goes away. */
function streamPrices(socket: WebSocket, feed: ReturnType<typeof createPriceFeed>): void {
  socket.send(JSON.stringify({ type: 'snapshot', data: feed.snapshot() }));
  const timer = setInterval(() => {
    socket.send(JSON.stringify({ type: 'patch', set: feed.tick() }));
  }, 1000 / PATCHES_PER_SECOND);
  socket.on('close', () => clearInterval(timer));
}

/** Drops the first client once after `afterMs`, without a close frame (the client sees 1006). */
function dropFirstClientOnce(server: WebSocketServer, afterMs: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  server.once('connection', (socket) => {
    timer = setTimeout(() => {
      console.log('server: dropping the connection (terminate, no close frame)');
      socket.terminate();
    }, afterMs);
  });
  return () => clearTimeout(timer);
}

/** Starts the price server on 127.0.0.1 and a free port; resolves once it listens. */
async function startPriceServer() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const feed = createPriceFeed();
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    streamPrices(socket, feed);
  });
  const cancelDrop = dropFirstClientOnce(server, DROP_AFTER_MS);
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    connections: () => connections,
    /** Cancels the pending drop, ends every client socket and stops listening. */
    close(): Promise<void> {
      cancelDrop();
      for (const socket of server.clients) socket.terminate();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ── the client ────────────────────────────────────────────────────────────

/**
 * Renders once per event-loop turn instead of once per 16 ms frame: a
 * terminal has no frames, and a short `errored` wait should still print.
 */
const renderEachTurn: RenderScheduler = (flush) => {
  const id = setImmediate(flush);
  return () => clearImmediate(id);
};

function connectClient(url: string): Connection<StoreData> {
  return createConnection<StoreData>({
    url,
    view: consoleView(),
    schedule: renderEachTurn,
    reconnect: { initialDelayMs: 200, maxDelayMs: 2_000 },
  });
}

/** One line: the state history and the counters. */
function summaryLine(connection: Connection<StoreData>, serverConnections: number): string {
  const states = connection.history.map((entry) => entry.state).join(' → ');
  const { received, rejected, sent, renders, reconnects, dropped } = connection.getStatus().counters;
  return (
    `summary: ${states} · received ${received}, rejected ${rejected}, sent ${sent}, renders ${renders}, ` +
    `reconnects ${reconnects}, dropped ${dropped} · server connections ${serverConnections}`
  );
}

// ── running and stopping ──────────────────────────────────────────────────

/** Resolves after `seconds` (never when 0) or on SIGINT/SIGTERM; leaves no timer or listener behind. */
function untilDoneOrSignalled(seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = seconds > 0 ? setTimeout(() => finish(`${seconds} s elapsed`), seconds * 1000) : undefined;
    const onSignal = (signal: NodeJS.Signals) => finish(`${signal} received`);
    function finish(reason: string): void {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(reason);
    }
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

async function main(): Promise<void> {
  const seconds = readDurationSeconds();
  if (seconds === null) {
    process.exitCode = 2;
    return;
  }
  const server = await startPriceServer();
  console.log(`server: listening on ${server.url}${seconds > 0 ? ` · running ${seconds} s` : ' · Ctrl-C to stop'}`);

  const connection = connectClient(server.url);
  const reason = await untilDoneOrSignalled(seconds);

  console.log(`stopping: ${reason}`);
  connection.stop();
  await server.close();
  console.log(summaryLine(connection, server.connections()));
  // No process.exit(): with the connection stopped and the server closed,
  // nothing is left on the event loop and Node exits 0 by itself.
}

await main();
