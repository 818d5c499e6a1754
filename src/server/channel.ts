/**
 * One channel of the sync server (docs/protocol.md, "Channels", "Epochs and sequence numbers"):
 * its document, epoch, seq, bounded replay log, op marks and presence members, and who holds it.
 * No I/O and no sessions: the server (sync-server.ts) commits changes through it and sends its
 * frames. A channel is **loaded** while it has an epoch (its log and presence live in memory);
 * unloading keeps the document and the marks (the storage) and drops the rest, so its next load
 * starts a new epoch at seq 0.
 */
import { utf8Length } from '../frames.js';
import type { Json } from '../store.js';
import { checkChanges, documentBytes, measureDocument, type CheckedChanges, type ValueLimits } from '../sync/values.js';
import type { PresenceMember } from '../sync/messages-v2.js';
import { ChannelMarks, type MarkLimits, type PersistedMarks } from './marks.js';

export type Checked = Extract<CheckedChanges, { ok: true }>;

/** A change refused by the value rule (`ERR_INVALID_FRAME`) or the data limit (`ERR_DATA_LIMIT`). */
export type Refusal = [code: 'ERR_INVALID_FRAME' | 'ERR_DATA_LIMIT', message: string];

/** A version 2 subscription as a channel sees it: where its frames go. */
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

/** A presence member, with who holds it now (null: its connection ended; the grace timer runs). */
export interface Member extends PresenceMember {
  key: string;
  holder: Subscriber | null;
  graceTimer: unknown;
  /** Its JSON as in `presence`/`join` (built once). */
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
  marks: MarkLimits;
  counters: { marksForgotten: number };
}

/** The value rule walks a loaded document: thrown for a stored document that breaks it. */
export class StoredDataError extends RangeError {
  override readonly name = 'StoredDataError';
  constructor(
    readonly rule: 'depth' | 'value' | 'size',
    message: string,
    readonly bytes?: number,
  ) {
    super(message);
  }
}

export class Channel {
  /** Undefined while unloaded. */
  epoch: string | undefined;
  seq = 0;
  readonly data: Map<string, Json>;
  /** Per key, its `"key":value` entry's UTF-8 bytes: the document's size without stringifying it. */
  private readonly sizes: Map<string, number>;
  private entrySum = 0;
  /** The replay log: `log[head..]` are live (a head index, compacted now and then, so no op copies it). */
  private log: LogEntry[] = [];
  private head = 0;
  private logBytes = 0;
  readonly subscribers = new Set<Subscriber>();
  readonly v1 = new Set<V1Holder>();
  readonly members = new Map<string, Member>();
  readonly marks: ChannelMarks;
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
    stored?: { data?: Record<string, Json>; marks?: PersistedMarks | undefined },
  ) {
    const data = stored?.data ?? {};
    const measured = measureDocument(data, limits.value.maxValueDepth);
    if (typeof measured === 'string') {
      throw new StoredDataError(measured.includes('deeper than maxValueDepth') ? 'depth' : 'value', `data breaks the value rule: ${measured}`);
    }
    this.sizes = measured;
    for (const size of measured.values()) this.entrySum += size;
    const bytes = this.dataBytes;
    if (bytes > limits.maxDataBytes) {
      throw new StoredDataError('size', `data is ${bytes} bytes of JSON, over maxDataBytes (${limits.maxDataBytes})`, bytes);
    }
    this.data = new Map(Object.entries(data));
    this.marks = new ChannelMarks(limits.marks, stored?.marks, limits.counters);
    this.quotedName = JSON.stringify(name);
    this.patchPrefix = `{"type":"patch","channel":${this.quotedName},`;
  }

  get loaded(): boolean {
    return this.epoch !== undefined;
  }

  /** UTF-8 bytes of the document's JSON (kept incrementally). */
  get dataBytes(): number {
    return documentBytes(this.entrySum, this.sizes.size);
  }

  /** Whether anyone holds it: a subscriber, a version 1 session, or a member in its grace period. */
  get held(): boolean {
    return this.subscribers.size > 0 || this.v1.size > 0 || this.members.size > 0;
  }

  /** A new epoch at seq 0 with an empty log (a load, or the restart fault): the data stays. */
  load(epoch: string): void {
    this.epoch = epoch;
    this.seqOffset = this.patchPrefix.length + `"epoch":${JSON.stringify(epoch)},`.length;
    this.seq = 0;
    this.log = [];
    this.head = 0;
    this.logBytes = 0;
    this.snapshotCache = undefined;
    this.v1SnapshotCache = undefined;
  }

  /** Drops the epoch, the log and the caches; the data and the marks stay. */
  unload(): void {
    this.load('');
    this.epoch = undefined;
  }

  /** The value rule and the data limit; a refusal as [code, message]. */
  validate(input: unknown): Checked | Refusal {
    const checked = checkChanges(input, this.limits.value);
    if (!checked.ok) return ['ERR_INVALID_FRAME', checked.problem];
    const max = this.limits.maxDataBytes;
    const before = this.dataBytes;
    const after = this.sizeAfter(checked);
    if (after > max && after > before) {
      return ['ERR_DATA_LIMIT', `the change would make channel ${this.name}'s document ${after} bytes of JSON, over maxDataBytes (${max}); delete keys first`];
    }
    return checked;
  }

  /** Bytes of the document's JSON once `checked` is applied (without allocating for a change that deletes nothing). */
  private sizeAfter(checked: Checked): number {
    if (checked.changes.delete !== undefined) return this.sizeAfterSlow(checked);
    let sum = this.entrySum;
    let count = this.sizes.size;
    for (const [key, size] of checked.entryBytes) {
      const old = this.sizes.get(key);
      if (old !== undefined) {
        sum -= old;
        count--;
      }
      sum += size;
      count++;
    }
    return documentBytes(sum, count);
  }

  private sizeAfterSlow(checked: Checked): number {
    const next = new Map<string, number | undefined>();
    for (const key of checked.changes.delete ?? []) next.set(key, undefined);
    for (const [key, size] of checked.entryBytes) next.set(key, size);
    let sum = this.entrySum;
    let count = this.sizes.size;
    for (const [key, size] of next) {
      const old = this.sizes.get(key);
      if (old !== undefined) {
        sum -= old;
        count--;
      }
      if (size !== undefined) {
        sum += size;
        count++;
      }
    }
    return documentBytes(sum, count);
  }

  /** Applies a validated change in memory as the next seq; returns what puts it back. */
  stage(checked: Checked): () => void {
    const before = new Map<string, [Json, number] | null>();
    const remember = (key: string) => {
      if (before.has(key)) return;
      const size = this.sizes.get(key);
      before.set(key, size === undefined ? null : [this.data.get(key) as Json, size]);
    };
    const remove = (key: string) => {
      const size = this.sizes.get(key);
      if (size === undefined) return;
      this.entrySum -= size;
      this.sizes.delete(key);
      this.data.delete(key);
    };
    for (const key of checked.changes.delete ?? []) {
      remember(key);
      remove(key);
    }
    const set = checked.changes.set;
    if (set !== undefined) {
      for (const [key, size] of checked.entryBytes) {
        remember(key);
        remove(key);
        this.data.set(key, set[key] as Json);
        this.sizes.set(key, size);
        this.entrySum += size;
      }
    }
    this.seq++;
    return () => {
      this.seq--;
      for (const [key, old] of before) {
        remove(key);
        if (old === null) continue;
        this.data.set(key, old[0]);
        this.sizes.set(key, old[1]);
        this.entrySum += old[1];
      }
    };
  }

  /**
   * The patch of the change just staged (seq = `this.seq`), appended to the log. The log keeps at
   * most `logSize` patches and at most `maxDataBytes` of them: a client further behind than a
   * whole document's worth of patches is better served by a snapshot.
   */
  appendLog(checked: Checked): LogEntry {
    const frame: Record<string, unknown> = { type: 'patch', channel: this.name, epoch: this.epoch, seq: this.seq };
    if (checked.changes.set !== undefined) frame.set = checked.changes.set;
    if (checked.changes.delete !== undefined) frame.delete = checked.changes.delete;
    const text = JSON.stringify(frame);
    const entry: LogEntry = { seq: this.seq, text, bytes: utf8Length(text), v1: undefined };
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
      const text = JSON.stringify({ type: 'snapshot', channel: this.name, epoch: this.epoch, seq: this.seq, data: Object.fromEntries(this.data) });
      this.snapshotCache = { seq: this.seq, text, bytes: utf8Length(text) };
    }
    return this.snapshotCache;
  }

  /** The version 1 snapshot (`default` only). */
  v1Snapshot(): { text: string; bytes: number } {
    if (this.v1SnapshotCache?.seq !== this.seq) {
      const text = JSON.stringify({ type: 'snapshot', epoch: this.epoch, seq: this.seq, data: Object.fromEntries(this.data) });
      this.v1SnapshotCache = { seq: this.seq, text, bytes: utf8Length(text) };
    }
    return this.v1SnapshotCache;
  }

  /** The document as a plain object. */
  plainData(): Record<string, Json> {
    return Object.fromEntries(this.data);
  }

  /** The members, ordered by joinedAt, then client id, then user (docs/protocol.md, "Presence"). */
  orderedMembers(): Member[] {
    return [...this.members.values()].sort(
      (a, b) => a.joinedAt - b.joinedAt || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0) || ((a.user ?? '') < (b.user ?? '') ? -1 : (a.user ?? '') > (b.user ?? '') ? 1 : 0),
    );
  }
}
