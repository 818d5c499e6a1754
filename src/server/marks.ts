/**
 * One channel's op marks (docs/protocol.md, "Ops: exactly once, without a window"): per
 * (user, client id), the highest op number processed, the refusals the client may still be
 * waiting for, and when it last sent an op; per channel, the horizon (the latest last-op time of
 * any mark forgotten). Pure: times come from the caller, which never lets them go back.
 *
 * ```
 *   op n from key K ──▶ mark of K? ── yes ─▶ n ≤ mark: duplicate ─▶ kept refusal of n? ─▶ the same refusal
 *                        │                                          n ≤ acked? ─────────▶ ack
 *                        │                                          n ≤ refusal floor? ──▶ ERR_CLIENT_FORGOTTEN
 *                        │                                          else ───────────────▶ ack
 *                        no ─▶ re given and re ≤ horizon? ─▶ ERR_CLIENT_FORGOTTEN (maybe applied once)
 *                              else a new mark (making room: see `makeRoom`)
 * ```
 *
 * Bounds: `maxClientsPerChannel` marks (the least recently active mark of the owner holding the
 * most is forgotten to make room), `markRetentionMs` of inactivity, and `maxRefusalsPerClient`
 * refusals above `acked` per mark (the oldest forgotten, raising the mark's refusal floor).
 */

/** The key of a mark: the user (empty without per-user tokens) and the client id. Client ids hold no NUL. */
export function markKey(user: string | null, client: string): string {
  return `${user ?? ''}\u0000${client}`;
}

/** The client id and user of a key (for the data file). */
export function splitMarkKey(key: string): { user: string | null; client: string } {
  const at = key.lastIndexOf('\u0000');
  const user = key.slice(0, at);
  return { user: user === '' ? null : user, client: key.slice(at + 1) };
}

export interface Mark {
  /** The highest op number processed (applied or refused). */
  n: number;
  /** When the client last sent an op the channel processed (a time that never goes back). */
  at: number;
  /** Who the mark counts for in the eviction rule: the user, or the address without per-user tokens. */
  owner: string;
  /** The client's `subscribe.acked`: it has every answer up to here. */
  acked: number;
  /** Refusals above `acked`, by op number (oldest first); absent while there is none. */
  refusals: Map<number, string> | undefined;
  /**
   * Answers at or below it (and above `acked`) are unknown: the highest op number whose refusal was
   * forgotten by the bound, and at least the op number below the mark's first op.
   */
  floor: number;
}

/** A mark as the data file keeps it. */
export interface PersistedMark {
  client: string;
  user: string | null;
  n: number;
  at: number;
  owner: string;
  acked?: number;
  /** `[n, code]` pairs, oldest first. */
  refusals?: Array<[number, string]>;
  floor?: number;
}

/** A channel's marks as the data file keeps them. */
export interface PersistedMarks {
  marks: PersistedMark[];
  /** Absent: nothing forgotten yet. */
  horizon?: number;
}

export interface MarkLimits {
  maxClientsPerChannel: number;
  markRetentionMs: number;
  maxRefusalsPerClient: number;
}

/** What a duplicate op (n ≤ mark) is answered with. */
export type DuplicateAnswer = { kind: 'ack' } | { kind: 'refusal'; code: string } | { kind: 'forgotten' };

/** What `raise` changed, to put back when the write that follows fails. */
export interface MarkUndo {
  key: string;
  /** The mark before (a copy of its scalars), or null when `raise` created it. */
  before: { n: number; at: number; floor: number } | null;
  refusal: number | undefined;
}

export class ChannelMarks {
  /** Marks by key, least recently active first (a touch moves a mark to the end). */
  private readonly byKey = new Map<string, Mark>();
  /** Marks held per owner. */
  private readonly perOwner = new Map<string, number>();
  /** The latest last-op time of a forgotten mark; undefined while nothing was forgotten. */
  horizon: number | undefined;
  constructor(
    private readonly limits: MarkLimits,
    initial?: PersistedMarks,
    /** Counts every mark forgotten (retention or the bound). */
    private readonly counters: { marksForgotten: number } = { marksForgotten: 0 },
  ) {
    if (initial === undefined) return;
    this.horizon = initial.horizon;
    // The file lists marks least recently active first, as `persisted` writes them.
    for (const m of initial.marks) {
      const refusals = m.refusals !== undefined && m.refusals.length > 0 ? new Map(m.refusals) : undefined;
      this.insert(markKey(m.user, m.client), { n: m.n, at: m.at, owner: m.owner, acked: m.acked ?? 0, refusals, floor: m.floor ?? 0 });
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Mark | undefined {
    return this.byKey.get(key);
  }

  /** Whether a resend (`re`) from a client without a mark may belong to a forgotten one. */
  mayBeForgotten(re: number): boolean {
    return this.horizon !== undefined && re <= this.horizon;
  }

  /** The answer to op `n` at or below the mark. */
  judgeDuplicate(mark: Mark, n: number): DuplicateAnswer {
    const code = mark.refusals?.get(n);
    if (code !== undefined) return { kind: 'refusal', code };
    if (n <= mark.acked) return { kind: 'ack' };
    if (n <= mark.floor) return { kind: 'forgotten' };
    return { kind: 'ack' };
  }

  /** `subscribe.acked`: the client has every answer up to `acked`; refusals at or below it are forgotten. */
  noteAcked(key: string, acked: number): void {
    const mark = this.byKey.get(key);
    if (mark === undefined || acked <= mark.acked) return;
    mark.acked = acked;
    if (mark.refusals === undefined) return;
    for (const n of mark.refusals.keys()) {
      if (n > acked) break; // oldest (lowest) first
      mark.refusals.delete(n);
    }
    if (mark.refusals.size === 0) mark.refusals = undefined;
  }

  /**
   * Raises the mark of `key` to `n` at time `at` (creating it, and making room first, when there
   * is none), recording `code` as op `n`'s refusal when given. Returns what puts it back.
   */
  raise(key: string, owner: string, n: number, at: number, code?: string): MarkUndo {
    this.expire(at);
    let mark = this.byKey.get(key);
    let before: MarkUndo['before'] = null;
    if (mark === undefined) {
      // `while`: a data file written with a larger bound may hold more marks than this one.
      while (this.byKey.size >= this.limits.maxClientsPerChannel && this.byKey.size > 0) this.makeRoom();
      // Below its first op the mark knows no answer: an op refused unrecorded on a channel that stored
      // nothing (docs/protocol.md, "Refusals on a channel that stores nothing") must not be acked later.
      mark = { n, at, owner, acked: 0, refusals: undefined, floor: n - 1 };
      this.insert(key, mark);
    } else {
      before = { n: mark.n, at: mark.at, floor: mark.floor };
      if (n > mark.n) mark.n = n;
      mark.at = at;
      // Most recently active last.
      this.byKey.delete(key);
      this.byKey.set(key, mark);
    }
    if (code !== undefined) {
      mark.refusals ??= new Map();
      mark.refusals.set(n, code);
      if (mark.refusals.size > this.limits.maxRefusalsPerClient) {
        const [oldest] = mark.refusals.keys() as IterableIterator<number>;
        mark.refusals.delete(oldest as number);
        if ((oldest as number) > mark.floor) mark.floor = oldest as number;
      }
    }
    return { key, before, refusal: code === undefined ? undefined : n };
  }

  /** Puts back what `raise` did (its write failed). A mark it made room for stays forgotten: that is only conservative. */
  undo(undo: MarkUndo): void {
    const mark = this.byKey.get(undo.key);
    if (mark === undefined) return;
    if (undo.before === null) {
      this.remove(undo.key, mark);
      return;
    }
    mark.n = undo.before.n;
    mark.at = undo.before.at;
    mark.floor = undo.before.floor;
    if (undo.refusal !== undefined) mark.refusals?.delete(undo.refusal);
    if (mark.refusals?.size === 0) mark.refusals = undefined;
  }

  /** Forgets marks idle for `markRetentionMs` (they are in activity order: the oldest first). */
  expire(now: number): void {
    for (const [key, mark] of this.byKey) {
      if (now - mark.at < this.limits.markRetentionMs) break;
      this.forget(key, mark);
    }
  }

  /** The marks and the horizon for the data file, least recently active first. */
  persisted(): PersistedMarks | undefined {
    if (this.byKey.size === 0 && this.horizon === undefined) return undefined;
    const marks: PersistedMark[] = [];
    for (const [key, mark] of this.byKey) {
      const { user, client } = splitMarkKey(key);
      const entry: PersistedMark = { client, user, n: mark.n, at: mark.at, owner: mark.owner };
      if (mark.acked > 0) entry.acked = mark.acked;
      if (mark.refusals !== undefined) entry.refusals = [...mark.refusals];
      if (mark.floor > 0) entry.floor = mark.floor;
      marks.push(entry);
    }
    return this.horizon === undefined ? { marks } : { marks, horizon: this.horizon };
  }

  /**
   * The eviction rule: forget the least recently active mark of the owner holding the most marks
   * (owners tied: the least recently active mark among theirs). Walking the marks from the least
   * recently active, the first whose owner holds the most is that mark.
   */
  private makeRoom(): void {
    let most = 0;
    for (const count of this.perOwner.values()) if (count > most) most = count;
    for (const [key, mark] of this.byKey) {
      if (this.perOwner.get(mark.owner) !== most) continue;
      this.forget(key, mark);
      return;
    }
  }

  private forget(key: string, mark: Mark): void {
    this.remove(key, mark);
    this.counters.marksForgotten++;
    if (this.horizon === undefined || mark.at > this.horizon) this.horizon = mark.at;
  }

  private insert(key: string, mark: Mark): void {
    this.byKey.set(key, mark);
    this.perOwner.set(mark.owner, (this.perOwner.get(mark.owner) ?? 0) + 1);
  }

  private remove(key: string, mark: Mark): void {
    this.byKey.delete(key);
    const left = (this.perOwner.get(mark.owner) ?? 1) - 1;
    if (left > 0) this.perOwner.set(mark.owner, left);
    else this.perOwner.delete(mark.owner);
  }
}
