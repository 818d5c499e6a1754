/**
 * The Redis key prefix: its default and its one rule, for `redisEngine({ prefix })`, the server's
 * `redis.prefix` and `--redis-prefix` alike. Outside src/server/redis/ so that the server's options
 * and the program check a prefix without loading the Redis engine (docs/scaling.md, "Keys").
 */
import { describeValue } from '../options.js';

export const DEFAULT_PREFIX = 'statesocket:';

/** The longest key prefix taken. */
export const MAX_PREFIX_LENGTH = 100;

/**
 * The one rule for a key prefix, for `redisEngine({ prefix })`, the server's `redis.prefix` and
 * `--redis-prefix` alike: 1 to `MAX_PREFIX_LENGTH` printable ASCII characters without spaces.
 * Returns it; throws `RangeError` naming `name` otherwise.
 */
export function checkPrefix(name: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[\x21-\x7e]+$/.test(value) || value.length > MAX_PREFIX_LENGTH) {
    throw new RangeError(`${name} must be 1 to ${MAX_PREFIX_LENGTH} printable ASCII characters without spaces; received ${describeValue(value)}`);
  }
  return value;
}

