/**
 * statesocket for Node: everything the default entry exports, with
 * `createConnection` defaulting to `ws` (Node 20 has no global WebSocket).
 * Selected by the package's `node` export condition; browser bundles never see it.
 */
import { WebSocket } from 'ws';
import { createConnectionFactory } from './connection.js';
import type { WebSocketConstructor } from './types.js';

// Re-export the whole default entry; the local createConnection below shadows its namesake.
export * from './index.js';

/** Creates a connection; in Node the WebSocket is `ws` unless the options give another. */
export const createConnection = createConnectionFactory(() => WebSocket as unknown as WebSocketConstructor);
