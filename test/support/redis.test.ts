/** The Redis helpers of the integration tests, against real redis-server processes. */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedRedis, startOwnRedis } from './redis.js';

describe('sharedRedis', () => {
  it('answers, under a key prefix of its own that deleteKeys() empties', async () => {
    const redis = await sharedRedis();
    expect(await redis.command('PING')).toBe('PONG');
    await redis.command('SET', `${redis.prefix}a`, '1');
    await redis.command('SET', `${redis.prefix}b`, '2');
    expect(await redis.command('EXISTS', `${redis.prefix}a`, `${redis.prefix}b`)).toBe(2);
    await redis.deleteKeys();
    expect(await redis.command('EXISTS', `${redis.prefix}a`, `${redis.prefix}b`)).toBe(0);
  });

  it('fails, saying how to start one, when nothing answers', async () => {
    const { freePort } = await import('../../scripts/cluster/child.js');
    const url = `redis://127.0.0.1:${await freePort()}`;
    await expect(sharedRedis(url)).rejects.toThrow(`no Redis answers at ${url}`);
    await expect(sharedRedis(url)).rejects.toThrow("redis-server --port 6379 --save '' --daemonize yes");
  });
});

describe('startOwnRedis', () => {
  it('with persistence always keeps every acknowledged write through a SIGKILL and a restart on the same port and dir', async () => {
    const redis = await startOwnRedis({ persistence: 'always' });
    expect(await redis.command('CONFIG', 'GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    for (let i = 0; i < 50; i++) await redis.command('RPUSH', 'log', String(i));
    const before = redis.pid;
    await redis.kill('SIGKILL');
    await expect(redis.command('PING')).rejects.toThrow();
    await redis.restart();
    expect(redis.pid).not.toBe(before);
    expect(await redis.command('LLEN', 'log')).toBe(50);
    expect(await redis.command('LINDEX', 'log', '-1')).toBe('49');
    await redis.stop();
    expect(existsSync(redis.dir)).toBe(false);
  });

  it('without persistence keeps nothing on disk: a restart comes back empty', async () => {
    const redis = await startOwnRedis();
    expect(await redis.command('CONFIG', 'GET', 'save')).toEqual(['save', '']);
    await redis.command('SET', 'k', 'v');
    await redis.kill('SIGKILL');
    await redis.restart();
    expect(await redis.command('GET', 'k')).toBeNull();
    expect(await redis.command('DBSIZE')).toBe(0);
  });

  it('pauses (answers nothing, keeps its data) and resumes; a paused one still ends on a signal', async () => {
    const redis = await startOwnRedis();
    await redis.command('SET', 'k', 'v');
    redis.pause();
    await expect(redis.command('GET', 'k')).rejects.toThrow();
    redis.resume();
    expect(await redis.command('GET', 'k')).toBe('v');
    redis.pause();
    await redis.kill('SIGTERM');
    await expect(redis.command('PING')).rejects.toThrow();
  });

  it('runs several at once, each on its own port and dir', async () => {
    const [a, b] = await Promise.all([startOwnRedis(), startOwnRedis()]);
    expect(a.port).not.toBe(b.port);
    expect(a.dir).not.toBe(b.dir);
    await a.command('SET', 'k', 'a');
    expect(await b.command('GET', 'k')).toBeNull();
  });
});
