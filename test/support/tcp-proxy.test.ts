/** The pausable TCP proxy, in front of a redis-server of the test's own. */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { redisCommand } from '../../scripts/cluster/resp.js';
import { startOwnRedis } from './redis.js';
import { startTcpProxy } from './tcp-proxy.js';

/** Polls `condition` a bounded number of times (50 ms apart). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never saw ${what}`);
}

describe('the pausable TCP proxy', () => {
  it('passes traffic through, and after resume() again', async () => {
    const redis = await startOwnRedis();
    const proxy = await startTcpProxy({ port: redis.port });
    const url = `redis://127.0.0.1:${proxy.port}`;
    expect(await redisCommand(url, ['SET', 'k', 'v'])).toBe('OK');
    proxy.pause('drop');
    proxy.resume();
    expect(await redisCommand(url, ['GET', 'k'])).toBe('v');
  });

  it("pause('hold') lets nothing through; what was sent arrives after resume(), once", async () => {
    const redis = await startOwnRedis();
    const proxy = await startTcpProxy({ port: redis.port });
    const url = `redis://127.0.0.1:${proxy.port}`;
    proxy.pause('hold');
    let answered = false;
    const reply = redisCommand(url, ['INCR', 'n'], 15_000).finally(() => (answered = true));
    await until(() => proxy.heldBytes() > 0, 'the command held in the proxy');
    // Held in the proxy, so Redis has not seen it: nothing applied, no answer.
    expect(await redis.command('GET', 'n')).toBeNull();
    expect(answered).toBe(false);
    proxy.resume();
    expect(await reply).toBe(1);
    expect(await redis.command('GET', 'n')).toBe('1');
  });

  it("pause('hold') holds a connection made before it, both ways, and delivers in order after resume()", async () => {
    const redis = await startOwnRedis();
    const proxy = await startTcpProxy({ port: redis.port });
    const socket = connect({ host: '127.0.0.1', port: proxy.port });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.write('PING\r\n');
    await until(() => received === '+PONG\r\n', 'the first PONG');
    proxy.pause('hold');
    socket.write('SET k 1\r\nGET k\r\n');
    await until(() => proxy.heldBytes() > 0, 'the commands held in the proxy');
    expect(await redis.command('GET', 'k')).toBeNull();
    proxy.resume();
    await until(() => received === '+PONG\r\n+OK\r\n$1\r\n1\r\n', 'the held commands answered');
    socket.destroy();
  });

  it("pause('drop') resets open connections and refuses new ones until resume()", async () => {
    const redis = await startOwnRedis();
    const proxy = await startTcpProxy({ port: redis.port });
    const url = `redis://127.0.0.1:${proxy.port}`;
    // BLPOP holds its connection open until the drop.
    const blocked = redisCommand(url, ['BLPOP', 'never', '0'], 15_000);
    await until(() => proxy.connections() === 1, 'the blocked connection');
    proxy.pause('drop');
    await expect(blocked).rejects.toThrow();
    await expect(redisCommand(url, ['PING'])).rejects.toThrow();
    expect(proxy.connections()).toBe(0);
    proxy.resume();
    expect(await redisCommand(url, ['PING'])).toBe('PONG');
  });
});
