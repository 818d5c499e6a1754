/**
 * One way to open a connection per library, behind one interface, so every
 * scenario drives raw `ws`, statesocket, partysocket and reconnecting-websocket
 * the same way. Node 20 has no global WebSocket: every library gets `ws`'s
 * constructor injected (statesocket's `WebSocket` option, the `WebSocket`
 * option of partysocket and reconnecting-websocket).
 *
 * Reconnect settings:
 * - `fastest`: the smallest delays each library allows. statesocket:
 *   `initialDelayMs: 0, maxDelayMs: 0, factor: 1` and a fixed `random` (no
 *   jitter); partysocket / reconnecting-websocket: `minReconnectionDelay: 0,
 *   maxReconnectionDelay: 0, reconnectionDelayGrowFactor: 1`; ws: a hand-written
 *   `setTimeout(connect, 0)` after every close.
 * - `default`: each library's defaults (ws: the same immediate retry, the
 *   naive loop people write by hand).
 */
import PartySocket from 'partysocket/ws';
import ReconnectingWebSocket from 'reconnecting-websocket';
import { WebSocket } from 'ws';
import type { ConnectionOptions } from '../src/options.js';
import { createConnection } from '../src/node.js';
import { rawProtocol } from '../src/protocol.js';
import type { StoreData } from '../src/store.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { createChannelProtocol } from '../src/sync/client-protocol-v2.js';
import type { ChannelStatus } from '../src/channel.js';
import type { Connection } from '../src/connection.js';
import type { AnyModel, ConnectionStatus, View, WebSocketConstructor } from '../src/types.js';
import { wallNow } from './lib/time.js';
import { baselineHandler, type CountingStore } from './workload.js';
import { HELLO } from './wire.js';

/** The channel a `protocol: 'channel'` connection holds its model on. */
export const BENCH_CHANNEL = 'prices';

export const LIBRARIES = ['ws', 'statesocket', 'partysocket', 'reconnecting-websocket'] as const;
export type Library = (typeof LIBRARIES)[number];

export interface AdapterOptions {
  url: string;
  model: CountingStore;
  view?: View<StoreData>;
  reconnect: 'fastest' | 'default' | 'none';
  /**
   * statesocket only: the sync protocol (default), the raw one, or the sync protocol's version 2
   * with the model on channel `BENCH_CHANNEL` (`connection.channel()`; the connection has no default channel).
   */
  protocol?: 'sync' | 'raw' | 'channel';
  /** statesocket only: ping/timeout liveness check. */
  heartbeat?: { intervalMs: number; timeoutMs: number };
  /** The WebSocket constructor to inject (an instrumented `ws`). @default ws */
  WebSocket?: typeof WebSocket;
  /** Every time the connection opens. */
  onOpen?: (at: number) => void;
  /** Every time an open connection is reported lost (statesocket: `errored` or `closed`; others: `close`). */
  onDown?: (at: number) => void;
}

export interface BenchConnection {
  close(): void;
}

/**
 * `ws` subclassed to stamp the wall-clock time every socket is constructed (a
 * retry starts) and the time its handshake completes, before any library sees it.
 */
export function timedWebSocket(onConstruct: (at: number) => void, onSocketOpen: (at: number) => void): typeof WebSocket {
  return class TimedWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols);
      onConstruct(wallNow());
      // Registered before the library attaches its own handlers, so it runs first.
      this.once('open', () => onSocketOpen(wallNow()));
    }
  } as typeof WebSocket;
}

function rawWs(options: AdapterOptions): BenchConnection {
  const WS = options.WebSocket ?? WebSocket;
  const handle = baselineHandler(options.model, options.view);
  let stopped = false;
  let socket: WebSocket | null = null;
  const connect = () => {
    if (stopped) return;
    const ws = new WS(options.url);
    socket = ws;
    let wasOpen = false;
    ws.on('open', () => {
      wasOpen = true;
      ws.send(HELLO);
      options.onOpen?.(wallNow());
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) handle(data.toString('utf8'));
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      if (wasOpen) options.onDown?.(wallNow());
      if (options.reconnect !== 'none' && !stopped) setTimeout(connect, 0);
    });
  };
  connect();
  return {
    close() {
      stopped = true;
      socket?.terminate();
    },
  };
}

function statesocket(options: AdapterOptions): BenchConnection {
  const WS = options.WebSocket ?? WebSocket;
  const reconnect: ConnectionOptions['reconnect'] =
    options.reconnect === 'none' ? false : options.reconnect === 'fastest' ? { initialDelayMs: 0, maxDelayMs: 0, factor: 1 } : {};
  const common = {
    url: options.url,
    WebSocket: WS as unknown as WebSocketConstructor,
    reconnect,
    // Jitter set aside: the wait is exactly the (zero) ceiling.
    ...(options.reconnect === 'fastest' ? { random: () => 0.5 } : {}),
    ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }),
  };
  let connection: Connection<AnyModel, unknown>;
  if (options.protocol === 'channel') {
    connection = createConnection({ ...common, protocol: createChannelProtocol({ defaultChannel: false }) }) as Connection<AnyModel, unknown>;
    connection.channel(BENCH_CHANNEL, { model: options.model, ...(options.view === undefined ? {} : { view: options.view as unknown as View<StoreData, ChannelStatus> }) });
  } else {
    connection = createConnection({
      ...common,
      protocol: options.protocol === 'raw' ? rawProtocol : createSyncProtocol(),
      model: options.model,
      ...(options.view === undefined ? {} : { view: options.view }),
    }) as Connection<AnyModel, unknown>;
  }
  if (options.onOpen !== undefined || options.onDown !== undefined) {
    let last: ConnectionStatus['state'] = connection.getStatus().state;
    let unsubscribe: (() => void) | null = null;
    unsubscribe = connection.subscribe((status) => {
      if (status.state === last) return;
      const wasOpen = last === 'open';
      last = status.state;
      if (status.state === 'open') {
        options.onOpen?.(wallNow());
        // Nobody asked about losses: stop listening, so the status listener costs nothing per message.
        if (options.onDown === undefined) unsubscribe?.();
      } else if (wasOpen && (status.state === 'errored' || status.state === 'closed')) options.onDown?.(wallNow());
    });
  }
  return { close: () => connection.stop() };
}

interface ReconnectingLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(): void;
}

function reconnecting(options: AdapterOptions, make: (url: string, settings: Record<string, unknown>) => ReconnectingLike): BenchConnection {
  const settings: Record<string, unknown> = { WebSocket: options.WebSocket ?? WebSocket };
  if (options.reconnect === 'fastest') Object.assign(settings, { minReconnectionDelay: 0, maxReconnectionDelay: 0, reconnectionDelayGrowFactor: 1 });
  if (options.reconnect === 'none') settings.maxRetries = 0;
  const socket = make(options.url, settings);
  const handle = baselineHandler(options.model, options.view);
  let open = false;
  socket.onopen = () => {
    open = true;
    socket.send(HELLO);
    options.onOpen?.(wallNow());
  };
  socket.onmessage = (event) => {
    if (typeof event.data === 'string') handle(event.data);
  };
  socket.onerror = () => {};
  socket.onclose = () => {
    if (!open) return;
    open = false;
    options.onDown?.(wallNow());
  };
  return { close: () => socket.close() };
}

export function connect(library: Library, options: AdapterOptions): BenchConnection {
  switch (library) {
    case 'ws':
      return rawWs(options);
    case 'statesocket':
      return statesocket(options);
    case 'partysocket':
      return reconnecting(options, (url, settings) => new PartySocket(url, undefined, settings) as unknown as ReconnectingLike);
    case 'reconnecting-websocket':
      return reconnecting(
        options,
        (url, settings) => new (ReconnectingWebSocket as unknown as new (u: string, p: undefined, s: unknown) => ReconnectingLike)(url, undefined, settings),
      );
  }
}
