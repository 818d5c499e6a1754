/**
 * One Redis command over a fresh connection, in RESP2 (https://redis.io/docs/latest/develop/reference/protocol-spec/):
 * enough for `npm run cluster` to check that Redis answers before starting instances on it, and for
 * the tests' Redis helpers, without a client library (the Redis engine brings its own).
 */
import { connect } from 'node:net';
import { redactUrl } from '../../src/redact.js';

/** A reply: simple string or bulk string, integer, null, an array of replies. Error replies reject. */
export type RedisReply = string | number | null | RedisReply[];

/** A Redis URL's parts: `redis://[user[:password]@]host[:port][/db]`. */
export interface RedisAddress {
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Parses a `redis://` URL (`rediss://` is refused: TLS is for the engine's client). */
export function redisAddress(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`not a URL: ${JSON.stringify(url)}; expected redis://host:port`);
  }
  if (parsed.protocol !== 'redis:' || parsed.hostname === '') throw new RangeError(`expected redis://host:port; received ${JSON.stringify(url)}`);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
  };
}

function encode(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/** Parses one reply at `at`; undefined while the buffer does not hold all of it yet. */
function parse(buffer: Buffer, at: number): { reply: RedisReply | Error; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const line = buffer.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buffer[at] ?? 0)) {
    case '+':
      return { reply: line, end: next };
    case '-':
      return { reply: new Error(line), end: next };
    case ':':
      return { reply: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { reply: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, end: next };
      const items: RedisReply[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, end);
        if (item === undefined) return undefined;
        if (item.reply instanceof Error) return item;
        items.push(item.reply);
        end = item.end;
      }
      return { reply: items, end };
    }
    default:
      return { reply: new Error(`not a RESP reply: ${JSON.stringify(buffer.toString('utf8', at, Math.min(buffer.length, at + 40)))}`), end: buffer.length };
  }
}

/**
 * Sends `args` (after AUTH when the URL has a password) and resolves with the reply; rejects with
 * Redis's error, a connection error, or after `timeoutMs`.
 */
export function redisCommand(url: string, args: readonly string[], timeoutMs = 3_000): Promise<RedisReply> {
  const address = redisAddress(url);
  const commands: string[][] = [];
  if (address.password !== undefined) commands.push(['AUTH', ...(address.username === undefined ? [] : [address.username]), address.password]);
  commands.push([...args]);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port });
    let buffer = Buffer.alloc(0);
    const replies: RedisReply[] = [];
    const finish = (error: Error | undefined, reply?: RedisReply) => {
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve(reply ?? null);
      else reject(error);
    };
    const timer = setTimeout(() => finish(new Error(`no answer from Redis at ${address.host}:${address.port} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => socket.write(commands.map(encode).join('')));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let parsed = parse(buffer, 0); parsed !== undefined; parsed = parse(buffer, 0)) {
        buffer = buffer.subarray(parsed.end);
        if (parsed.reply instanceof Error) return finish(parsed.reply);
        replies.push(parsed.reply);
        if (replies.length === commands.length) return finish(undefined, parsed.reply);
      }
    });
    socket.once('error', (error) => finish(error));
    socket.once('close', () => finish(new Error(`Redis at ${address.host}:${address.port} closed the connection before answering`)));
  });
}

/** How to get a Redis on this machine, for error messages. */
export const START_REDIS_HINT =
  "start one with `redis-server --port 6379 --save '' --daemonize yes` (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis), " +
  'or point REDIS_URL at one';

/** Resolves when Redis at `url` answers PING; rejects with a message saying how to start one. */
export async function checkRedis(url: string): Promise<void> {
  try {
    const reply = await redisCommand(url, ['PING']);
    if (reply !== 'PONG') throw new Error(`PING answered ${JSON.stringify(reply)}`);
  } catch (error) {
    throw new Error(`no Redis answers at ${redactUrl(url)} (${(error as Error).message}): ${START_REDIS_HINT}`, { cause: error });
  }
}
