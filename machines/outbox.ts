/**
 * The outbox admission rule, in one place: what a send does to an outbox of a
 * given size under its limit and overflow policy. Pure; the chart applies it
 * (`enqueue`, `transmit`) and the facade asks it first, so that `send()` can
 * throw `ERR_OUTBOX_FULL` before anything changes.
 */
import type { ConnectionConfig } from './connection.types.js';

/**
 * - `append`: there is room.
 * - `drop-oldest` / `drop-newest`: full; the policy drops that entry (counted in `dropped`).
 * - `refuse`: full under `'reject'`: `send()` throws. A `client.send` sent to the actor directly
 *   (not through `send()`) is dropped and counted like `drop-newest`.
 */
export type Admission = 'append' | 'drop-oldest' | 'drop-newest' | 'refuse';

export function admitToOutbox(size: number, { limit, overflow }: ConnectionConfig['outbox']): Admission {
  if (size < limit) return 'append';
  return overflow === 'reject' ? 'refuse' : overflow;
}
