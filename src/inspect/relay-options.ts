/**
 * The options of a relay inspector and their check, apart from the inspector
 * itself: `statesocket/inspect` checks them when `createRelayInspector` is
 * called, before `@statelyai/inspect` (an optional peer dependency) is loaded.
 * Imports no package.
 */
import type { InspectorLike } from '../options.js';
import type { WebSocketConstructor } from '../types.js';

export interface RelayInspectorOptions {
  /** The relay's source endpoint, e.g. `ws://127.0.0.1:8090/inspect`. */
  url: string;
  /** WebSocket constructor (the platform's by default; `ws` in Node). */
  WebSocket?: WebSocketConstructor;
  /**
   * Events kept while the relay is unreachable, or while the inspector loads (oldest dropped first).
   * @default 1000
   */
  maxBufferedEvents?: number;
  /**
   * Connection attempts before giving up for good.
   * @default 5
   */
  maxAttempts?: number;
  /** Called once when the relay cannot be reached, or the inspector cannot be loaded. @default console.warn */
  warn?: (message: string) => void;
}

/** A relay inspector: give it to `createConnection({ inspect })`; `stop()` ends it. */
export interface RelayInspector extends InspectorLike {
  /** True once the relay connection is open. */
  readonly connected: boolean;
  /** Settles once the inspector is loaded and started, or has failed to load (never rejects). */
  readonly ready: Promise<void>;
  /** Stops the relay inspector, or cancels it if it has not loaded yet. */
  stop(): void;
}

/**
 * The options with their defaults, checked.
 * @throws TypeError when there is no WebSocket, or the URL is not a ws:// URL
 */
export function resolveRelayOptions(options: RelayInspectorOptions): Required<RelayInspectorOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`createRelayInspector needs options { url }; received ${options === null ? 'null' : typeof options}`);
  }
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WebSocket !== 'function') {
    throw new TypeError('createRelayInspector: no WebSocket on this platform; pass the WebSocket option (ws in Node)');
  }
  if (typeof options.url !== 'string' || !/^wss?:\/\//.test(options.url)) {
    throw new TypeError(`createRelayInspector: url must be a ws:// URL; received ${typeof options.url === 'string' ? JSON.stringify(options.url) : typeof options.url}`);
  }
  return {
    url: options.url,
    WebSocket,
    maxBufferedEvents: options.maxBufferedEvents ?? 1000,
    maxAttempts: options.maxAttempts ?? 5,
    warn: options.warn ?? ((message) => console.warn(message)),
  };
}
