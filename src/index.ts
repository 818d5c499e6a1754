/**
 * statesocket: the browser (and default) entry. It uses the platform's global
 * `WebSocket`; in Node, the package's `node` export condition loads
 * `node.ts`, which uses `ws` instead. Every export is named here.
 */
import { createConnectionFactory } from './connection.js';
import type { WebSocketConstructor } from './types.js';

/**
 * Creates a connection run by the connection statechart.
 *
 * @example
 * ```ts
 * const connection = createConnection({
 *   url: 'wss://example.com/live',
 *   view: { render: (data, status) => draw(data, status.state) },
 * });
 * connection.send({ type: 'op', id: '1', set: { a: 1 } });
 * ```
 */
export const createConnection = createConnectionFactory(
  () => (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
);

export { connectionMachine } from '../machines/connection.js';
export type { ConnectionMachine } from '../machines/connection.js';
export type {
  ConnectionConfig,
  ConnectionEvent,
  ConnectionInput,
  OutboxEntry,
  OverflowPolicy,
  SocketCommand,
} from '../machines/connection.types.js';
export { createConnectionFactory, stateNameOf } from './connection.js';
export type { Connection, ConnectionActor, ConnectionSnapshot } from './connection.js';
export { DEFAULT_OPTIONS, resolveOptions } from './options.js';
export type { ConnectionOptions, GreetingResult, HeartbeatOptions, OutboxOptions, ReconnectOptions } from './options.js';
export { ERROR_CODES, StatesocketError, isStatesocketError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { CloseCode, isSendableCloseCode, isServiceRestart, shouldReconnect } from './close-codes.js';
export type { CloseEventInfo } from './close-codes.js';
export { computeRetryDelay } from './backoff.js';
export type { BackoffSettings } from './backoff.js';
export { rawProtocol } from './protocol.js';
export { createOp, createSyncProtocol, newOpId } from './sync/client-protocol.js';
export type { OpMessage, SyncOutbound, SyncProtocolOptions } from './sync/client-protocol.js';
export type { StandardSchemaV1 } from './standard-schema.js';
export { PROTOCOL_VERSION, ServerErrorCode, SyncCloseCode, parseClientFrame, parseServerFrame } from './sync/messages.js';
export type { ClientFrame, ServerFrame, Changes } from './sync/messages.js';
export { createSyncServer } from './server/sync-server.js';
export type { Peer, PersistedState, ServerCounters, Session, SyncServer, SyncServerOptions } from './server/sync-server.js';
export { describeStep, httpControl, parseScenario, runScenario } from './scenario.js';
export type { ScenarioStep } from './scenario.js';
export { terminalView } from './views/terminal.js';
export type { TerminalView, TerminalViewOptions } from './views/terminal.js';
export type { InboundEvent, Protocol } from './protocol.js';
export { createStore } from './store.js';
export type { Json, PatchMessage, SnapshotMessage, Store, StoreData, SyncPosition } from './store.js';
export { consoleView } from './views/console.js';
export { DEFAULT_PREVIEW_LIMITS, previewValue } from './views/preview.js';
export type { PreviewLimits } from './views/preview.js';
export type { ConsoleViewOptions } from './views/console.js';
export { animationFrameScheduler, frameScheduler, timeoutScheduler } from './scheduler.js';
export { MAX_TIMER_MS } from './timers.js';
export { createSocketActor, decodeFrame } from './socket.js';
export type { SocketActorDeps, UrlProvider } from './socket.js';
export { encodeJsonFrame, parseJsonFrame, utf8Length } from './frames.js';
export { redactUrl, redactValue } from './redact.js';
export type {
  Clock,
  CloseInfo,
  ConnectionContext,
  ConnectionStatus,
  Counters,
  ErrorInfo,
  Frame,
  HistoryEntry,
  Model,
  RejectedInfo,
  RenderScheduler,
  StateName,
  View,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
