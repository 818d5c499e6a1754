/**
 * `memoryEngine()`: the embedded engine (engine.ts), the default of `createSyncServer` and
 * `statesocket-server`. Everything lives in this process: each channel's document and marks
 * (kept by the data file through `onChange`), its epoch and log while someone follows it,
 * version 1's op records, client ids' users, presence with its grace timers, leases.
 *
 * Every method answers at once (no promise): the server's path for an op is as short as it was
 * before engines. Followers are told of an entry inside `append`, before it returns, so the
 * server has delivered the patch before it sends the ack.
 *
 * A channel nobody follows has no epoch: its next `follow` starts a new one at seq 0 with an
 * empty log (today's "a load starts a new epoch"). Several server instances may share one memory
 * engine (the simulator): each follows what it serves.
 */
import type { Json } from '../../store.js';
import type { Changes } from '../../sync/messages.js';
import { DEFAULT_CHANNEL, DEFAULT_V2_LIMITS, ErrorCodeV2 } from '../../sync/messages-v2.js';
import { utf8Length } from '../../frames.js';
import { DEFAULT_VALUE_LIMITS, documentBytes, jsonStringBytes, measureDocument } from '../../sync/values.js';
import { applyChanges, bytesAfter, bytesOf, type ChannelDocument } from '../document.js';
import { ClientOwners, ownersFromMarks } from '../client-owners.js';
import type { AppendResult, ChannelEntry, ChannelListener, DocumentLimit, Engine, EngineMember, EngineStatus, Following, OpMark, PresenceChange, RefuseResult, V1Op } from '../engine.js';
import { ChannelMarks, type PersistedMarks } from '../marks.js';
import { createOpRecord } from '../op-record.js';
import {
  DEFAULT_DEDUP_RETENTION_MS,
  DEFAULT_MAX_CLIENT_IDS,
  DEFAULT_MAX_DATA_BYTES,
  DEFAULT_MAX_STORED_CHANNELS,
  InitialStateError,
  type PersistedChannel,
  type PersistedState,
} from '../stored-state.js';

/** Timers for presence grace (the server passes its own clock). */
export interface MemoryEngineTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface MemoryEngineOptions {
  /** State to start from (the data file). Throws `InitialStateError` for data the value rule or `maxDataBytes` refuses. */
  initial?: PersistedState;
  /**
   * Called after every change to the stored state (see `SyncServerOptions.onChange`): `'change'`
   * (an applied change: throwing undoes it, and `append` throws), `'refusal'` (a refusal recorded:
   * throwing undoes it, and `refuse` throws), `'client'` (a client id's user: a throw is ignored).
   */
  onChange?: (state: () => PersistedState, what: 'change' | 'refusal' | 'client') => void;
  /** Entries kept per followed channel for `readLog`. @default 1000 */
  logSize?: number;
  /** The initial data's bound, as the server's. @default DEFAULT_MAX_DATA_BYTES */
  maxDataBytes?: number;
  /** The initial data's nesting bound. @default DEFAULT_VALUE_LIMITS.maxValueDepth */
  maxValueDepth?: number;
  /** @default DEFAULT_V2_LIMITS.maxClientsPerChannel */
  maxClientsPerChannel?: number;
  /** @default DEFAULT_V2_LIMITS.markRetentionMs */
  markRetentionMs?: number;
  /** @default DEFAULT_V2_LIMITS.maxRefusalsPerClient */
  maxRefusalsPerClient?: number;
  /** @default DEFAULT_MAX_CLIENT_IDS */
  maxClientIds?: number;
  /** Version 1 op ids kept (see `SyncServerOptions.dedupSize`). @default 10000 */
  dedupSize?: number;
  /** @default DEFAULT_DEDUP_RETENTION_MS */
  dedupRetentionMs?: number;
  /** @default DEFAULT_MAX_STORED_CHANNELS */
  maxStoredChannels?: number;
  /** Random source for epochs. @default Math.random */
  random?: () => number;
  /** The clock of op records and leases. @default Date.now */
  now?: () => number;
  /** @default the global timers (unref'd) */
  timers?: MemoryEngineTimers;
  /** Counts marks forgotten (the server passes its counters). */
  counters?: { marksForgotten: number };
}

/** A stored channel: its document and marks always; its epoch, log, followers and members while followed. */
interface StoredChannel extends ChannelDocument {
  readonly name: string;
  /**
   * `NO_DATA` (with `NO_SIZES`) while it never held a key: most followed channels start empty
   * (issue 14, heap per channel). Replaced, not only changed, so a reader of the document reads
   * `data` and `sizes` through the channel each time (see `followedDocument`).
   */
  data: Map<string, Json>;
  sizes: Map<string, number>;
  /** Made at the first mark (a channel only read or fed by the server has none). */
  marks: ChannelMarks | undefined;
  epoch: string | undefined;
  seq: number;
  /** `NO_ENTRIES` until its first entry (the server's own engine keeps none: `logSize: 0`). */
  log: ChannelEntry[];
  head: number;
  /**
   * Replaced, never changed in place: a listener told may follow or unfollow, and the telling goes
   * on over the array it began with, with no copy per entry (issue 14, scenario 11 (b)).
   */
  followers: readonly ChannelListener[];
  /** Made at the first join (most channels never have a member). */
  members: Map<string, { member: EngineMember; holder: string | null; graceTimer: unknown }> | undefined;
}

const SYSTEM_TIMERS: MemoryEngineTimers = {
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The document and sizes of a channel that never held a key (one pair for all, never written: `append` makes its own first). */
const NO_DATA: ReadonlyMap<string, Json> = new Map();
const NO_SIZES: ReadonlyMap<string, number> = new Map();

/** A channel's log while it has no entry (one array for all, never pushed to). */
const NO_ENTRIES: ChannelEntry[] = [];

/** A channel's followers while it has none (one array for all). */
const NO_FOLLOWERS: readonly ChannelListener[] = Object.freeze([]);

/** The owner of the op ids loaded from the data file (session owners are `address …` or `session …`). */
const LOADED_OWNER = 'data file';

export function newEpoch(random: () => number): string {
  const part = () => Math.floor(random() * 2 ** 32).toString(36).padStart(7, '0');
  return part() + part();
}

/**
 * The caller's sizes as they are, when they are the whole change's (each set key measured, as the
 * server's changes and ops always come): no map of its own per change (issue 14); else measured here.
 */
function entryBytesOf(changes: Changes, given: ReadonlyMap<string, number> | undefined): ReadonlyMap<string, number> {
  const set = changes.set;
  if (set === undefined) return NO_SIZES;
  if (given !== undefined) {
    let count = 0;
    for (const key of Object.keys(set)) {
      if (!given.has(key)) {
        count = -1;
        break;
      }
      count++;
    }
    // Only read (by `bytesAfter` and `applyChanges`): the map stays the caller's as it was.
    if (count === given.size) return given;
  }
  const own = new Map<string, number>();
  for (const key of Object.keys(set)) own.set(key, jsonStringBytes(key) + 1 + utf8Length(JSON.stringify(set[key])));
  return own;
}

/**
 * What puts the keys `changes` touch back as they were (values and sizes), for a write that may
 * fail. A key set again moves to the document's end, and stays there when undone.
 */
function undoFor(channel: StoredChannel, changes: Changes): () => void {
  const before = new Map<string, { value: Json; size: number } | undefined>();
  const remember = (key: string) => {
    if (before.has(key)) return;
    const size = channel.sizes.get(key);
    before.set(key, size === undefined ? undefined : { value: channel.data.get(key) as Json, size });
  };
  for (const key of changes.delete ?? []) remember(key);
  for (const key of Object.keys(changes.set ?? {})) remember(key);
  const entrySum = channel.entrySum;
  return () => {
    for (const [key, was] of before) {
      if (was === undefined) {
        channel.data.delete(key);
        channel.sizes.delete(key);
      } else {
        channel.data.set(key, was.value);
        channel.sizes.set(key, was.size);
      }
    }
    channel.entrySum = entrySum;
  };
}

/** Each memory engine's way to the document of a channel it keeps (see `followedDocument`). */
const documents = new WeakMap<MemoryEngine, (channel: string) => ChannelDocument | undefined>();

/**
 * The document `engine` keeps for `channel` while it is followed, to read in place: for the
 * server that made the engine (`createSyncServer` without `engine`), its only follower, whose
 * followed copy then keeps no document of its own (issue 14: one document per channel, not two;
 * docs/server.md, "Engines"). The engine changes it before it tells its followers the
 * entry, within `append`: a copy reading it is at its seq again once told. Not for a memory
 * engine shared by instances (each keeps its own copy there). Undefined while nobody follows it.
 */
export function followedDocument(engine: MemoryEngine, channel: string): ChannelDocument | undefined {
  return documents.get(engine)?.(channel);
}

/** The memory engine: an `Engine` plus what only an in-process store can give (the data file's state). */
export interface MemoryEngine extends Engine {
  /** The state the data file keeps, built when called. */
  persisted(): PersistedState;
  /** The latest time the stored state used (the data file's `time`): the server's times start no lower. */
  readonly clockFloor: number;
  /** Forgets epochs, logs and presence, as a process restart does; data, marks and records stay. */
  restartFault(): void;
  /** The channels it knows: stored (data, marks) or followed. */
  channelNames(): string[];
}

export function memoryEngine(options: MemoryEngineOptions = {}): MemoryEngine {
  const V2 = DEFAULT_V2_LIMITS;
  const now = options.now ?? Date.now;
  const timers = options.timers ?? SYSTEM_TIMERS;
  const random = options.random ?? Math.random;
  const logSize = options.logSize ?? 1000;
  const maxDataBytes = options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
  const maxValueDepth = options.maxValueDepth ?? DEFAULT_VALUE_LIMITS.maxValueDepth;
  const maxStoredChannels = options.maxStoredChannels ?? DEFAULT_MAX_STORED_CHANNELS;
  const dedupSize = options.dedupSize ?? 10_000;
  const dedupRetentionMs = options.dedupRetentionMs ?? DEFAULT_DEDUP_RETENTION_MS;
  const markLimits = {
    maxClientsPerChannel: options.maxClientsPerChannel ?? V2.maxClientsPerChannel,
    markRetentionMs: options.markRetentionMs ?? V2.markRetentionMs,
    maxRefusalsPerClient: options.maxRefusalsPerClient ?? V2.maxRefusalsPerClient,
  };
  const counters = options.counters ?? { marksForgotten: 0 };
  const initial = options.initial;
  let lastTime = initial?.time ?? 0;
  const seen = (at: number) => {
    if (at > lastTime) lastTime = at;
  };
  let closed = false;

  // ── channels ──
  const channels = new Map<string, StoredChannel>();
  /** Channels that store something (`default` aside): bounded by `maxStoredChannels`. */
  const stored = new Set<StoredChannel>();

  function makeChannel(name: string, data: Record<string, Json> = {}, marks?: PersistedMarks): StoredChannel {
    const measured = measureDocument(data, maxValueDepth);
    const what = name === DEFAULT_CHANNEL ? 'initial data' : `initial data of channel ${name}`;
    if (typeof measured === 'string') {
      throw new InitialStateError(measured.includes('deeper than maxValueDepth') ? 'depth' : 'value', `${what} breaks the value rule: ${measured}`, undefined, name);
    }
    let sum = 0;
    for (const size of measured.values()) sum += size;
    const bytes = documentBytes(sum, measured.size);
    if (bytes > maxDataBytes) throw new InitialStateError('size', `${what} is ${bytes} bytes of JSON, over maxDataBytes (${maxDataBytes})`, bytes, name);
    return {
      name,
      data: measured.size === 0 ? (NO_DATA as Map<string, Json>) : new Map(Object.entries(data)),
      sizes: measured.size === 0 ? (NO_SIZES as Map<string, number>) : measured,
      entrySum: sum,
      marks: marks === undefined ? undefined : new ChannelMarks(markLimits, marks, counters),
      epoch: undefined,
      seq: 0,
      log: NO_ENTRIES,
      head: 0,
      followers: NO_FOLLOWERS,
      members: undefined,
    };
  }

  const marksOf = (entry: PersistedChannel | undefined): PersistedMarks | undefined => {
    if (entry?.marks === undefined && entry?.horizon === undefined) return undefined;
    return entry.horizon === undefined ? { marks: entry.marks ?? [] } : { marks: entry.marks ?? [], horizon: entry.horizon };
  };
  {
    const storedChannels = initial?.channels ?? {};
    channels.set(DEFAULT_CHANNEL, makeChannel(DEFAULT_CHANNEL, initial?.data ?? {}, marksOf(storedChannels[DEFAULT_CHANNEL])));
    for (const name of Object.keys(storedChannels)) {
      if (name === DEFAULT_CHANNEL) continue;
      channels.set(name, makeChannel(name, storedChannels[name]?.data ?? {}, marksOf(storedChannels[name])));
    }
  }

  /** Nothing stored: no data, no marks, nothing forgotten (and not `default`, which always exists). */
  const isEmpty = (channel: StoredChannel): boolean =>
    channel.data.size === 0 && (channel.marks === undefined || (channel.marks.size === 0 && channel.marks.horizon === undefined)) && channel.name !== DEFAULT_CHANNEL;
  const marksOfChannel = (channel: StoredChannel): ChannelMarks => (channel.marks ??= new ChannelMarks(markLimits, undefined, counters));
  const restock = (channel: StoredChannel): void => {
    if (channel.name === DEFAULT_CHANNEL) return;
    if (isEmpty(channel)) stored.delete(channel);
    else stored.add(channel);
  };
  for (const channel of channels.values()) restock(channel);
  const roomFor = (channel: StoredChannel): boolean => channel.name === DEFAULT_CHANNEL || stored.has(channel) || stored.size < maxStoredChannels;

  const channelNamed = (name: string): StoredChannel => {
    let channel = channels.get(name);
    if (channel === undefined) channels.set(name, (channel = makeChannel(name)));
    return channel;
  };

  /** A channel nobody follows keeps no epoch, log or members; one that stores nothing leaves the map. */
  function settle(channel: StoredChannel): void {
    if (channel.followers.length > 0) return;
    channel.epoch = undefined;
    channel.seq = 0;
    channel.log = NO_ENTRIES;
    channel.head = 0;
    for (const entry of channel.members?.values() ?? []) timers.clearTimeout(entry.graceTimer);
    channel.members = undefined;
    if (isEmpty(channel)) channels.delete(channel.name);
  }

  function tell(channel: StoredChannel, call: (listener: ChannelListener) => void): void {
    for (const listener of channel.followers) {
      try {
        call(listener);
      } catch {
        // A listener must not throw (engine.ts); one that does must not stop the others.
      }
    }
  }

  /** `entries` to every follower; `tell` without a closure per change (the feed's hot path, issue 14). */
  function tellEntries(channel: StoredChannel, epoch: string, entries: readonly ChannelEntry[]): void {
    const followers = channel.followers;
    for (let i = 0; i < followers.length; i++) {
      try {
        (followers[i] as ChannelListener).entries(epoch, entries);
      } catch {
        // As in `tell`.
      }
    }
  }


  // ── version 1's op records (see op-record.ts) ──
  const recordOptions = { size: dedupSize, retentionMs: dedupRetentionMs, now };
  const applied = createOpRecord<true>(recordOptions);
  const refused = createOpRecord<string>(recordOptions);
  {
    const longAgo = now() - dedupRetentionMs;
    const ids = initial?.appliedOpIds ?? [];
    const ownerAt = (index: number | undefined) => (index === undefined ? undefined : initial?.opOwners?.[index]) ?? LOADED_OWNER;
    for (let i = Math.max(0, ids.length - dedupSize); i < ids.length; i++) {
      applied.add(ids[i]!, ownerAt(initial?.appliedOpOwners?.[i]), true, initial?.appliedOpTimes?.[i] ?? longAgo);
    }
    for (const op of (initial?.refusedOps ?? []).slice(-dedupSize)) refused.add(op.id, ownerAt(op.owner), op.code, op.at ?? longAgo);
  }

  // ── client ids' users (see client-owners.ts) ──
  const clientOwners = new ClientOwners(
    { maxClientIds: options.maxClientIds ?? DEFAULT_MAX_CLIENT_IDS, retentionMs: markLimits.markRetentionMs },
    initial?.clientOwners ?? ownersFromMarks(Object.values(initial?.channels ?? {}).flatMap((entry) => entry.marks ?? [])),
  );

  function persisted(): PersistedState {
    // Each owner's name is written once (a record of 10 000 ids has few owners), the ids refer to it by index.
    const owners = new Map<string, number>();
    const ownerIndex = (owner: string) => {
      let index = owners.get(owner);
      if (index === undefined) owners.set(owner, (index = owners.size));
      return index;
    };
    const appliedOpIds: string[] = [];
    const appliedOpTimes: number[] = [];
    const appliedOpOwners: number[] = [];
    for (const [id, { at, owner }] of applied.entries()) {
      appliedOpIds.push(id);
      appliedOpTimes.push(at);
      appliedOpOwners.push(ownerIndex(owner));
    }
    const refusedOps = Array.from(refused.entries(), ([id, { value: code, at, owner }]) => ({ id, code, at, owner: ownerIndex(owner) }));
    const storedChannels: Record<string, PersistedChannel> = {};
    for (const channel of channels.values()) {
      const marks = channel.marks?.persisted();
      const entry: PersistedChannel = {};
      if (channel.name !== DEFAULT_CHANNEL) {
        if (channel.data.size === 0 && marks === undefined) continue;
        entry.data = Object.fromEntries(channel.data);
      }
      if (marks !== undefined) {
        entry.marks = marks.marks;
        if (marks.horizon !== undefined) entry.horizon = marks.horizon;
      }
      if (channel.name === DEFAULT_CHANNEL && marks === undefined) continue;
      storedChannels[channel.name] = entry;
    }
    return {
      data: Object.fromEntries((channels.get(DEFAULT_CHANNEL) as StoredChannel).data),
      appliedOpIds,
      appliedOpTimes,
      appliedOpOwners,
      refusedOps,
      opOwners: [...owners.keys()],
      channels: storedChannels,
      time: lastTime,
      clientOwners: clientOwners.persisted(),
    };
  }

  /** Hands the state to `onChange`; its throw propagates (the caller undoes). */
  const write = (what: 'change' | 'refusal') => options.onChange?.(persisted, what);

  /** The answer to a version 2 op at or below its mark, or a forgotten client's; undefined when neither. */
  function judgeMark(channel: StoredChannel, mark: OpMark): { status: 'duplicate'; answer: ReturnType<ChannelMarks['judgeDuplicate']> } | 'forgotten' | undefined {
    const marks = channel.marks;
    if (marks === undefined) return undefined;
    const known = marks.get(mark.key);
    if (known !== undefined && mark.n <= known.n) return { status: 'duplicate', answer: marks.judgeDuplicate(known, mark.n) };
    if (known === undefined && mark.re !== undefined && marks.mayBeForgotten(mark.re)) return 'forgotten';
    return undefined;
  }

  /** Records refusal `code` of `mark.n` (raising the mark) and writes it; undone and rethrown when the write fails. */
  function recordRefusal(channel: StoredChannel, mark: OpMark, code: string): void {
    seen(mark.at);
    const marks = marksOfChannel(channel);
    const undo = marks.raise(mark.key, mark.owner, mark.n, mark.at, code);
    try {
      write('refusal');
    } catch (error) {
      marks.undo(undo);
      throw error;
    }
    restock(channel);
  }

  /** A version 1 id known already: its first answer. */
  function judgeV1(op: V1Op): { status: 'duplicate'; answer: { kind: 'ack' } | { kind: 'refusal'; code: string } } | undefined {
    const code = refused.get(op.id);
    if (code !== undefined) return { status: 'duplicate', answer: { kind: 'refusal', code } };
    if (applied.has(op.id)) return { status: 'duplicate', answer: { kind: 'ack' } };
    return undefined;
  }

  function append(name: string, changes: Changes, op?: { mark?: OpMark; v1?: V1Op }, limit?: DocumentLimit): AppendResult {
    const channel = channelNamed(name);
    const mark = op?.mark;
    const v1 = op?.v1;
    if (mark !== undefined) {
      const judged = judgeMark(channel, mark);
      if (judged === 'forgotten') {
        recordRefusal(channel, mark, ErrorCodeV2.CLIENT_FORGOTTEN);
        return { status: 'forgotten' };
      }
      if (judged !== undefined) return judged;
    }
    if (v1 !== undefined) {
      const judged = judgeV1(v1);
      if (judged !== undefined) return judged;
      if (!applied.admit(v1.owner)) {
        if (channel.followers.length === 0) settle(channel);
        return { status: 'deferred' };
      }
    }
    const entryBytes = entryBytesOf(changes, limit?.entryBytes);
    const bytes = bytesAfter(channel, changes, entryBytes);
    if (limit !== undefined && bytes > limit.maxDataBytes && bytes > bytesOf(channel)) return tooLarge(channel, bytes, mark, v1);
    if (!roomFor(channel)) {
      if (channel.followers.length === 0) settle(channel);
      return { status: 'full' };
    }
    if (channel.data === NO_DATA) {
      channel.data = new Map();
      channel.sizes = new Map();
    }
    // Without onChange nothing can fail after this: no undo to keep.
    const undoData = options.onChange === undefined ? undefined : undoFor(channel, changes);
    applyChanges(channel, changes, entryBytes);
    let undoMark: ReturnType<ChannelMarks['raise']> | undefined;
    if (mark !== undefined) {
      seen(mark.at);
      undoMark = marksOfChannel(channel).raise(mark.key, mark.owner, mark.n, mark.at);
    }
    if (v1 !== undefined) applied.add(v1.id, v1.owner, true);
    try {
      write('change');
    } catch (error) {
      undoData?.();
      if (undoMark !== undefined) channel.marks?.undo(undoMark);
      if (v1 !== undefined) applied.delete(v1.id);
      if (channel.followers.length === 0) settle(channel);
      throw error;
    }
    if (v1 !== undefined) applied.trim();
    restock(channel);
    // A channel nobody follows is appended to in an epoch of its own (the next follow starts another).
    channel.epoch ??= newEpoch(random);
    const entry: ChannelEntry = { seq: ++channel.seq, changes };
    const epoch = channel.epoch;
    if (channel.followers.length === 0) {
      settle(channel);
      return { status: 'applied', epoch, seq: entry.seq };
    }
    if (logSize > 0) {
      if (channel.log === NO_ENTRIES) channel.log = [];
      channel.log.push(entry);
      if (channel.log.length - channel.head > logSize) channel.head++;
      if (channel.head > 64 && channel.head * 2 > channel.log.length) {
        channel.log = channel.log.slice(channel.head);
        channel.head = 0;
      }
    }
    tellEntries(channel, epoch, [entry]);
    return { status: 'applied', epoch, seq: entry.seq };
  }

  /** A change over the data limit: an op's refusal `ERR_DATA_LIMIT` recorded as `refuse` records it; a server change's nothing. */
  function tooLarge(channel: StoredChannel, bytes: number, mark: OpMark | undefined, v1: V1Op | undefined): AppendResult {
    if (mark === undefined && v1 === undefined) {
      if (channel.followers.length === 0) settle(channel);
      return { status: 'tooLarge', bytes };
    }
    const refusal = refuse(channel.name, ErrorCodeV2.DATA_LIMIT, mark !== undefined ? { mark } : { v1: v1 as V1Op });
    if (refusal.status === 'refused') return { status: 'tooLarge', bytes };
    return refusal; // full, or deferred (version 1): nothing recorded
  }

  function refuse(name: string, code: string, op: { mark: OpMark; keepOffEmpty?: boolean } | { v1: V1Op }): RefuseResult {
    if ('v1' in op) {
      const judged = judgeV1(op.v1);
      if (judged !== undefined) return judged;
      if (!refused.admit(op.v1.owner)) return { status: 'deferred' };
      refused.add(op.v1.id, op.v1.owner, code);
      try {
        write('refusal');
      } catch (error) {
        refused.delete(op.v1.id);
        throw error;
      }
      refused.trim();
      return { status: 'refused', code, recorded: true };
    }
    const channel = channelNamed(name);
    const judged = judgeMark(channel, op.mark);
    const answer = judged === 'forgotten' ? ErrorCodeV2.CLIENT_FORGOTTEN : code;
    if (judged !== undefined && judged !== 'forgotten') return judged;
    if (isEmpty(channel)) {
      // docs/protocol.md, "Refusals on a channel that stores nothing".
      if (op.keepOffEmpty === true || !roomFor(channel)) {
        if (channel.followers.length === 0) settle(channel);
        return op.keepOffEmpty === true ? { status: 'refused', code: answer, recorded: false } : { status: 'full' };
      }
    }
    try {
      recordRefusal(channel, op.mark, answer);
    } finally {
      if (channel.followers.length === 0) settle(channel);
    }
    return { status: 'refused', code: answer, recorded: true };
  }

  function follow(name: string, listener: ChannelListener): Following {
    const channel = channelNamed(name);
    if (channel.epoch === undefined || channel.followers.length === 0) {
      channel.epoch = newEpoch(random);
      channel.seq = 0;
      channel.log = NO_ENTRIES;
      channel.head = 0;
    }
    // A literal of one, not a spread: V8 gives a spread array 17 slots (152 bytes per followed channel, issue 14).
    if (channel.followers.length === 0) channel.followers = [listener];
    else if (!channel.followers.includes(listener)) channel.followers = [...channel.followers, listener];
    let following = true;
    return {
      epoch: channel.epoch,
      seq: channel.seq,
      data: Object.fromEntries(channel.data),
      members: Array.from(channel.members?.values() ?? [], (entry) => entry.member),
      unfollow() {
        if (!following) return;
        following = false;
        channel.followers = channel.followers.length === 1 && channel.followers[0] === listener ? NO_FOLLOWERS : channel.followers.filter((other) => other !== listener);
        settle(channel);
      },
    };
  }

  function removeMember(channel: StoredChannel, key: string): void {
    const entry = channel.members?.get(key);
    if (entry === undefined) return;
    timers.clearTimeout(entry.graceTimer);
    channel.members?.delete(key);
    const change: PresenceChange = { type: 'leave', member: entry.member };
    tell(channel, (listener) => listener.presence(change));
  }

  const leases = new Map<string, { owner: string; until: number }>();
  const statusListeners = new Set<(status: EngineStatus) => void>();

  const engine: MemoryEngine = {
    follow,
    append,
    refuse,
    subscribed(name, key, acked) {
      const channel = channels.get(name);
      if (channel === undefined) return undefined;
      if (acked !== undefined) channel.marks?.noteAcked(key, acked);
      return channel.marks?.get(key)?.n;
    },
    claimClient(client, user, at) {
      seen(at);
      const owner = clientOwners.size === 0 ? undefined : clientOwners.ownerOf(client, at);
      if (owner !== undefined && owner !== user) return false;
      if (user !== null && clientOwners.claim(client, user, at)) {
        try {
          options.onChange?.(persisted, 'client');
        } catch {
          // Kept in memory: the next write carries it.
        }
      }
      return true;
    },
    readLog(name, epoch, since) {
      const channel = channels.get(name);
      if (channel === undefined || channel.epoch !== epoch || since > channel.seq) return undefined;
      const oldest = channel.log.length > channel.head ? (channel.log[channel.head] as ChannelEntry).seq : channel.seq + 1;
      if (since < oldest - 1) return undefined;
      return channel.log.slice(channel.head + (since - oldest + 1));
    },
    join(name, member, holder, at) {
      const channel = channelNamed(name);
      channel.members ??= new Map();
      const existing = channel.members.get(member.key);
      if (existing !== undefined) {
        timers.clearTimeout(existing.graceTimer);
        existing.graceTimer = undefined;
        existing.holder = holder;
        return;
      }
      seen(at);
      const full: EngineMember = { client: member.client, user: member.user, joinedAt: at, key: member.key };
      if (member.info !== undefined) full.info = member.info;
      channel.members.set(member.key, { member: full, holder, graceTimer: undefined });
      const change: PresenceChange = { type: 'join', member: full };
      tell(channel, (listener) => listener.presence(change));
    },
    leave(name, key, holder) {
      const channel = channels.get(name);
      if (channel === undefined || channel.members?.get(key)?.holder !== holder) return;
      removeMember(channel, key);
    },
    detach(name, key, holder, graceMs) {
      const channel = channels.get(name);
      const entry = channel?.members?.get(key);
      if (channel === undefined || entry === undefined || entry.holder !== holder) return;
      entry.holder = null;
      if (graceMs <= 0 || closed) return removeMember(channel, key);
      timers.clearTimeout(entry.graceTimer);
      entry.graceTimer = timers.setTimeout(() => {
        entry.graceTimer = undefined;
        if (entry.holder === null && channel.members?.get(key) === entry) removeMember(channel, key);
      }, graceMs);
    },
    lease(name, owner, ttlMs) {
      const t = now();
      const held = leases.get(name);
      if (held !== undefined && held.owner !== owner && held.until > t) return false;
      leases.set(name, { owner, until: t + ttlMs });
      return true;
    },
    releaseLease(name, owner) {
      if (leases.get(name)?.owner === owner) leases.delete(name);
    },
    onStatus(listener) {
      // In this process: never unreachable.
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    restartFault() {
      for (const channel of [...channels.values()]) {
        channel.followers = NO_FOLLOWERS;
        settle(channel);
      }
      leases.clear();
    },
    close() {
      closed = true;
      for (const channel of channels.values()) {
        for (const entry of channel.members?.values() ?? []) {
          timers.clearTimeout(entry.graceTimer);
          entry.graceTimer = undefined;
        }
      }
    },
    persisted,
    channelNames: () => [...channels.keys()],
    get clockFloor() {
      return lastTime;
    },
  };
  documents.set(engine, (name) => {
    const channel = channels.get(name);
    return channel !== undefined && channel.followers.length > 0 ? channel : undefined;
  });
  return engine;
}
