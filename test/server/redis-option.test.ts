/**
 * The `redis` option of the Node server: checked like every option, exclusive with `dataFile` and
 * `engine`; given, the server runs on the Redis engine (shared Redis, a key prefix of the test's own).
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { attachSyncServer, memoryEngine, startSyncServer } from '../../src/server/index.js';
import { REDIS_URL, redisTestBed, until } from './redis/redis-support.js';

describe('the redis option', () => {
  it.each([
    [{ url: 'http://127.0.0.1:6379' }, RangeError, 'startSyncServer: redis.url must be redis://[user:password@]host[:port][/db] (or rediss:// for TLS); received "http://127.0.0.1:6379/"'],
    [{ url: 'redis://127.0.0.1:6379#x' }, RangeError, 'redis.url must be redis://'],
    [{ url: 'redis://:secret@127.0.0.1:6379/db' }, RangeError, 'received "redis://:[redacted]@127.0.0.1:6379/db"'],
    [{ url: 42 }, TypeError, 'redis.url must be a string; received 42'],
    [{ url: 'redis://127.0.0.1', prefix: '' }, RangeError, 'redis.prefix must be 1 to 100 printable ASCII characters without spaces, { or }'],
    [{ url: 'redis://127.0.0.1', prefix: 'x'.repeat(101) }, RangeError, 'redis.prefix must be 1 to 100'],
    [{ url: 'redis://127.0.0.1', db: 1 }, TypeError, 'unknown option redis.db; it takes url, prefix'],
    ['redis://127.0.0.1', TypeError, 'redis must be an object { url, prefix? }'],
  ])('refuses %j, naming the field', async (redis, type, message) => {
    const refused = startSyncServer({ port: 0, redis: redis as never });
    await expect(refused).rejects.toThrow(type);
    await expect(refused).rejects.toThrow(message);
  });

  it('is exclusive with dataFile', async () => {
    await expect(startSyncServer({ port: 0, dataFile: 'data.json', redis: { url: 'redis://127.0.0.1:6379' } })).rejects.toThrow(
      new TypeError('startSyncServer: give redis or dataFile, not both: with redis, Redis keeps the data'),
    );
  });

  it('builds the Redis engine: two servers given one url and prefix serve the same channels, and close it with themselves', async () => {
    const bed = redisTestBed('redis-option');
    await bed.engine(); // fails with how to start Redis when none answers
    const servers = [
      await startSyncServer({ port: 0, host: '127.0.0.1', redis: { url: REDIS_URL, prefix: bed.prefix } }),
      await startSyncServer({ port: 0, host: '127.0.0.1', redis: { url: REDIS_URL, prefix: bed.prefix } }),
    ];
    let socket: WebSocket | undefined;
    try {
      await servers[0]!.change({ set: { from: 'the first instance' } }, 'room');
      const reader = new WebSocket(servers[1]!.url);
      socket = reader;
      const frames: Array<Record<string, unknown>> = [];
      reader.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
      await new Promise((resolve, reject) => {
        reader.once('open', resolve);
        reader.once('error', reject);
      });
      reader.send(JSON.stringify({ type: 'hello', v: 2, client: 'reader' }));
      reader.send(JSON.stringify({ type: 'subscribe', channel: 'room' }));
      await until(() => frames.some((frame) => frame.type === 'snapshot'), 5000, 'the snapshot from the second instance');
      expect(frames.find((frame) => frame.type === 'snapshot')).toMatchObject({ channel: 'room', seq: 1, data: { from: 'the first instance' } });
    } finally {
      socket?.terminate();
      for (const server of servers) await server.close();
      await bed.cleanup();
    }
  });

  it('is startSyncServer\'s: attachSyncServer takes engine: redisEngine(...) instead', () => {
    const http = createServer();
    expect(() => attachSyncServer(http, { redis: { url: 'redis://127.0.0.1:6379' } })).toThrow(
      "attachSyncServer: redis is startSyncServer's (it builds the engine for you); here pass engine: redisEngine({ url, prefix }) from 'statesocket/server/redis'",
    );
  });

  it('is exclusive with engine', async () => {
    await expect(startSyncServer({ port: 0, redis: { url: 'redis://127.0.0.1:6379' }, engine: memoryEngine() })).rejects.toThrow('give engine or redis, not both');
  });
});
