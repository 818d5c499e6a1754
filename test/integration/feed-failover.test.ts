/**
 * The feed lease end to end, with real processes: three statesocket-server instances on one Redis,
 * each started with the feed (`--feed-rate`, `--feed-channel`). Exactly one runs it (the holder of
 * the lease `feed:<channel>`): the others append nothing. The holder is SIGKILLed: once its lease
 * runs out another instance takes it, and the feed goes on from the channel's document as it is
 * (same epoch, no seq gap, every price a small step from the one before it: never back to the
 * built-in prices), seen by subscribers on the surviving instances without a new snapshot.
 * Waits are on events or bounded polls; nothing is timed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Channel, Connection } from '../../src/node.js';
import { leaseKey } from '../../src/server/redis/keys.js';
import { countersOf, startInstance, type Instance } from '../support/cluster.js';
import { documentAt, redisTestBed, REDIS_URL } from '../server/redis/redis-support.js';
import { channelClient, countingStore, stopV2Connections, until, waitForChannel, type CountingStore } from './channels-support.js';
import { eventually } from './server-process.js';

const FEED = 'prices';
const FEED_RATE = 20;
/** Prices far from the feed's built-in ones (BTC-USD 64,000, …): a feed that started from its own would jump. */
const SEEDED = { 'BTC-USD': 1_000, 'ETH-USD': 100, 'SOL-USD': 10, 'ADA-USD': 1, 'DOT-USD': 50, 'XRP-USD': 5 };
/** The feed's largest step is ±0.2% (feed.ts), plus rounding to 6 significant digits. */
const MAX_STEP = 0.0021;
/** Changes the feed makes in a window the test looks at (about a second at FEED_RATE). */
const WINDOW = 20;

const bed = redisTestBed('feed-failover');
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  stopV2Connections();
  // Every process gone before the keys go: a live instance would renew its lease again.
  await Promise.allSettled(stops.splice(0).map((stop) => stop()));
  await bed.cleanup();
});

type Counters = { feedChanges: number; snapshotsSent: number };
const feedChanges = (group: readonly Instance[]) => Promise.all(group.map(async (instance) => (await countersOf<Counters>(instance)).feedChanges));

describe('the feed lease across Redis-backed instances', () => {
  it('runs the feed on one instance of three, and on another from the channel’s document once its holder is SIGKILLed', async () => {
    const redis = await bed.client(); // fails with how to start Redis when there is none (never a skip)
    const seeder = await bed.engine();
    expect(await seeder.append(FEED, { set: SEEDED })).toMatchObject({ status: 'applied', seq: 1 });
    const seeded = await bed.channel(FEED);

    const started = await Promise.allSettled(
      [0, 1, 2].map(() => startInstance({ redis: { url: REDIS_URL, prefix: bed.prefix }, serverArgs: ['--no-app', '--feed-rate', String(FEED_RATE), '--feed-channel', FEED] })),
    );
    const instances: Instance[] = [];
    for (const result of started) {
      if (result.status === 'fulfilled') {
        instances.push(result.value);
        stops.push(() => result.value.stop());
      }
    }
    for (const result of started) if (result.status === 'rejected') throw result.reason;

    // Exactly one appends: over a window of WINDOW changes, one instance's count grows and the others' stay 0.
    const first = await eventually(() => feedChanges(instances), (counts) => counts.some((n) => n > 0), 'the feed running');
    const holderIndex = first.findIndex((n) => n > 0);
    const window = await eventually(() => feedChanges(instances), (counts) => counts[holderIndex]! >= first[holderIndex]! + WINDOW, `${WINDOW} more feed changes`);
    expect(window.map((n, i) => (i === holderIndex ? 'holder' : n))).toEqual(instances.map((_, i) => (i === holderIndex ? 'holder' : 0)));
    const lease = leaseKey(bed.prefix, `feed:${FEED}`);
    const firstHolder = await redis.get(lease);
    expect(firstHolder).not.toBeNull();
    const holder = instances[holderIndex]!;
    const survivors = instances.filter((instance) => instance !== holder);

    // Subscribers on the instances that will survive.
    const subscribers: Array<{ id: string; feed: Channel<CountingStore> }> = survivors.flatMap((instance, s) =>
      [0, 1].map((c) => {
        const id = `subscriber-${s}-${c}`;
        const connection = channelClient(instance.url, { clientId: id, defaultChannel: false }) as unknown as Connection;
        return { id, feed: connection.channel(FEED, { model: countingStore() }) };
      }),
    );
    for (const { feed } of subscribers) await waitForChannel(feed, (s) => s.live, `${feed.name} live`);

    await holder.stop('SIGKILL');
    const seqAtKill = (await bed.channel(FEED)).seq;

    // Another instance takes the lease once the dead one's runs out (FEED_LEASE_MS), and runs the feed.
    await eventually(() => redis.get(lease), (current) => current !== null && current !== firstHolder, 'another holder of the lease', 400);
    const after = await eventually(() => feedChanges(survivors), (counts) => counts.some((n) => n >= WINDOW), `${WINDOW} feed changes on a survivor`);
    expect(after.filter((n) => n > 0)).toHaveLength(1);

    // Redis's channel: one epoch from the seed on, seqs 1..seq without a gap, each price a small step from the one before.
    const feed = await bed.channel(FEED);
    expect(feed.epoch).toBe(seeded.epoch);
    expect(feed.seq).toBeGreaterThanOrEqual(seqAtKill + WINDOW);
    expect(feed.log.map((entry) => entry.seq)).toEqual(Array.from({ length: feed.seq }, (_, i) => i + 1));
    const jumps: string[] = [];
    for (const entry of feed.log.slice(1)) {
      const before = documentAt(feed.log, entry.seq - 1);
      for (const [symbol, price] of Object.entries(entry.changes.set ?? {})) {
        const step = Math.abs((price as number) / (before[symbol] as number) - 1);
        if (!(step <= MAX_STEP)) jumps.push(`seq ${entry.seq}: ${symbol} ${String(before[symbol])} → ${String(price)}`);
      }
    }
    expect(jumps).toEqual([]);

    // The survivors' subscribers see it go on: past the kill, by patches (no second snapshot), each at Redis's document for its seq.
    await until(
      () => subscribers.every(({ feed: channel }) => (channel.model.position()?.seq ?? 0) >= feed.seq),
      `every subscriber at seq ${feed.seq} or past it`,
      () => subscribers.map(({ feed: channel }) => channel.model.position()),
    );
    const latest = await bed.channel(FEED);
    for (const { id, feed: channel } of subscribers) {
      const position = channel.model.position();
      expect(position?.epoch, `${id} epoch`).toBe(seeded.epoch);
      expect(channel.model.snapshots, `${id} snapshots`).toBe(1);
      expect(channel.model.getData(), `${id} data at seq ${position?.seq}`).toEqual(documentAt(latest.log, position?.seq ?? -1));
    }
  }, 120_000);
});
