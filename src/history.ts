/**
 * A connection's history: every reported state entered, oldest first, with
 * the event that caused it, bounded by `historyLimit`.
 */
import type { ConnectionContext } from '../machines/connection.types.js';
import type { ConnectionSnapshot } from './status.js';
import type { HistoryEntry, StateName } from './types.js';

export interface History {
  readonly entries: HistoryEntry[];
  /** Appends an entry when the reported state changes. */
  record(snapshot: ConnectionSnapshot, state: StateName, eventType: string): void;
}

export function createHistory(limit: number, now: () => number): History {
  const entries: HistoryEntry[] = [];
  let lastState: StateName | null = null;
  let lastError: ConnectionContext['lastError'] = null;
  return {
    entries,
    record(snapshot, state, eventType) {
      const error = snapshot.context.lastError;
      const newError = error !== lastError;
      lastError = error;
      if (state === lastState) return;
      lastState = state;
      const entry: HistoryEntry = { state, at: now(), event: eventType };
      // an entry into errored or closed names the error that sent it there, once
      if (error !== null && newError && (state === 'errored' || state === 'closed')) entry.error = error;
      entries.push(entry);
      if (entries.length > limit) entries.splice(0, entries.length - limit);
    },
  };
}
