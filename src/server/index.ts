/**
 * `statesocket/server`: the reference sync server as a library (Node only), speaking protocol
 * version 2 (channels, docs/protocol.md) and version 1 (on the `default` channel).
 * `attachSyncServer` mounts it on an HTTP server of yours (WebSocket upgrades on
 * a path; your other requests stay yours); `startSyncServer` listens on a port of
 * its own; `createSyncServer` is the sync logic without a transport, for a
 * simulation. The `statesocket-server` program is a thin layer over `startSyncServer`.
 * See docs/server.md.
 *
 * @example
 * ```ts
 * import { startSyncServer } from 'statesocket/server';
 * const server = await startSyncServer({ port: 8080, feedRatePerSec: 2 });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export { attachSyncServer } from './node-server.js';
export type { AttachSyncServerOptions, AttachedSyncServer } from './node-server.js';
export { startServer, startSyncServer } from './start.js';
export type { RunningServer } from './start.js';
export { DEFAULT_SERVER_OPTIONS, SERVER_LIMITS } from './server-options.js';
export type { NodeServerOptions, RedisServerOptions, ServerClock } from './server-options.js';
export type { FaultCounters, ServerStats } from './server-stats.js';
export { DataFileError } from './data-file.js';
export { ChangeRefusedError, HookResultError } from './sync-server.js';
export { createSyncServer } from './sync-server.js';
export { memoryEngine } from './engines/memory.js';
export type { MemoryEngine, MemoryEngineOptions, MemoryEngineTimers } from './engines/memory.js';
export { EngineUnavailableError } from './engine.js';
export type {
  AppendResult,
  Answer,
  ChannelEntry,
  ChannelListener,
  ChannelState,
  DocumentLimit,
  DuplicateAnswer,
  Engine,
  EngineMember,
  EngineStatus,
  Following,
  OpMark,
  PresenceChange,
  RefuseResult,
  V1Op,
} from './engine.js';
export type {
  AuthorizeRequest,
  ChannelAction,
  ConnectInfo,
  Identity,
  Peer,
  PersistedChannel,
  PersistedState,
  ServerCounters,
  Session,
  SyncServer,
  SyncServerOptions,
  SyncServerTimers,
} from './sync-server.js';
export type { PersistedMark } from './marks.js';
export { AclError, aclHooks, parseAcl, readAclFile } from './acl.js';
export type { Acl, AclChannelRule, AclToken } from './acl.js';
export { DEFAULT_AUTH_THROTTLE } from './auth-throttle.js';
export type { AuthThrottleOptions } from './auth-throttle.js';
export { loadAppFiles } from './static-files.js';
export type { AppBundle, AppFile } from './static-files.js';
export { SERVER_CLOSE_CODES } from './close-codes.js';
export type { ServerCloseRow } from './close-codes.js';
export { PROTOCOL_VERSION, ServerErrorCode, SyncCloseCode } from '../sync/messages.js';
export { DEFAULT_V2_LIMITS, ErrorCodeV2, PROTOCOL_VERSION_2, SyncCloseCodeV2 } from '../sync/messages-v2.js';
export type { Changes, ClientFrame, ServerErrorCodeValue, ServerFrame } from '../sync/messages.js';
export { DEFAULT_VALUE_LIMITS } from '../sync/values.js';
export type { ValueLimits } from '../sync/values.js';
