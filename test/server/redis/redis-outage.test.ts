/**
 * The Redis engine when Redis goes away: a redis-server of the test's own (test/support/redis.ts), killed,
 * paused and restarted. The engine reports unavailable, rejects commands at once instead of
 * queueing them, and serves again by itself; with append-only persistence every acked change
 * survives a kill, without it the channel starts a new epoch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EngineUnavailableError, type EngineStatus } from '../../../src/server/engine.js';
import { markKey } from '../../../src/server/marks.js';
import { redisEngine, type RedisEngine } from '../../../src/server/redis/index.js';
import { startOwnRedis, type OwnRedis } from '../../support/redis.js';
import { until } from './redis-support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(persistence: 'always' | 'everysec' | 'none', heartbeatMs = 100) {
  const redis: OwnRedis = await startOwnRedis({ persistence });
  cleanups.push(() => redis.stop());
  const engine: RedisEngine = redisEngine({ url: redis.url, prefix: 't:', commandTimeoutMs: 300, heartbeatMs, onError: () => {} });
  cleanups.push(() => engine.close());
  await engine.ready();
  const statuses: EngineStatus[] = [];
  engine.onStatus((status) => statuses.push(status));
  const seen = { epoch: '', seq: 0, resets: 0, data: {} as Record<string, unknown> };
  const following = await engine.follow('doc', {
    entries(epoch, entries) {
      for (const entry of entries) {
        seen.seq = entry.seq;
        Object.assign(seen.data, entry.changes.set ?? {});
      }
      seen.epoch = epoch;
    },
    reset(state) {
      seen.resets++;
      seen.epoch = state.epoch;
      seen.seq = state.seq;
      seen.data = { ...state.data };
    },
    presence() {},
  });
  seen.epoch = following.epoch;
  return { redis, engine, statuses, seen, following };
}

const op = (n: number) => ({ mark: { key: markKey('u', 'c'), owner: 'u', n, at: Date.now() } });

describe('redisEngine when Redis is unavailable', () => {
  it('reports unavailable, rejects commands at once while Redis is down, and serves again by itself after a restart (new epoch without persistence)', async () => {
    const { redis, engine, statuses, seen, following } = await setUp('none');
    expect(await engine.append('doc', { set: { a: 1 } }, op(1))).toMatchObject({ status: 'applied', seq: 1 });
    await redis.kill();
    await until(() => statuses.includes('unavailable'), 5000, 'unavailable');
    // No offline queue: every call while down rejects, none waits for Redis to come back.
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => engine.append('doc', { set: { b: i } }, op(2 + i))));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof EngineUnavailableError)).toBe(true);
    await redis.restart();
    await until(() => statuses.at(-1) === 'available', 10_000, 'available again');
    // Nothing was kept: the channel starts again at a new epoch, and the follower is told.
    expect(await engine.append('doc', { set: { c: 1 } }, op(60))).toMatchObject({ status: 'applied', seq: 1 });
    await until(() => seen.resets > 0 && seen.seq === 1, 5000, 'the follower reset to the new epoch');
    expect(seen.epoch).not.toBe(following.epoch);
    expect(seen.data).toEqual({ c: 1 });
  });

  it('keeps every acked change through a SIGKILL with appendfsync always: same epoch, same seq', async () => {
    const { redis, engine, statuses, seen, following } = await setUp('always');
    for (let n = 1; n <= 20; n++) await engine.append('doc', { set: { [`k${n}`]: n } }, op(n));
    await redis.kill('SIGKILL');
    await until(() => statuses.includes('unavailable'), 5000, 'unavailable');
    await redis.restart();
    await until(() => statuses.at(-1) === 'available', 10_000, 'available again');
    expect(await engine.append('doc', { set: { k20: 'again' } }, op(20))).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
    expect(await engine.append('doc', { set: { k21: 21 } }, op(21))).toEqual({ status: 'applied', epoch: following.epoch, seq: 21 });
    await until(() => seen.seq === 21, 5000, 'the follower at 21');
    expect(seen.resets).toBe(0);
    expect(Object.keys(seen.data)).toHaveLength(21);
  });

  it('starts a new epoch after a restart of a Redis that does not fsync every write (it may have lost acked changes), keeping the document and the marks', async () => {
    const { redis, engine, statuses, seen, following } = await setUp('everysec');
    for (let n = 1; n <= 5; n++) await engine.append('doc', { set: { [`k${n}`]: n } }, op(n));
    await redis.kill('SIGTERM'); // a clean shutdown: nothing is lost, but the engine cannot know that
    await until(() => statuses.includes('unavailable'), 5000, 'unavailable');
    await redis.restart();
    await until(() => statuses.at(-1) === 'available', 10_000, 'available again');
    expect(await engine.append('doc', { set: { k5: 'again' } }, op(5))).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
    const next = await engine.append('doc', { set: { k6: 6 } }, op(6));
    expect(next).toMatchObject({ status: 'applied', seq: 1 });
    expect(next.status === 'applied' && next.epoch).not.toBe(following.epoch);
    await until(() => seen.resets > 0 && seen.seq === 1, 5000, 'the follower reset to the new epoch');
    expect(Object.keys(seen.data).sort()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
  });

  it('reports a paused Redis as unavailable (commands time out) and available once it answers again, with nothing lost', async () => {
    const { redis, engine, statuses, seen } = await setUp('none');
    await engine.append('doc', { set: { a: 1 } }, op(1));
    redis.pause();
    await until(() => statuses.includes('unavailable'), 5000, 'unavailable');
    await expect(engine.append('doc', { set: { b: 1 } }, op(2))).rejects.toBeInstanceOf(EngineUnavailableError);
    redis.resume();
    await until(() => statuses.at(-1) === 'available', 10_000, 'available again');
    // The op sent while paused may or may not have been applied; its resend is judged by the mark.
    const resend = await engine.append('doc', { set: { b: 1 } }, op(2));
    expect(['applied', 'duplicate']).toContain(resend.status);
    await until(() => seen.seq === 2, 5000, `the follower at 2 (${JSON.stringify(seen)}, ${resend.status}, ${statuses.join()})`);
    expect(seen.data).toEqual({ a: 1, b: 1 });
  });

  it('after a call failed for unavailability, says unavailable and then available once Redis answers, without waiting for a heartbeat', async () => {
    const { redis, engine, statuses } = await setUp('none', 60_000);
    redis.pause();
    await expect(engine.append('doc', { set: { a: 1 } }, op(1))).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(statuses).toEqual(['unavailable']);
    redis.resume();
    await until(() => statuses.at(-1) === 'available', 5000, 'available again');
    expect(await engine.append('doc', { set: { a: 1 } }, op(1))).toMatchObject({ status: expect.stringMatching(/applied|duplicate/) });
  });
});
