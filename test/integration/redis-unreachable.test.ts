/**
 * Issue 14 §3, Redis unreachable for 10 s: two server instances (`startSyncServer({ redis })`)
 * reach a redis-server of the test's own through a pausable TCP proxy, paused with 'hold' (a network
 * partition: connections stay open and nothing answers, the case no socket error reveals) while
 * version 2 clients keep sending. Both instances keep serving: they close their clients with 1013,
 * count the outage, and serve again by themselves; the ops
 * queued meanwhile apply exactly once after Redis is back, and none acked before is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startOwnRedis } from '../support/redis.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { stopV2Connections } from './channels-support.js';
import { CHANNELS, closeInstances, converged, expectAppliedOnce, keepSending, snapshotsOf, startInstances, startWriters, until } from './redis-instances.js';

afterEach(async () => {
  stopV2Connections();
  await closeInstances();
});

const WRITERS = 4;
const OUTAGE_MS = 10_000;
const TRY_AGAIN_LATER = 1013;

describe('Redis unreachable under two server instances', () => {
  it('for 10 s while clients keep sending: both instances keep serving, clients get 1013, queued ops apply exactly once after, nothing acked is lost', async () => {
    const redis = await startOwnRedis({ persistence: 'none' });
    const proxy = await startTcpProxy({ port: redis.port });
    try {
      const instances = await startInstances(`redis://127.0.0.1:${proxy.port}`, 2);
      const writers = await startWriters(instances, WRITERS);
      const sending = keepSending(writers, 250);
      await until(() => sending.acked() >= 8, '8 acked ops before the outage');
      const epochs = CHANNELS.map((name) => writers[0]!.channels.get(name)!.model.position()?.epoch);

      proxy.pause('hold');
      const pausedAt = Date.now();
      const sentBefore = sending.ops.length;
      // The instances notice (timeouts and silent pings) and close every client with 1013.
      await until(() => writers.every((writer) => writer.closeCodes.includes(TRY_AGAIN_LATER)), 'every writer closed with 1013', () => writers.map((w) => w.closeCodes));
      // The outage lasts its 10 s whatever the machine's speed: a duration the issue sets, not a wait for an event.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, pausedAt + OUTAGE_MS - Date.now())));
      const queued = sending.ops.length - sentBefore;
      const outboxes = writers.map((writer) => writer.connection.getStatus().outboxSize);
      // Ops were sent all along the outage, and waited in every writer's outbox.
      expect(queued).toBeGreaterThan(0);
      for (const size of outboxes) expect(size).toBeGreaterThan(0);
      proxy.resume();

      const sentAtResume = sending.ops.length;
      await until(() => sending.ops.slice(0, sentAtResume).every((op) => op.acked), 'every op queued during the outage acked', () => sending.acked());
      await sending.stop();

      const states = await converged(instances, writers, 'after');
      // Every op of the run, those acked before, those queued during the outage and after: each once.
      for (const op of sending.ops) expect(states.get(op.channel)!.data[op.key], `${op.channel} ${op.key}`).toBe(op.value);
      for (const name of CHANNELS) expect(states.get(name)!.seq, name).toBe(sending.ops.filter((op) => op.channel === name).length);
      expectAppliedOnce(states, writers, 'after');
      // Redis kept everything and its run: same epochs, and the writers resumed by replay.
      for (const [i, name] of CHANNELS.entries()) expect(states.get(name)!.epoch, name).toBe(epochs[i]);
      expect(snapshotsOf(writers)).toEqual(writers.map(() => CHANNELS.map(() => 1)));

      // The instances' own counts: each had an outage; every op appended with a known answer counted
      // once in opsApplied; an op whose answer was lost with the partition was applied (it is in the
      // seq) and its resend was answered as a duplicate.
      const counters = instances.map((instance) => instance.stats());
      for (const counted of counters) expect(counted.engineOutages).toBeGreaterThanOrEqual(1);
      const applied = counters.reduce((sum, counted) => sum + counted.opsApplied, 0);
      const duplicates = counters.reduce((sum, counted) => sum + counted.opsDuplicate, 0);
      const seqs = CHANNELS.reduce((sum, name) => sum + states.get(name)!.seq, 0);
      expect(applied).toBeLessThanOrEqual(seqs);
      expect(seqs - applied).toBeLessThanOrEqual(duplicates);
    } finally {
      stopV2Connections();
      await closeInstances();
      await proxy.close();
      await redis.stop();
    }
  }, 60_000);
});
