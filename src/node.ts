/**
 * statesocket for Node: everything the default entry exports, with
 * `createConnection` defaulting to `ws` (Node 20 has no global WebSocket) and
 * accepting `inspect: { url }`. Selected by the package's `node` export
 * condition; browser bundles never see it.
 */
import { WebSocket } from 'ws';
import type { Connection } from './connection.js';
import { createConnectionFactory } from './connection.js';
import { createLazyRelayInspector } from './lazy-inspector.js';
import type { ConnectionOptions } from './options.js';
import { DEFAULT_OPTIONS, inspectRelayUrl } from './options.js';
import type { Store } from './store.js';
import type { SyncOutbound } from './sync/client-protocol.js';
import type { AnyModel, WebSocketConstructor } from './types.js';

// Re-export the whole default entry; the local createConnection below shadows its namesake.
export * from './index.js';

const createBaseConnection = createConnectionFactory(() => WebSocket as unknown as WebSocketConstructor);

/**
 * `ws` with its `maxPayload` at `maxMessageBytes`: a frame over the limit is
 * refused as soon as its header arrives, never buffered (ws's own default is
 * 100 MiB). A constructor that returns the `ws` socket it made.
 */
function wsLimitedTo(maxPayload: number): WebSocketConstructor {
  return function LimitedWebSocket(url: string, protocols?: string | string[]) {
    return new WebSocket(url, protocols, { maxPayload });
  } as unknown as WebSocketConstructor;
}

const defaultWebSocket = wsLimitedTo(DEFAULT_OPTIONS.maxMessageBytes);

/**
 * `ws`, limited to the connection's `maxMessageBytes`, when the options give no WebSocket or `ws`'s
 * own; another WebSocket is used as it is (an invalid limit is left to the options' check).
 */
function platformWebSocketFor(options: { WebSocket?: unknown; maxMessageBytes?: unknown }): WebSocketConstructor | undefined {
  if (options.WebSocket !== undefined && options.WebSocket !== WebSocket) return undefined;
  const limit = options.maxMessageBytes;
  if (limit === undefined || limit === DEFAULT_OPTIONS.maxMessageBytes) return defaultWebSocket;
  return typeof limit === 'number' && limit >= 1 && Number.isFinite(limit) ? wsLimitedTo(limit) : undefined;
}

/**
 * Node's options: the same as every entry's. `inspect: { url }` streams to an
 * inspector relay (`statesocket-inspect`); it needs the optional peer
 * dependency `@statelyai/inspect`, loaded only then; without it a warning says
 * what to install and the connection runs uninspected.
 */
export type NodeConnectionOptions<M extends AnyModel = Store, TOut = SyncOutbound> = ConnectionOptions<M, TOut>;

/**
 * Creates a connection; in Node the WebSocket is `ws` (with `maxPayload` at
 * `maxMessageBytes`) unless the options give another.
 * `inspect: { url }` streams the machine to an inspector relay, stopped with the connection.
 *
 * @example
 * ```ts
 * import { createConnection, consoleView } from 'statesocket';
 * const connection = createConnection({ url: 'ws://127.0.0.1:8080', view: consoleView() });
 * ```
 */
export function createConnection<M extends AnyModel = Store, TOut = SyncOutbound>(options: NodeConnectionOptions<M, TOut>): Connection<M, TOut> {
  // Not an object: the shared check says so (createBaseConnection throws a TypeError naming what it received).
  if (typeof options !== 'object' || options === null) return createBaseConnection(options);
  const WebSocketOption = platformWebSocketFor(options);
  const own: ConnectionOptions<M, TOut> = WebSocketOption === undefined ? options : { ...options, WebSocket: WebSocketOption };
  const url = inspectRelayUrl(options.inspect);
  if (url === undefined) return createBaseConnection(own);
  const relay = createLazyRelayInspector({ url, WebSocket: WebSocket as unknown as WebSocketConstructor });
  let connection: Connection<M, TOut>;
  try {
    connection = createBaseConnection({ ...own, inspect: relay });
  } catch (error) {
    relay.stop();
    throw error;
  }
  const stop = connection.stop;
  connection.stop = () => {
    stop();
    relay.stop();
  };
  return connection;
}
