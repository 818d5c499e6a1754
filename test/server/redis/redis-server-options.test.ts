/**
 * Server options next to a Redis engine of your own (the shared Redis, this file's own prefix):
 * the options that are the engine's (its records, bounds and retention) are refused with the
 * engine, naming the option and where it belongs, instead of being ignored without a word; and
 * `attachSyncServer` says what it was given when its first argument is not an HTTP server; one rule
 * for key prefixes; the program says which Redis it runs on; `GET /control/state` of a channel
 * nobody has creates no key.
 */
import { createServer } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINE_OWNED_OPTIONS } from '../../../src/server/engine.js';
import { attachSyncServer, createSyncServer, startSyncServer } from '../../../src/server/index.js';
import { redisEngine } from '../../../src/server/redis/index.js';
import { killAll, startServerProcess } from '../../integration/server-process.js';
import { startOwnRedis } from '../../support/redis.js';
import { REDIS_URL, redisTestBed } from './redis-support.js';

const bed = redisTestBed('server-options');
afterAll(async () => {
  await killAll();
  await bed.cleanup();
});

describe('engine-owned options with engine', () => {
  it.each(ENGINE_OWNED_OPTIONS)('refuses %s next to a Redis engine, saying to give it to the engine', async (name) => {
    const engine = await bed.engine();
    const expected = new RegExp(`${name} is the engine's option, and with engine the server does not read it; give it to the engine instead \\(memoryEngine\\(\\{ ${name} \\}\\) or redisEngine\\(\\{ ${name} \\}\\)`);
    await expect(startSyncServer({ port: 0, host: '127.0.0.1', engine, [name]: 1000 })).rejects.toThrow(new RegExp(`^startSyncServer: ${expected.source}`));
    const http = createServer();
    expect(() => attachSyncServer(http, { engine, [name]: 1000 })).toThrow(new RegExp(`^attachSyncServer: ${expected.source}`));
    expect(() => createSyncServer({ engine, [name]: 1000 })).toThrow(new RegExp(`^createSyncServer: ${expected.source}`));
  });
});

describe('logSize next to a Redis engine (docs/server.md, engine)', () => {
  it("is the server's copy's log; Redis's stream follows redisEngine({ logSize }), and replays older than the copy's log read it", async () => {
    const engine = await bed.engine({ logSize: 20 });
    const server = createSyncServer({ engine, logSize: 5 });
    try {
      await server.loadChannel('split');
      for (let i = 1; i <= 30; i++) await server.change({ set: { k: i } }, 'split');
      const client = await bed.client();
      // MAXLEN ~ trims whole stream nodes: at least the engine's 20, never the server's 5.
      expect(await client.xlen(`${bed.prefix}{split}:log`)).toBeGreaterThanOrEqual(20);
      const { epoch, seq } = server.channelState('split');
      expect(seq).toBe(30);
      const older = await engine.readLog('split', epoch, 10);
      expect(older?.map((entry) => entry.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 11 + i));
    } finally {
      server.close();
    }
  });
});

describe('attachSyncServer given something that is not an HTTP server', () => {
  it.each([
    ['nothing', undefined, /received undefined/],
    ['an options object', { port: 8080 }, /received an object with keys port; to listen on a port of its own, use startSyncServer\(\{ port \}\)/],
    ['a port number', 8080, /received 8080; to listen on a port of its own, use startSyncServer\(\{ port \}\)/],
  ])('says what it was given (%s) and what it expects', (_what, value, received) => {
    expect(() => attachSyncServer(value as never)).toThrow(/^attachSyncServer: the first argument must be your HTTP server \(node:http createServer\(\), or node:https\); /);
    expect(() => attachSyncServer(value as never)).toThrow(received);
  });
});

describe('key prefixes', () => {
  it.each(['', 'has space', 'x'.repeat(101), 'tab\tin'])('refuses %j in redisEngine as the server and the program do, in the same words', (prefix) => {
    const rule = 'must be 1 to 100 printable ASCII characters without spaces, { or }; received ';
    expect(() => redisEngine({ url: REDIS_URL, prefix })).toThrow(`redisEngine: prefix ${rule}`);
    expect(() => attachSyncServer(createServer(), { redis: { url: REDIS_URL, prefix } })).toThrow(`attachSyncServer: redis.prefix ${rule}`);
  });
  it.each(['app{x}:', 'a{', 'b}:'])('refuses %j (a brace: a hash tag of the prefix, every channel in one Redis Cluster slot), saying why', (prefix) => {
    const rule = 'must be 1 to 100 printable ASCII characters without spaces, { or }: a brace would make a Redis Cluster hash tag of the prefix, putting every channel in one slot; received ';
    expect(() => redisEngine({ url: REDIS_URL, prefix })).toThrow(`redisEngine: prefix ${rule}`);
    expect(() => attachSyncServer(createServer(), { redis: { url: REDIS_URL, prefix } })).toThrow(`attachSyncServer: redis.prefix ${rule}`);
  });
});

describe('the program on Redis', () => {
  it('says which Redis it runs on (the URL without its password) and with which key prefix', async () => {
    const redis = await startOwnRedis();
    try {
      await redis.command('CONFIG', 'SET', 'requirepass', 'sekrit-password');
      const url = redis.url.replace('redis://', 'redis://:sekrit-password@');
      const server = await startServerProcess(['--redis', url, '--redis-prefix', bed.prefix]);
      const printed = server.output.join('');
      expect(printed).toContain(`store: Redis at redis://:[redacted]@127.0.0.1:${redis.port}, key prefix ${bed.prefix}\n`);
      expect(printed).not.toContain('sekrit-password');
    } finally {
      await killAll();
      await redis.stop();
    }
  });
});

describe('GET /control/state on a Redis-backed instance', () => {
  it('answers epoch null for a channel nobody has (its counters as for any), creating no key; a channel another instance wrote is read as stored', async () => {
    const engine = await bed.engine();
    const server = await startSyncServer({ port: 0, host: '127.0.0.1', engine, control: true });
    try {
      const state = (channel: string) =>
        fetch(`http://127.0.0.1:${server.port}/control/state?channel=${channel}`, { headers: { authorization: `Bearer ${server.controlToken}` } });
      const before = await bed.keys();
      const missing = await state('nobody-here');
      expect(missing.status).toBe(200);
      expect(await missing.json()).toMatchObject({ ok: true, channel: 'nobody-here', epoch: null, seq: 0, data: {}, members: [], counters: { connections: 0 } });
      expect(await bed.keys()).toEqual(before);

      const other = await bed.engine();
      const written = await other.append('elsewhere', { set: { a: 1 } });
      const found = await state('elsewhere');
      expect(found.status).toBe(200);
      expect(await found.json()).toMatchObject({ ok: true, channel: 'elsewhere', epoch: (written as { epoch: string }).epoch, seq: 1, data: { a: 1 } });
    } finally {
      await server.close();
    }
  });
});
