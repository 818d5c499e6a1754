/**
 * `statesocket`: the client, for browsers and Node. In browsers this entry uses
 * the platform's global `WebSocket`; in Node, the package's `node` export
 * condition loads `node.ts`, which uses `ws` instead and adds `inspect: { url }`.
 *
 * Only what a user of the client needs is exported, each by name: the
 * server is `statesocket/server`, the testing kit `statesocket/testing`, the
 * relay inspector `statesocket/inspect`, and the programs are `bin` entries.
 * `api/*.api.txt` lists every export; test/api.test.ts keeps it current.
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

// The chart, to run with createActor(connectionMachine.provide(...)) yourself.
export { connectionMachine } from '../machines/connection.js';
export type { ConnectionMachine } from '../machines/connection.js';
// The chart's outbox (`context.outbox`), shared between snapshots: `outboxEntries` reads it as an array.
export { outboxEntries } from '../machines/outbox.js';
export type {
  ChartCounters,
  ConnectionConfig,
  ConnectionEvent,
  ConnectionInput,
  Outbox,
  OutboxEntry,
  OverflowPolicy,
  SocketCommand,
  SocketInput,
} from '../machines/connection.types.js';
export type { Connection, ConnectionActor, ConnectionSnapshot } from './connection.js';

// Channels (the sync protocol, version 2): one subscription chart per channel, the handle, presence.
export { subscriptionMachine } from '../machines/subscription.js';
export type { SubscriptionMachine } from '../machines/subscription.js';
export type { ChannelError, ChannelErrorCode, SubscriptionContext, SubscriptionEvent, SubscriptionInput } from '../machines/subscription.types.js';
export type { Channel, ChannelOptions, ChannelPresence, ChannelStateName, ChannelStatus, ChangesOptions } from './channel.js';
export { createPresence } from './presence.js';
export type { Presence, PresenceData, PresenceMember, PresenceMessage } from './presence.js';

// Options and their defaults.
export { DEFAULT_OPTIONS } from './options.js';
export type {
  ConnectionOptions,
  GreetingResult,
  HeartbeatOptions,
  InspectorLike,
  OutboxOptions,
  ReconnectOptions,
} from './options.js';
export type { UrlProvider } from './socket.js';
export { animationFrameScheduler, frameScheduler, timeoutScheduler } from './scheduler.js';

// Errors and close codes.
export { ERROR_CODES, StatesocketError, isStatesocketError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { CloseCode, isSendableCloseCode, shouldReconnect } from './close-codes.js';
export type { CloseEventInfo } from './close-codes.js';
export { SyncCloseCode } from './sync/messages.js';

// Protocols.
export { rawProtocol } from './protocol.js';
export type { ChangelogPage, ChannelInboundEvent, ChannelReceiver, ChannelSupport, InboundEvent, Protocol, SessionInfo } from './protocol.js';
export { createOp, createSyncProtocol } from './sync/client-protocol.js';
export type { OpMessage, SyncOutbound, SyncProtocolOptions } from './sync/client-protocol.js';
export { createChannelProtocol } from './sync/client-protocol-v2.js';
export type { ChannelProtocolOptions, TokenSource } from './sync/client-protocol-v2.js';
export type { StandardSchemaV1 } from './standard-schema.js';
export type { Changes, ClientFrame, ServerFrame } from './sync/messages.js';

// The default Model and the views.
export { createStore } from './store.js';
export type { Json, PatchMessage, SnapshotMessage, Store, StoreData, SyncPosition } from './store.js';
export { consoleView } from './views/console.js';
export type { ConsoleViewOptions } from './views/console.js';
export { domView } from './views/dom.js';
export type { DomRow, DomRowAction, DomStatusField, DomView, DomViewOptions } from './views/dom.js';
export type { PreviewLimits } from './views/preview.js';

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
