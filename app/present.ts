/**
 * What the app shows, as pure functions of the Models' data and the machines'
 * snapshots: the notes rows (the server's data with the edits still waiting for
 * their ack laid over it), the members, each channel's state and the status
 * texts. No DOM here; `test/app` covers it.
 */
import type { OutboxEntry } from '../machines/connection.types.js';
import type { ChannelStatus } from '../src/channel.js';
import type { PresenceData } from '../src/presence.js';
import type { Json, StoreData } from '../src/store.js';
import type { ConnectionStatus } from '../src/types.js';
import { compareKeys, formatValue, type DomRow } from '../src/views/dom.js';
import { formatCountdown } from '../src/views/preview.js';

/** An edit the server has not acknowledged yet. */
export type PendingChange = { kind: 'set'; value: Json } | { kind: 'delete' };

/** The row's `data-state` and the text of its sync column. */
export const ROW_STATES = {
  pending: { state: 'pending', label: 'pending' },
  pendingDelete: { state: 'pending-delete', label: 'pending delete' },
} as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The latest unacknowledged change per key of `channel`, from the connection's outbox (one for
 * every channel): every entry with an `ackId` is an op the server has not acknowledged (queued
 * while offline, or sent and not yet acked). Later entries win, as they will on the server.
 */
export function pendingChanges(outbox: readonly OutboxEntry[], channel: string): Map<string, PendingChange> {
  const pending = new Map<string, PendingChange>();
  for (const entry of outbox) {
    if (entry.ackId === undefined || typeof entry.frame !== 'string') continue;
    let op: unknown;
    try {
      op = JSON.parse(entry.frame);
    } catch {
      continue; // not one of ours: the sync protocol's ops are JSON text
    }
    if (!isRecord(op) || op.type !== 'op' || op.channel !== channel) continue;
    // the server applies deletes before sets within one op
    if (Array.isArray(op.delete)) {
      for (const key of op.delete) if (typeof key === 'string') pending.set(key, { kind: 'delete' });
    }
    if (isRecord(op.set)) {
      for (const [key, value] of Object.entries(op.set)) pending.set(key, { kind: 'set', value: value as Json });
    }
  }
  return pending;
}

/** Table rows: every key of the data and of the pending edits, sorted; cells [key, value, sync]. */
export function tableRows(data: StoreData, pending: ReadonlyMap<string, PendingChange>): DomRow[] {
  const keys = new Set([...Object.keys(data), ...pending.keys()]);
  return [...keys].sort(compareKeys).map((key) => {
    const change = pending.get(key);
    if (change === undefined) return { key, cells: [key, formatValue(data[key]), ''] };
    if (change.kind === 'set') {
      return { key, cells: [key, formatValue(change.value), ROW_STATES.pending.label], state: ROW_STATES.pending.state };
    }
    return { key, cells: [key, formatValue(data[key]), ROW_STATES.pendingDelete.label], state: ROW_STATES.pendingDelete.state };
  });
}

/**
 * A value typed in the form: JSON when it parses as JSON (`42`, `true`, `{"a":1}`,
 * `"quoted"`), else the text itself as a string.
 */
export function valueFromInput(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return text;
  }
}

/** A value as the form shows it for editing: the inverse of `valueFromInput`. */
export function inputFromValue(value: Json | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'string') {
    // a string that would parse as JSON (e.g. "42") keeps its quotes, so saving it keeps it a string
    try {
      JSON.parse(value);
      return JSON.stringify(value);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value);
}

/** `open`, `errored · offline`, `errored · page hidden`, … */
export function stateText(status: ConnectionStatus): string {
  if (status.state === 'errored' && !status.online) return 'errored · offline';
  if (status.state === 'errored' && status.pageHidden && status.nextRetryAt === null) return 'errored · waiting for the page';
  return status.state;
}

export function attemptText(status: ConnectionStatus): string {
  return `attempt ${status.attempt}`;
}

/** `retry in 1.3 s` while a reconnect waits; empty otherwise. */
export function countdownText(status: ConnectionStatus, now: number): string {
  return status.nextRetryAt === null ? '' : `retry in ${formatCountdown(status.nextRetryAt - now)}`;
}

/** The last error with its close code, while not open: `ERR_ABNORMAL_CLOSE (close 1006)`. */
export function errorText(status: ConnectionStatus): string {
  if (status.lastError === null || status.state === 'open') return '';
  const close = status.lastError.closeCode !== undefined ? ` (close ${status.lastError.closeCode})` : '';
  return `${status.lastError.code}${close}`;
}

export function countersText(status: ConnectionStatus, renders: number): string {
  const { received, reconnects } = status.counters;
  return `received ${received} · renders ${renders} · reconnects ${reconnects} · outbox ${status.outboxSize}`;
}

/** The toggle's label: what pressing it does. */
export function toggleLabel(status: ConnectionStatus): 'Connect' | 'Disconnect' {
  return status.state === 'closed' || status.state === 'idle' ? 'Connect' : 'Disconnect';
}

/** "Retry now" helps only while a reconnect waits (or after a close). */
export function canRetry(status: ConnectionStatus): boolean {
  return status.state === 'errored' || status.state === 'closed';
}

/** A channel's state as the page shows it: `live`, `stale` (data kept, not current) or `failed`. */
export type ChannelLook = 'live' | 'stale' | 'failed';

/** The channel's chip: its look (a `data-state` for styling) and its text (`live`, `stale · subscribing`, `failed`). */
export function channelChip(status: ChannelStatus): { look: ChannelLook; text: string } {
  if (status.state === 'failed') return { look: 'failed', text: 'failed' };
  if (status.live) return { look: 'live', text: 'live' };
  return { look: 'stale', text: `stale · ${status.state}` };
}

/** Why a channel failed or waits: `ERR_CHANNEL_FORBIDDEN: user "ann" may not subscribe to admin/audit`; empty otherwise. */
export function channelErrorText(status: ChannelStatus): string {
  return status.lastError === null ? '' : `${status.lastError.code}: ${status.lastError.message}`;
}

/** A member's name: the user, else the `name` of its info, else its client id. */
export function memberName(member: PresenceData[number]): string {
  const named = member.info?.name;
  return member.user ?? (typeof named === 'string' ? named : member.client);
}

/** "Who is here" rows, in the server's order; cells [name, `you` for this page's own client id]. */
export function memberRows(members: PresenceData, ownClient: string): DomRow[] {
  return members.map((member) => ({
    key: `${member.client}/${member.user ?? ''}`,
    cells: [memberName(member), member.client === ownClient ? 'you' : ''],
    state: member.client === ownClient ? 'self' : undefined,
  }));
}

/** `2 here` / `1 here` (the heading's count), or `nobody yet` before the first list. */
export function hereText(members: PresenceData): string {
  return members.length === 0 ? 'nobody yet' : `${members.length} here`;
}
