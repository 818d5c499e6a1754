/**
 * A channel's document as the server keeps it in memory: the data, each key's `"key":value`
 * entry in UTF-8 bytes and their sum (the document's size for the data limit, kept without
 * stringifying it).
 *
 * One per channel, not two (issue 14, scenario 11 (b)): the memory engine's stored channel is
 * one, and the server's followed copy of a channel on the server's own memory engine reads that
 * same one (`Channel.start`); on any other engine (Redis, or a memory engine given as `engine`,
 * shared by instances) the copy keeps one of its own.
 */
import type { Json } from '../store.js';
import type { Changes } from '../sync/messages.js';
import { documentBytes } from '../sync/values.js';

export interface ChannelDocument {
  data: Map<string, Json>;
  /** Per key, its `"key":value` entry's UTF-8 bytes. */
  sizes: Map<string, number>;
  /** The sum of `sizes`. */
  entrySum: number;
}

/** UTF-8 bytes of the document's JSON. */
export function bytesOf(doc: ChannelDocument): number {
  return documentBytes(doc.entrySum, doc.sizes.size);
}

/**
 * UTF-8 bytes of the document's JSON once `changes` are applied (deletes first, then sets), each
 * set key's entry measured in `entryBytes`. No allocation for a change that deletes nothing (the
 * feed's and most ops').
 */
export function bytesAfter(doc: ChannelDocument, changes: Changes, entryBytes: ReadonlyMap<string, number>): number {
  const deleted = changes.delete;
  let sum = doc.entrySum;
  let count = doc.sizes.size;
  if (deleted !== undefined && deleted.length > 0) {
    // A key may be deleted twice, or deleted and set: each old entry leaves once.
    const gone = new Set<string>();
    for (const key of deleted) {
      const old = doc.sizes.get(key);
      if (old === undefined || gone.has(key)) continue;
      gone.add(key);
      sum -= old;
      count--;
    }
    for (const [key, size] of entryBytes) {
      const old = doc.sizes.get(key);
      if (old !== undefined && !gone.has(key)) {
        sum -= old;
        count--;
      }
      sum += size;
      count++;
    }
    return documentBytes(sum, count);
  }
  for (const [key, size] of entryBytes) {
    const old = doc.sizes.get(key);
    if (old !== undefined) {
      sum -= old;
      count--;
    }
    sum += size;
    count++;
  }
  return documentBytes(sum, count);
}

/**
 * Applies `changes` (deletes first, then sets, each set key's entry measured in `entryBytes`). A
 * set key's entry is removed and set again: it moves to the document's end, as it always has.
 * No closure, no allocation per change (the feed's path, issue 14).
 */
export function applyChanges(doc: ChannelDocument, changes: Changes, entryBytes: ReadonlyMap<string, number>): void {
  const { data, sizes } = doc;
  const deleted = changes.delete;
  if (deleted !== undefined) {
    for (const key of deleted) {
      const size = sizes.get(key);
      if (size === undefined) continue;
      doc.entrySum -= size;
      sizes.delete(key);
      data.delete(key);
    }
  }
  const set = changes.set;
  if (set === undefined) return;
  for (const [key, size] of entryBytes) {
    const old = sizes.get(key);
    if (old !== undefined) {
      doc.entrySum -= old;
      sizes.delete(key);
      data.delete(key);
    }
    data.set(key, set[key] as Json);
    sizes.set(key, size);
    doc.entrySum += size;
  }
}
