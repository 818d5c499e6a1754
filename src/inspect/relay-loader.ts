/**
 * `createRelayInspector` as `statesocket/inspect` exports it: the options are
 * checked at once, and the relay inspector (src/inspect/relay-inspector.ts),
 * with the optional peer dependency `@statelyai/inspect` it is built on, is
 * loaded with a dynamic `import()` when it is first asked for. So importing
 * `statesocket/inspect` never fails for want of the peer (`toMermaid` needs
 * nothing of it), and without the peer `createRelayInspector` warns once,
 * naming `npm install @statelyai/inspect`, while the connection runs uninspected.
 */
import { createLazyRelayInspector } from '../lazy-inspector.js';
import { resolveRelayOptions, type RelayInspector, type RelayInspectorOptions } from './relay-options.js';

/**
 * Streams inspection events to a relay (`statesocket-inspect`). Events wait in
 * a bounded buffer while the inspector loads and while the relay is away.
 *
 * @example
 * ```ts
 * import { createRelayInspector } from 'statesocket/inspect';
 * const inspector = createRelayInspector({ url: 'ws://127.0.0.1:8090/inspect' });
 * const connection = createConnection({ url, inspect: inspector });
 * ```
 * @throws TypeError when there is no WebSocket, or `url` is not a ws:// URL
 */
export function createRelayInspector(options: RelayInspectorOptions): RelayInspector {
  return createLazyRelayInspector({ ...resolveRelayOptions(options), requestedBy: "statesocket/inspect's createRelayInspector" });
}
