/**
 * `statesocket/server`: the reference sync server as a library (Node only).
 * `startServer` listens on a port of its own; `createSyncServer` is the sync
 * logic without a transport, for a server of yours or a simulation. The
 * `statesocket-server` program is a thin layer over `startServer`.
 *
 * @example
 * ```ts
 * import { startServer } from 'statesocket/server';
 * const server = await startServer({ port: 8080, feedRatePerSec: 2 });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export { DEFAULT_SERVER_OPTIONS, SERVER_LIMITS, DataFileError, startServer } from './node-server.js';
export type { FaultCounters, NodeServerOptions, RunningServer, ServerClock, ServerStats } from './node-server.js';
export { createSyncServer } from './sync-server.js';
export type { Peer, PersistedState, ServerCounters, Session, SyncServer, SyncServerOptions } from './sync-server.js';
export { DEFAULT_AUTH_THROTTLE } from './auth-throttle.js';
export type { AuthThrottleOptions } from './auth-throttle.js';
export { loadAppFiles } from './static-files.js';
export type { AppBundle, AppFile } from './static-files.js';
export { SERVER_CLOSE_CODES } from '../close-codes.js';
export type { ServerCloseRow } from '../close-codes.js';
export { PROTOCOL_VERSION, ServerErrorCode, SyncCloseCode } from '../sync/messages.js';
export type { Changes, ClientFrame, ServerErrorCodeValue, ServerFrame } from '../sync/messages.js';
export { DEFAULT_VALUE_LIMITS } from '../sync/values.js';
export type { ValueLimits } from '../sync/values.js';
