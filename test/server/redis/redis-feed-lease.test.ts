/**
 * The feed's lease on Redis, two instances (two engines on one prefix of a Redis of the test's own):
 * the holder's way to Redis is cut (a TCP proxy holding every byte), so its renewals neither succeed
 * nor fail; it must stop running the feed once its lease's deadline passes, before Redis can give the
 * lease to the other instance. At no moment do both hold it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { holdFeedLease } from '../../../src/server/feed.js';
import { redisEngine } from '../../../src/server/redis/index.js';
import { startOwnRedis } from '../../support/redis.js';
import { startTcpProxy } from '../../support/tcp-proxy.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Short, so the test takes seconds; the rule is the same at FEED_LEASE_MS. */
const LEASE_MS = 1500;

describe('the feed lease on Redis', () => {
  it('stops the holder whose renewals hang once its deadline passes, before the other instance takes the lease: never two feeds', async () => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    const proxy = await startTcpProxy({ port: redis.port });
    cleanups.push(() => proxy.close());
    // The holder's calls wait as long as the cut lasts: no timeout, no heartbeat drop turns them into a failure.
    const slow = { commandTimeoutMs: 600_000, heartbeatMs: 600_000, onError: () => {} };
    const holderEngine = redisEngine({ url: `redis://127.0.0.1:${proxy.port}`, prefix: 'lease:', ...slow });
    cleanups.push(() => holderEngine.close());
    const otherEngine = redisEngine({ url: redis.url, prefix: 'lease:', onError: () => {} });
    cleanups.push(() => otherEngine.close());
    await Promise.all([holderEngine.ready(), otherEngine.ready()]);

    const holder = holdFeedLease(holderEngine, 'prices', 'instance-a', { leaseMs: LEASE_MS });
    cleanups.push(() => holder.stop());
    for (let i = 0; i < 1000 && !holder.held(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(holder.held()).toBe(true);
    const other = holdFeedLease(otherEngine, 'prices', 'instance-b', { leaseMs: LEASE_MS });
    cleanups.push(() => other.stop());

    proxy.pause('hold');
    // Bounded: the lease runs out in Redis within LEASE_MS of the last renewal, and the other renews every LEASE_MS / 3.
    let both = 0;
    let holderStopped = false;
    for (let i = 0; i < 2000 && !other.held(); i++) {
      if (holder.held() && other.held()) both++;
      if (!holder.held()) holderStopped = true;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(other.held()).toBe(true);
    expect(holderStopped).toBe(true);
    expect(holder.held()).toBe(false);
    expect(both).toBe(0);
    // Its renewal still hangs; it stays stopped while the other runs the feed.
    expect(proxy.heldBytes()).toBeGreaterThan(0);
  });
});
