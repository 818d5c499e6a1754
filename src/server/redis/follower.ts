/**
 * One `follow` of a channel: turns notices (pub/sub messages, and this instance's own appends)
 * into the listener's calls, in seq order, each entry once, with no gap (docs/scaling.md,
 * "Following").
 *
 * ```
 *   notice (epoch E, seq S) ──▶ E ≠ followed epoch ─────────▶ reload: reset(state)
 *                               S ≤ seq ──────────────────────▶ dropped (already told)
 *                               S = seq + 1 ──────────────────▶ entries(E, [S, and every held S+1…])
 *                               S > seq + 1 (a gap) ──────────▶ held; readLog(E, seq) fills the gap,
 *                                                               or (trimmed past seq) reload: reset
 * ```
 *
 * Pub/sub delivers every message published while the subscriber's connection is up, in the order
 * the scripts ran; a gap comes from a dropped connection, or from this instance's own append
 * reaching the follower before the notices of earlier appends by others. After the pub/sub
 * connection comes back, every follower catches up (`catchUp`) by the same path.
 */
import type { Changes } from '../../sync/messages.js';
import type { ChannelEntry, ChannelListener, ChannelState, EngineMember } from '../engine.js';
import { splitMarkKey } from '../marks.js';

/** A notice as the follower takes it (parsed from pub/sub by `parseNotice`). */
export type Notice =
  | { type: 'entry'; epoch: string; seq: number; changes: Changes }
  | { type: 'reset'; epoch: string }
  | { type: 'join' | 'leave'; member: EngineMember };

/** A pub/sub message: `e|epoch|seq|change JSON`, `r|epoch`, `j["key","member JSON"]`, `l["key","member JSON"]`. */
export function parseNotice(message: string): Notice | undefined {
  const kind = message[0];
  if (kind === 'e') {
    const a = message.indexOf('|', 2);
    const b = message.indexOf('|', a + 1);
    return { type: 'entry', epoch: message.slice(2, a), seq: Number(message.slice(a + 1, b)), changes: JSON.parse(message.slice(b + 1)) as Changes };
  }
  if (kind === 'r') return { type: 'reset', epoch: message.slice(2) };
  if (kind === 'j' || kind === 'l') {
    const [key, json] = JSON.parse(message.slice(1)) as [string, string];
    return { type: kind === 'j' ? 'join' : 'leave', member: memberOf(key, json) };
  }
  return undefined;
}

export function memberOf(key: string, json: string): EngineMember {
  return { ...(JSON.parse(json) as Omit<EngineMember, 'key'>), key };
}

/** What a follower needs of the engine. */
export interface FollowerSource {
  load(channel: string): Promise<ChannelState>;
  readLog(channel: string, epoch: string, since: number): Promise<ChannelEntry[] | undefined>;
  /** A failure while catching up (Redis down): the follower tries again at the next notice or reconnect. */
  report(error: unknown): void;
}

/** A catch-up that failed (Redis unreachable) is tried again after this long. */
const RETRY_MS = 250;

export class Follower {
  epoch = '';
  seq = 0;
  /** Entries that came ahead of a gap, by seq. */
  private readonly held = new Map<number, Changes>();
  /** Notices that came while the first load ran. */
  private early: Notice[] | undefined = [];
  private members = new Set<string>();
  private busy = false;
  private missedPresence = false;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private again = false;
  private closed = false;

  constructor(
    readonly channel: string,
    private readonly listener: ChannelListener,
    private readonly source: FollowerSource,
  ) {}

  /**
   * The first state (the subscription to notices was in place before it was loaded). Notices that
   * came meanwhile, and until the caller of `follow` has the state, are told on the next turn of
   * the event loop: the listener hears nothing before `follow` resolved.
   */
  start(state: ChannelState): void {
    this.adopt(state);
    setImmediate(() => {
      const early = this.early ?? [];
      this.early = undefined;
      for (const notice of early) this.take(notice);
    });
  }

  take(notice: Notice): void {
    if (this.closed) return;
    if (this.early !== undefined) {
      this.early.push(notice);
      return;
    }
    if (notice.type !== 'entry' && notice.type !== 'reset') return this.presence(notice.type, notice.member);
    if (notice.epoch !== this.epoch) return this.catchUp();
    if (notice.type === 'reset') return;
    if (notice.seq <= this.seq) return;
    this.held.set(notice.seq, notice.changes);
    // Told at the end of this turn of the event loop, not at once: the entries that arrive in one
    // turn (this instance's appends answered on the command connection, notices on the pub/sub
    // connection, read in the same poll) reach the listener together, and each subscriber in one write.
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(this.drainNow);
  }

  private drainScheduled = false;
  private readonly drainNow = () => {
    this.drainScheduled = false;
    if (!this.closed) this.drain();
  };

  /**
   * Reloads the channel: a new epoch resets; the same one continues from the log (or resets when
   * the log no longer covers the follower's seq). `reconnected`: pub/sub was down, so joins and
   * leaves may have been missed too.
   */
  catchUp(reconnected = false): void {
    if (this.closed) return;
    if (reconnected) this.missedPresence = true;
    if (this.early !== undefined) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void this.reload().finally(() => {
      this.busy = false;
      if (this.again && !this.closed) {
        this.again = false;
        this.catchUp();
      }
    });
  }

  private async reload(): Promise<void> {
    try {
      const state = await this.source.load(this.channel);
      if (this.closed) return;
      if (state.epoch === this.epoch) {
        // The state may be older than what pub/sub already told (the connections are not in step).
        const entries = await this.source.readLog(this.channel, this.epoch, this.seq);
        if (this.closed) return;
        if (entries !== undefined || state.seq < this.seq) {
          for (const entry of entries ?? []) if (entry.seq > this.seq) this.held.set(entry.seq, entry.changes);
          if (entries === undefined) this.again = true; // trimmed past, and the state is behind: load again
          this.drain();
          if (this.missedPresence) this.syncMembers(state.members);
          this.missedPresence = false;
          return;
        }
      }
      this.missedPresence = false;
      this.adopt(state);
      this.call(() => this.listener.reset(state));
    } catch (error) {
      // Redis went away meanwhile: try again shortly (the engine also catches every follower up when it is back).
      this.source.report(error);
      this.retry ??= setTimeout(() => {
        this.retry = undefined;
        this.catchUp();
      }, RETRY_MS);
      this.retry.unref?.();
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }

  /** Tells the listener every entry that continues its seq; fills a gap from the log. */
  private drain(): void {
    const entries: ChannelEntry[] = [];
    for (let next = this.seq + 1; this.held.has(next); next++) {
      entries.push({ seq: next, changes: this.held.get(next) as Changes });
      this.held.delete(next);
      this.seq = next;
    }
    if (entries.length > 0) this.call(() => this.listener.entries(this.epoch, entries));
    if (this.held.size > 0) this.catchUp();
  }

  private adopt(state: ChannelState): void {
    this.epoch = state.epoch;
    this.seq = state.seq;
    this.held.clear();
    this.members = new Set(state.members.map((m) => m.key));
  }

  private presence(type: 'join' | 'leave', member: EngineMember): void {
    // A notice that crossed the load (the member already listed, or already gone) was told by the state.
    if (type === 'join' ? this.members.has(member.key) : !this.members.has(member.key)) return;
    if (type === 'join') this.members.add(member.key);
    else this.members.delete(member.key);
    this.call(() => this.listener.presence({ type, member }));
  }

  /** After a reconnect: joins and leaves missed while pub/sub was down. */
  private syncMembers(members: EngineMember[]): void {
    const now = new Map(members.map((m) => [m.key, m]));
    for (const key of [...this.members]) {
      if (!now.has(key)) this.presence('leave', { key, ...splitMarkKey(key), joinedAt: 0 });
    }
    for (const member of members) if (!this.members.has(member.key)) this.presence('join', member);
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch {
      // A listener must not throw (engine.ts); a throw must not stop the notices of other channels.
    }
  }
}
