/**
 * One channel as the sync server serves it (docs/protocol.md, "Channels", "Epochs and sequence
 * numbers"): its followed copy (document, epoch, seq, bounded replay log, presence members, fed
 * by the engine's `follow` in seq order: engine.ts) and who holds it. No I/O and no sessions:
 * the server (sync-server.ts) applies the engine's entries through it and sends its frames. A
 * channel is **loaded** while it has an epoch (the server follows it); unloading drops the copy
 * (the engine keeps the document and the marks), so its next load starts from the engine again.
 */
import { utf8Length } from '../frames.js';
import type { Json } from '../store.js';
import { checkChanges, measureDocument, type CheckedChanges, type ValueLimits } from '../sync/values.js';
import { applyChanges, bytesOf, type ChannelDocument } from './document.js';
import type { ChannelEntry, ChannelState, EngineMember } from './engine.js';

export type Checked = Extract<CheckedChanges, { ok: true }>;

/** A change refused by the value rule (`ERR_INVALID_FRAME`). */
export type Refusal = [code: 'ERR_INVALID_FRAME', message: string];

/** A version 2 subscription as a channel sees it: where its frames go. */
/** The timers a bounded wait uses (the server's own: real, or a test's). */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface Subscriber {
  /** Sends one frame of this channel (text of `bytes` UTF-8 bytes). */
  deliver(text: string, bytes: number, bulk?: boolean): void;
  /** Sees and is part of the presence list. */
  presence: boolean;
  /** The member key of its client (user and client id: see marks.ts `markKey`). */
  readonly memberKey: string;
}

/** A version 1 session on the `default` channel: it receives frames without `channel`. */
export interface V1Holder {
  deliver(text: string, bytes: number): void;
}

/** A presence member as the engine told it, with its JSON as in `presence`/`join` (built once). */
export interface Member extends EngineMember {
  json: string;
}

export interface LogEntry {
  seq: number;
  /** The version 2 patch frame's JSON, stringified once for every subscriber and every replay. */
  text: string;
  bytes: number;
  /** The version 1 frame (`default` only), built on first use. */
  v1: string | undefined;
}

export interface ChannelLimits {
  logSize: number;
  maxDataBytes: number;
  value: ValueLimits;
}

/** The document of a copy not loaded (never written: `start` gives the copy one). */
const NO_DOCUMENT: ChannelDocument = Object.freeze({ data: new Map<string, Json>(), sizes: new Map<string, number>(), entrySum: 0 }) as ChannelDocument;

export class Channel {
  /** Undefined while unloaded. */
  epoch: string | undefined;
  seq = 0;
  /**
   * The document at `seq` (document.ts): the copy's own, or, on the server's own memory engine,
   * the engine's, read in place (`start`): one document per channel, not two (issue 14).
   */
  private doc: ChannelDocument = NO_DOCUMENT;
  /** `doc` is the engine's: the engine applies each entry to it before telling the copy. */
  private docShared = false;
  /** The replay log: `log[head..]` are live (a head index, compacted now and then, so no op copies it). */
  private log: LogEntry[] = [];
  private head = 0;
  private logBytes = 0;
  readonly subscribers = new Set<Subscriber>();
  readonly v1 = new Set<V1Holder>();
  readonly members = new Map<string, Member>();
  /** Stops the engine's follow (set while loaded); `loading` while the follow is pending. */
  unfollow: (() => unknown) | undefined = undefined;
  loading: PromiseLike<boolean> | undefined = undefined;
  /** Acks waiting for their entry to reach this copy (see `delivered`), by seq. */
  private waiters: Array<{ epoch: string; seq: number; done: (delivered: boolean) => void }> = [];
  /** When it last lost its last holder (for the idle rule), or was loaded. */
  idleSince = 0;
  idleTimer: unknown = undefined;
  private snapshotCache: { seq: number; text: string; bytes: number } | undefined;
  private v1SnapshotCache: { seq: number; text: string; bytes: number } | undefined;
  /** `{"type":"patch","channel":"NAME",` : what a version 1 frame leaves out. */
  private readonly patchPrefix: string;
  /** The name as JSON (quoted), for frames built as text. */
  readonly quotedName: string;
  /** Where `"seq":` starts in a logged patch's text (the same for every patch of the epoch). */
  seqOffset = 0;

  constructor(
    readonly name: string,
    private readonly limits: ChannelLimits,
  ) {
    this.quotedName = JSON.stringify(name);
    this.patchPrefix = `{"type":"patch","channel":${this.quotedName},`;
  }

  get loaded(): boolean {
    return this.epoch !== undefined;
  }

  /** UTF-8 bytes of the document's JSON (kept incrementally). */
  get dataBytes(): number {
    return bytesOf(this.doc);
  }

  /** The document at `seq` (empty while unloaded). */
  get data(): ReadonlyMap<string, Json> {
    return this.doc.data;
  }

  /** Whether anyone holds it: a subscriber, a version 1 session, or a member in its grace period. */
  get held(): boolean {
    return this.subscribers.size > 0 || this.v1.size > 0 || this.members.size > 0;
  }

  /**
   * Starts the copy from the engine's state (a load, or a reset): its epoch, seq, document and
   * members, an empty log. With `shared`, the engine's document at `state.seq` (the memory
   * engine's `followedDocument`), the copy reads that one and keeps none of its own; else it
   * copies `state.data`. Throws `RangeError` for a document the value rule refuses (an engine's
   * bug: what it holds was checked before it was appended).
   */
  start(state: ChannelState, shared?: ChannelDocument): void {
    if (shared !== undefined) {
      this.doc = shared;
      this.docShared = true;
    } else {
      const measured = measureDocument(state.data, this.limits.value.maxValueDepth);
      if (typeof measured === 'string') throw new RangeError(`channel ${this.name}: the engine's data breaks the value rule: ${measured}`);
      let entrySum = 0;
      for (const size of measured.values()) entrySum += size;
      this.doc = { data: new Map(Object.entries(state.data)), sizes: measured, entrySum };
      this.docShared = false;
    }
    this.members.clear();
    for (const member of state.members) this.members.set(member.key, withJson(member));
    this.epoch = state.epoch;
    this.seqOffset = this.patchPrefix.length + `"epoch":${JSON.stringify(state.epoch)},`.length;
    this.seq = state.seq;
    this.log = [];
    this.head = 0;
    this.logBytes = 0;
    this.snapshotCache = undefined;
    this.v1SnapshotCache = undefined;
    this.settleWaiters();
  }

  /** Drops the copy: epoch, log, data, members, caches (the engine keeps the channel). */
  unload(): void {
    this.epoch = undefined;
    this.unfollow = undefined;
    this.seq = 0;
    this.log = [];
    this.head = 0;
    this.logBytes = 0;
    this.doc = NO_DOCUMENT;
    this.docShared = false;
    this.members.clear();
    this.snapshotCache = undefined;
    this.v1SnapshotCache = undefined;
    this.settleWaiters();
  }

  /**
   * Whether the entry `seq` of `epoch` has reached this copy (so its patch went to every holder):
   * true at once, or a promise of true when it arrives, of false when the copy starts another
   * epoch or unloads first.
   */
  delivered(epoch: string, seq: number): boolean | Promise<boolean> {
    if (epoch !== this.epoch) return false;
    if (seq <= this.seq) return true;
    return new Promise((done) => this.waiters.push({ epoch, seq, done }));
  }

  /**
   * `delivered` for a position a client claims (it may never come): false after `ms`, and then
   * nothing of the wait stays behind (a client repeating a far-ahead position grows nothing).
   */
  deliveredWithin(epoch: string, seq: number, ms: number, timers: Timers): boolean | Promise<boolean> {
    if (epoch !== this.epoch) return false;
    if (seq <= this.seq) return true;
    return new Promise((resolve) => {
      const waiter = {
        epoch,
        seq,
        done: (reached: boolean) => {
          timers.clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer = timers.setTimeout(() => {
        this.waiters = this.waiters.filter((other) => other !== waiter);
        resolve(false);
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** Waits for an entry to reach this copy (`delivered`, `deliveredWithin`), for tests and stats. */
  get waiting(): number {
    return this.waiters.length;
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      // another epoch (a reset) or none (unloaded): the entry waited for will never reach this copy
      if (this.epoch !== waiter.epoch) waiter.done(false);
      else if (waiter.seq <= this.seq) waiter.done(true);
      else this.waiters.push(waiter);
    }
  }

  /** After an entry was applied: wakes the acks it lets go. */
  entryApplied(): void {
    if (this.waiters.length > 0) this.settleWaiters();
  }

  /**
   * The value rule; a refusal as [code, message]. The data limit is the engine's, judged in its
   * append against the document every instance shares (engine.ts `DocumentLimit`).
   */
  validate(input: unknown): Checked | Refusal {
    const checked = checkChanges(input, this.limits.value);
    return checked.ok ? checked : ['ERR_INVALID_FRAME', checked.problem];
  }

  /** The message of a change the engine refused over the data limit (`tooLarge`: the document would be `bytes`). */
  tooLargeMessage(bytes: number): string {
    return `the change would make channel ${this.name}'s document ${bytes} bytes of JSON, over maxDataBytes (${this.limits.maxDataBytes}); delete keys first`;
  }

  /** Applies a validated change to the copy as `seq` (the engine's entry); a shared document has it already. */
  apply(checked: Checked, seq: number): void {
    if (!this.docShared) applyChanges(this.doc, checked.changes, checked.entryBytes);
    this.seq = seq;
  }

  /**
   * The patch of the change just staged (seq = `this.seq`), appended to the log. The log keeps at
   * most `logSize` patches and at most `maxDataBytes` of them: a client further behind than a
   * whole document's worth of patches is better served by a snapshot.
   */
  appendLog(checked: Checked): LogEntry {
    const entry = this.patchEntry(this.seq, checked.changes);
    if (this.limits.logSize === 0) return entry;
    this.log.push(entry);
    this.logBytes += entry.bytes;
    while (this.log.length - this.head > this.limits.logSize || (this.logBytes > this.limits.maxDataBytes && this.log.length - this.head > 1)) {
      this.logBytes -= (this.log[this.head] as LogEntry).bytes;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.log.length) {
      this.log = this.log.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  /** The patch frame of `changes` as `seq` of this epoch (not logged). */
  patchEntry(seq: number, changes: Checked['changes']): LogEntry {
    const frame: Record<string, unknown> = { type: 'patch', channel: this.name, epoch: this.epoch, seq };
    if (changes.set !== undefined) frame.set = changes.set;
    if (changes.delete !== undefined) frame.delete = changes.delete;
    const text = JSON.stringify(frame);
    return { seq, text, bytes: utf8Length(text), v1: undefined };
  }

  /**
   * The patches after `since` that the copy's log no longer (or never) held, from the engine's
   * `readLog` answer: undefined when the copy moved to another epoch, when `entries` do not reach
   * the copy's log, or when they are more than a document's worth of bytes (a snapshot is better).
   */
  olderPatches(epoch: string, since: number, entries: readonly ChannelEntry[]): LogEntry[] | undefined {
    if (epoch !== this.epoch || since > this.seq) return undefined;
    const upTo = Math.min(this.oldestLogged - 1, this.seq);
    if (since >= upTo) return [];
    const older: LogEntry[] = [];
    let bytes = this.logBytes;
    for (const entry of entries) {
      if (entry.seq <= since) continue;
      if (entry.seq > upTo) break;
      if (entry.seq !== since + older.length + 1) return undefined;
      const patch = this.patchEntry(entry.seq, entry.changes);
      bytes += patch.bytes;
      if (bytes > this.limits.maxDataBytes) return undefined;
      older.push(patch);
    }
    return since + older.length === upTo ? older : undefined;
  }

  /** Patches logged, oldest first. */
  get logLength(): number {
    return this.log.length - this.head;
  }

  logAt(index: number): LogEntry {
    return this.log[this.head + index] as LogEntry;
  }

  /** The seq of the oldest logged patch (seq + 1 with an empty log). */
  get oldestLogged(): number {
    return this.log.length > this.head ? (this.log[this.head] as LogEntry).seq : this.seq + 1;
  }

  /** Whether a subscriber at (`epoch`, `since`) can be served by replay. */
  canReplay(epoch: string | undefined, since: number | undefined): boolean {
    return epoch !== undefined && epoch === this.epoch && since !== undefined && since <= this.seq && since >= this.oldestLogged - 1;
  }

  /** The index in the log of the first patch after `since` (the log covers it: see `canReplay`). */
  indexAfter(since: number): number {
    return since - this.oldestLogged + 1;
  }

  /** A logged patch as `changelog` lists it: `{"seq":N,"set":…,"delete":…}` (its patch frame's text from the seq on). */
  loggedPatch(entry: LogEntry): string {
    return `{${entry.text.slice(this.seqOffset)}`;
  }

  /** A version 1 patch frame: the version 2 one without `channel`. */
  v1Text(entry: LogEntry): string {
    entry.v1 ??= `{"type":"patch",${entry.text.slice(this.patchPrefix.length)}`;
    return entry.v1;
  }

  /**
   * The snapshot of the current (epoch, seq), built once and sent to every subscriber until the
   * next change: the same string each time, so a transport can encode it once.
   */
  snapshot(): { text: string; bytes: number } {
    if (this.snapshotCache?.seq !== this.seq) {
      const text = JSON.stringify({ type: 'snapshot', channel: this.name, epoch: this.epoch, seq: this.seq, data: Object.fromEntries(this.doc.data) });
      this.snapshotCache = { seq: this.seq, text, bytes: utf8Length(text) };
    }
    return this.snapshotCache;
  }

  /** The version 1 snapshot (`default` only). */
  v1Snapshot(): { text: string; bytes: number } {
    if (this.v1SnapshotCache?.seq !== this.seq) {
      const text = JSON.stringify({ type: 'snapshot', epoch: this.epoch, seq: this.seq, data: Object.fromEntries(this.doc.data) });
      this.v1SnapshotCache = { seq: this.seq, text, bytes: utf8Length(text) };
    }
    return this.v1SnapshotCache;
  }

  /** The document as a plain object. */
  plainData(): Record<string, Json> {
    return Object.fromEntries(this.doc.data);
  }

  /** The members, ordered by joinedAt, then client id, then user (docs/protocol.md, "Presence"). */
  orderedMembers(): Member[] {
    return [...this.members.values()].sort(
      (a, b) => a.joinedAt - b.joinedAt || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0) || ((a.user ?? '') < (b.user ?? '') ? -1 : (a.user ?? '') > (b.user ?? '') ? 1 : 0),
    );
  }
}

/** The member with its JSON as `presence` and `join` carry it: client, user, info, joinedAt. */
export function withJson(member: EngineMember): Member {
  const plain: Record<string, unknown> = { client: member.client, user: member.user };
  if (member.info !== undefined) plain.info = member.info;
  plain.joinedAt = member.joinedAt;
  return { ...member, json: JSON.stringify(plain) };
}
