/**
 * The outbox: its admission rule, in one place (what a send does to an outbox under its limit and
 * overflow policy), and its persistent representation (`Outbox`). Pure; the chart applies them
 * (`enqueue`, `transmit`, `settleAck`) and the facade asks `admitToOutbox` first, so that `send()`
 * can throw `ERR_OUTBOX_FULL` before anything changes, and settle the op the policy drops.
 *
 * Why blocks (issue 15): the context is immutable, so an outbox held as one array was copied at
 * every send (`concat`, which V8 runs element by element when its argument is not an array: about
 * 70 instructions per entry, two thirds of a sync send with a few thousand ops awaiting) and
 * filtered at every ack. Here a send copies at most the tail (under `BLOCK` entries) and, once
 * every `BLOCK` sends, the list of blocks (one pointer per `BLOCK` entries); an answer to the
 * oldest entry (acks come in order) moves `start`. At the default limit of 1,000 entries that is
 * at most 32 pointers either way, whatever the outbox holds.
 */
import type { ConnectionConfig, Outbox, OutboxEntry } from './connection.types.js';

/** Entries per block: a send copies at most this many pointers (the tail). */
const BLOCK = 32;

const NO_ENTRIES: readonly OutboxEntry[] = Object.freeze([]);

/** The empty outbox. */
export const EMPTY_OUTBOX: Outbox = Object.freeze({ size: 0, blocks: Object.freeze([]), start: 0, tail: NO_ENTRIES });

/** The outbox holding `entries`, oldest first (linear: for the rare rewrites, not for a send). */
export function outboxOf(entries: readonly OutboxEntry[]): Outbox {
  if (entries.length === 0) return EMPTY_OUTBOX;
  const full = entries.length - (entries.length % BLOCK);
  const blocks: (readonly OutboxEntry[])[] = [];
  for (let at = 0; at < full; at += BLOCK) blocks.push(entries.slice(at, at + BLOCK));
  return { size: entries.length, blocks, start: 0, tail: entries.slice(full) };
}

/** Arrays made by `outboxEntries`, one per outbox value (outboxes never change: it stays right). */
const flattened = new WeakMap<Outbox, readonly OutboxEntry[]>();

/**
 * The entries of `outbox`, oldest first, as one array: the tail itself while there is no block,
 * else made once per outbox value and kept. Treat it as read-only: snapshots share it.
 */
export function outboxEntries(outbox: Outbox): readonly OutboxEntry[] {
  if (outbox.blocks.length === 0) return outbox.tail;
  let entries = flattened.get(outbox);
  if (entries === undefined) {
    const all: OutboxEntry[] = [];
    for (let b = 0; b < outbox.blocks.length; b++) {
      const block = outbox.blocks[b]!;
      for (let i = b === 0 ? outbox.start : 0; i < block.length; i++) all.push(block[i]!);
    }
    for (const entry of outbox.tail) all.push(entry);
    flattened.set(outbox, (entries = all));
  }
  return entries;
}

/** `outbox` with `entry` after its newest entry: copies the tail, and the list of blocks when the tail fills one. */
export function appendToOutbox(outbox: Outbox, entry: OutboxEntry): Outbox {
  const { tail } = outbox;
  const grown: OutboxEntry[] = new Array<OutboxEntry>(tail.length + 1);
  for (let i = 0; i < tail.length; i++) grown[i] = tail[i]!;
  grown[tail.length] = entry;
  if (grown.length < BLOCK) return { size: outbox.size + 1, blocks: outbox.blocks, start: outbox.start, tail: grown };
  return { size: outbox.size + 1, blocks: outbox.blocks.concat([grown]), start: outbox.start, tail: NO_ENTRIES };
}

/** The oldest entry, if any. */
export function oldestEntry(outbox: Outbox): OutboxEntry | undefined {
  return outbox.blocks.length > 0 ? outbox.blocks[0]![outbox.start] : outbox.tail[0];
}

/** `outbox` without its oldest entry (the same outbox when empty). */
function withoutOldest(outbox: Outbox): Outbox {
  if (outbox.size === 0) return outbox;
  if (outbox.size === 1) return EMPTY_OUTBOX;
  const { blocks } = outbox;
  if (blocks.length === 0) return { size: outbox.size - 1, blocks, start: 0, tail: outbox.tail.slice(1) };
  if (outbox.start + 1 < blocks[0]!.length) return { size: outbox.size - 1, blocks, start: outbox.start + 1, tail: outbox.tail };
  return { size: outbox.size - 1, blocks: blocks.slice(1), start: 0, tail: outbox.tail };
}

/**
 * `outbox` without the oldest entry awaiting the ack `ackId` (the same outbox when none does).
 * Answers come in the order the ops went out, so that entry is the oldest nearly always: then
 * nothing is copied but, once every `BLOCK` answers, the list of blocks.
 */
export function settleInOutbox(outbox: Outbox, ackId: string): Outbox {
  if (oldestEntry(outbox)?.ackId === ackId) return withoutOldest(outbox);
  const entries = outboxEntries(outbox);
  const index = entries.findIndex((entry) => entry.ackId === ackId);
  return index < 0 ? outbox : outboxOf(entries.filter((_, at) => at !== index));
}

/** The entries that pass `keep`, as an outbox (the same outbox when all do). */
export function filterOutbox(outbox: Outbox, keep: (entry: OutboxEntry) => boolean): Outbox {
  const entries = outboxEntries(outbox);
  const kept = entries.filter(keep);
  return kept.length === entries.length ? outbox : outboxOf(kept);
}

/** Each entry replaced by `change(entry)`, as an outbox (the same outbox when none changes). */
export function mapOutbox(outbox: Outbox, change: (entry: OutboxEntry) => OutboxEntry): Outbox {
  const entries = outboxEntries(outbox);
  let changed = false;
  const next = entries.map((entry) => {
    const replaced = change(entry);
    if (replaced !== entry) changed = true;
    return replaced;
  });
  return changed ? outboxOf(next) : outbox;
}

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

export function admitToOutbox(outbox: Outbox, { limit, overflow }: ConnectionConfig['outbox']): Admission {
  if (outbox.size < limit) return { kind: 'append' };
  if (overflow === 'reject') return { kind: 'refuse' };
  if (overflow === 'drop-newest') return { kind: 'drop-new' };
  // A dropped entry must be one that never applies: its `send()` rejects ERR_OUTBOX_FULL, which
  // says "never applied". A written entry may already be applied on the server (issue 13,
  // t33-dropoldest-fate): dropping it frees no work there and would lie about its fate, so when
  // every entry has been written the new one, never written, is the one dropped.
  const index = outboxEntries(outbox).findIndex((entry) => !entry.sent);
  return index < 0 ? { kind: 'drop-new' } : { kind: 'drop-entry', index };
}
