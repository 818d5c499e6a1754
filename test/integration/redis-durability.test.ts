/**
 * Issue 14 §3, Redis durability: two server instances (`startSyncServer({ redis })`) on a
 * redis-server of the test's own, version 2 clients sending ops all along, and the Redis SIGKILLed
 * and started again on its port and dir. With `appendfsync always` every acked op survives and
 * clients resume by replay; with nothing on disk every channel gets a new epoch, clients take its
 * snapshot and recover. Either way both instances keep serving (they close their clients with
 * 1013, count the outage and serve again by themselves) and every client ends equal to them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startOwnRedis } from '../support/redis.js';
import { stopV2Connections } from './channels-support.js';
import { CHANNELS, closeInstances, converged, expectAppliedOnce, keepSending, snapshotsOf, startInstances, startWriters, until } from './redis-instances.js';

afterEach(async () => {
  stopV2Connections();
  await closeInstances();
});

const WRITERS = 4;
const TRY_AGAIN_LATER = 1013;

/** What a test sees once Redis was killed and restarted under two instances and four writers. */
interface AfterRestart {
  instances: Awaited<ReturnType<typeof startInstances>>;
  writers: Awaited<ReturnType<typeof startWriters>>;
  sending: ReturnType<typeof keepSending>;
  epochsBefore: (string | undefined)[];
}

/**
 * Two instances on a Redis of the test's own, writers sending; 40 acked ops, then Redis SIGKILLed and
 * restarted (same port and dir); `check` asserts what its persistence promises; then, whatever it
 * promised, every writer was closed with 1013 and both instances counted the outage and kept serving.
 */
async function killRedisUnderLoad(appendonly: boolean, check: (run: AfterRestart) => Promise<void>): Promise<void> {
  const redis = await startOwnRedis({ persistence: appendonly ? 'always' : 'none' });
  try {
    const instances = await startInstances(redis.url, 2);
    const writers = await startWriters(instances, WRITERS);
    const sending = keepSending(writers, 30);
    await until(() => sending.acked() >= 40, '40 acked ops before the kill');
    const epochsBefore = CHANNELS.map((name) => writers[0]!.channels.get(name)!.model.position()?.epoch);
    await redis.kill('SIGKILL');
    await redis.restart();
    await check({ instances, writers, sending, epochsBefore });
    for (const writer of writers) expect(writer.closeCodes, writer.clientId).toContain(TRY_AGAIN_LATER);
    for (const instance of instances) expect(instance.stats().engineOutages).toBeGreaterThanOrEqual(1);
  } finally {
    stopV2Connections();
    await closeInstances();
    await redis.stop();
  }
}

describe('Redis killed with SIGKILL and restarted under two server instances', () => {
  it('with appendfsync always: every acked op survives, in the same epoch; clients resume by replay; both instances keep serving', async () => {
    await killRedisUnderLoad(true, async ({ instances, writers, sending, epochsBefore }) => {
      const afterRestart = sending.acked();
      await until(() => sending.acked() >= afterRestart + 40, '40 more acked ops after the restart', () => sending.acked());
      await sending.stop();

      const states = await converged(instances, writers, 'after');
      // Every op: those acked before the kill, those in flight at it (resent, judged by their marks), those after.
      for (const op of sending.ops) expect(states.get(op.channel)!.data[op.key], `${op.channel} ${op.key}`).toBe(op.value);
      for (const name of CHANNELS) expect(states.get(name)!.seq, name).toBe(sending.ops.filter((op) => op.channel === name).length);
      expectAppliedOnce(states, writers, 'after');
      for (const [i, name] of CHANNELS.entries()) expect(states.get(name)!.epoch, `${name}: the epoch stays`).toBe(epochsBefore[i]);
      // Nothing was lost, so every writer resumed by replay: the one snapshot of its first subscribe.
      expect(snapshotsOf(writers)).toEqual(writers.map(() => CHANNELS.map(() => 1)));
    });
  }, 60_000);

  it('with nothing on disk: every channel gets a new epoch, clients take its snapshot and end equal to the servers; both instances keep serving', async () => {
    await killRedisUnderLoad(false, async ({ instances, writers, sending, epochsBefore }) => {
      // Ops sent once every writer holds the new epoch went to the new Redis: they must all be there.
      const newEpoch = () => writers.every((writer) => CHANNELS.every((name, i) => writer.channels.get(name)!.model.position()?.epoch !== epochsBefore[i]));
      await until(newEpoch, 'every writer in a new epoch', () => snapshotsOf(writers));
      const sentInNewEpoch = sending.ops.length;
      await until(() => sending.acked() >= sentInNewEpoch + 40, '40 more acked ops in the new epoch', () => sending.acked());
      await sending.stop();

      const states = await converged(instances, writers, 'after');
      for (const [i, name] of CHANNELS.entries()) expect(states.get(name)!.epoch, `${name}: a new epoch`).not.toBe(epochsBefore[i]);
      for (const op of sending.ops.slice(sentInNewEpoch)) expect(states.get(op.channel)!.data[op.key], `${op.channel} ${op.key}`).toBe(op.value);
      expectAppliedOnce(states, writers, 'after');
      // The first subscribe's snapshot, and the new epoch's.
      expect(snapshotsOf(writers)).toEqual(writers.map(() => CHANNELS.map(() => 2)));
    });
  }, 60_000);
});
