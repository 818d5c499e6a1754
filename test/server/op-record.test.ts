/**
 * The op record's bookkeeping (see src/server/op-record.ts): who holds the most young ids, kept
 * in O(1) through adds, deletes and trims. Time is injected.
 */
import { describe, expect, it } from 'vitest';
import { createOpRecord } from '../../src/server/op-record.js';

function recordAt(size: number, retentionMs = 1_000) {
  const clock = { time: 0 };
  const record = createOpRecord<true>({ size, retentionMs, now: () => clock.time });
  const add = (owner: string, ...ids: string[]) => ids.forEach((id) => record.add(id, owner, true));
  return { clock, record, add, ids: () => Array.from(record.entries(), ([id]) => id) };
}

describe('the op record', () => {
  it('lets anyone in while it has room, and forgets expired ids by size', () => {
    const { clock, record, add, ids } = recordAt(2);
    add('a', 'a1', 'a2');
    expect(record.admit('a')).toBe(false);
    clock.time = 1_000;
    expect(record.admit('a')).toBe(true);
    add('a', 'a3');
    record.trim();
    expect(ids()).toEqual(['a2', 'a3']);
  });

  it('defers the owner holding the most, and takes room from it for anyone else', () => {
    const { record, add, ids } = recordAt(5);
    add('a', 'a1', 'a2', 'a3');
    add('b', 'b1', 'b2');
    expect(record.admit('a')).toBe(false);
    expect(record.admit('b')).toBe(true); // b holds 2 < 3: a forgets a1
    add('b', 'b3');
    expect(ids()).toEqual(['a2', 'a3', 'b1', 'b2', 'b3']);
    expect(record.admit('b')).toBe(false); // b holds 3, a 2
    expect(record.admit('a')).toBe(true); // a holds 2 < 3: b forgets b1
    add('a', 'a4');
    expect(ids()).toEqual(['a2', 'a3', 'b2', 'b3', 'a4']);
    expect([record.heldBy('a'), record.heldBy('b')]).toEqual([3, 2]);
  });

  it('finds the new top holder after deletes', () => {
    const { record, add } = recordAt(4);
    add('a', 'a1', 'a2', 'a3');
    add('b', 'b1');
    record.delete('a1');
    record.delete('a2');
    add('c', 'c1', 'c2');
    // a 1, b 1, c 2: c holds the most
    expect(record.admit('c')).toBe(false);
    expect(record.admit('b')).toBe(true);
    expect(record.has('c1')).toBe(false);
    expect(record.heldBy('c')).toBe(1);
  });

  it('counts a recording time in the future (the clock stepped back) as expired', () => {
    const { clock, record, add } = recordAt(1, 60_000);
    clock.time = 10_000;
    add('a', 'a1');
    clock.time = 0;
    expect(record.admit('a')).toBe(true);
  });
});
