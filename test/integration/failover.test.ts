/**
 * Issue 14 §3, failover with real processes: three Redis-backed statesocket-server instances behind
 * nginx (deploy/nginx.conf), the feed running on exactly one of them (its lease), and 100 version 2
 * clients (the library's own connection) through nginx, each on the feed's channel and on one shared
 * channel of ops, sending ops at a bounded rate. One instance holding clients is SIGKILLed mid-run:
 * its clients reconnect through nginx to the others and resume by replay (no snapshot: the log
 * covers the gap), every acked op is in Redis's document exactly once, and every client ends with
 * Redis's document. Waits are on events or bounded polls; nothing is timed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Channel, Connection } from '../../src/node.js';
import { countersOf, startInstance, startNginx, type Instance } from '../support/cluster.js';
import { documentAt, redisTestBed, REDIS_URL } from '../server/redis/redis-support.js';
import { channelClient, countingStore, stopV2Connections, until, waitForChannel, type CountingStore } from './channels-support.js';
import { eventually } from './server-process.js';

const CLIENTS = 100;
const OPS_PER_CLIENT = 4;
/** Between two ops of one client: 100 clients make about 125 ops a second, each delivered to all 100. */
const OP_INTERVAL_MS = 800;
const FEED = 'prices';
const OPS = 'ops';
const FEED_RATE = 10;
/** Each client's scheduled ops and one more at the kill. */
const TOTAL_OPS = CLIENTS * (OPS_PER_CLIENT + 1);

const bed = redisTestBed('failover');
const instances: Instance[] = [];
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  stopV2Connections();
  // Every process gone before the keys go: a live instance would write presence and leases again.
  await Promise.allSettled(stops.splice(0).map((stop) => stop()));
  await bed.cleanup();
});

interface Counters {
  connections: number;
  feedChanges: number;
  snapshotsSent: number;
  replays: number;
  opsApplied: number;
  opsDuplicate: number;
}

const allCounters = (group: readonly Instance[]) => Promise.all(group.map((instance) => countersOf<Counters>(instance)));
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

interface Client {
  id: string;
  connection: Connection;
  feed: Channel<CountingStore>;
  ops: Channel<CountingStore>;
  opens: () => number;
}

describe('failover across Redis-backed instances behind nginx', () => {
  it('moves a SIGKILLed instance’s clients to the others by replay, every acked op once, every document Redis’s', async () => {
    // Fails with how to start Redis when there is none (never a skip).
    await bed.client();
    const redis = { url: REDIS_URL, prefix: bed.prefix };
    const serverArgs = ['--no-app', '--feed-rate', String(FEED_RATE), '--feed-channel', FEED];
    const started = await Promise.allSettled([0, 1, 2].map(() => startInstance({ redis, serverArgs })));
    for (const result of started) {
      if (result.status === 'fulfilled') {
        instances.push(result.value);
        stops.push(() => result.value.stop());
      }
    }
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    const nginx = await startNginx(instances.map((instance) => instance.port));
    stops.unshift(() => nginx.stop());

    const clients: Client[] = Array.from({ length: CLIENTS }, (_, i) => {
      const id = `failover-${i}`;
      const connection = channelClient(nginx.url, { clientId: id, defaultChannel: false }) as unknown as Connection;
      return {
        id,
        connection,
        feed: connection.channel(FEED, { model: countingStore() }),
        ops: connection.channel(OPS, { model: countingStore() }),
        opens: () => connection.history.filter((entry) => entry.state === 'open').length,
      };
    });
    const channels = () => clients.flatMap((client) => [client.feed, client.ops]);
    for (const channel of channels()) await waitForChannel(channel, (s) => s.live, `${channel.name} live`);

    // Spread over all three; the feed runs on exactly one (its lease), never on two.
    const before = await eventually(
      () => allCounters(instances),
      (counters) => sum(counters.map((c) => c.connections)) === CLIENTS && counters.some((c) => c.feedChanges > 0),
      `${CLIENTS} connections and the feed running`,
    );
    for (const counters of before) expect(counters.connections).toBeGreaterThan(0);
    const feeders = before.flatMap((counters, index) => (counters.feedChanges > 0 ? [index] : []));
    expect(feeders).toHaveLength(1);
    // The victim holds clients but not the feed's lease (another would take the feed over only when its lease ran out).
    const victimIndex = before.findIndex((counters, index) => index !== feeders[0] && counters.connections > 0);
    const victim = instances[victimIndex]!;
    const survivors = instances.filter((instance) => instance !== victim);
    const victimClients = before[victimIndex]!.connections;
    const opensBefore = clients.map((client) => client.opens());
    for (const channel of channels()) expect(channel.model.snapshots, `${channel.name}: its first subscribe`).toBe(1);

    // Ops at a bounded rate; each sets a key of its own, so a second application would be a second patch and a seq more.
    const acked = new Set<string>();
    const refused: string[] = [];
    const answers: Array<Promise<void>> = [];
    const sendOp = (client: Client, i: number) => {
      const key = `${client.id}.${i}`;
      answers.push(client.ops.send({ set: { [key]: i } }).then(() => void acked.add(key), (error: Error) => void refused.push(`${key}: ${error.message}`)));
    };
    const sending = clients.map(async (client, c) => {
      await new Promise((resolve) => setTimeout(resolve, (c * OP_INTERVAL_MS) / CLIENTS));
      for (let i = 0; i < OPS_PER_CLIENT; i++) {
        sendOp(client, i);
        if (i < OPS_PER_CLIENT - 1) await new Promise((resolve) => setTimeout(resolve, OP_INTERVAL_MS));
      }
    });

    // Kill mid-run: a third of the ops acked, the rest sent or still to come.
    await until(() => acked.size >= TOTAL_OPS / 3, 'a third of the ops acked', () => acked.size);
    const survivorsBefore = await allCounters(survivors);
    // One more op from every client at once, the kill right behind them: the victim dies with ops of
    // its clients received, some appended to Redis and not yet acked. Their clients send them again.
    for (const client of clients) sendOp(client, OPS_PER_CLIENT);
    await victim.stop('SIGKILL');

    // Its clients reconnect through nginx to the others; nobody else reconnects.
    await eventually(() => allCounters(survivors), (counters) => sum(counters.map((c) => c.connections)) === CLIENTS, `all ${CLIENTS} on the survivors`);
    for (const channel of channels()) await waitForChannel(channel, (s) => s.live, `${channel.name} live again`);
    await Promise.all(sending);
    await Promise.all(answers);
    expect(refused).toEqual([]);
    expect(acked.size).toBe(TOTAL_OPS);
    const moved = clients.filter((client, index) => client.opens() > opensBefore[index]!);
    expect(moved).toHaveLength(victimClients);

    // The ops channel is quiet now: every client reaches Redis's position, with Redis's document.
    const ops = await bed.channel(OPS);
    await until(
      () => clients.every((client) => client.ops.model.position()?.seq === ops.seq),
      `every client at seq ${ops.seq} of ${OPS}`,
      () => clients.map((client) => client.ops.model.position()?.seq),
    );
    // Exactly once: one entry (one seq) per op, nothing else in the channel, every acked op's key in the document.
    expect(ops.seq).toBe(TOTAL_OPS);
    expect(ops.log.map((entry) => entry.seq)).toEqual(Array.from({ length: ops.seq }, (_, i) => i + 1));
    expect(Object.keys(ops.data).sort()).toEqual([...acked].sort());
    for (const key of acked) expect(ops.data[key], key).toBe(Number(key.slice(key.lastIndexOf('.') + 1)));
    for (const client of clients) {
      expect(client.ops.model.position(), `${client.id} ${OPS} position`).toEqual({ epoch: ops.epoch, seq: ops.seq });
      expect(client.ops.model.getData(), `${client.id} ${OPS} data`).toEqual(ops.data);
      const twice = [...client.ops.model.setsOf].filter(([, count]) => count > 1);
      expect(twice, `${client.id}: keys set by more than one patch`).toEqual([]);
    }

    // The feed goes on: every client passes the seq Redis holds now, and at its own seq holds Redis's document.
    const feedNow = await bed.channel(FEED);
    await until(
      () => clients.every((client) => (client.feed.model.position()?.seq ?? 0) >= feedNow.seq),
      `every client at seq ${feedNow.seq} of ${FEED} or past it`,
      () => clients.map((client) => client.feed.model.position()?.seq),
    );
    const feed = await bed.channel(FEED);
    expect(documentAt(feed.log, feed.seq)).toEqual(feed.data);
    for (const client of clients) {
      const position = client.feed.model.position();
      expect(position?.epoch, `${client.id} ${FEED} epoch`).toBe(feed.epoch);
      expect(client.feed.model.getData(), `${client.id} ${FEED} data at seq ${position?.seq}`).toEqual(documentAt(feed.log, position?.seq ?? -1));
    }

    // Resumed by replay: no snapshot after the first subscribe, at the clients and at the survivors.
    for (const channel of channels()) expect(channel.model.snapshots, `${channel.name}: snapshots`).toBe(1);
    const survivorsAfter = await allCounters(survivors);
    expect(sum(survivorsAfter.map((c) => c.snapshotsSent))).toBe(sum(survivorsBefore.map((c) => c.snapshotsSent)));
    expect(sum(survivorsAfter.map((c) => c.replays)) - sum(survivorsBefore.map((c) => c.replays))).toBe(2 * victimClients);
    // The feed stayed on its one instance.
    expect(survivorsAfter.filter((c) => c.feedChanges > 0)).toHaveLength(1);
  }, 90_000);
});
