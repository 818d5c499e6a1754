/**
 * The engine: where the sync server keeps what must outlive one connection (issue 14): each
 * channel's document, epoch, seq and log; op marks (docs/protocol.md, "Marks and duplicates");
 * version 1's op records; which user owns a client id; presence with a grace period; leases.
 * One engine object per server process (an "instance"); several instances may share one store
 * (Redis: `statesocket/server/redis`), the memory engine (`memoryEngine()`) is the embedded one.
 *
 * ```
 *   instance A ──append──▶ ┌────────────────────────────┐ ──entries──▶ every follower (A, B, …)
 *   instance B ──append──▶ │ one atomic step per op:     │              in seq order, each once
 *                          │ mark check, next seq, state │
 *                          │ change, log entry, notify   │
 *                          └────────────────────────────┘
 * ```
 *
 * The instance keeps, per channel it serves, a followed copy (document, seq, a bounded log for
 * replay), fed by `follow` in seq order. It checks the value rule against that copy, then
 * appends; the engine decides everything that needs shared state (marks, records, seq, the
 * document's size limit) atomically: two instances appending at once can never take a document
 * over `maxDataBytes` together.
 *
 * Answers: every method returns its result or a promise of it (`Answer<T>`). The memory engine
 * answers at once (the embedded server's path takes no extra turn of the event loop, and the
 * simulator keeps its order); a networked engine answers with promises. The server treats both
 * alike. A method may throw (or its promise reject): with `EngineUnavailableError` when the store
 * cannot be reached (the instance then closes its clients with 1013 until `onStatus` says
 * `available`), with any other error when the change could not be kept (the memory engine's data
 * file write failed: nothing was changed; the server closes that op's connection with 1011 so the
 * client sends it again).
 */
import type { Json } from '../store.js';
import type { Changes } from '../sync/messages.js';
import type { PresenceMember } from '../sync/messages-v2.js';

/** A result now, or a promise of it (see the file's comment: "Answers"). */
export type Answer<T> = T | PromiseLike<T>;

/** One entry of a channel's log: the change that made `seq`. */
export interface ChannelEntry {
  seq: number;
  /** The change, as validated by the instance that appended it (`set` and/or `delete`). */
  changes: Changes;
}

/** A channel's state as a follower starts from (and after a `reset`). */
export interface ChannelState {
  /** Changes only when the channel's stream or state was lost (or, in memory, when it was unloaded). */
  epoch: string;
  /** The seq of the last change applied to `data` (0: none in this epoch). */
  seq: number;
  /** The document at `seq`. The follower owns it (a copy, or the engine never touches it again). */
  data: Record<string, Json>;
  /** The channel's presence members now, in no particular order. */
  members: EngineMember[];
}

/** A presence member as the engine keeps it: the frame's fields and its key (user and client id: see marks.ts `markKey`). */
export interface EngineMember extends PresenceMember {
  key: string;
}

/** A change in a channel's presence, told to every follower (the instance that made it too). */
export type PresenceChange = { type: 'join'; member: EngineMember } | { type: 'leave'; member: EngineMember };

/**
 * What a follower is told about its channel. Calls for one channel never overlap and come in
 * order: `entries` with every entry after the state `follow` returned, each once, seqs rising by
 * one with no gap; `reset` when the epoch changed underneath (the store lost the channel: the
 * follower starts again from `state`). A listener must not throw (the engine ignores a throw).
 */
export interface ChannelListener {
  entries(epoch: string, entries: readonly ChannelEntry[]): void;
  reset(state: ChannelState): void;
  presence(change: PresenceChange): void;
}

/** What `follow` resolves to: the state to start from, and how to stop. */
export interface Following extends ChannelState {
  /**
   * No more calls to the listener after it; the last follower gone, the memory engine unloads the
   * channel (a new epoch at the next follow). A plain function: the server keeps only it (called
   * without its object) and lets the rest, a copy of the document, go.
   */
  readonly unfollow: () => Answer<void>;
}

/** Who sent a version 2 op: its mark key, the owner the eviction rule counts it for, its number and `re` (docs/protocol.md, "Marks and duplicates"). */
export interface OpMark {
  /** User and client id (marks.ts `markKey`). */
  key: string;
  /** The user, or the address group without per-user tokens: the eviction rule's owner. */
  owner: string;
  n: number;
  /** The op's `re` (the client's resend hint), when it carried one. */
  re?: number;
  /** The instance's time for the mark (never goes back on one instance). */
  at: number;
}

/** A version 1 op: its id and the owner of its record entry (ConnectInfo.owner). */
export interface V1Op {
  id: string;
  owner: string;
}

/** What a duplicate op (at or below its mark, or a known version 1 id) is answered with. */
export type DuplicateAnswer = { kind: 'ack' } | { kind: 'refusal'; code: string } | { kind: 'forgotten' };

/**
 * The outcome of `append`:
 * - `applied`: the change is the channel's `seq` in `epoch` (logged, and told to every follower);
 * - `duplicate`: nothing changed; answer the op with `answer` (version 1: `ack`, or the recorded `refusal`);
 * - `forgotten` (version 2): the mark is unknown and `re` is at or below the channel's horizon: the
 *   refusal `ERR_CLIENT_FORGOTTEN` of `n` was recorded instead (the op may have been applied once);
 * - `tooLarge`: the change would make the document `bytes` bytes of JSON, over `limit.maxDataBytes`
 *   and larger than it is: not applied; an op's refusal `ERR_DATA_LIMIT` was recorded instead (as
 *   `refuse` records one: a resend gets it as a `duplicate`); a server change records nothing;
 * - `full`: the channel stores nothing and the store holds `maxStoredChannels` channels: nothing recorded (`ERR_STORAGE_FULL`);
 * - `deferred` (version 1): the op id record is full of young ids and this owner holds the most: nothing recorded (close 1013).
 */
export type AppendResult =
  | { status: 'applied'; epoch: string; seq: number }
  | { status: 'tooLarge'; bytes: number }
  | { status: 'duplicate'; answer: DuplicateAnswer }
  | { status: 'forgotten' }
  | { status: 'full' }
  | { status: 'deferred' };

/** The document's size limit, as `append` is given it (the server's `maxDataBytes`). */
export interface DocumentLimit {
  /** UTF-8 bytes of the document's JSON: a change that would take it past this, and make it larger, is refused (`tooLarge`). */
  maxDataBytes: number;
  /**
   * Each set key's `"key":value` entry in UTF-8 bytes, as the caller measured them (checkChanges):
   * an engine that keeps sizes in this process may use them rather than measure again.
   */
  entryBytes?: ReadonlyMap<string, number>;
}

/**
 * The outcome of `refuse`: `refused` (with the code the op is answered with: the one given, or
 * `ERR_CLIENT_FORGOTTEN`; `recorded` false when it was kept off a channel that stores nothing),
 * or, as for `append`, `duplicate` / `full` / `deferred`.
 */
export type RefuseResult =
  | { status: 'refused'; code: string; recorded: boolean }
  | { status: 'duplicate'; answer: DuplicateAnswer }
  | { status: 'full' }
  | { status: 'deferred' };

/** `onStatus`: the store became unreachable, or reachable again. */
export type EngineStatus = 'available' | 'unavailable';

/** The store cannot be reached: nothing was changed (or, for a promise that rejects after sending, nothing is known: see `append`). */
export class EngineUnavailableError extends Error {
  override readonly name = 'EngineUnavailableError';
  readonly code = 'ERR_ENGINE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The server options that are the engine's own (its records, bounds and retention): with an
 * `engine` of your own the server does not read them, so giving them to the server as well is
 * refused (`engineOwnedOption`); give them to the engine (`memoryEngine({...})`, `redisEngine({...})`).
 */
export const ENGINE_OWNED_OPTIONS = ['dedupSize', 'dedupRetentionMs', 'maxClientsPerChannel', 'markRetentionMs', 'maxRefusalsPerClient', 'maxClientIds', 'maxStoredChannels'] as const;

/** Throws `TypeError` naming the first engine-owned option given with `engine`, and where it belongs (`caller` first, when given). */
export function refuseEngineOwnedOptions(caller: string | undefined, options: object): void {
  if ((options as { engine?: unknown }).engine === undefined) return;
  const given = ENGINE_OWNED_OPTIONS.find((name) => (options as Record<string, unknown>)[name] !== undefined);
  if (given === undefined) return;
  throw new TypeError(
    `${caller === undefined ? '' : `${caller}: `}${given} is the engine's option, and with engine the server does not read it; give it to the engine instead (memoryEngine({ ${given} }) or redisEngine({ ${given} }) from statesocket/server/redis)`,
  );
}

export interface Engine {
  /**
   * Loads `channel` (a channel the store has no epoch for gets a new one at seq 0, its document
   * and marks kept) and calls `listener` with every later change, from any instance, in seq order
   * (see `ChannelListener`). Several follows of one channel, on one instance or many, each get
   * every entry. Rejects (`EngineUnavailableError`) when the store cannot be reached.
   */
  follow(channel: string, listener: ChannelListener): Answer<Following>;

  /**
   * ONE atomic step: judge the op's mark (version 2: `mark`; `n` at or below it → `duplicate`;
   * no mark and `re` at or below the horizon → `forgotten`) or its id (version 1: `v1`: applied or
   * refused before → `duplicate`; no room → `deferred`), check the stored-channels bound (`full`),
   * then the size limit (`limit`: a change that would take the document past `maxDataBytes` and
   * make it larger is `tooLarge`, an op's refusal recorded), then take the next seq, apply
   * `changes` to the document, raise the mark to `n` at `mark.at` (or record `v1.id`), log the
   * entry and tell every follower. A server change (the feed, `change()`) has neither `mark` nor
   * `v1`. The value rule is the caller's (checked before): the engine applies what it is given.
   * Without `limit`, no size is refused.
   *
   * Ordering: two appends to one channel get different, consecutive seqs in the order the store
   * takes them; the caller appends one client's ops on one channel one at a time, so they are
   * applied in the client's order. When the result is `applied`, the entry has been (or will be)
   * told to this instance's followers too; the caller acks only after its follower saw it.
   *
   * Rejects with `EngineUnavailableError` when the store is unreachable (a networked store may have
   * applied it: the client's resend is then a duplicate by its mark), with another error when the
   * change could not be kept (nothing changed).
   */
  append(channel: string, changes: Changes, op?: { mark?: OpMark; v1?: V1Op }, limit?: DocumentLimit): Answer<AppendResult>;

  /**
   * True when the engine applies the server's changes of one channel (`append` with neither `mark`
   * nor `v1`) in the order `append` was called, even with several in flight: the server then
   * appends the next before the last has answered (the Redis engine pipelines them). Absent: the
   * server waits for each server change before appending the next.
   */
  readonly keepsServerAppendOrder?: boolean;

  /**
   * Records that op `mark.n` (version 2) or `v1.id` (version 1) is refused for good with `code`,
   * atomically with the same checks as `append` (a duplicate gets its first answer; a forgotten
   * client gets `ERR_CLIENT_FORGOTTEN`, recorded). On a channel that stores nothing (no data, no
   * marks, nothing forgotten), `keepOffEmpty` leaves it unrecorded (`recorded: false`: a
   * subscriber who may not publish leaves nothing behind), and without it a refusal past
   * `maxStoredChannels` is `full`. Rejects as `append` does.
   */
  refuse(channel: string, code: string, op: { mark: OpMark; keepOffEmpty?: boolean } | { v1: V1Op }): Answer<RefuseResult>;

  /**
   * A subscribe of `key` on `channel`: notes its `acked` (refusals at or below it are forgotten)
   * and returns its mark's `n` for the `synced` frame (undefined: no mark).
   */
  subscribed(channel: string, key: string, acked: number | undefined, at: number): Answer<number | undefined>;

  /**
   * A hello of `user` (null without per-user tokens) with `client` at time `at`, atomically: false
   * when the id belongs to another user (the hello is closed with 4423, the owner untouched); else
   * true, and with a user the id is that user's, greeted now.
   */
  claimClient(client: string, user: string | null, at: number): Answer<boolean>;

  /**
   * The entries of `channel` after `since`, oldest first, when `epoch` is the channel's and its log
   * still covers `since` (since ≥ oldest logged seq − 1 and since ≤ seq); undefined otherwise. For
   * replay beyond what the instance holds in memory.
   */
  readLog(channel: string, epoch: string, since: number): Answer<ChannelEntry[] | undefined>;

  /**
   * Optional: the channel's state as the store holds it, read without creating anything (no epoch,
   * no key); undefined when the store has none. For diagnostics (`GET /control/state` of a channel
   * this instance has not loaded); an engine without it is loaded as any channel.
   */
  peek?(channel: string): Answer<ChannelState | undefined>;

  /**
   * `holder` (one subscription of this instance, a unique string) makes `member` present on
   * `channel`: a new member joins (joinedAt = `at`, a `join` told to followers); a member of that
   * key already there (in its grace period, or held elsewhere) continues, untold, now held by
   * `holder`.
   */
  join(channel: string, member: Omit<EngineMember, 'joinedAt'>, holder: string, at: number): Answer<void>;

  /** The member of `key` leaves now (on purpose), if `holder` holds it: a `leave` told to followers. */
  leave(channel: string, key: string, holder: string): Answer<void>;

  /**
   * `holder`'s connection ended: its member, if `holder` still holds it, leaves after `graceMs`
   * unless a `join` of its key comes first. Also what happens, after the grace period, to the
   * members of an instance that died (the engine keeps them alive while their instance runs).
   */
  detach(channel: string, key: string, holder: string, graceMs: number): Answer<void>;

  /**
   * Takes or renews the lease `name` for `owner` (an instance id) for `ttlMs`: true while `owner`
   * holds it, false while another owner's lease runs. At most one owner holds a lease at a time
   * (the feed runs where it is held). Renew well before `ttlMs` passes.
   */
  lease(name: string, owner: string, ttlMs: number): Answer<boolean>;

  /** Gives up the lease if `owner` holds it. */
  releaseLease(name: string, owner: string): Answer<void>;

  /**
   * `listener` is told when the store becomes unreachable and reachable again; returns what stops
   * it. The server stops serving at the first `EngineUnavailableError` (or `unavailable`) and
   * serves again only at `available`: an engine that ever throws `EngineUnavailableError` must
   * say `available` once the store answers again (and may say it when it never said `unavailable`).
   */
  onStatus(listener: (status: EngineStatus) => void): () => void;

  /**
   * The restart fault (`restart()`, `/control/restart`): forgets what a process restart loses. The
   * memory engine forgets epochs, logs and presence (data, marks and records stay); an engine
   * that outlives its instances has nothing to forget and need not have it.
   */
  restartFault?(): void;

  /** Stops its timers and connections; the store keeps everything. Idempotent. */
  close(): Answer<void>;
}
