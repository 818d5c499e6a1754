/**
 * Public plug-in types: the socket contract, Model, View and the status a view receives.
 */
import type {
  CloseInfo,
  ConnectionContext,
  Counters,
  ErrorInfo,
  Frame,
  RejectedInfo,
  StateName,
} from '../machines/connection.types.js';

export type { CloseInfo, ConnectionContext, Counters, ErrorInfo, Frame, RejectedInfo, StateName };

/**
 * What statesocket needs of a WebSocket: the browser's `WebSocket` and `ws`
 * both fit. Handler parameters are typed loosely on purpose: a precise event
 * type makes `ws`'s class fail to match under strictFunctionTypes.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  /* eslint-disable @typescript-eslint/no-explicit-any */
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  /**
   * statesocket's extension, for transports that know where a read ends (the
   * test fakes and the simulator): called after the last `onmessage` of a read,
   * so the frames read are applied at once instead of at the next microtask.
   * Real WebSockets never call it.
   */
  onreadend?: (() => void) | null;
  send(data: Frame): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a closing handshake. */
  terminate?(): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * The Model of MVC: receives every accepted message, hands its data to the view.
 * `T` is the data it hands over, `TIn` the messages it takes (what the protocol
 * classifies as data; with an `inbound` schema, the schema's output).
 */
export interface Model<T = unknown, TIn = unknown> {
  /**
   * Applies one message, synchronously. Throwing rejects the message
   * (`ERR_MODEL_REJECTED`); leave the data untouched then. A promise returned
   * is not awaited: the message counts as applied, and a rejection is only
   * reported (`status.lastCallbackError`, `ERR_MODEL_REJECTED`).
   */
  update(message: TIn): void;
  getData(): T;
}

/** Any Model: what a type parameter that stands for a Model is constrained to. */
// `never`: a Model's `update` may take any message type.
export type AnyModel = Model<unknown, never>;

/** The data a Model hands to its view: what `getData()` returns. */
export type DataOf<M> = M extends { getData(): infer T } ? T : never;

/** The messages a Model takes: what `update()` accepts. */
export type InboundOf<M> = M extends { update(message: infer I): void } ? I : unknown;

/**
 * The View of MVC: called at most once per frame with the latest data and status (a connection's
 * `ConnectionStatus`; a channel's view gets its `ChannelStatus`).
 */
export interface View<T = unknown, S = ConnectionStatus> {
  /** Not awaited: a promise it returns that rejects is reported as `ERR_RENDER_FAILED`. */
  render(data: T, status: S): void;
}

/** A point-in-time view of the connection, derived from the machine's snapshot. */
export interface ConnectionStatus {
  state: StateName;
  /**
   * In `errored`, what the machine waits for instead of a backoff timer: the network
   * (`offline`), the page to be shown (`hidden`), or to come back from the
   * back-forward cache (`suspended`). Null otherwise.
   */
  parked: 'offline' | 'hidden' | 'suspended' | null;
  /** Reconnect attempts since the last stable open. */
  attempt: number;
  /** When the next reconnect attempt starts, on the connection's `now()` clock; null unless waiting. */
  nextRetryAt: number | null;
  nextDelayMs: number | null;
  online: boolean;
  /** The page is hidden: a pending reconnect waits until it is visible. */
  pageHidden: boolean;
  /** The URL of the current or last attempt, secrets redacted. */
  url: string | null;
  lastError: ErrorInfo | null;
  lastClose: CloseInfo | null;
  lastRejected: RejectedInfo | null;
  /**
   * The last throw from a callback you supplied that the connection survived: `ERR_RENDER_FAILED`
   * (view.render, model.getData or the render scheduler), `ERR_LISTENER_FAILED` (a status listener),
   * `ERR_POLICY_FAILED` (reconnect.shouldReconnect or random; the default decided). Counted in `counters.callbackErrors`.
   */
  lastCallbackError: RejectedInfo | null;
  outboxSize: number;
  counters: Readonly<Counters>;
}

/** One entry of `connection.history`. */
export interface HistoryEntry {
  state: StateName;
  /** `now()` when the state was entered. */
  at: number;
  /** The event that caused the transition. */
  event: string;
  /** The error recorded by that transition, if it recorded one. */
  error?: ErrorInfo;
}

/** Schedules `flush` for the next frame and returns a function that cancels it. */
export type RenderScheduler = (flush: () => void) => () => void;

/** The timer source of the machine: XState's `clock` option (`SimulatedClock` in tests). */
export interface Clock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}
