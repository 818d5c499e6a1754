/**
 * The APPEND script never leaves half a step behind (Redis does not undo a script's writes when a
 * later command fails): a key of the wrong type, or a log whose last id is above the channel's seq,
 * fails the step before anything is written, and the op is not acked. On the shared Redis, under
 * this file's own prefix.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { markKey } from '../../../src/server/marks.js';
import { channelKeys } from '../../../src/server/redis/keys.js';
import { redisTestBed } from './redis-support.js';

const bed = redisTestBed('append-atomic');
afterAll(() => bed.cleanup());

const op = (n: number) => ({ mark: { key: markKey('ann', 'c1'), owner: 'ann', n, at: Date.now() } });

/** Everything the step could write, read back: document, marks, their times and owners, position, log. */
async function written(channel: string) {
  const redis = await bed.client();
  const k = channelKeys(bed.prefix, channel);
  const [meta, data, marks, markTimes, markOwners, logType] = await Promise.all([
    redis.hgetall(k.meta),
    redis.hgetall(k.data),
    redis.hgetall(k.marks),
    redis.zrange(k.markTimes, '0', '-1', 'WITHSCORES'),
    redis.hgetall(k.markOwners),
    redis.type(k.log),
  ]);
  const log = logType === 'stream' ? await redis.xrange(k.log, '-', '+') : await redis.get(k.log);
  return { meta, data, marks, markTimes, markOwners, log };
}

describe('redisEngine: an APPEND that fails midway', () => {
  it('writes nothing and acks nothing when the log key holds another type, and applies the op once the key is repaired', async () => {
    const engine = await bed.engine();
    const redis = await bed.client();
    expect(await engine.append('typed', { set: { a: 1 } }, op(1))).toMatchObject({ status: 'applied', seq: 1 });
    const k = channelKeys(bed.prefix, 'typed');
    const saved = await redis.dumpBuffer(k.log);
    await redis.del(k.log);
    await redis.set(k.log, 'not a stream');
    const before = await written('typed');

    await expect(engine.append('typed', { set: { a: 2, b: 2 }, delete: ['a'] }, op(2))).rejects.toThrow(/WRONGTYPE/);
    expect(await written('typed')).toEqual(before);

    // Repaired, the op is new to Redis: it applies (it was never acked, so it is no duplicate).
    await redis.del(k.log);
    await redis.restore(k.log, 0, saved!);
    expect(await engine.append('typed', { set: { a: 2, b: 2 }, delete: ['a'] }, op(2))).toMatchObject({ status: 'applied', seq: 2 });
    expect((await written('typed')).data).toMatchObject({ '"a"': '2', '"b"': '2' });
  });

  it('writes nothing when the log entry itself fails (a log whose last id is past the seq), the document untouched', async () => {
    const engine = await bed.engine();
    const redis = await bed.client();
    expect(await engine.append('ids', { set: { a: 1 } }, op(1))).toMatchObject({ status: 'applied', seq: 1 });
    const k = channelKeys(bed.prefix, 'ids');
    await redis.xadd(k.log, '999-0', 'c', '{}');
    const before = await written('ids');

    await expect(engine.append('ids', { set: { a: 2 } }, op(2))).rejects.toThrow(/ID specified in XADD/);
    expect(await written('ids')).toEqual(before);
  });

  it('refuses a wrong-typed key of version 1 op ids before writing, and LOAD a wrong-typed key of mark times', async () => {
    const engine = await bed.engine();
    const redis = await bed.client();
    await redis.set(`${bed.prefix}v1-ops`, 'x');
    await expect(engine.append('v1', { set: { a: 1 } }, { v1: { id: 'op-1', owner: 'ann' } })).rejects.toThrow(/WRONGTYPE statesocket: key .*v1-ops holds a string, expected a hash/);
    expect(await redis.exists(channelKeys(bed.prefix, 'v1').data)).toBe(0);
    await redis.del(`${bed.prefix}v1-ops`);

    await redis.set(channelKeys(bed.prefix, 'load').markTimes, 'x');
    await expect(engine.follow('load', { entries: () => {}, reset: () => {}, presence: () => {} })).rejects.toThrow(/WRONGTYPE statesocket: key .*\{load\}:mark-times holds a string, expected a zset/);
    expect(await redis.exists(channelKeys(bed.prefix, 'load').meta)).toBe(0);
  });
});

describe('error replies reported', () => {
  it('reports a WRONGTYPE to onError once per distinct message, however often it comes back', async () => {
    const reported: string[] = [];
    const engine = await bed.engine({ onError: (error) => reported.push(error.message) });
    const redis = await bed.client();
    const listener = { entries: () => {}, reset: () => {}, presence: () => {} };
    for (const channel of ['typed-a', 'typed-b']) await redis.set(channelKeys(bed.prefix, channel).markTimes, 'x');
    // Every subscribe of the channel fails the same way (its client closed with 1011, and back again).
    for (let i = 0; i < 3; i++) await expect(engine.follow('typed-a', listener)).rejects.toThrow(/WRONGTYPE/);
    await expect(engine.follow('typed-b', listener)).rejects.toThrow(/WRONGTYPE/);
    expect(reported).toHaveLength(2);
    expect(reported[0]).toMatch(/WRONGTYPE statesocket: key .*\{typed-a\}:mark-times holds a string, expected a zset/);
    expect(reported[1]).toMatch(/\{typed-b\}:mark-times/);
  });
});
