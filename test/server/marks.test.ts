/**
 * One channel's op marks (src/server/marks.ts): duplicates and their answers, the refusal bound
 * and floor, `acked`, the eviction rule (the owner holding the most; ties: the least recently
 * active), retention, the horizon, and what the data file holds.
 */
import { describe, expect, it } from 'vitest';
import { ChannelMarks, markKey } from '../../src/server/marks.js';

const limits = { maxClientsPerChannel: 3, markRetentionMs: 1000, maxRefusalsPerClient: 2 };

describe('marks', () => {
  it('answers a duplicate with its first answer: an ack, the same refusal, or forgotten past the refusal bound', () => {
    const marks = new ChannelMarks(limits);
    const key = markKey(null, 'c1');
    marks.raise(key, 'o', 1, 10);
    marks.raise(key, 'o', 2, 11, 'ERR_INVALID_FRAME');
    marks.raise(key, 'o', 3, 12, 'ERR_DATA_LIMIT');
    marks.raise(key, 'o', 4, 13, 'ERR_DATA_LIMIT'); // the refusal of 2 is forgotten: floor 2
    const mark = marks.get(key)!;
    expect([1, 2, 3, 4].map((n) => marks.judgeDuplicate(mark, n))).toEqual([
      { kind: 'forgotten' },
      { kind: 'forgotten' },
      { kind: 'refusal', code: 'ERR_DATA_LIMIT' },
      { kind: 'refusal', code: 'ERR_DATA_LIMIT' },
    ]);
    marks.noteAcked(key, 3);
    expect([1, 2, 3, 4].map((n) => marks.judgeDuplicate(mark, n).kind)).toEqual(['ack', 'ack', 'ack', 'refusal']);
  });

  it('forgets the least recently active mark of the owner holding the most; tied owners, the least recently active of theirs', () => {
    const marks = new ChannelMarks(limits);
    marks.raise(markKey('ann', 'a'), 'ann', 1, 1);
    marks.raise(markKey('bob', 'b1'), 'bob', 1, 2);
    marks.raise(markKey('bob', 'b2'), 'bob', 1, 3);
    marks.raise(markKey('eve', 'e'), 'eve', 1, 4); // bob holds the most: b1 goes
    expect(marks.get(markKey('bob', 'b1'))).toBeUndefined();
    expect(marks.horizon).toBe(2);
    marks.raise(markKey('ann', 'a'), 'ann', 2, 5); // ann active again
    marks.raise(markKey('zed', 'z'), 'zed', 1, 6); // ann, bob, eve tie at 1: the least recently active is bob's b2
    expect(marks.get(markKey('bob', 'b2'))).toBeUndefined();
    expect(marks.get(markKey('ann', 'a'))).toBeDefined();
    expect(marks.horizon).toBe(3);
  });

  it('forgets marks idle for markRetentionMs, raising the horizon', () => {
    const marks = new ChannelMarks(limits);
    marks.raise(markKey(null, 'old'), 'x', 1, 100);
    marks.raise(markKey(null, 'new'), 'x', 1, 1050);
    marks.raise(markKey(null, 'new'), 'x', 2, 1200);
    expect(marks.get(markKey(null, 'old'))).toBeUndefined();
    expect(marks.mayBeForgotten(100)).toBe(true);
    expect(marks.mayBeForgotten(101)).toBe(false);
  });

  it('round-trips through the data file, and trims a file holding more marks than the bound at the next new one', () => {
    const marks = new ChannelMarks({ ...limits, maxClientsPerChannel: 10 });
    for (let i = 0; i < 6; i++) marks.raise(markKey(i % 2 === 0 ? 'u' : null, `c${i}`), 'o', i + 1, i, i === 5 ? 'ERR_X' : undefined);
    const stored = JSON.parse(JSON.stringify(marks.persisted()));
    const loaded = new ChannelMarks(limits, stored);
    expect(loaded.persisted()).toEqual(stored);
    expect(loaded.size).toBe(6);
    loaded.raise(markKey(null, 'fresh'), 'p', 1, 10);
    expect(loaded.size).toBe(3);
    expect(loaded.get(markKey(null, 'fresh'))).toBeDefined();
  });

  it('puts back what raise did when the write that follows fails', () => {
    const marks = new ChannelMarks(limits);
    const key = markKey(null, 'c');
    marks.raise(key, 'o', 1, 1);
    marks.undo(marks.raise(key, 'o', 5, 2, 'ERR_X'));
    expect(marks.get(key)).toMatchObject({ n: 1, at: 1, refusals: undefined });
    marks.undo(marks.raise(markKey(null, 'd'), 'o', 1, 3));
    expect(marks.size).toBe(1);
  });
});
