/**
 * A Redis URL that cannot work as given (a database Redis refuses, a wrong password, a host that
 * does not resolve, a server that is not Redis) fails at startup with a message saying what to
 * check, and writes nothing; once running, such an error closes clients with 1013 (they retry) and
 * is reported with Redis's reply. A reply the engine does not expect is unavailability (1013), never
 * a refusal for good (4423). Against the shared Redis (databases 0-15), a Redis of the test's own,
 * and a TCP server that answers like Redis only in part.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EngineUnavailableError } from '../../../src/server/engine.js';
import { startSyncServer } from '../../../src/server/index.js';
import { RedisConfigError, redisEngine, type RedisEngine } from '../../../src/server/redis/index.js';
import { runScript } from '../../integration/server-process.js';
import { startOwnRedis } from '../../support/redis.js';
import { REDIS_URL, redisTestBed, until } from './redis-support.js';

const bed = redisTestBed('config');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => bed.cleanup());

function engineOn(url: string, errors: Error[] = []): RedisEngine {
  const engine = redisEngine({ url, prefix: bed.prefix, commandTimeoutMs: 500, heartbeatMs: 100, onError: (error) => errors.push(error) });
  cleanups.push(() => engine.close());
  return engine;
}

/** `redis://127.0.0.1:6379` with `/99` (Redis has 16 databases unless configured otherwise). */
const missingDb = `${REDIS_URL.replace(/\/\d*$/, '')}/99`;

describe('a Redis URL that cannot work', () => {
  it('refuses a database Redis does not have, at once, and writes nothing into database 0', async () => {
    const errors: Error[] = [];
    const engine = engineOn(missingDb, errors);
    const refused = await engine.ready(10_000).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(RedisConfigError);
    expect((refused as RedisConfigError).code).toBe('ERR_REDIS_CONFIG');
    expect((refused as Error).message).toMatch(/refused the connection: ERR DB index is out of range; check the database number in the URL/);
    expect(errors.some((error) => error instanceof RedisConfigError)).toBe(true);
    await expect(engine.append('doc', { set: { a: 1 } })).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(await bed.keys()).toEqual([]);
  });

  it('makes startSyncServer({ redis }) reject, and the program exit 1 saying what to check', async () => {
    await expect(startSyncServer({ port: 0, host: '127.0.0.1', redis: { url: missingDb, prefix: bed.prefix } })).rejects.toBeInstanceOf(RedisConfigError);
    const run = await runScript('scripts/server.ts', ['--host', '127.0.0.1', '--port', '0', '--redis', missingDb, '--redis-prefix', bed.prefix]);
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/server: Redis at redis:\/\/.*\/99 refused the connection: ERR DB index is out of range/);
    expect(run.output).not.toMatch(/listening on/);
    expect(await bed.keys()).toEqual([]);
  });

  it('refuses a wrong password at startup, and once running reports it and serves again when it is right again', async () => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    await redis.command('CONFIG', 'SET', 'requirepass', 'right-secret');
    const wrong = engineOn(redis.url.replace('redis://', 'redis://:wrong-secret@'));
    await expect(wrong.ready(10_000)).rejects.toThrow(/refused the connection: WRONGPASS.*; check the user and password in the URL/);

    const errors: Error[] = [];
    const engine = engineOn(redis.url.replace('redis://', 'redis://:right-secret@'), errors);
    await engine.ready(10_000);
    // The password changes under a running engine: its reconnects are refused (unavailable: clients get 1013).
    const statuses: string[] = [];
    engine.onStatus((status) => statuses.push(status));
    await engine.redis.config('SET', 'requirepass', 'new-secret');
    await engine.redis.call('CLIENT', 'KILL', 'TYPE', 'normal');
    await until(() => statuses.includes('unavailable'), 10_000, 'unavailable');
    await until(() => errors.some((error) => error instanceof RedisConfigError), 10_000, 'the refusal reported');
    expect(errors.find((error) => error instanceof RedisConfigError)?.message).toMatch(/WRONGPASS/);
    await redis.restart(); // no requirepass on the command line: the old password works again
    await until(() => statuses.at(-1) === 'available', 15_000, 'available again');
  });

  it('refuses a host that does not resolve', async () => {
    await expect(engineOn('redis://no-such-host.invalid:6379').ready(10_000)).rejects.toThrow(/Redis at redis:\/\/no-such-host.invalid:6379: the host does not resolve/);
  });

  it('refuses a server that is not Redis (it answers +OK to everything)', async () => {
    const fake = await fakeRedis(() => '+OK\r\n');
    await expect(engineOn(fake.url).ready(10_000)).rejects.toThrow(/is not Redis: INFO answered "OK"; check the host and port in the URL/);
  });
});

describe('a reply the engine does not expect', () => {
  it('closes a hello with 1013 (the client retries), never 4423, and reports the reply once', async () => {
    // Redis in all the engine checks at connect, and +OK to every script.
    const fake = await fakeRedis((command, args) => {
      if (command === 'PING') return '+PONG\r\n';
      if (command === 'INFO') return bulk('# Server\r\nredis_version:7.0.15\r\nrun_id:0123456789abcdef\r\n');
      if (command === 'CONFIG') return `*2\r\n${bulk(args[1] ?? '')}${bulk('no')}`;
      if (command === 'SUBSCRIBE') return `*3\r\n${bulk('subscribe')}${bulk(args[0] ?? '')}:1\r\n`;
      return '+OK\r\n';
    });
    const errors: Error[] = [];
    const engine = engineOn(fake.url, errors);
    await engine.ready(10_000);
    const server = await startSyncServer({ port: 0, host: '127.0.0.1', engine });
    cleanups.push(() => server.close());
    const socket = new WebSocket(server.url);
    cleanups.push(() => socket.terminate());
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.once('open', () => socket.send(JSON.stringify({ type: 'hello', v: 2, client: 'c1' })));
    expect(await closed).toBe(1013);
    const reported = errors.filter((error) => /unexpected reply/.test(error.message));
    expect(reported.map((error) => error.message)).toEqual(['Redis is unavailable: unexpected reply to CLAIM: "OK"']);
  });
});

function bulk(text: string): string {
  return `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
}

/** A TCP server speaking RESP: every command (an array of bulk strings) is answered by `answer`. */
async function fakeRedis(answer: (command: string, args: string[]) => string): Promise<{ url: string }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Whole commands only; a partial one waits for more bytes. Bounded by the bytes at hand.
      for (;;) {
        const parsed = parseCommand(buffered);
        if (parsed === undefined) return;
        buffered = buffered.subarray(parsed.used);
        const [command = '', ...args] = parsed.parts;
        socket.write(answer(command.toUpperCase(), args));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function parseCommand(buffer: Buffer): { parts: string[]; used: number } | undefined {
  const line = (from: number) => {
    const end = buffer.indexOf('\r\n', from);
    return end === -1 ? undefined : { text: buffer.toString('latin1', from, end), next: end + 2 };
  };
  const head = line(0);
  if (head === undefined) return undefined;
  if (!head.text.startsWith('*')) throw new Error(`not a RESP array: ${head.text}`);
  const count = Number(head.text.slice(1));
  const parts: string[] = [];
  let at = head.next;
  for (let i = 0; i < count; i++) {
    const size = line(at);
    if (size === undefined) return undefined;
    const length = Number(size.text.slice(1));
    if (buffer.length < size.next + length + 2) return undefined;
    parts.push(buffer.toString('utf8', size.next, size.next + length));
    at = size.next + length + 2;
  }
  return { parts, used: at };
}
