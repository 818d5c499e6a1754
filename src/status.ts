/**
 * A connection's status, read from a snapshot of its actor: the reported
 * state and what an errored machine waits for come from the chart's tags,
 * the rest from its context. Pure.
 */
import type { SnapshotFrom } from 'xstate';
import type { connectionMachine } from '../machines/connection.js';
import type { ChartCounters } from '../machines/connection.types.js';
import type { ConnectionStatus, Counters, StateName } from './types.js';

export type ConnectionSnapshot = SnapshotFrom<typeof connectionMachine>;

const STATES: readonly StateName[] = ['connecting', 'open', 'errored', 'idle', 'closed'];
const PARKED = ['offline', 'hidden', 'suspended'] as const;

/** A connection's status before anything happened: idle, nothing counted (a server render shows it). */
export const IDLE_STATUS: ConnectionStatus = Object.freeze({
  state: 'idle',
  parked: null,
  attempt: 0,
  nextRetryAt: null,
  nextDelayMs: null,
  online: true,
  pageHidden: false,
  url: null,
  lastError: null,
  lastClose: null,
  lastRejected: null,
  lastCallbackError: null,
  outboxSize: 0,
  counters: Object.freeze({ received: 0, rejected: 0, sent: 0, renders: 0, reconnects: 0, dropped: 0, callbackErrors: 0 }),
});

/** One of the five reported states; a stopped actor is `closed`. */
export function stateNameOf(snapshot: ConnectionSnapshot): StateName {
  if (snapshot.status === 'stopped') return 'closed';
  for (const state of STATES) if (snapshot.hasTag(state)) return state;
  return 'closed';
}

/** What an errored machine waits for when it is not a timer. */
function parkedOf(snapshot: ConnectionSnapshot, state: StateName): ConnectionStatus['parked'] {
  if (state !== 'errored' || snapshot.status === 'stopped') return null;
  for (const parked of PARKED) if (snapshot.hasTag(parked)) return parked;
  return null;
}

/**
 * The status's counters: the chart's plus the facade's `renders`, as one
 * object that stays the same until either changes (status listeners compare
 * by identity).
 */
export function createCounters(): (chart: ChartCounters, renders: number) => Counters {
  let source: ChartCounters | null = null;
  let rendersSeen = -1;
  let merged: Counters | null = null;
  return (chart, renders) => {
    if (merged === null || chart !== source || renders !== rendersSeen) {
      source = chart;
      rendersSeen = renders;
      // a literal, not `{ ...chart, renders }`: V8 clones that spread on its slow path (issue 15)
      merged = {
        received: chart.received,
        rejected: chart.rejected,
        sent: chart.sent,
        reconnects: chart.reconnects,
        dropped: chart.dropped,
        callbackErrors: chart.callbackErrors,
        renders,
      };
    }
    return merged;
  };
}

export function statusOf(snapshot: ConnectionSnapshot, counters: Counters, state: StateName = stateNameOf(snapshot)): ConnectionStatus {
  const context = snapshot.context;
  const stopped = snapshot.status === 'stopped';
  return {
    state,
    parked: parkedOf(snapshot, state),
    attempt: context.attempt,
    nextRetryAt: stopped ? null : context.nextRetryAt,
    nextDelayMs: stopped ? null : context.nextDelayMs,
    online: context.online,
    pageHidden: context.pageHidden,
    url: context.url,
    lastError: context.lastError,
    lastClose: context.lastClose,
    lastRejected: context.lastRejected,
    lastCallbackError: context.lastCallbackError,
    outboxSize: context.outbox.size,
    counters,
  };
}

/** Every field but `counters` and `lastCallbackError` is the same value (context objects are replaced, never mutated, so `===` is enough). */
function sameStateAndContext(a: ConnectionStatus, b: ConnectionStatus): boolean {
  return (
    a.state === b.state &&
    a.parked === b.parked &&
    a.attempt === b.attempt &&
    a.nextRetryAt === b.nextRetryAt &&
    a.nextDelayMs === b.nextDelayMs &&
    a.online === b.online &&
    a.pageHidden === b.pageHidden &&
    a.url === b.url &&
    a.lastError === b.lastError &&
    a.lastClose === b.lastClose &&
    a.lastRejected === b.lastRejected &&
    a.outboxSize === b.outboxSize
  );
}

/** Every field is the same value. Runs for every event. */
export function sameStatus(a: ConnectionStatus, b: ConnectionStatus): boolean {
  return sameStateAndContext(a, b) && a.lastCallbackError === b.lastCallbackError && a.counters === b.counters;
}

/** Only the render and callback-failure bookkeeping differs: nothing a view shows has changed. Runs for every status change (every send): it allocates nothing. */
export function onlyBookkeepingChanged(a: ConnectionStatus, b: ConnectionStatus): boolean {
  const x = a.counters;
  const y = b.counters;
  return (
    sameStateAndContext(a, b) &&
    x.received === y.received &&
    x.rejected === y.rejected &&
    x.sent === y.sent &&
    x.reconnects === y.reconnects &&
    x.dropped === y.dropped
  );
}
