/**
 * The protocol layer: turns parsed inbound messages into machine events and
 * outgoing messages into frames. `rawProtocol` passes everything through; the
 * sync protocol (`sync/client-protocol.ts`) plugs in the same way.
 *
 * A protocol that keeps state per connection (the sync protocol's position in
 * the change stream) implements `forConnection()`: every connection calls it
 * once and uses the protocol it returns, so one protocol object can be given to
 * many connections. The Model is never asked for the protocol's state.
 */
import type { ConnectionContext, ConnectionEvent, ErrorCode, OutboxEntry } from '../machines/connection.types.js';
import type { DataRefusalCode } from '../machines/subscription.types.js';
import type { ChannelRuntime } from './channel-runtime.js';
import { describeResult } from './callbacks.js';
import { encodeJsonFrame } from './frames.js';
import type { Frame, Model } from './types.js';

/** A chart event that comes from the socket, without the socket's id and time (the socket stamps them). */
type Unstamped<E> = E extends { socketId: number } ? Omit<E, 'socketId' | 'at'> : never;

/** The lifecycle frames of a channel, as chart events (protocols with channels). */
export type ChannelInboundEvent = Unstamped<Extract<ConnectionEvent, { type: `channel.${string}` }>>;

/** What one inbound message means to the machine. Only `message.received` reaches the Model. */
export type InboundEvent =
  | { type: 'message.received'; message: unknown }
  | { type: 'ack.received'; id: string; code?: ErrorCode; message?: string }
  | { type: 'pong.received' }
  | { type: 'resync.needed'; reason: string }
  | { type: 'message.rejected'; code: ErrorCode; message: string }
  | ChannelInboundEvent;

/** Where a data message of a channel goes: the channel's Model (or presence), and its render request. */
export interface ChannelReceiver {
  readonly model: Model<unknown>;
  /** Asks for a coalesced render of the channel's view. */
  render(): void;
  /**
   * `message` was refused before it was applied (already counted on the connection): `model.update`
   * threw `error` (`ERR_MODEL_REJECTED`, the default), or the `inbound` schema refused it
   * (`ERR_INVALID_MESSAGE`, `error` the schema's issues as one line). The channel stops trusting
   * its position (`ChannelSupport.modelRejected`, with `pending`: the messages of the read decoded
   * before it, still to be applied) and reports it. Called on the refusal path only.
   */
  rejected?(message: unknown, error: unknown, code?: DataRefusalCode, pending?: readonly unknown[]): void;
}

/**
 * What a protocol with channels offers the connection (the sync protocol, version 2). The
 * connection's effects (src/effects.ts) and channel handles (src/channel.ts) use it; the chart
 * never sees it.
 */
export interface ChannelSupport {
  /** The receiver of a data message (a snapshot, patch or presence frame of a held channel); undefined for the connection's own Model. */
  receiverOf(message: unknown): ChannelReceiver | undefined;
  /** Starts routing a channel's data to its receivers (`presence` null: no presence). */
  open(channel: string, data: ChannelReceiver, presence: ChannelReceiver | null): void;
  /** Forgets the channel: its frames are dropped from now on. */
  release(channel: string): void;
  /**
   * The channel's Model threw on one of its data messages, or the `inbound` schema refused one: its
   * position is not trusted any more, so its patches drop until a snapshot and its next subscribe
   * goes without a position. `pending`: the messages of the read decoded before the refused one and
   * still to be applied (a schema's refusal comes at decode), which must not end the wait.
   */
  modelRejected(channel: string, pending?: readonly unknown[]): void;
  /** The `subscribe` frame of the channel: its position (unless it resyncs), presence, and `acked` from the outbox. */
  subscribeFrame(channel: string, outbox: readonly OutboxEntry[]): Frame;
  unsubscribeFrame(channel: string): Frame;
  /**
   * An op of the channel: its next number, the frame, and the outbox id its answer settles.
   * `awaitsMark`: the channel's mark is not known yet on this connection (a stored client id,
   * before its first `synced`), so the op is not numbered yet: `numberOp` numbers it then.
   */
  encodeOp(channel: string, op: unknown): { frame: Frame; ackId: string; n: number; awaitsMark?: true };
  /** Numbers an op that waited for its channel's mark (`awaitsMark`): its frame and outbox id from now on. */
  numberOp(channel: string, frame: Frame, ackId: string): { frame: Frame; ackId: string };
  /**
   * The channel ended or failed (or its actor was replaced): its unanswered ops settle. One never
   * written fails with `code`; one written on the open socket waits for its answer there (the
   * server answers a channel's ops in order), and fails with `ERR_OP_UNCONFIRMED` if the socket
   * goes first; one written on a socket already gone fails with `ERR_OP_UNCONFIRMED` at once.
   */
  abandonOps(channel: string, outbox: readonly OutboxEntry[], code: ErrorCode, message?: string): void;
  /**
   * The connection was stopped: every op still unanswered settles, `ERR_STOPPED` for one never
   * written (it never applies), `ERR_OP_UNCONFIRMED` for one written (it may have applied); every
   * request fails.
   */
  connectionStopped(outbox: readonly OutboxEntry[]): void;
  /** The frame as a resend (`re`: the `welcome.time` of the connection it was first written on); a resend stays as it is. */
  asResend(frame: Frame): Frame;
  /** Waits for the answer to the outbox entry `ackId`: resolved by its ack, rejected by its refusal. */
  waitFor(ackId: string): Promise<void>;
  /** Settles the outbox entry `ackId`: an ack without `code`, a refusal (or a failed channel) with one. */
  settle(ackId: string, code?: ErrorCode, message?: string): void;
  /** A `changes` request of the channel, and the promise of its answer. */
  request(channel: string, since: number | undefined, limit: number): { frame: Frame; answer: Promise<ChangelogPage> };
  /** The socket is gone: requests waiting for an answer on it fail; a partial chunked frame is dropped. */
  sessionEnded(): void;
  /** The channel's position (the last snapshot or patch its Model accepted), or null. */
  positionOf(channel: string): { epoch: string; seq: number } | null;
  /** The welcome of the current connection: this client's id, the user, the server's frame limit; null before it. */
  readonly session: SessionInfo | null;
  /** This connection's client id (`hello.client`). */
  readonly clientId: string;
  /** The channel the connection's own Model is (`default`), subscribed on every connect; null: none. */
  readonly defaultChannel: string | null;
  /** What is wrong with a channel name (the protocol's name rule), or null when it is one. */
  nameProblem(name: unknown): string | null;
  /** The smallest `maxMessageBytes` the protocol works with (frames it cannot chunk are at most this large). */
  readonly minMessageBytes: number;
  /**
   * How the protocol writes a frame of its own on the open socket (`auth` after a `refresh`), and
   * reports a callback of the user's that failed (a token function); set by the connection.
   */
  attach(write: (frame: Frame) => void, failed: (code: ErrorCode, message: string) => void): void;
  /**
   * What channels add to the connection (src/channel-runtime.ts): the chart with the subscription
   * actor and the channel effects, and the handle. Brought by the protocol, so that a page whose
   * protocol has no channels does not ship them.
   */
  readonly runtime: ChannelRuntime;
}

/** What the server said in its `welcome`. */
export interface SessionInfo {
  user: string | null;
  /** The largest frame the server accepts from this client, in bytes. */
  maxMessageBytes: number;
  /** The server's clock at the welcome (ms since 1970). */
  time: number;
}

/** One page of a channel's past patches (`channel.changes()`). */
export interface ChangelogPage {
  /** The channel's current epoch: the patches belong to it. */
  epoch: string;
  /** Oldest first. */
  patches: ReadonlyArray<{ seq: number; set?: Record<string, unknown>; delete?: string[] }>;
  /** Later patches remain in the log: ask again with the last `seq` as `since`. */
  more: boolean;
  /** Patches between `since` and the first listed are gone from the log (or `since` was of another epoch). */
  gap: boolean;
}

/**
 * A protocol layer. `TData` is the data of the Model it works with (for
 * `greeting` and `decode`), `TOut` the messages `connection.send()` takes.
 */
export interface Protocol<TData = unknown, TOut = unknown> {
  /** Shown in status and logs. */
  readonly name: string;
  /**
   * Classifies one parsed inbound message; it may read the model (never change
   * it: only `message.received` reaches `model.update`). An empty array drops
   * the message (a duplicate, say). Throwing rejects it with `ERR_UNKNOWN_MESSAGE`,
   * and so does returning anything but an `InboundEvent` or an array of them
   * (`undefined`, an event of another type, an ack without its id, ...).
   *
   * A message it classified as data may come back to it: when the model refuses
   * one message of a read, the rest of the read is classified again against the
   * model. So `decode` must accept its own output (`rawProtocol` and the sync
   * protocol pass messages through unchanged).
   *
   * Frames are applied a socket read at a time: `pending` holds the messages
   * classified `message.received` earlier in the same read, oldest first, which
   * the model has not seen yet. A protocol that checks order reads its position
   * from the last of them when there are any, else from what `applied` last saw.
   */
  decode(message: unknown, model: Model<TData>, pending: readonly unknown[]): InboundEvent | InboundEvent[];
  /**
   * Called with each message `decode` classified as data, right after
   * `model.update` accepted it. A protocol that tracks a position advances it
   * here, so a message the model refused never moves it. Throwing rejects the
   * message with `ERR_UNKNOWN_MESSAGE` (the model has applied it; the position
   * stays where it was).
   */
  applied?(message: unknown): void;
  /**
   * The protocol one connection uses: called once by every connection given
   * this protocol, when it is created. A protocol with per-connection state
   * returns a fresh object holding it; without this method the protocol is
   * shared as it is (it must then keep no state of its own).
   */
  forConnection?(): Protocol<TData, TOut>;
  /**
   * Called when the chart handles `resync.needed`, just before the greeting is
   * sent again: forget whatever the greeting would resume from. The messages
   * read before the gap have been applied by then.
   */
  resync?(model: Model<TData>): void;
  /**
   * Serializes one outgoing message; `ackId` keeps it in the outbox until `ack.received` with that
   * id; `channel` (protocols with channels) ties it to its channel.
   */
  encode(message: TOut): { frame: Frame; ackId?: string; channel?: string; awaitsMark?: true };
  /** Frames that open every connection, before the outbox is flushed (authentication, resume). */
  greeting?(context: ConnectionContext, model: Model<TData>): Frame[];
  /** The heartbeat ping this protocol understands, when the heartbeat option gives none. */
  readonly ping?: Frame;
  /**
   * Called before every connection attempt dials, and awaited with the URL (a token function,
   * say). A rejection fails the attempt (`ERR_GREETING_FAILED`).
   */
  prepare?(): void | Promise<void>;
  /**
   * True when the protocol gets a fresh token at every connect (the sync protocol, version 2, with
   * a token function): the close policy then reconnects after 4419, token expired.
   */
  readonly refreshesToken?: boolean;
  /** Present on a protocol with channels: `connection.channel()` needs it. */
  readonly channels?: ChannelSupport;
}

/**
 * Every type of `InboundEvent`: what `decode` may return, and all the chart takes from it. A record
 * over the union, so a type added to `InboundEvent` fails to compile until it is listed here too.
 */
const INBOUND_TYPES: Readonly<Record<InboundEvent['type'], true>> = {
  'message.received': true,
  'ack.received': true,
  'pong.received': true,
  'resync.needed': true,
  'message.rejected': true,
  'channel.synced': true,
  'channel.marked': true,
  'channel.resync': true,
  'channel.refused': true,
  'channel.unsubscribed': true,
  'channel.failed': true,
  'channel.presence.refused': true,
};
export const INBOUND_EVENT_TYPES = Object.keys(INBOUND_TYPES) as ReadonlyArray<InboundEvent['type']>;

/** What is wrong with one event `decode` returned, or null when it is an `InboundEvent`. */
function eventProblem(event: unknown): string | null {
  if (typeof event !== 'object' || event === null) return `${describeResult(event)}, not an event object`;
  const { type, id, reason, code, message } = event as { type?: unknown; id?: unknown; reason?: unknown; code?: unknown; message?: unknown };
  if (typeof type !== 'string' || !Object.hasOwn(INBOUND_TYPES, type)) {
    const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : describeResult(type);
    return `an event of unknown type ${shown} (the types are ${INBOUND_EVENT_TYPES.join(', ')})`;
  }
  if (type.startsWith('channel.') && typeof (event as { channel?: unknown }).channel !== 'string') {
    return `a ${type} whose channel is ${describeResult((event as { channel?: unknown }).channel)}, not a string`;
  }
  if (type === 'ack.received' && typeof id !== 'string') return `an ack.received whose id is ${describeResult(id)}, not a string`;
  if (type === 'resync.needed' && typeof reason !== 'string') return `a resync.needed whose reason is ${describeResult(reason)}, not a string`;
  // the code's prefix only: ERROR_CODES, with every code's meaning, would cost the browser bundle 3 KB gzipped
  if (type === 'message.rejected' && (typeof code !== 'string' || !code.startsWith('ERR_') || typeof message !== 'string')) {
    return 'a message.rejected without an ERR_* code and a message string';
  }
  return null;
}

/**
 * `decode`'s result, checked: an `InboundEvent` or an array of them is
 * returned as it is; anything else becomes one `ERR_UNKNOWN_MESSAGE` rejection
 * that says what was wrong, so a protocol's mistake rejects (and counts) the
 * frame instead of reaching the chart. Never throws.
 */
export function checkDecoded(result: unknown): InboundEvent | InboundEvent[] {
  let problem: string | null = null;
  if (Array.isArray(result)) {
    for (let i = 0; i < result.length && problem === null; i++) {
      const itemProblem = eventProblem(result[i]);
      if (itemProblem !== null) problem = `an array whose item ${i} is ${itemProblem}`;
    }
  } else problem = eventProblem(result);
  if (problem === null) return result as InboundEvent | InboundEvent[];
  return { type: 'message.rejected', code: 'ERR_UNKNOWN_MESSAGE', message: `protocol.decode returned ${problem}` };
}

/**
 * The protocol one connection uses: what `protocol.forConnection()` returns,
 * or the protocol itself when it has no per-connection state.
 * @throws TypeError when `forConnection` throws or returns something without decode() and encode()
 */
export function protocolForConnection<TData, TOut>(protocol: Protocol<TData, TOut>): Protocol<TData, TOut> {
  if (typeof protocol.forConnection !== 'function') return protocol;
  let own: Protocol<TData, TOut>;
  try {
    own = protocol.forConnection();
  } catch (error) {
    throw new TypeError(`statesocket: option \`protocol\`: forConnection() threw: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (typeof own !== 'object' || own === null || typeof own.decode !== 'function' || typeof own.encode !== 'function') {
    throw new TypeError('statesocket: option `protocol`: forConnection() must return a protocol with decode() and encode()');
  }
  return own;
}

/**
 * For your own server (the reference server speaks the sync protocol, whose
 * version 2 is the default): every parsed message is data for the Model, `send()` takes any
 * value (sent as JSON; strings and binary as they are), nothing waits for an
 * ack, nothing is greeted. Declare the message types on the connection:
 * `createConnection<Model<Data, Inbound>, Outbound>({ url, protocol: rawProtocol, model })`.
 */
export const rawProtocol: Protocol<unknown, unknown> = {
  name: 'raw',
  decode: (message) => ({ type: 'message.received', message }),
  encode: (message) => ({ frame: encodeJsonFrame(message) }),
};
