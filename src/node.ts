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
import type { Store } from './store.js';
import type { SyncOutbound } from './sync/client-protocol.js';
import type { AnyModel, WebSocketConstructor } from './types.js';

// Re-export the whole default entry; the local createConnection below shadows its namesake.
export * from './index.js';

const createBaseConnection = createConnectionFactory(() => WebSocket as unknown as WebSocketConstructor);

/**
 * Node's options: `inspect` may also be `{ url }`, an inspector relay to stream to
 * (`statesocket-inspect`). It needs the optional peer dependency `@statelyai/inspect`,
 * loaded only then; without it a warning says what to install and the connection
 * runs uninspected.
 */
export type NodeConnectionOptions<M extends AnyModel = Store, TOut = SyncOutbound> = Omit<ConnectionOptions<M, TOut>, 'inspect'> & {
  inspect?: ConnectionOptions<M, TOut>['inspect'] | { url: string };
};

/**
 * Creates a connection; in Node the WebSocket is `ws` unless the options give another.
 * `inspect: { url }` streams the machine to an inspector relay, stopped with the connection.
 *
 * @example
 * ```ts
 * import { createConnection, consoleView } from 'statesocket';
 * const connection = createConnection({ url: 'ws://127.0.0.1:8080', view: consoleView() });
 * ```
 */
export function createConnection<M extends AnyModel = Store, TOut = SyncOutbound>(options: NodeConnectionOptions<M, TOut>): Connection<M, TOut> {
  const inspect = options.inspect;
  if (inspect === undefined || inspect === false || !('url' in inspect)) {
    return createBaseConnection(options as ConnectionOptions<M, TOut>);
  }
  if (typeof inspect.url !== 'string' || !/^wss?:\/\//.test(inspect.url)) {
    throw new TypeError(`statesocket: option \`inspect.url\` must be a ws:// URL; received ${JSON.stringify(inspect.url)}`);
  }
  const relay = createLazyRelayInspector({ url: inspect.url, WebSocket: WebSocket as unknown as WebSocketConstructor });
  let connection: Connection<M, TOut>;
  try {
    connection = createBaseConnection({ ...options, inspect: relay });
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
