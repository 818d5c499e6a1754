/**
 * `statesocket/server/redis`: the Redis engine, for several `statesocket/server` instances sharing
 * one Redis (issue 14; docs/scaling.md). It needs the optional peer dependency `ioredis`; the rest
 * of `statesocket/server` never loads it.
 *
 * @example
 * ```ts
 * import { redisEngine } from 'statesocket/server/redis';
 * const engine = redisEngine({ url: 'redis://127.0.0.1:6379', prefix: 'myapp:' });
 * await engine.ready();
 * ```
 */
export { DEFAULT_REDIS_ENGINE_OPTIONS, redisEngine } from './engine.js';
export type { RedisEngine, RedisEngineOptions } from './engine.js';
export { DEFAULT_PREFIX } from './keys.js';
export { RedisConfigError } from './connection.js';
