/**
 * `createRelayInspector`: streams a connection's machine to an inspector
 * relay (`npm run inspect`) without ever keeping the process alive or
 * crashing it.
 *
 * It speaks the message format of `@statelyai/inspect` (one JSON text frame
 * per `@xstate.actor` / `@xstate.event` / `@xstate.snapshot` event, built by
 * that package's `createInspector`), so the relay also accepts the stock
 * `createWebSocketInspector`. What it does differently from the stock adapter:
 * - an unreachable relay is retried a bounded number of times with growing
 *   waits, and warned about once; `stop()` cancels everything;
 * - its timers are `unref`'d in Node: a client exits when its work is done;
 * - events wait in a bounded buffer while the relay is away (oldest dropped);
 * - contexts and events are redacted (tokens in URLs, secret-named keys), and
 *   the definition is serialized deep enough for nested states.
 */
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { redactValue } from '../redact.js';
import type { WebSocketConstructor, WebSocketLike } from '../types.js';
import { resolveRelayOptions, type RelayInspectorOptions } from './relay-options.js';

export type { RelayInspectorOptions };

/** The package declares these without exporting them. */
type Adapter = Parameters<typeof createInspector>[0];
type Inspector = ReturnType<typeof createInspector<Adapter>>;

/** What this module's `createRelayInspector` returns: `@statelyai/inspect`'s inspector, fed to the relay. */
export interface RelayInspector extends Inspector {
  /** True once the relay connection is open. */
  readonly connected: boolean;
}

const OPEN = 1;

type Timer = ReturnType<typeof setTimeout> & { unref?: () => void };

class RelayAdapter implements Adapter {
  private socket: WebSocketLike | null = null;
  private buffer: string[] = [];
  private attempts = 0;
  private timer: Timer | undefined;
  private stopped = false;
  private warned = false;
  connected = false;

  constructor(private readonly options: Required<RelayInspectorOptions>) {}

  start(): void {
    this.stopped = false;
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    this.socket = null;
    this.connected = false;
    if (socket !== null) {
      socket.onopen = socket.onclose = socket.onmessage = null;
      socket.onerror = () => {}; // ws emits 'error' when a CONNECTING socket is closed
      try {
        socket.close();
      } catch {
        // already closing
      }
    }
  }

  send(event: StatelyInspectionEvent): void {
    const frame = JSON.stringify(event);
    if (this.connected && this.socket?.readyState === OPEN) {
      this.socket.send(frame);
      return;
    }
    this.buffer.push(frame);
    if (this.buffer.length > this.options.maxBufferedEvents) this.buffer.shift();
  }

  private dial(): void {
    if (this.stopped) return;
    this.attempts++;
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(this.options.url);
    } catch (error) {
      return this.giveUp(`cannot open ${this.options.url}: ${(error as Error).message}`);
    }
    this.socket = socket;
    socket.onopen = () => {
      this.connected = true;
      this.attempts = 0;
      for (const frame of this.buffer.splice(0)) socket.send(frame);
    };
    socket.onmessage = null;
    socket.onerror = () => {};
    socket.onclose = () => {
      const wasConnected = this.connected;
      this.connected = false;
      this.socket = null;
      if (this.stopped) return;
      if (!wasConnected && this.attempts >= this.options.maxAttempts) {
        return this.giveUp(`no inspector relay at ${this.options.url} after ${this.attempts} attempts`);
      }
      if (!wasConnected) this.warnOnce(`inspector relay at ${this.options.url} is not reachable; retrying in the background`);
      this.schedule(Math.min(10_000, 250 * 2 ** Math.min(this.attempts, 6)));
    };
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.dial(), ms) as Timer;
    // never keep a process alive just to reach an inspector
    this.timer.unref?.();
  }

  private giveUp(message: string): void {
    this.warnOnce(`${message}; inspection is off (the connection runs normally)`);
    this.stop();
    this.buffer = [];
  }

  private warnOnce(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.options.warn(`statesocket: ${message}`);
  }
}

/**
 * Streams inspection events to a relay.
 *
 * @example
 * ```ts
 * import { createRelayInspector } from 'statesocket/inspect';
 * const inspector = createRelayInspector({ url: 'ws://127.0.0.1:8090/inspect' });
 * const connection = createConnection({ url, inspect: inspector });
 * ```
 */
export function createRelayInspector(options: RelayInspectorOptions): RelayInspector {
  const settings = resolveRelayOptions(options);
  const adapter = new RelayAdapter(settings);
  const inspector = createInspector(adapter, {
    serializationDepthLimit: 60,
    maxDeferredEvents: settings.maxBufferedEvents,
    sanitizeContext: (context) => redactValue(context) as typeof context,
    sanitizeEvent: (event) => redactValue(event) as typeof event,
  });
  inspector.start();
  return Object.assign(inspector, {
    get connected() {
      return adapter.connected;
    },
  });
}
