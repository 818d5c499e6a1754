/**
 * The feed after a failed append, on a Redis of the test's own: while Redis refuses every write
 * (`maxmemory` 1 byte, `noeviction`), the feed's changes fail; once it takes writes again, the
 * feed's next price goes on from the channel's document (the last price stored), not from the
 * prices it made but never stored (a jump of several steps at once).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFeed, type FeedCounters } from '../../../src/server/feed.js';
import { redisEngine } from '../../../src/server/redis/index.js';
import { createSyncServer } from '../../../src/server/sync-server.js';
import { startOwnRedis } from '../../support/redis.js';
import { until } from './redis-support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One change a tick, always `BTC-USD` (the first symbol), always up by the same step. */
const RATE_PER_SEC = 20;
const UP = 0.99;
const STEP = 1 + (UP - 0.5) * 0.004;

describe('the feed on Redis', () => {
  it('goes on from the stored price after appends that failed, never from a price it made but did not store', async () => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    const engine = redisEngine({ url: redis.url, prefix: 'feed:', onError: () => {} });
    cleanups.push(() => engine.close());
    await engine.ready();
    const core = createSyncServer({ engine });
    cleanups.push(() => core.close());
    let draws = 0;
    const random = () => (draws++ % 2 === 0 ? 0 : UP);
    const stats: FeedCounters = { feedChanges: 0, feedRefused: 0, feedFailures: 0 };
    const stop = startFeed(core, 'prices', RATE_PER_SEC, random, stats, (tick) => tick());
    cleanups.push(stop);

    await until(() => stats.feedChanges >= 3, 10_000, 'three stored prices');
    await redis.command('CONFIG', 'SET', 'maxmemory', '1');
    await until(() => stats.feedFailures >= 4, 10_000, 'four failed changes');
    await redis.command('CONFIG', 'SET', 'maxmemory', '0');
    const before = stats.feedChanges;
    await until(() => stats.feedChanges >= before + 3, 10_000, 'three prices stored after the failures');
    stop();

    // Redis's log, read through an engine of its own: every stored price is one step from the one stored before.
    const reader = redisEngine({ url: redis.url, prefix: 'feed:', onError: () => {} });
    cleanups.push(() => reader.close());
    await reader.ready();
    const following = await reader.follow('prices', { entries: () => {}, reset: () => {}, presence: () => {} });
    await following.unfollow();
    const log = await reader.readLog('prices', following.epoch, 0);
    const stored = (log ?? []).map((entry) => entry.changes.set?.['BTC-USD']).filter((price): price is number => typeof price === 'number');
    expect(stored.length).toBeGreaterThanOrEqual(6);
    const steps = stored.slice(1).map((price, i) => ({ from: stored[i]!, to: price, expected: Number((stored[i]! * STEP).toPrecision(6)) }));
    expect(steps.filter((step) => step.to !== step.expected)).toEqual([]);
  });
});
