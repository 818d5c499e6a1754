/**
 * Pipelined server changes on Redis (src/server/redis/server-lane.ts): a redis-server of the test's
 * own (SCRIPT FLUSH and a kill reach every client of a Redis, never the shared one), two real
 * server instances, protocol version 2 subscribers on raw WebSockets on both. Both instances make
 * server changes on one channel as fast as `change()` takes them; mid-stream the script cache is
 * flushed, again and again, and then Redis is killed and restarted (append-only, fsync always).
 * Every subscriber gets every seq once, in order, with no gap (resuming after its 1013), the
 * changes of each instance take seqs in the order it made them, and each is applied at most once.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EngineUnavailableError } from '../../../src/server/engine.js';
import { startSyncServer, type RunningServer } from '../../../src/server/index.js';
import { MAX_APPENDS_IN_FLIGHT } from '../../../src/server/redis/server-lane.js';
import { redisEngine } from '../../../src/server/redis/index.js';
import { APPEND_SCRIPT } from '../../../src/server/redis/scripts.js';
import { startOwnRedis, REDIS_WAIT_MS } from '../../support/redis.js';
import { until } from './redis-support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const CHANNEL = 'feed';
const APPEND_SHA = createHash('sha1').update(APPEND_SCRIPT).digest('hex');
type Frame = { type: string; [key: string]: unknown };

/**
 * A subscriber that resumes after every close (1013 while Redis is away) from the last seq it
 * got; `seqs` is every patch's seq in arrival order over all its connections.
 */
function subscriber(url: string, id: string) {
  const state = { seqs: [] as number[], changes: new Map<number, string>(), epoch: '', synced: 0, snapshotsAfterFirst: 0, closes: 0, stopped: false };
  let socket: WebSocket | undefined;
  const connect = () => {
    if (state.stopped) return;
    const ws = new WebSocket(url);
    socket = ws;
    ws.on('error', () => {}); // a refused connect while the server drops everyone: the close retries
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', v: 2, client: id }));
      const position = state.epoch === '' ? {} : { epoch: state.epoch, since: state.seqs.at(-1) ?? 0 };
      ws.send(JSON.stringify({ type: 'subscribe', channel: CHANNEL, ...position }));
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.channel !== CHANNEL) return;
      if (frame.type === 'snapshot' && state.epoch !== '') state.snapshotsAfterFirst++;
      if (frame.type === 'synced') {
        state.epoch = frame.epoch as string;
        state.synced++;
      }
      if (frame.type === 'patch') {
        state.seqs.push(frame.seq as number);
        state.changes.set(frame.seq as number, JSON.stringify(frame.set));
      }
    });
    ws.on('close', () => {
      state.closes++;
      if (state.stopped) return;
      const timer = setTimeout(connect, 50);
      cleanups.push(() => clearTimeout(timer));
    });
  };
  connect();
  cleanups.push(() => {
    state.stopped = true;
    socket?.terminate();
  });
  return state;
}

/** The feed of one instance: change i sets `<name>:<i>` to i; its outcomes, by i. */
function feed(server: RunningServer, name: string) {
  const outcomes = new Map<number, { seq: number } | Error>();
  let made = 0;
  const make = (count: number) => {
    for (let k = 0; k < count; k++) {
      const i = ++made;
      try {
        server.change({ set: { [`${name}:${i}`]: i } }, CHANNEL).then(
          (result) => outcomes.set(i, { seq: result.seq }),
          (error: unknown) => outcomes.set(i, error as Error),
        );
      } catch (error) {
        outcomes.set(i, error as Error);
      }
    }
  };
  return { outcomes, make, made: () => made, settled: () => outcomes.size === made };
}

describe('pipelined server changes on Redis', () => {
  it('reach the subscribers of two instances once each, in seq order, with no gap, in the order each instance made them, across SCRIPT FLUSH and an outage', async () => {
    const redis = await startOwnRedis({ persistence: 'always' });
    cleanups.push(() => redis.stop());
    const servers: RunningServer[] = [];
    for (let i = 0; i < 2; i++) {
      const engine = redisEngine({ url: redis.url, prefix: 'p:', logSize: 10_000, commandTimeoutMs: 1_000, heartbeatMs: 100, onError: () => {} });
      cleanups.push(() => engine.close());
      await engine.ready(REDIS_WAIT_MS);
      const server = await startSyncServer({ port: 0, host: '127.0.0.1', engine });
      cleanups.push(() => server.close());
      servers.push(server);
    }
    const subscribers = servers.flatMap((server, i) => [subscriber(server.url, `s${i}a`), subscriber(server.url, `s${i}b`)]);
    await until(() => subscribers.every((s) => s.synced > 0), REDIS_WAIT_MS, 'every subscriber synced');
    const feeds = servers.map((server, i) => feed(server, `i${i}`));
    const burst = MAX_APPENDS_IN_FLIGHT * 4; // more than the lane holds in flight: the rest wait behind
    const noScript = async () => Number(/errorstat_NOSCRIPT:count=(\d+)/.exec(String(await redis.command('INFO', 'errorstats')))?.[1] ?? 0);

    // 1. Bursts from both instances with the script cache flushed between them: the flush lands
    //    among appends in flight, and each instance's EVAL loads the script for the other's.
    for (let round = 0; round < 6; round++) {
      for (const f of feeds) f.make(burst);
      await redis.command('SCRIPT', 'FLUSH');
      await until(() => feeds.every((f) => f.settled()), REDIS_WAIT_MS, `round ${round} settled`);
    }
    expect(await noScript()).toBeGreaterThan(0); // the lanes did meet NOSCRIPT mid-stream
    for (const f of feeds) expect([...f.outcomes.values()].filter((o) => o instanceof Error)).toEqual([]);

    // 2. An outage mid-stream: Redis killed with appends in flight, then restarted.
    for (const f of feeds) f.make(burst);
    await redis.kill('SIGKILL');
    for (const f of feeds) f.make(burst); // made while it is down: rejected at once
    await until(() => feeds.every((f) => f.settled()), REDIS_WAIT_MS, 'the changes around the kill settled');
    await until(() => subscribers.every((s) => s.closes > 0), REDIS_WAIT_MS, 'every subscriber closed (1013)');
    await redis.restart();
    // Changes again once the instances serve again: rounds until one applies whole (bounded).
    const lastRoundApplied = (f: ReturnType<typeof feed>) => Array.from({ length: burst }, (_, k) => f.outcomes.get(f.made() - k)).every((o) => o !== undefined && !(o instanceof Error));
    for (let round = 0; round < 200; round++) {
      for (const f of feeds) f.make(burst);
      await until(() => feeds.every((f) => f.settled()), REDIS_WAIT_MS, 'a round after the restart settled');
      if (feeds.every(lastRoundApplied)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(feeds.every(lastRoundApplied)).toBe(true);

    // The log: each instance's changes in the order made, each once; every applied one where it said.
    const reader = redisEngine({ url: redis.url, prefix: 'p:', logSize: 10_000, onError: () => {} });
    cleanups.push(() => reader.close());
    await reader.ready(REDIS_WAIT_MS);
    const following = await reader.follow(CHANNEL, { entries: () => {}, reset: () => {}, presence: () => {} });
    const log = (await reader.readLog(CHANNEL, following.epoch, 0)) ?? [];
    following.unfollow();
    expect(log.map((e) => e.seq)).toEqual(Array.from({ length: following.seq }, (_, i) => i + 1));
    feeds.forEach((f, n) => {
      const made = log.flatMap((e) => Object.keys(e.changes.set ?? {})).filter((key) => key.startsWith(`i${n}:`)).map((key) => Number(key.slice(key.indexOf(':') + 1)));
      for (let k = 1; k < made.length; k++) expect(made[k]).toBeGreaterThan(made[k - 1] as number);
      for (const [i, outcome] of f.outcomes) {
        if (outcome instanceof Error) expect(outcome).toBeInstanceOf(EngineUnavailableError);
        else expect(log[outcome.seq - 1]?.changes.set).toEqual({ [`i${n}:${i}`]: i });
      }
      expect([...f.outcomes.values()].some((o) => o instanceof Error)).toBe(true); // the outage did fail some
    });

    // Every subscriber: every seq once, in order, no gap; the same change at each seq as the log.
    await until(() => subscribers.every((s) => (s.seqs.at(-1) ?? 0) === following.seq), REDIS_WAIT_MS, 'every subscriber at the last seq');
    for (const s of subscribers) {
      expect(s.seqs).toEqual(Array.from({ length: following.seq }, (_, i) => i + 1));
      expect(s.snapshotsAfterFirst).toBe(0);
      for (const entry of log) expect(s.changes.get(entry.seq)).toBe(JSON.stringify(entry.changes.set));
    }
  });
});

describe('pipelined server changes meeting NOSCRIPT', () => {
  it('keep their order when one append meets NOSCRIPT and the appends behind it find the script (loaded again in between, by anyone)', async () => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    const engine = redisEngine({ url: redis.url, prefix: 'n:', logSize: 10_000, onError: () => {} });
    cleanups.push(() => engine.close());
    await engine.ready(REDIS_WAIT_MS);
    const server = await startSyncServer({ port: 0, host: '127.0.0.1', engine });
    cleanups.push(() => server.close());
    const watcher = subscriber(server.url, 'w');
    await until(() => watcher.synced > 0, REDIS_WAIT_MS, 'the subscriber synced');
    await server.change({ set: { 'x:0': 0 } }, CHANNEL); // the script in Redis's cache from here on
    // The 10th APPEND after names a script Redis does not have: a real NOSCRIPT for it alone, as when the
    // cache was flushed just before it and the script loaded again just after.
    type Sender = { evalsha(...args: unknown[]): unknown };
    const pipeline = engine.redis.pipeline.bind(engine.redis) as () => Sender;
    let appends = 0;
    (engine.redis as unknown as { pipeline: () => Sender }).pipeline = () => {
      const batch = pipeline();
      const evalsha = batch.evalsha.bind(batch);
      batch.evalsha = (sha: unknown, ...rest: unknown[]) => evalsha(sha === APPEND_SHA && ++appends === 10 ? '0'.repeat(40) : sha, ...rest);
      return batch;
    };
    const f = feed(server, 'x');
    f.make(MAX_APPENDS_IN_FLIGHT * 3);
    await until(() => f.settled(), REDIS_WAIT_MS, 'every change settled');
    expect(appends).toBeGreaterThan(10);
    // Change i (after the first, seq 1) is seq i + 1, and the subscriber got them all so.
    const seqs = [...f.outcomes.entries()].map(([i, o]) => [i, o instanceof Error ? o.message : o.seq]);
    expect(seqs).toEqual(Array.from({ length: f.made() }, (_, k) => [k + 1, k + 2]));
    await until(() => watcher.seqs.length === f.made() + 1, REDIS_WAIT_MS, 'the subscriber has every change');
    expect(watcher.seqs).toEqual(Array.from({ length: f.made() + 1 }, (_, k) => k + 1));
    for (let i = 0; i <= f.made(); i++) expect(watcher.changes.get(i + 1)).toBe(JSON.stringify({ [`x:${i}`]: i }));
  });
});
