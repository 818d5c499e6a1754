/**
 * `createStore()`: the default Model. A keyed JSON document that applies
 * `snapshot` and `patch` messages; any other message is kept as `lastMessage`.
 *
 * With the sync protocol, snapshots and patches carry the server's `epoch` and
 * `seq`. Order is the protocol's job, and only the protocol's: it checks each
 * frame's shape and sequence, drops duplicates, detects gaps and resumes. The
 * store applies what it is given, in order, and remembers the last position
 * it applied (`position()`, for whoever shows it).
 *
 * It is also used with `rawProtocol`, where nothing checked the message first,
 * so it checks what it must to apply one safely: `data`, `set` and `delete`
 * have the right shape and no top-level `__proto__` key. That is checked before
 * anything changes, so a rejected message (the store throws, the connection
 * counts it as `ERR_MODEL_REJECTED`) leaves the data exactly as it was.
 */
import type { Model } from './types.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type StoreData = Readonly<Record<string, Json>>;

export interface SnapshotMessage {
  type: 'snapshot';
  data: Record<string, Json>;
  epoch?: string;
  seq?: number;
}

export interface PatchMessage {
  type: 'patch';
  set?: Record<string, Json>;
  delete?: string[];
  epoch?: string;
  seq?: number;
}

/** Where the store is in the server's change stream. */
export interface SyncPosition {
  epoch: string;
  seq: number;
}

export interface Store extends Model<StoreData> {
  /** The `(epoch, seq)` of the last snapshot or patch applied that carried one, or null. */
  position(): SyncPosition | null;
  /** The latest message that was neither a snapshot nor a patch. */
  readonly lastMessage: unknown;
  /** Number of snapshot and patch messages applied. */
  readonly applied: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * A top-level `__proto__` key (JSON.parse makes it an own property) is refused, as the
 * server refuses such ops: copied into another object with `Object.assign` or `obj[key] = v`,
 * it would replace that object's prototype. Only the top level is checked: no deep walk
 * per message on the client's hot path.
 */
const PROTO_KEY = (where: string) => `${where} must not have a "__proto__" key`;

/** Checks what the store needs of a snapshot or patch to apply it; returns what is wrong, or null. */
export function storeMessageProblem(message: Record<string, unknown>): string | null {
  if (message.type === 'snapshot') {
    if (!isRecord(message.data)) return 'snapshot.data must be an object';
    return Object.hasOwn(message.data, '__proto__') ? PROTO_KEY('snapshot.data') : null;
  }
  if (message.set !== undefined && !isRecord(message.set)) return 'patch.set must be an object';
  if (message.set !== undefined && Object.hasOwn(message.set, '__proto__')) return PROTO_KEY('patch.set');
  if (message.delete !== undefined) {
    if (!Array.isArray(message.delete) || !message.delete.every((key) => typeof key === 'string')) {
      return 'patch.delete must be an array of strings';
    }
  }
  return null;
}

/**
 * The store behind `createStore()`. A class: its methods and getters live once on the prototype, where
 * an object literal with getters was a dictionary-mode object with five closures per store (about
 * 0.6 KiB per connection, issue 15).
 */
class MapStore implements Store {
  /**
   * The mutable state, in one object the methods write into, never in fields of `this`: a store used as a
   * prototype (`Object.create(store)`, as the simulator's watcher does) would otherwise get its own stale copies.
   */
  private readonly state: { entries: Map<string, Json>; view: StoreData | null; lastMessage: unknown; applied: number; position: SyncPosition | null };

  constructor(initial: Record<string, Json>) {
    this.state = { entries: new Map<string, Json>(Object.entries(initial)), view: null, lastMessage: undefined, applied: 0, position: null };
  }

  update(message: unknown): void {
    const state = this.state;
    if (!isRecord(message) || (message.type !== 'snapshot' && message.type !== 'patch')) {
      state.lastMessage = message;
      return;
    }
    const problem = storeMessageProblem(message);
    if (problem !== null) throw new TypeError(`createStore: ${problem}`);
    const entries = state.entries;
    if (message.type === 'snapshot') {
      entries.clear();
      for (const [key, value] of Object.entries(message.data as Record<string, Json>)) entries.set(key, value);
    } else {
      for (const key of (message.delete as string[] | undefined) ?? []) entries.delete(key);
      for (const [key, value] of Object.entries((message.set as Record<string, Json> | undefined) ?? {})) {
        entries.set(key, value);
      }
    }
    if (typeof message.epoch === 'string' && typeof message.seq === 'number') state.position = { epoch: message.epoch, seq: message.seq };
    state.applied++;
    state.view = null;
  }

  position(): SyncPosition | null {
    return this.state.position;
  }

  /** The document as a frozen object; the same object until the next change. */
  getData(): StoreData {
    const state = this.state;
    state.view ??= Object.freeze(Object.fromEntries(state.entries));
    return state.view;
  }

  get lastMessage(): unknown {
    return this.state.lastMessage;
  }

  get applied(): number {
    return this.state.applied;
  }
}

export function createStore(initial: Record<string, Json> = {}): Store {
  return new MapStore(initial);
}
