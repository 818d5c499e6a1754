/**
 * Measures the Redis engine (figures in docs/scaling.md), on a redis-server of its own so that
 * INFO commandstats counts only this run:
 *   npx tsx test/server/redis/measure.ts [ops]
 * - append latency, sequential (one op at a time) and concurrent (3 instances × 8 clients);
 * - round trips per op: the commands clients sent (EVALSHA, EVAL, PING, XREAD…) per append;
 * - how followers learn of entries: pub/sub notices (what the engine does) against blocking
 *   stream reads (XREAD BLOCK on a dedicated connection per follower), with 3 followers:
 *   append → every follower latency, and the commands followers send per op.
 * Not a test (it asserts nothing and takes a while); it prints a table.
 */
import { Redis } from 'ioredis';
import { markKey } from '../../../src/server/marks.js';
import { channelKeys } from '../../../src/server/redis/keys.js';
import { redisEngine, type RedisEngine } from '../../../src/server/redis/index.js';
import { startOwnRedis } from '../../support/redis.js';

const OPS = Number(process.argv[2] ?? 2000);
const FOLLOWERS = 3;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(3)} ms, p99 ${percentile(sorted, 99).toFixed(3)} ms (n=${sorted.length})`;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1] as string, Number(match[2]));
  return calls;
}

/** Commands clients sent (a script's own commands are counted by Redis too: leave them out). */
const CLIENT_COMMANDS = ['evalsha', 'eval', 'ping', 'xread', 'xrange', 'subscribe', 'info', 'config'];

async function perOp(admin: Redis, run: () => Promise<number>): Promise<string> {
  await admin.config('RESETSTAT');
  const ops = await run();
  const calls = await commandCalls(admin);
  // Time Redis spent in the script per call: what bounds one Redis (one thread) in appends per second.
  const usec = /^cmdstat_evalsha:.*usec_per_call=([\d.]+)/m.exec(await admin.info('commandstats'))?.[1];
  return `${usec === undefined ? '' : `EVALSHA ${Number(usec).toFixed(1)} µs in Redis; `}` + CLIENT_COMMANDS.filter((name) => (calls.get(name) ?? 0) > 0 && name !== 'config' && name !== 'info')
    .map((name) => `${name} ${((calls.get(name) ?? 0) / ops).toFixed(3)}`)
    .join(', ');
}

/** OPS appends one at a time, each stamped with its start, each waiting until every follower got it (`arrived` counts). */
async function fanOut(appender: RedisEngine, arrived: () => number): Promise<number> {
  for (let i = 0; i < OPS; i++) {
    const target = arrived() + FOLLOWERS;
    await appender.append('fan', { set: { i, t: now() } });
    while (arrived() < target) await new Promise((resolve) => setImmediate(resolve));
  }
  return OPS;
}

async function main(): Promise<void> {
  const redis = await startOwnRedis();
  const admin = new Redis(redis.url);
  const engines: RedisEngine[] = [];
  const engine = async () => {
    const e = redisEngine({ url: redis.url, prefix: 'm:', heartbeatMs: 60_000 });
    engines.push(e);
    await e.ready();
    return e;
  };
  try {
    const a = await engine();
    await a.follow('warm', { entries() {}, reset() {}, presence() {} });
    for (let i = 1; i <= 200; i++) await a.append('warm', { set: { i } });

    // 1. Sequential appends, one instance, nobody else following.
    const sequential: number[] = [];
    const rtSequential = await perOp(admin, async () => {
      for (let n = 1; n <= OPS; n++) {
        const start = now();
        await a.append('seq', { set: { n } }, { mark: { key: markKey('u', 'c'), owner: 'u', n, at: Date.now() } });
        sequential.push(now() - start);
      }
      return OPS;
    });
    console.log(`append, sequential, 1 instance: ${summary(sequential)}; client commands per op: ${rtSequential}`);

    // 2. Concurrent appends: 3 instances × 8 clients, each client's ops one at a time, one channel.
    const instances = [a, await engine(), await engine()];
    const concurrent: number[] = [];
    const perClient = Math.ceil(OPS / 24);
    let started = now();
    const rtConcurrent = await perOp(admin, async () => {
      started = now();
      await Promise.all(
        instances.flatMap((e, i) =>
          Array.from({ length: 8 }, async (_, c) => {
            for (let n = 1; n <= perClient; n++) {
              const start = now();
              await e.append('conc', { set: { [`${i}-${c}`]: n } }, { mark: { key: markKey('u', `c${i}-${c}`), owner: 'u', n, at: Date.now() } });
              concurrent.push(now() - start);
            }
          }),
        ),
      );
      return perClient * 24;
    });
    const seconds = (now() - started) / 1000;
    console.log(`append, concurrent, 3 instances × 8 clients: ${summary(concurrent)}, ${(concurrent.length / seconds).toFixed(0)} appends/s; client commands per op: ${rtConcurrent}`);

    // 3. Followers by pub/sub (the engine): append → each of 3 followers on other instances.
    const followerEngines = [await engine(), await engine(), await engine()];
    const pubsub: number[] = [];
    let received = 0;
    for (const f of followerEngines) {
      await f.follow('fan', {
        entries(_epoch, entries) {
          const t = now();
          for (const entry of entries) {
            pubsub.push(t - (entry.changes.set?.t as number));
            received++;
          }
        },
        reset() {},
        presence() {},
      });
    }
    const rtPubsub = await perOp(admin, () => fanOut(a, () => received));
    console.log(`follow by pub/sub, ${FOLLOWERS} followers: append → follower ${summary(pubsub)}; client commands per op: ${rtPubsub}`);

    for (const f of followerEngines) await f.close();

    // 4. Followers by blocking stream reads: each on its own connection, XREAD BLOCK from its last id.
    const log = channelKeys('m:', 'fan').log;
    const readers = Array.from({ length: FOLLOWERS }, () => new Redis(redis.url));
    const blocking: number[] = [];
    let got = 0;
    let stop = false;
    const last = await admin.xrevrange(log, '+', '-', 'COUNT', 1);
    const loops = readers.map(async (reader) => {
      let id = last[0]?.[0] ?? '0-0';
      while (!stop) {
        const reply = (await reader.xread('BLOCK', 1000, 'STREAMS', log, id)) as Array<[string, Array<[string, string[]]>]> | null;
        const t = now();
        for (const [, entries] of reply ?? []) {
          for (const [entryId, fields] of entries) {
            id = entryId;
            blocking.push(t - (JSON.parse(fields[1] as string) as { set: { t: number } }).set.t);
            got++;
          }
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 100)); // every reader blocked
    const rtBlocking = await perOp(admin, () => fanOut(a, () => got));
    stop = true;
    console.log(`follow by XREAD BLOCK, ${FOLLOWERS} followers: append → follower ${summary(blocking)}; client commands per op: ${rtBlocking}`);
    await Promise.all(loops);
    for (const reader of readers) reader.disconnect();
  } finally {
    for (const e of engines) await e.close();
    admin.disconnect();
    await redis.stop();
  }
}

await main();
