/**
 * The Redis key prefix: its default and its one rule, for `redisEngine({ prefix })`, the server's
 * `redis.prefix` and `--redis-prefix` alike. Outside src/server/redis/ so that the server's options
 * and the program check a prefix without loading the Redis engine (docs/scaling.md, "Keys").
 */
import { describeValue } from '../options.js';

export const DEFAULT_PREFIX = 'statesocket:';

/** The longest key prefix taken. */
export const MAX_PREFIX_LENGTH = 100;

const PREFIX_RULE = `must be 1 to ${MAX_PREFIX_LENGTH} printable ASCII characters without spaces, { or }`;

/**
 * The one rule for a key prefix, for `redisEngine({ prefix })`, the server's `redis.prefix` and
 * `--redis-prefix` alike: 1 to `MAX_PREFIX_LENGTH` printable ASCII characters without spaces or
 * braces (a `{…}` in the prefix would be the hash tag of every key: in Redis Cluster every channel
 * in one slot). Returns it; throws `RangeError` naming `name` otherwise.
 */
export function checkPrefix(name: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[\x21-\x7e]+$/.test(value) || value.length > MAX_PREFIX_LENGTH) {
    throw new RangeError(`${name} ${PREFIX_RULE}; received ${describeValue(value)}`);
  }
  if (/[{}]/.test(value)) {
    throw new RangeError(`${name} ${PREFIX_RULE}: a brace would make a Redis Cluster hash tag of the prefix, putting every channel in one slot; received ${describeValue(value)}`);
  }
  return value;
}

