/**
 * Tests on the shared Redis (127.0.0.1:6379, nothing on disk): each test file takes a random key
 * prefix and deletes its keys afterwards. A Redis that cannot be reached fails the test with how
 * to start one (never a skip).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ChannelEntry } from '../../../src/server/engine.js';
import { redisEngine, type RedisEngine, type RedisEngineOptions } from '../../../src/server/redis/index.js';
import type { Json } from '../../../src/store.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const HOW_TO_START = `start Redis: redis-server --port 6379 --save '' --appendonly no --daemonize yes (or set REDIS_URL)`;

/** A prefix of this test's own, with engines made on it and cleanup of every key under it. */
export function redisTestBed(name: string) {
  const prefix = `statesocket-test:${name}:${randomBytes(4).toString('hex')}:`;
  const engines: RedisEngine[] = [];
  const clients: Redis[] = [];

  return {
    prefix,
    /** An engine on this prefix, ready (fails the test with how to start Redis when there is none). */
    async engine(options: RedisEngineOptions = {}): Promise<RedisEngine> {
      const engine = redisEngine({ url: REDIS_URL, prefix, onError: () => {}, ...options });
      engines.push(engine);
      try {
        await engine.ready(3000);
      } catch (error) {
        throw new Error(`Redis at ${REDIS_URL} is unreachable: ${HOW_TO_START}`, { cause: error });
      }
      return engine;
    },
    /** A plain connection (for inspecting and breaking keys). */
    async client(): Promise<Redis> {
      const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      clients.push(client);
      client.on('error', () => {}); // reported by connect() below
      try {
        await client.connect();
      } catch (error) {
        throw new Error(`Redis at ${REDIS_URL} is unreachable: ${HOW_TO_START}`, { cause: error });
      }
      return client;
    },
    /**
     * Redis's state of a channel, read through an engine on this prefix (not through an instance):
     * its epoch, seq, document, and its log from seq 1 (fails when the log no longer reaches back).
     */
    async channel(name: string): Promise<{ epoch: string; seq: number; data: Record<string, Json>; log: readonly ChannelEntry[] }> {
      const engine = await this.engine();
      const following = await engine.follow(name, { entries: () => {}, reset: () => {}, presence: () => {} });
      await following.unfollow();
      const log = await engine.readLog(name, following.epoch, 0);
      if (log === undefined) throw new Error(`Redis's log of ${name} no longer covers seq 1 (epoch ${following.epoch})`);
      return { epoch: following.epoch, seq: following.seq, data: following.data, log };
    },
    /** Every key under the prefix. */
    async keys(): Promise<string[]> {
      const client = await this.client();
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        found.push(...batch);
      } while (cursor !== '0');
      return found;
    },
    /** Closes every engine and deletes every key under the prefix. */
    async cleanup(): Promise<void> {
      for (const engine of engines.splice(0)) await engine.close();
      const keys = await this.keys();
      const client = clients[0];
      if (client !== undefined && keys.length > 0) await client.del(...keys);
      for (const c of clients.splice(0)) c.disconnect();
    },
  };
}

/** The document after a channel's log entries up to `seq` (the channel started empty at seq 0). */
export function documentAt(log: readonly ChannelEntry[], seq: number): Record<string, Json> {
  const data: Record<string, Json> = {};
  for (const entry of log) {
    if (entry.seq > seq) break;
    Object.assign(data, entry.changes.set ?? {});
    for (const key of entry.changes.delete ?? []) delete data[key];
  }
  return data;
}

/** Waits until `check` holds, polling every 10 ms for at most `ms` (a bounded loop: it throws when time runs out). */
export async function until(check: () => boolean, ms = 5000, what = 'the condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
