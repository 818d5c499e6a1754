/**
 * `statesocket/inspect`: watch the connection machine live.
 * Streams go to an inspector relay (`npm run inspect`); the chart can also be
 * rendered as Mermaid.
 */
export { createRelayInspector } from './relay-inspector.js';
export type { RelayInspector, RelayInspectorOptions } from './relay-inspector.js';
export { toMermaid } from './mermaid.js';
