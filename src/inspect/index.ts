/**
 * `statesocket/inspect`: watch the connection machine live.
 * Streams go to an inspector relay (`statesocket-inspect`); the chart can also be
 * rendered as Mermaid. Importing it needs no optional peer: `createRelayInspector`
 * loads `@statelyai/inspect` when it is called.
 */
export { createRelayInspector } from './relay-loader.js';
export type { RelayInspector, RelayInspectorOptions } from './relay-options.js';
export { toMermaid } from './mermaid.js';
