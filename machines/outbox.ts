/**
 * The outbox admission rule, in one place: what a send does to an outbox under its limit and
 * overflow policy. Pure; the chart applies it (`enqueue`, `transmit`) and the facade asks it first,
 * so that `send()` can throw `ERR_OUTBOX_FULL` before anything changes, and settle the op the
 * policy drops.
 */
import type { ConnectionConfig, OutboxEntry } from './connection.types.js';

/**
 * - `append`: there is room.
 * - `drop-entry`: full under `'drop-oldest'`: the entry at `index` (the oldest one not yet written)
 *   leaves the outbox and the new one is appended (counted in `dropped`).
 * - `drop-new`: full under `'drop-newest'`, or under `'drop-oldest'` when every entry has already
 *   been written: the new entry is dropped (counted in `dropped`).
 * - `refuse`: full under `'reject'`: `send()` throws. A `client.send` sent to the actor directly
 *   (not through `send()`) is dropped and counted like `drop-new`.
 */
export type Admission = { kind: 'append' } | { kind: 'drop-entry'; index: number } | { kind: 'drop-new' } | { kind: 'refuse' };

export function admitToOutbox(outbox: readonly Pick<OutboxEntry, 'sent'>[], { limit, overflow }: ConnectionConfig['outbox']): Admission {
  if (outbox.length < limit) return { kind: 'append' };
  if (overflow === 'reject') return { kind: 'refuse' };
  if (overflow === 'drop-newest') return { kind: 'drop-new' };
  // A dropped entry must be one that never applies: its `send()` rejects ERR_OUTBOX_FULL, which
  // says "never applied". A written entry may already be applied on the server (issue 13,
  // t33-dropoldest-fate): dropping it frees no work there and would lie about its fate, so when
  // every entry has been written the new one, never written, is the one dropped.
  const index = outbox.findIndex((entry) => !entry.sent);
  return index < 0 ? { kind: 'drop-new' } : { kind: 'drop-entry', index };
}
