/**
 * `statesocket/react`: hooks for React 18 and 19 (an optional peer dependency). Built on
 * `useSyncExternalStore` over the connection's coalesced render: a flood of messages re-renders a
 * component at most once per frame, and only when what it shows changed. Sockets open in effects,
 * never during render: StrictMode's double mount opens one, and a server render opens none and
 * shows the idle status. See docs/react.md.
 */
export { ConnectionProvider, useConnection } from './connection.js';
export type { AnyConnection, ConnectionProviderProps } from './connection.js';
export { useConnectionStatus } from './status.js';
export { useModel } from './model.js';
export type { ModelSelection, ModelSource } from './model.js';
export { useChannel } from './channel.js';
export type { UseChannelOptions, UseChannelResult } from './channel.js';
