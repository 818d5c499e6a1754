/**
 * `inspect: { url }` in Node without loading the inspector for everyone.
 *
 * The relay inspector needs `@statelyai/inspect` (and, through it, partysocket,
 * superjson and isomorphic-ws), an optional peer dependency: only people who
 * inspect install it. So Node's `createConnection` loads `statesocket/inspect`
 * with a dynamic `import()` when `inspect: { url }` is given, and this module
 * bridges the gap: events the machine emits before the import settles wait in
 * a bounded buffer, then go to the relay in order. When the import fails, one
 * warning names what to install and the connection runs uninspected.
 *
 * Node only (the browser entry has no `{ url }` form).
 */
import type { InspectionEvent } from 'xstate';
import type { RelayInspector, RelayInspectorOptions } from './inspect/relay-inspector.js';
import type { InspectorLike } from './options.js';
import type { WebSocketConstructor } from './types.js';

/** Loads the module holding `createRelayInspector` (replaceable in tests). */
export type RelayInspectorLoader = () => Promise<{ createRelayInspector(options: RelayInspectorOptions): RelayInspector }>;

/** The real loader: `statesocket/inspect`'s relay inspector, loaded on first use. */
export const loadRelayInspector: RelayInspectorLoader = () => import('./inspect/relay-inspector.js');

export interface LazyRelayInspectorOptions {
  /** The relay's source endpoint, e.g. `ws://127.0.0.1:8090/inspect`. */
  url: string;
  /** The WebSocket constructor the relay inspector dials with. */
  WebSocket: WebSocketConstructor;
  /** @default loadRelayInspector */
  load?: RelayInspectorLoader;
  /** Receives the one warning when the inspector cannot load. @default console.warn */
  warn?: (message: string) => void;
  /**
   * Inspection events kept while the inspector loads (oldest dropped first).
   * @default 1000
   */
  maxBufferedEvents?: number;
}

export interface LazyRelayInspector extends InspectorLike {
  /** Settles once the inspector is loaded and started, or has failed to load (never rejects). */
  readonly ready: Promise<void>;
  /** Stops the relay inspector, or cancels it if it has not loaded yet. */
  stop(): void;
}

/** The package whose absence the warning names. */
export const INSPECT_PEER = '@statelyai/inspect';

/** The warning for a failed load: what to install when the peer dependency is missing. */
export function inspectorLoadProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(INSPECT_PEER)) {
    return (
      `statesocket: inspect: { url } needs ${INSPECT_PEER}, an optional peer dependency that is not installed; ` +
      `run npm install ${INSPECT_PEER}. Inspection is off (the connection runs normally)`
    );
  }
  return `statesocket: the inspector (statesocket/inspect) could not be loaded: ${message}. Inspection is off (the connection runs normally)`;
}

function forward(relay: RelayInspector, event: InspectionEvent): void {
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
  let relay: RelayInspector | null = null;
  let stopped = false;

  const ready = Promise.resolve()
    .then(load)
    .then(
      (module) => {
        if (stopped) return;
        relay = module.createRelayInspector({ url: options.url, WebSocket: options.WebSocket, warn });
        const waiting = buffer ?? [];
        buffer = null;
        for (const event of waiting) forward(relay, event);
      },
      (error: unknown) => {
        buffer = null;
        if (!stopped) warn(inspectorLoadProblem(error));
      },
    )
    .catch((error: unknown) => {
      // createRelayInspector or the replay threw: inspection must never break the connection.
      buffer = null;
      if (!stopped) warn(inspectorLoadProblem(error));
    });

  return {
    ready,
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
