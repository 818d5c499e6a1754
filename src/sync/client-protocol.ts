/**
 * The sync protocol, client side: the protocol layer that makes a reconnect
 * lose nothing. Plug it in with `createConnection({ protocol: createSyncProtocol() })`;
 * the default Model (`createStore()`) tracks the position it resumes from.
 *
 * - Every connection opens with `hello {v, epoch?, since?, token?}`.
 * - `snapshot` resets the store and its position; a `patch` applies only when it
 *   is the next `seq` of the same `epoch`. Older ones are duplicates (dropped);
 *   a jump is a gap: `resync.needed` makes the chart forget the store's position
 *   and send a fresh `hello` without `since`, which brings a snapshot.
 * - `op` frames wait in the outbox until their `ack` and are re-sent after a
 *   reconnect; the server applies each `id` once.
 */
import type { InboundEvent, Protocol } from '../protocol.js';
import type { Store, StoreData, SyncPosition } from '../store.js';
import type { Model } from '../types.js';
import type { Changes, HelloFrame } from './messages.js';
import { PROTOCOL_VERSION, opFrame, parseServerFrame } from './messages.js';

export interface SyncProtocolOptions {
  /**
   * Sent in every `hello`: a string, or a function called for every connection.
   * @default none
   */
  token?: string | (() => string | undefined);
}

/** Something that knows its position in the change stream: `createStore()` does. */
type Positioned = Pick<Store, 'position' | 'forgetPosition'>;

function isPositioned(model: unknown): model is Positioned {
  return (
    typeof (model as Partial<Positioned>).position === 'function' &&
    typeof (model as Partial<Positioned>).forgetPosition === 'function'
  );
}

function positionOf(model: unknown): SyncPosition | null {
  if (!isPositioned(model)) {
    throw new TypeError('the sync protocol needs a model with position() and forgetPosition(): use createStore()');
  }
  return model.position();
}

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

export function createSyncProtocol(options: SyncProtocolOptions = {}): Protocol<StoreData> {
  const tokenOf = () => (typeof options.token === 'function' ? options.token() : options.token);

  return {
    name: 'statesocket',
    ping: '{"type":"ping"}',

    greeting(_context, model: Model<StoreData>) {
      const hello: HelloFrame = { type: 'hello', v: PROTOCOL_VERSION };
      const position = positionOf(model);
      if (position !== null) {
        hello.epoch = position.epoch;
        hello.since = position.seq;
      }
      const token = tokenOf();
      if (token !== undefined) hello.token = token;
      return [JSON.stringify(hello)];
    },

    decode(message, model, pending): InboundEvent | InboundEvent[] {
      const parsed = parseServerFrame(message);
      if (!parsed.ok) throw new Error(`not a sync protocol frame: ${parsed.problem}`);
      const frame = parsed.frame;
      switch (frame.type) {
        case 'snapshot':
          return { type: 'message.received', message: frame };
        case 'patch': {
          // Every pending message is a sequenced snapshot or patch that decoded as data.
          const position = (pending[pending.length - 1] as SyncPosition | undefined) ?? positionOf(model);
          // No position: a snapshot is on its way (after a hello without `since`).
          if (position === null || position.epoch !== frame.epoch) return [];
          if (frame.seq <= position.seq) return []; // a duplicate (replayed twice)
          if (frame.seq > position.seq + 1) {
            return { type: 'resync.needed', reason: `gap: expected seq ${position.seq + 1}, received ${frame.seq}` };
          }
          return { type: 'message.received', message: frame };
        }
        case 'ack':
          return { type: 'ack.received', id: frame.id };
        case 'pong':
          return { type: 'pong.received' };
        case 'error': {
          const rejected: InboundEvent = {
            type: 'message.rejected',
            code: 'ERR_SERVER_REJECTED',
            message: `${frame.code}: ${frame.message}`,
          };
          // A refused op will never apply: settle it so it is not re-sent forever.
          return frame.id === undefined ? rejected : [{ type: 'ack.received', id: frame.id }, rejected];
        }
      }
    },

    resync(model) {
      // The next hello goes without `since`: the server answers with a snapshot.
      if (isPositioned(model)) model.forgetPosition();
    },

    encode(message) {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'op') {
        const withId = { ...(message as Record<string, unknown>) };
        withId.id ??= newOpId();
        const result = opFrame.safeParse(withId);
        if (!result.success) {
          throw new TypeError(`sync protocol: invalid op: ${result.error.issues.map((i) => `${i.path.join('.') || 'op'}: ${i.message}`).join('; ')}`);
        }
        return { frame: JSON.stringify(result.data), ackId: result.data.id };
      }
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ping') {
        return { frame: '{"type":"ping"}' };
      }
      throw new TypeError(
        `sync protocol: send() takes {type: 'op', id?, set?, delete?} (or a ping); received ${JSON.stringify(message)?.slice(0, 80) ?? typeof message}`,
      );
    },
  };
}
