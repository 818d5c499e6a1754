/**
 * The sync protocol, version 1, client side: the protocol layer that makes a
 * reconnect lose nothing, for servers that speak only version 1 (the default,
 * version 2, is `createChannelProtocol()` in client-protocol-v2.ts). Plug it in with `createConnection({ protocol: createSyncProtocol() })`,
 * with the default Model (`createStore()`) or any Model: the Model receives
 * `snapshot` and `patch` messages (docs/protocol-v1.md) and knows nothing of positions.
 *
 * - Every connection opens with `hello {v, epoch?, since?, token?}`.
 * - The protocol keeps its own position (`epoch`, `seq`), one per connection
 *   (`forConnection()`), advanced only when the Model accepted a snapshot or patch.
 * - `snapshot` resets the position; a `patch` applies only when it is the next
 *   `seq` of the same `epoch`. Older ones are duplicates (dropped); a jump is a
 *   gap: `resync.needed` makes the chart forget the position and send a fresh
 *   `hello` without `since`, which brings a snapshot.
 * - `op` frames wait in the outbox until their `ack` and are re-sent after a
 *   reconnect; the server applies each `id` once.
 */
import type { InboundEvent, Protocol } from '../protocol.js';
import type { StoreData } from '../store.js';
import type { Changes, HelloFrame, ServerFrame } from './messages.js';
import { PROTOCOL_VERSION, isPatchFrame, parseClientFrame, parseServerFrame } from './messages.js';
import { CLIENT_VALUE_LIMITS, checkChanges } from './values.js';

export interface SyncProtocolOptions {
  /**
   * Sent in every `hello`: a string, or a function called for every connection.
   * @default none
   */
  token?: string | (() => string | undefined);
}

/** An op for `connection.send()`: the id is made for you when absent. */
export type OpMessage = { type: 'op'; id?: string } & Changes;

/** What `send()` takes with the sync protocol: an op (or a ping). */
export type SyncOutbound = OpMessage | { type: 'ping' };

let fallbackCounter = 0;

/** A unique op id: a UUID where the platform has one. */
export function newOpId(): string {
  const uuid = globalThis.crypto?.randomUUID?.();
  return uuid ?? `op-${Date.now().toString(36)}-${(fallbackCounter++).toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** An `op` message with a fresh id, ready for `connection.send()`. */
export function createOp(changes: Changes, id: string = newOpId()): { type: 'op'; id: string } & Changes {
  return { type: 'op', id, ...changes };
}

const PING = '{"type":"ping"}';

/**
 * The value rule as the reference server applies it by default (`--max-value-depth` 64); an op's
 * size is bounded by `maxMessageBytes` at send() and by the server's `--max-op-bytes`, not here.
 */

/**
 * One sync protocol object: the position it resumes from and the methods of
 * `Protocol`. A class, not a closure: a connection holds one of these, and
 * methods on the prototype keep it to its few fields (bench/RESULTS.md, heap
 * per connection).
 */
class SyncProtocol<T> implements Protocol<T, SyncOutbound> {
  readonly name = 'statesocket';
  readonly ping = PING;
  readonly #options: SyncProtocolOptions;
  // The position: the last snapshot or patch the Model accepted (`epoch` null: none yet, or forgotten).
  // Two fields, not an object: `applied` runs for every message.
  #epoch: string | null = null;
  #seq = 0;

  constructor(options: SyncProtocolOptions) {
    this.#options = options;
  }

  forConnection(): Protocol<T, SyncOutbound> {
    return new SyncProtocol<T>(this.#options);
  }

  greeting(): string[] {
    const hello: HelloFrame = { type: 'hello', v: PROTOCOL_VERSION };
    if (this.#epoch !== null) {
      hello.epoch = this.#epoch;
      hello.since = this.#seq;
    }
    const { token } = this.#options;
    const value = typeof token === 'function' ? token() : token;
    if (value !== undefined) hello.token = value;
    return [JSON.stringify(hello)];
  }

  decode(message: unknown, _model: unknown, pending: readonly unknown[]): InboundEvent | InboundEvent[] {
    // A patch, the flood's frame, is checked by `isPatchFrame` alone: no result object per frame (issue 15).
    let frame: ServerFrame;
    if (isPatchFrame(message)) frame = message;
    else {
      const parsed = parseServerFrame(message);
      if (!parsed.ok) throw new Error(`not a sync protocol frame: ${parsed.problem}`);
      frame = parsed.frame;
    }
    switch (frame.type) {
      case 'snapshot':
        return { type: 'message.received', message: frame };
      case 'patch': {
        // Every pending message is a snapshot or patch that decoded as data (so it has epoch and seq).
        const last = pending[pending.length - 1] as { epoch: string; seq: number } | undefined;
        const epoch = last === undefined ? this.#epoch : last.epoch;
        const seq = last === undefined ? this.#seq : last.seq;
        // No position: a snapshot is on its way (after a hello without `since`).
        if (epoch === null || epoch !== frame.epoch) return [];
        if (frame.seq <= seq) return []; // a duplicate (replayed twice)
        if (frame.seq > seq + 1) return { type: 'resync.needed', reason: `gap: expected seq ${seq + 1}, received ${frame.seq}` };
        return { type: 'message.received', message: frame };
      }
      case 'ack':
        return { type: 'ack.received', id: frame.id };
      case 'pong':
        return { type: 'pong.received' };
      case 'error': {
        const rejected: InboundEvent = { type: 'message.rejected', code: 'ERR_SERVER_REJECTED', message: `${frame.code}: ${frame.message}` };
        // A refused op will never apply: settle it so it is not re-sent forever.
        return frame.id === undefined ? rejected : [{ type: 'ack.received', id: frame.id }, rejected];
      }
    }
  }

  applied(message: unknown): void {
    // Only what decode classified as data comes here: snapshots and patches it validated.
    const frame = message as { epoch?: unknown; seq?: unknown };
    if (typeof frame.epoch === 'string' && typeof frame.seq === 'number') {
      this.#epoch = frame.epoch;
      this.#seq = frame.seq;
    }
  }

  resync(): void {
    // The next hello goes without `since`: the server answers with a snapshot.
    this.#epoch = null;
    this.#seq = 0;
  }

  // `message` is typed for TypeScript callers; JavaScript ones may pass anything, so it is checked.
  encode(message: unknown): { frame: string; ackId?: string } {
    if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'op') {
      const { id: given, set, delete: deleted } = message as { id?: unknown; set?: unknown; delete?: unknown };
      const id = given ?? newOpId();
      // Only the fields of an op go on the wire.
      const op: Record<string, unknown> = { type: 'op', id };
      if (set !== undefined) op.set = set;
      if (deleted !== undefined) op.delete = deleted;
      const parsed = parseClientFrame(op);
      if (!parsed.ok) throw new TypeError(`sync protocol: invalid op: ${parsed.problem}`);
      // The server's value rule, checked here: JSON.stringify would turn NaN into null and a Date into a string
      // without a word, and the server would refuse __proto__ or a value nested too deep only later.
      const values = checkChanges(op, CLIENT_VALUE_LIMITS);
      if (!values.ok) throw new TypeError(`sync protocol: invalid op ${JSON.stringify(String(id))}: ${values.problem}; nothing was sent`);
      return { frame: JSON.stringify(op), ackId: id as string };
    }
    if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ping') {
      return { frame: PING };
    }
    throw new TypeError(
      `sync protocol: send() takes {type: 'op', id?, set?, delete?} (or a ping); received ${JSON.stringify(message)?.slice(0, 80) ?? typeof message}`,
    );
  }
}

/**
 * The sync protocol, version 1 (docs/protocol-v1.md): one document per
 * connection, ops deduplicated by id. For a server that speaks only version 1;
 * `createConnection` speaks version 2 by default (`createChannelProtocol()`),
 * and the reference server serves both. One object may serve any number of
 * connections: each connection calls `forConnection()` once and resumes from
 * its own position.
 *
 * @example
 * const protocol = createSyncProtocol({ token });
 * const a = createConnection({ url, protocol });
 * const b = createConnection({ url, protocol, model: myModel }); // its own position
 */
export function createSyncProtocol<T = StoreData>(options: SyncProtocolOptions = {}): Protocol<T, SyncOutbound> {
  return new SyncProtocol<T>({ ...options });
}
