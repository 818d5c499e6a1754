/**
 * `createConnection` options: one interface, one defaults object, one
 * validation step that names the option and the value it received.
 */
import type { InspectionEvent, Observer } from 'xstate';
import type { ConnectionConfig, ConnectionContext, OverflowPolicy } from '../machines/connection.types.js';
import type { CloseEventInfo } from './close-codes.js';
import { shouldReconnect as defaultShouldReconnect } from './close-codes.js';
import { encodeJsonFrame, exceedsBytes, frameBytes, parseJsonFrame } from './frames.js';
import type { EnvironmentTargets } from './environment.js';
import { platformEnvironment } from './environment.js';
import { isStandardSchema } from './inbound-schema.js';
import type { Protocol } from './protocol.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import type { Store } from './store.js';
import type { SyncOutbound } from './sync/client-protocol.js';
import { createChannelProtocol } from './sync/client-protocol-v2.js';
import { frameScheduler } from './scheduler.js';
import { MAX_TIMER_MS } from './timers.js';
import type { UrlProvider } from './socket.js';
import { urlProblem } from './socket.js';
import type { AnyModel, Clock, DataOf, Frame, InboundOf, RenderScheduler, View, WebSocketConstructor } from './types.js';

export interface ReconnectOptions {
  /**
   * First backoff ceiling, in milliseconds.
   * @default 500
   */
  initialDelayMs: number;
  /**
   * Largest backoff ceiling, in milliseconds.
   * @default 30000
   */
  maxDelayMs: number;
  /**
   * Growth of the ceiling per failed attempt.
   * @default 2
   */
  factor: number;
  /**
   * Reconnects allowed after failures in a row (the first connect is not counted).
   * When they are used up the machine goes to `closed` with `ERR_RETRIES_EXHAUSTED`.
   * @default Infinity
   */
  maxAttempts: number;
  /**
   * How long a connection must stay open before the attempt counter resets, in
   * milliseconds. A server that accepts and drops at once makes the waits grow.
   * @default 5000
   */
  stableAfterMs: number;
  /**
   * Smallest wait after a close with 1012 (service restart) or 1013 (try again later), in milliseconds.
   * @default 5000
   */
  serviceRestartDelayMs: number;
  /**
   * Decides whether a close from the other side is worth a reconnect. Must
   * return a boolean synchronously: a throw or any other result (a promise,
   * say) lets the default policy decide, reported as `ERR_POLICY_FAILED`.
   * @default shouldReconnect from `close-codes.ts` (see its table)
   */
  shouldReconnect: (close: CloseEventInfo) => boolean;
}

export interface HeartbeatOptions {
  /** Time between pings while open, in milliseconds. */
  intervalMs: number;
  /**
   * How long after a ping an inbound frame must arrive, in milliseconds, before the link counts as dead.
   * Answered pings go out every `max(intervalMs, timeoutMs)`; keep it below `intervalMs`.
   */
  timeoutMs: number;
  /**
   * The ping frame; at most `maxMessageBytes`.
   * @default the protocol's ping, else `'{"type":"ping"}'`
   */
  message?: Frame;
}

export interface OutboxOptions {
  /**
   * Most entries kept (queued sends plus sends waiting for an ack).
   * @default 1000
   */
  limit?: number;
  /**
   * What a send does when the outbox is full: `reject` throws `ERR_OUTBOX_FULL`
   * and loses nothing queued; `drop-oldest` and `drop-newest` drop one entry and count it.
   * `drop-oldest` drops the oldest entry not yet written; when every entry has been written
   * (in flight: it may already have applied) it drops the new one instead, like `drop-newest`.
   * @default 'reject'
   */
  overflow?: OverflowPolicy;
}

/**
 * Anything with an XState `inspect` observer: `@statelyai/inspect` inspectors,
 * `createRelayInspector` from `statesocket/inspect`, or your own.
 */
export interface InspectorLike {
  inspect: ((event: InspectionEvent) => void) | Partial<Observer<InspectionEvent>>;
}

/** The frames a greeting returns: text, binary, or values sent as JSON. */
export type GreetingResult = Frame | object | ReadonlyArray<Frame | object> | null | undefined;

/**
 * The options of `createConnection`. `M` is the Model's type (the default
 * Model, `createStore()`, when none is given), `TOut` the messages `send()`
 * takes (the sync protocol's ops by default; the protocol given decides).
 */
export interface ConnectionOptions<M extends AnyModel = Store, TOut = SyncOutbound> {
  /** Where to connect: a `ws://`/`wss://` URL, or a function called before every attempt (may be async). */
  url: UrlProvider;
  /**
   * WebSocket subprotocols, each an RFC 6455 token, listed once.
   * @default undefined
   */
  protocols?: string | string[];
  /**
   * The WebSocket constructor.
   * @default the platform's: native `WebSocket` in browsers, `ws` in Node (through the package's `node` export)
   */
  WebSocket?: WebSocketConstructor;
  /**
   * The Model: receives every accepted message.
   * @default createStore()
   */
  model?: M;
  /**
   * The View: rendered at most once per frame with the model's data and the status.
   * @default none (nothing is rendered)
   */
  view?: View<DataOf<M>>;
  /**
   * The protocol layer that classifies inbound messages and encodes outgoing ones: the sync
   * protocol, version 2 (what the reference server speaks: the Model is the `default` channel,
   * and `connection.channel()` holds more), `createSyncProtocol()` for a server that speaks only
   * version 1, or `rawProtocol` for your own server.
   * @default createChannelProtocol()
   */
  protocol?: Protocol<DataOf<M>, TOut>;
  /**
   * A Standard Schema (zod 4, valibot, arktype, ...) every message must pass before it
   * reaches the Model, which receives the schema's output; a refused one is rejected
   * with `ERR_INVALID_MESSAGE` and counted. Synchronous schemas only.
   * @default none
   */
  inbound?: StandardSchemaV1<unknown, InboundOf<M>>;
  /**
   * Reconnect policy, or `false` to never reconnect (a failure goes to `closed`).
   * @default see ReconnectOptions
   */
  reconnect?: false | Partial<ReconnectOptions>;
  /**
   * Longest wait for the handshake, in milliseconds.
   * @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * Longest wait for the closing handshake we start, in milliseconds; then the socket is forced closed.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Ping/timeout liveness check; needs a server that answers. `false` to turn it off.
   * @default false
   */
  heartbeat?: false | HeartbeatOptions;
  /**
   * First frame(s) of every connection, sent on open before the outbox (authentication, resume).
   * Runs after the protocol's own greeting. Must be synchronous: a greeting
   * that throws or returns a promise fails the attempt (`ERR_GREETING_FAILED`).
   * @default none
   */
  greeting?: (context: ConnectionContext, model: M) => GreetingResult;
  /** Queue for sends made while not open. */
  outbox?: OutboxOptions;
  /**
   * While the socket's `bufferedAmount` is above this many bytes, new sends wait in the outbox.
   * @default 1048576 (1 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Largest frame in either direction, in bytes: larger sends throw `ERR_PAYLOAD_TOO_LARGE`, larger inbound frames are rejected.
   * @default 1048576 (1 MiB)
   */
  maxMessageBytes?: number;
  /**
   * Parses a frame (text, or binary as an ArrayBuffer). Throwing rejects it with `ERR_MALFORMED_FRAME`.
   * @default JSON.parse (binary frames as UTF-8 JSON)
   */
  parse?: (data: string | ArrayBuffer) => unknown;
  /**
   * Close the socket when the environment reports `network.offline`.
   * @default true
   */
  closeOnOffline?: boolean;
  /**
   * The machine's timer source (XState's `clock`), e.g. a `SimulatedClock` in tests.
   * A `setTimeout` that throws puts that timer on the host's `setTimeout`
   * (reported as `ERR_POLICY_FAILED`).
   * @default the global setTimeout/clearTimeout
   */
  clock?: Clock;
  /**
   * Current time in milliseconds, used for liveness, `nextRetryAt` and history.
   * Must return a finite number synchronously: a throw or any other result uses
   * `Date.now()` for that call (reported as `ERR_POLICY_FAILED`).
   * @default Date.now
   */
  now?: () => number;
  /**
   * Random source in [0, 1) for backoff jitter, called once per wait. A throw or
   * a result outside [0, 1) uses `Math.random()` for that wait (reported as `ERR_POLICY_FAILED`).
   * @default Math.random
   */
  random?: () => number;
  /**
   * The render scheduler that coalesces renders.
   * @default requestAnimationFrame in browsers, a 1000/60 ms frame in Node (`timeoutScheduler()`)
   */
  schedule?: RenderScheduler;
  /**
   * Start and connect immediately.
   * @default true
   */
  autoStart?: boolean;
  /**
   * How many entries `history` keeps (oldest dropped first).
   * @default 200
   */
  historyLimit?: number;
  /**
   * Streams the machine to an inspector (see `statesocket/inspect`). In Node, `{ url }`
   * connects to an inspector relay (`statesocket-inspect`) and is stopped with the connection;
   * the browser entry refuses `{ url }` (pass `createRelayInspector({ url })` there).
   * Inspection never changes what the connection does: an observer that throws is ignored.
   * @default none
   */
  inspect?: InspectorLike | { url: string } | false;
  /**
   * Where network and page-lifecycle events come from (`online`/`offline`,
   * `visibilitychange`, `pagehide`/`pageshow`); `false` to ignore them all.
   * @default the browser's window, document and navigator; none in Node
   */
  environment?: EnvironmentTargets | false;
}

/** Every default in one place. */
export const DEFAULT_OPTIONS = {
  connectTimeoutMs: 10_000,
  closeTimeoutMs: 2_000,
  reconnect: {
    initialDelayMs: 500,
    maxDelayMs: 30_000,
    factor: 2,
    maxAttempts: Infinity,
    stableAfterMs: 5_000,
    serviceRestartDelayMs: 5_000,
    shouldReconnect: defaultShouldReconnect,
  } satisfies ReconnectOptions,
  heartbeatMessage: '{"type":"ping"}',
  outbox: { limit: 1_000, overflow: 'reject' as OverflowPolicy },
  maxBufferedBytes: 1_048_576,
  maxMessageBytes: 1_048_576,
  closeOnOffline: true,
  autoStart: true,
  historyLimit: 200,
  /** How often a congested socket is looked at again (not an option: an implementation detail). */
  drainCheckMs: 50,
} as const;

export interface ResolvedOptions<M extends AnyModel, TOut> {
  config: ConnectionConfig;
  url: UrlProvider;
  protocols: string | string[] | undefined;
  WebSocket: WebSocketConstructor;
  model: M | undefined;
  view: View<DataOf<M>> | undefined;
  protocol: Protocol<DataOf<M>, TOut>;
  inbound: StandardSchemaV1 | undefined;
  shouldReconnect: (close: CloseEventInfo) => boolean;
  greeting: ((context: ConnectionContext, model: M) => GreetingResult) | undefined;
  parse: (data: string | ArrayBuffer) => unknown;
  clock: Clock | undefined;
  now: () => number;
  random: () => number;
  schedule: RenderScheduler;
  autoStart: boolean;
  historyLimit: number;
  inspect: ((event: InspectionEvent) => void) | undefined;
  environment: EnvironmentTargets;
}

/** A short, safe rendering of a received value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return String(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return typeof value;
  }
}

function number(
  name: string,
  value: unknown,
  fallback: number,
  check: { min?: number; max?: number; integer?: boolean; infinite?: boolean },
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`statesocket: option \`${name}\` must be a number; received ${describeValue(value)}`);
  }
  if (!Number.isFinite(value) && !(check.infinite && value === Infinity)) {
    throw new RangeError(`statesocket: option \`${name}\` must be finite; received ${value}`);
  }
  if (check.min !== undefined && value < check.min) {
    throw new RangeError(`statesocket: option \`${name}\` must be at least ${check.min}; received ${value}`);
  }
  if (check.max !== undefined && value > check.max) {
    const timer = check.max === MAX_TIMER_MS ? ' (2³¹−1 ms, the longest a timer can wait)' : '';
    throw new RangeError(`statesocket: option \`${name}\` must be at most ${check.max}${timer}; received ${value}`);
  }
  if (check.integer && Number.isFinite(value) && !Number.isInteger(value)) {
    throw new RangeError(`statesocket: option \`${name}\` must be a whole number; received ${value}`);
  }
  return value;
}

/** The bounds of an option that becomes a timer delay. */
const TIMER = { min: 0, max: MAX_TIMER_MS } as const;

function fn<F>(name: string, value: unknown, fallback: F): F {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') {
    throw new TypeError(`statesocket: option \`${name}\` must be a function; received ${describeValue(value)}`);
  }
  return value as F;
}

function object(name: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`statesocket: option \`${name}\` must be an object; received ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * The relay URL of `inspect: { url }`, or undefined when `inspect` has another form.
 * @throws TypeError when the URL is not a ws:// or wss:// URL, or the object has other keys
 */
export function inspectRelayUrl(inspect: unknown): string | undefined {
  if (typeof inspect !== 'object' || inspect === null || !('url' in inspect) || 'inspect' in inspect) return undefined;
  for (const key of Object.keys(inspect)) {
    if (key !== 'url') throw new TypeError(`statesocket: unknown option \`inspect.${key}\` (inspect: { url } takes the relay's URL only)`);
  }
  const url = (inspect as { url: unknown }).url;
  if (typeof url !== 'string' || !/^wss?:\/\/./.test(url)) {
    throw new TypeError(
      `statesocket: option \`inspect.url\` must be the ws:// URL of an inspector relay (such as ws://127.0.0.1:8090/inspect); received ${describeValue(url)}`,
    );
  }
  return url;
}

/** The heartbeat's ping as a frame; it must fit in `maxMessageBytes`, or the server would refuse every ping. */
function heartbeatMessage(message: unknown, maxMessageBytes: number): Frame {
  let frame: Frame;
  try {
    frame = encodeJsonFrame(message);
  } catch {
    throw new TypeError(
      `statesocket: option \`heartbeat.message\` must be a frame (a string or binary) or a value with a JSON form; received ${describeValue(message)}`,
    );
  }
  if (exceedsBytes(frame, maxMessageBytes)) {
    throw new RangeError(
      `statesocket: option \`heartbeat.message\` is ${frameBytes(frame)} bytes, over maxMessageBytes (${maxMessageBytes}); every ping would be refused`,
    );
  }
  return frame;
}

/**
 * Checks the options of `connection.channel(name, options)` when it is called, as `createConnection` checks its own:
 * an unknown key (a typo such as `presense` would hold the channel without presence, silently), a `model` without
 * update() and getData(), a `view` without render(), a `presence` that is not a boolean or `{ view? }`.
 * @throws TypeError naming the channel, the option and the value received
 */
export function checkChannelOptions(name: string, options: unknown): void {
  const where = `statesocket: channel(${JSON.stringify(name)})`;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object { model?, view?, presence? }; received ${describeValue(options)}`);
  }
  const { model, view, presence } = options as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (key !== 'model' && key !== 'view' && key !== 'presence') {
      throw new TypeError(`${where}: unknown option \`${key}\` (channel() takes model, view, presence)`);
    }
  }
  const modelShape = model as { update?: unknown; getData?: unknown } | undefined;
  if (model !== undefined && (typeof modelShape?.update !== 'function' || typeof modelShape?.getData !== 'function')) {
    throw new TypeError(`${where}: option \`model\` must have update() and getData(); received ${describeValue(model)}`);
  }
  if (view !== undefined && typeof (view as { render?: unknown } | null)?.render !== 'function') {
    throw new TypeError(`${where}: option \`view\` must have render(); received ${describeValue(view)}`);
  }
  if (presence === undefined || typeof presence === 'boolean') return;
  if (typeof presence !== 'object' || presence === null || Array.isArray(presence)) {
    throw new TypeError(`${where}: option \`presence\` must be true, false or { view }; received ${describeValue(presence)}`);
  }
  refuseUnknownKeys('presence', presence as Record<string, unknown>, ['view']);
  const presenceView = (presence as { view?: unknown }).view;
  if (presenceView !== undefined && typeof (presenceView as { render?: unknown } | null)?.render !== 'function') {
    throw new TypeError(`${where}: option \`presence.view\` must have render(); received ${describeValue(presenceView)}`);
  }
}

/** Refuses a key of the nested option `name` that is not one of `known` (a typo such as `outbox.limt` would be ignored). */
function refuseUnknownKeys(name: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new TypeError(`statesocket: unknown option \`${name}.${key}\` (${name} takes ${known.join(', ')})`);
  }
}

/** RFC 6455 §4.1: a subprotocol is a token (RFC 7230 §3.2.6): visible ASCII without separators. */
const SUBPROTOCOL = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The `protocols` option, checked as the WebSocket constructor would check it, but at creation: tokens, each once. */
function subprotocols(value: unknown): string | string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) {
    throw new TypeError(`statesocket: option \`protocols\` must be a string or an array of strings; received ${describeValue(value)}`);
  }
  const seen = new Set<string>();
  for (const protocol of list as string[]) {
    if (!SUBPROTOCOL.test(protocol)) {
      throw new TypeError(
        `statesocket: option \`protocols\`: ${describeValue(protocol)} is not a valid subprotocol (RFC 6455 §4.1: a token of letters, digits and !#$%&'*+-.^_\`|~, no spaces or separators)`,
      );
    }
    if (seen.has(protocol)) throw new TypeError(`statesocket: option \`protocols\` lists ${describeValue(protocol)} twice; each subprotocol may appear once`);
    seen.add(protocol);
  }
  return value as string | string[];
}

/** Something with addEventListener and removeEventListener (a window or document target). */
function isListenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { addEventListener?: unknown }).addEventListener === 'function' &&
    typeof (value as { removeEventListener?: unknown }).removeEventListener === 'function'
  );
}

/** The `environment` option, checked: the targets it names must have the shapes the connection uses. */
function environmentTargets(value: unknown): EnvironmentTargets {
  if (value === false) return {};
  const targets = object('environment', value);
  if (targets === undefined) return platformEnvironment();
  refuseUnknownKeys('environment', targets, ['window', 'document', 'navigator']);
  for (const name of ['window', 'document'] as const) {
    if (targets[name] !== undefined && !isListenable(targets[name])) {
      throw new TypeError(
        `statesocket: option \`environment.${name}\` must have addEventListener() and removeEventListener() (the browser's ${name}); received ${describeValue(targets[name])}`,
      );
    }
  }
  const { navigator } = targets;
  if (navigator !== undefined && (typeof navigator !== 'object' || navigator === null)) {
    throw new TypeError(`statesocket: option \`environment.navigator\` must be an object with onLine (the browser's navigator); received ${describeValue(navigator)}`);
  }
  return targets as EnvironmentTargets;
}

/** The inspector's observer as one function that never throws into the machine. */
function inspectObserver(inspector: unknown): ((event: InspectionEvent) => void) | undefined {
  if (inspector === undefined || inspector === false) return undefined;
  // Node's entry replaces { url } with a relay inspector before it gets here; this entry cannot load one.
  if (inspectRelayUrl(inspector) !== undefined) {
    throw new TypeError(
      "statesocket: option `inspect: { url }` works in Node only (there the package loads the relay inspector for it); " +
        "in a browser, pass inspect: createRelayInspector({ url }) from 'statesocket/inspect'",
    );
  }
  const observer = (inspector as Partial<InspectorLike> | null)?.inspect;
  const next = typeof observer === 'function' ? observer : typeof observer?.next === 'function' ? observer.next.bind(observer) : undefined;
  if (next === undefined) {
    throw new TypeError(`statesocket: option \`inspect\` must be an inspector with an inspect observer (or { url } in Node); received ${describeValue(inspector)}`);
  }
  return (event) => {
    try {
      next(event);
    } catch {
      // inspection must never change or break the connection
    }
  };
}

const KNOWN_OPTIONS = new Set([
  'url', 'protocols', 'WebSocket', 'model', 'view', 'protocol', 'inbound', 'reconnect', 'connectTimeoutMs',
  'closeTimeoutMs', 'heartbeat', 'greeting', 'outbox', 'maxBufferedBytes', 'maxMessageBytes', 'parse',
  'closeOnOffline', 'clock', 'now', 'random', 'schedule', 'autoStart', 'historyLimit', 'inspect', 'environment',
]);

/** Options of `createChannelProtocol()` that newcomers pass to `createConnection` (the token above all). */
const PROTOCOL_OPTIONS = new Set(['token', 'clientId', 'defaultChannel', 'maxReassemblyBytes']);

/** The config the last connection was created with (frozen), shared by the next one when equal. */
let lastConfig: ConnectionConfig | null = null;

/**
 * `config`, or an equal config made before: connections created with the same options share one
 * (frozen: the chart only reads it), about 0.2 KiB less per connection (issue 15). Only the last one
 * is kept, so connections with options that vary keep their own and nothing accumulates.
 */
function sharedConfig(config: ConnectionConfig): ConnectionConfig {
  const last = lastConfig;
  if (last !== null && sameConfig(last, config)) return last;
  Object.freeze(config.reconnect);
  Object.freeze(config.outbox);
  if (config.heartbeat !== null) Object.freeze(config.heartbeat);
  lastConfig = Object.freeze(config);
  return config;
}

/** Equal configs: the same fields with the same values, nested objects (reconnect, outbox, heartbeat) compared the same way, one level down. */
function sameConfig(a: object, b: object, nested = true): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    const x = (a as Record<string, unknown>)[key];
    const y = (b as Record<string, unknown>)[key];
    if (x === y) continue;
    if (!nested || typeof x !== 'object' || typeof y !== 'object' || x === null || y === null || !sameConfig(x, y, false)) return false;
  }
  return true;
}

/**
 * Validates options and fills in defaults.
 * @throws TypeError or RangeError naming the option and the value received
 */
export function resolveOptions<M extends AnyModel, TOut>(
  options: ConnectionOptions<M, TOut>,
  platformWebSocket: WebSocketConstructor | undefined,
): ResolvedOptions<M, TOut> {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`statesocket: createConnection needs an options object; received ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      const hint = PROTOCOL_OPTIONS.has(key) ? ` (it is an option of the protocol: protocol: createChannelProtocol({ ${key} }))` : '';
      throw new TypeError(`statesocket: unknown option \`${key}\`${hint}`);
    }
  }
  const { url } = options;
  if (typeof url === 'string') {
    const problem = urlProblem(url);
    if (problem !== null) throw new TypeError(`statesocket: option \`url\`: ${problem}`);
  } else if (typeof url !== 'function') {
    throw new TypeError(`statesocket: option \`url\` must be a ws:// URL or a function returning one; received ${describeValue(url)}`);
  }
  const protocols = subprotocols(options.protocols);
  const WebSocket = options.WebSocket ?? platformWebSocket;
  if (typeof WebSocket !== 'function') {
    throw new TypeError(
      'statesocket: option `WebSocket` is required here: this platform has no global WebSocket ' +
        `(received ${describeValue(options.WebSocket)}). In Node, import from "statesocket" (which uses ws) or pass WebSocket from "ws".`,
    );
  }

  let reconnect: ConnectionConfig['reconnect'];
  let shouldReconnect: (close: CloseEventInfo) => boolean = DEFAULT_OPTIONS.reconnect.shouldReconnect;
  if (options.reconnect === false) {
    const { shouldReconnect: _policy, ...rest } = DEFAULT_OPTIONS.reconnect;
    reconnect = { ...rest, enabled: false };
  } else {
    const r = object('reconnect', options.reconnect) ?? {};
    const d = DEFAULT_OPTIONS.reconnect;
    for (const key of Object.keys(r)) {
      if (!(key in d)) throw new TypeError(`statesocket: unknown option \`reconnect.${key}\``);
    }
    reconnect = {
      enabled: true,
      initialDelayMs: number('reconnect.initialDelayMs', r.initialDelayMs, d.initialDelayMs, TIMER),
      maxDelayMs: number('reconnect.maxDelayMs', r.maxDelayMs, d.maxDelayMs, TIMER),
      factor: number('reconnect.factor', r.factor, d.factor, { min: 1 }),
      maxAttempts: number('reconnect.maxAttempts', r.maxAttempts, d.maxAttempts, { min: 0, integer: true, infinite: true }),
      stableAfterMs: number('reconnect.stableAfterMs', r.stableAfterMs, d.stableAfterMs, TIMER),
      serviceRestartDelayMs: number('reconnect.serviceRestartDelayMs', r.serviceRestartDelayMs, d.serviceRestartDelayMs, TIMER),
    };
    if (reconnect.maxDelayMs < reconnect.initialDelayMs) {
      throw new RangeError(
        `statesocket: option \`reconnect.maxDelayMs\` (${reconnect.maxDelayMs}) must be at least \`reconnect.initialDelayMs\` (${reconnect.initialDelayMs})`,
      );
    }
    shouldReconnect = fn('reconnect.shouldReconnect', r.shouldReconnect, shouldReconnect);
  }

  // Without a protocol, TOut is SyncOutbound (the default type argument): the default protocol's.
  const protocol = options.protocol ?? (createChannelProtocol() as Protocol<DataOf<M>, TOut>);
  if (typeof protocol !== 'object' || protocol === null || typeof protocol.decode !== 'function' || typeof protocol.encode !== 'function') {
    throw new TypeError(`statesocket: option \`protocol\` must have decode() and encode(); received ${describeValue(options.protocol)}`);
  }

  const maxMessageBytes = number('maxMessageBytes', options.maxMessageBytes, DEFAULT_OPTIONS.maxMessageBytes, { min: 1 });

  let heartbeat: ConnectionConfig['heartbeat'] = null;
  if (options.heartbeat !== undefined && options.heartbeat !== false) {
    const h = object('heartbeat', options.heartbeat) ?? {};
    refuseUnknownKeys('heartbeat', h, ['intervalMs', 'timeoutMs', 'message']);
    if (h.intervalMs === undefined || h.timeoutMs === undefined) {
      throw new TypeError(`statesocket: option \`heartbeat\` needs intervalMs and timeoutMs; received ${describeValue(h)}`);
    }
    heartbeat = {
      intervalMs: number('heartbeat.intervalMs', h.intervalMs, 0, { ...TIMER, min: 1 }),
      timeoutMs: number('heartbeat.timeoutMs', h.timeoutMs, 0, { ...TIMER, min: 1 }),
      message: heartbeatMessage(h.message ?? protocol.ping ?? DEFAULT_OPTIONS.heartbeatMessage, maxMessageBytes),
    };
  }

  const outboxOption = object('outbox', options.outbox) ?? {};
  refuseUnknownKeys('outbox', outboxOption, ['limit', 'overflow']);
  const overflow = outboxOption.overflow ?? DEFAULT_OPTIONS.outbox.overflow;
  if (overflow !== 'reject' && overflow !== 'drop-oldest' && overflow !== 'drop-newest') {
    throw new TypeError(`statesocket: option \`outbox.overflow\` must be 'reject', 'drop-oldest' or 'drop-newest'; received ${describeValue(overflow)}`);
  }
  const closeOnOffline = options.closeOnOffline ?? DEFAULT_OPTIONS.closeOnOffline;
  if (typeof closeOnOffline !== 'boolean') {
    throw new TypeError(`statesocket: option \`closeOnOffline\` must be a boolean; received ${describeValue(closeOnOffline)}`);
  }
  const autoStart = options.autoStart ?? DEFAULT_OPTIONS.autoStart;
  if (typeof autoStart !== 'boolean') {
    throw new TypeError(`statesocket: option \`autoStart\` must be a boolean; received ${describeValue(autoStart)}`);
  }
  if (options.model !== undefined && (typeof options.model?.update !== 'function' || typeof options.model?.getData !== 'function')) {
    throw new TypeError(`statesocket: option \`model\` must have update() and getData(); received ${describeValue(options.model)}`);
  }
  if (options.view !== undefined && typeof options.view?.render !== 'function') {
    throw new TypeError(`statesocket: option \`view\` must have render(); received ${describeValue(options.view)}`);
  }
  if (options.inbound !== undefined && !isStandardSchema(options.inbound)) {
    throw new TypeError(
      `statesocket: option \`inbound\` must be a Standard Schema (an object with ~standard.validate, as zod, valibot and arktype schemas are); received ${describeValue(options.inbound)}`,
    );
  }
  const clock = object('clock', options.clock) as Clock | undefined;
  if (clock !== undefined && (typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function')) {
    throw new TypeError('statesocket: option `clock` must have setTimeout() and clearTimeout()');
  }

  const config: ConnectionConfig = {
    connectTimeoutMs: number('connectTimeoutMs', options.connectTimeoutMs, DEFAULT_OPTIONS.connectTimeoutMs, { ...TIMER, min: 1 }),
    closeTimeoutMs: number('closeTimeoutMs', options.closeTimeoutMs, DEFAULT_OPTIONS.closeTimeoutMs, TIMER),
    reconnect,
    heartbeat,
    outbox: {
      limit: number('outbox.limit', outboxOption.limit, DEFAULT_OPTIONS.outbox.limit, { min: 0, integer: true }),
      overflow,
    },
    maxBufferedBytes: number('maxBufferedBytes', options.maxBufferedBytes, DEFAULT_OPTIONS.maxBufferedBytes, { min: 0 }),
    maxMessageBytes,
    closeOnOffline,
    drainCheckMs: DEFAULT_OPTIONS.drainCheckMs,
  };

  return {
    config: sharedConfig(config),
    url,
    protocols,
    WebSocket,
    model: options.model,
    view: options.view,
    protocol,
    inbound: options.inbound,
    shouldReconnect,
    greeting: fn('greeting', options.greeting, undefined),
    parse: fn('parse', options.parse, parseJsonFrame),
    clock,
    now: fn('now', options.now, Date.now),
    random: fn('random', options.random, Math.random),
    schedule: fn('schedule', options.schedule, undefined) ?? frameScheduler(),
    autoStart,
    historyLimit: number('historyLimit', options.historyLimit, DEFAULT_OPTIONS.historyLimit, { min: 0, integer: true }),
    inspect: inspectObserver(options.inspect),
    environment: environmentTargets(options.environment),
  };
}
