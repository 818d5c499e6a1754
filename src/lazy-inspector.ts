/**
 * A relay inspector that loads itself on first use.
 *
 * The relay inspector needs `@statelyai/inspect` (and, through it, partysocket,
 * superjson and isomorphic-ws), an optional peer dependency: only people who
 * inspect install it. So nothing imports it statically: Node's
 * `createConnection` (for `inspect: { url }`), the client program and
 * `statesocket/inspect`'s `createRelayInspector` all load
 * `inspect/relay-inspector.js` with a dynamic `import()`, through this module,
 * which bridges the gap: events the machine emits before the import settles
 * wait in a bounded buffer, then go to the relay in order. When the import
 * fails, one warning names what to install and the connection runs uninspected.
 * So `import 'statesocket/inspect'` works without the peer (`toMermaid` needs
 * nothing of it).
 */
import type { InspectionEvent } from 'xstate';
import type { RelayInspector as LoadedRelayInspector } from './inspect/relay-inspector.js';
import type { RelayInspector, RelayInspectorOptions } from './inspect/relay-options.js';
import type { WebSocketConstructor } from './types.js';

/** Loads the module holding `createRelayInspector` (replaceable in tests). */
export type RelayInspectorLoader = () => Promise<{ createRelayInspector(options: RelayInspectorOptions): LoadedRelayInspector }>;

/** The real loader: `statesocket/inspect`'s relay inspector, loaded on first use. */
export const loadRelayInspector: RelayInspectorLoader = () => import('./inspect/relay-inspector.js');

export interface LazyRelayInspectorOptions {
  /** The relay's source endpoint, e.g. `ws://127.0.0.1:8090/inspect`. */
  url: string;
  /** The WebSocket constructor the relay inspector dials with. */
  WebSocket: WebSocketConstructor;
  /** @default loadRelayInspector */
  load?: RelayInspectorLoader;
  /** Receives the one warning when the inspector cannot load (and the relay inspector's own). @default console.warn */
  warn?: (message: string) => void;
  /**
   * Inspection events kept while the inspector loads (oldest dropped first), and by the relay inspector while its relay is away.
   * @default 1000
   */
  maxBufferedEvents?: number;
  /** The relay inspector's connection attempts before it gives up. @default 5 */
  maxAttempts?: number;
  /** What asked for the inspector, for the warning: `inspect: { url }` by default. */
  requestedBy?: string;
}

export type LazyRelayInspector = RelayInspector;

/** The package whose absence the warning names. */
export const INSPECT_PEER = '@statelyai/inspect';

/** True when `error`, or an error it wraps (`cause`), is the import of a missing `@statelyai/inspect`. */
function isMissingPeer(error: unknown): boolean {
  for (let at = error, depth = 0; at !== null && typeof at === 'object' && depth < 5; at = (at as { cause?: unknown }).cause, depth++) {
    const { code, message } = at as { code?: unknown; message?: unknown };
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(message).includes(INSPECT_PEER)) return true;
  }
  return false;
}

/** The warning for a failed load: what to install when the peer dependency is missing. */
export function inspectorLoadProblem(error: unknown, requestedBy = 'inspect: { url }'): string {
  if (isMissingPeer(error)) {
    return (
      `statesocket: ${requestedBy} needs ${INSPECT_PEER}, an optional peer dependency that is not installed; ` +
      `run npm install ${INSPECT_PEER}. Inspection is off (the connection runs normally)`
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return `statesocket: the inspector (statesocket/inspect) could not be loaded: ${message}. Inspection is off (the connection runs normally)`;
}

function forward(relay: LoadedRelayInspector, event: InspectionEvent): void {
  const observer = relay.inspect as ((event: InspectionEvent) => void) | { next?: (event: InspectionEvent) => void };
  if (typeof observer === 'function') observer(event);
  else observer.next?.(event);
}

/** An inspector that loads the relay inspector lazily; see the module comment. */
export function createLazyRelayInspector(options: LazyRelayInspectorOptions): LazyRelayInspector {
  const load = options.load ?? loadRelayInspector;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const limit = options.maxBufferedEvents ?? 1000;
  let buffer: InspectionEvent[] | null = [];
  let relay: LoadedRelayInspector | null = null;
  let stopped = false;
  const settings: RelayInspectorOptions = { url: options.url, WebSocket: options.WebSocket, warn };
  if (options.maxBufferedEvents !== undefined) settings.maxBufferedEvents = options.maxBufferedEvents;
  if (options.maxAttempts !== undefined) settings.maxAttempts = options.maxAttempts;

  const ready = Promise.resolve()
    .then(load)
    .then(
      (module) => {
        if (stopped) return;
        relay = module.createRelayInspector(settings);
        const waiting = buffer ?? [];
        buffer = null;
        for (const event of waiting) forward(relay, event);
      },
      (error: unknown) => {
        buffer = null;
        if (!stopped) warn(inspectorLoadProblem(error, options.requestedBy));
      },
    )
    .catch((error: unknown) => {
      // createRelayInspector or the replay threw: inspection must never break the connection.
      buffer = null;
      if (!stopped) warn(inspectorLoadProblem(error, options.requestedBy));
    });

  return {
    ready,
    get connected() {
      return relay?.connected ?? false;
    },
    inspect(event: InspectionEvent) {
      if (relay !== null) return forward(relay, event);
      if (buffer === null) return;
      buffer.push(event);
      if (buffer.length > limit) buffer.shift();
    },
    stop() {
      stopped = true;
      buffer = null;
      relay?.stop();
    },
  };
}
