/**
 * The `redis` option of the Node server: checked like every option, exclusive with `dataFile`, and,
 * while the Redis engine is not part of this build, a refusal to start rather than a silent run on
 * the memory engine (where instances meant to share one log would each keep their own).
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { attachSyncServer, startSyncServer } from '../../src/server/index.js';

describe('the redis option', () => {
  it.each([
    [{ url: 'http://127.0.0.1:6379' }, RangeError, 'startSyncServer: redis.url must be redis://[user:password@]host[:port][/db] (or rediss:// for TLS); received "http://127.0.0.1:6379/"'],
    [{ url: 'redis://127.0.0.1:6379#x' }, RangeError, 'redis.url must be redis://'],
    [{ url: 'redis://:secret@127.0.0.1:6379/db' }, RangeError, 'received "redis://:[redacted]@127.0.0.1:6379/db"'],
    [{ url: 42 }, TypeError, 'redis.url must be a string; received 42'],
    [{ url: 'redis://127.0.0.1', prefix: '' }, RangeError, 'redis.prefix must be 1 to 100 printable ASCII characters without spaces'],
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

  it('refuses to start a server while the Redis engine is not part of this build', async () => {
    const refused = startSyncServer({ port: 0, redis: { url: 'redis://user:secret@127.0.0.1:6379/2', prefix: 'app:' } });
    await expect(refused).rejects.toThrow(
      'the Redis engine is not available in this build (redis.url redis://user:[redacted]@127.0.0.1:6379/2); leave out redis (--redis, REDIS_URL) to run on the memory engine',
    );
    const http = createServer();
    expect(() => attachSyncServer(http, { redis: { url: 'redis://127.0.0.1:6379' } })).toThrow('the Redis engine is not available in this build');
  });
});
