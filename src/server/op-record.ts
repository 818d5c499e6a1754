/**
 * One op record of the sync core (the applied ids, or the refused ids): a bounded, insertion-ordered
 * map from an op id to when it was recorded and who sent it. Pure: time comes from `now`.
 *
 * An id is forgotten once `size` newer ids were recorded, but never while it is young (recorded
 * less than `retentionMs` ago, and not in the future: a wall clock that stepped back makes a
 * recording time look future, and that id counts as expired). When the record is full of young
 * ids, room is made fairly (`admit`): the sender that holds the most young ids is deferred; any
 * other sender gets the room by forgetting the oldest young id of the owner holding the most. So
 * one owner's flood only costs its own ids, never another owner's exactly-once.
 * Every operation is O(1) (amortised for `trim`).
 */

export interface OpRecordEntry<V> {
  value: V;
  /** When it was recorded (the clock of `now`). */
  at: number;
  owner: string;
}

export interface OpRecordOptions {
  /** How many ids the record keeps once they are past `retentionMs`. */
  size: number;
  /** Milliseconds an id is kept at least (0: by `size` alone). */
  retentionMs: number;
  now: () => number;
}

export function createOpRecord<V>(options: OpRecordOptions) {
  const { size, retentionMs, now } = options;
  const entries = new Map<string, OpRecordEntry<V>>();
  // Per owner, its ids in insertion order; per count, the owners holding that many; the top count.
  const byOwner = new Map<string, Set<string>>();
  const ownersWith = new Map<number, Set<string>>();
  let most = 0;

  function move(owner: string, from: number, to: number): void {
    if (from > 0) {
      const bucket = ownersWith.get(from)!;
      bucket.delete(owner);
      if (bucket.size === 0) {
        ownersWith.delete(from);
        if (most === from && to < from) most = to;
      }
    }
    if (to > 0) {
      let bucket = ownersWith.get(to);
      if (bucket === undefined) ownersWith.set(to, (bucket = new Set()));
      bucket.add(owner);
      if (to > most) most = to;
    }
  }

  function remove(id: string): void {
    const entry = entries.get(id);
    if (entry === undefined) return;
    entries.delete(id);
    const ids = byOwner.get(entry.owner)!;
    ids.delete(id);
    move(entry.owner, ids.size + 1, ids.size);
    if (ids.size === 0) byOwner.delete(entry.owner);
  }

  /** Recorded less than `retentionMs` ago, and not in the future. */
  function young(at: number): boolean {
    const age = now() - at;
    return age >= 0 && age < retentionMs;
  }

  return {
    get size() {
      return entries.size;
    },
    has: (id: string) => entries.has(id),
    get: (id: string): V | undefined => entries.get(id)?.value,
    /** Oldest first. */
    entries: () => entries.entries(),
    /** Ids held by `owner` (for tests and counters). */
    heldBy: (owner: string) => byOwner.get(owner)?.size ?? 0,

    /**
     * Whether `owner` may record a new id now. The record is full of young ids when it holds
     * `size` ids and its oldest is young; then the sender is deferred (false) if no owner holds more
     * ids than it does, and otherwise the owner holding the most loses its oldest id (true).
     */
    admit(owner: string): boolean {
      if (entries.size < size) return true;
      const oldest = entries.values().next().value;
      if (oldest === undefined || !young(oldest.at)) return true; // `trim` forgets it after the add
      const held = byOwner.get(owner)?.size ?? 0;
      if (held >= most) return false;
      const flooder = ownersWith.get(most)!.values().next().value as string;
      remove(byOwner.get(flooder)!.values().next().value as string);
      return true;
    },

    /** Records `id` (newest); a known id is moved to the end. Call `trim` once the record is final. */
    add(id: string, owner: string, value: V, at: number = now()): void {
      remove(id);
      entries.set(id, { value, at, owner });
      let ids = byOwner.get(owner);
      if (ids === undefined) byOwner.set(owner, (ids = new Set()));
      ids.add(id);
      move(owner, ids.size - 1, ids.size);
    },

    delete: remove,

    /** Forgets the oldest ids past `size` (`admit` made sure they are not young, or made room). */
    trim(): void {
      while (entries.size > size) remove(entries.keys().next().value as string);
    },
  };
}

export type OpRecord<V> = ReturnType<typeof createOpRecord<V>>;
