/**
 * A connection's history: every reported state entered, oldest first, with
 * the event that caused it, bounded by `historyLimit`. A class rather than a
 * closure: one small object per connection.
 */
import type { ConnectionContext } from '../machines/connection.types.js';
import type { ConnectionSnapshot } from './status.js';
import type { HistoryEntry, StateName } from './types.js';

export class History {
  readonly entries: HistoryEntry[] = [];
  private lastState: StateName | null = null;
  private lastError: ConnectionContext['lastError'] = null;

  constructor(
    private readonly limit: number,
    private readonly now: () => number,
  ) {}

  /** Appends an entry when the reported state changes. */
  record(snapshot: ConnectionSnapshot, state: StateName, eventType: string): void {
    const error = snapshot.context.lastError;
    const newError = error !== this.lastError;
    this.lastError = error;
    if (state === this.lastState) return;
    this.lastState = state;
    const entry: HistoryEntry = { state, at: this.now(), event: eventType };
    // an entry into errored or closed names the error that sent it there, once
    if (error !== null && newError && (state === 'errored' || state === 'closed')) entry.error = error;
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
  }
}
