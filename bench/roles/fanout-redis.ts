/**
 * Scenario 10: the Redis commands a server process sends, counted by name, for "Redis round trips
 * per op" (issue 14). The shared Redis's own `INFO commandstats` counts every client of that Redis
 * (other test runs included), so the bench counts in the process as well: every command of every
 * `ioredis` client (the Redis engine's command and pub/sub connections, socket.io's adapter) passes
 * through `Redis.prototype.sendCommand`, pipelined ones included, one call per command. A script
 * call is named after the engine's script it runs (`evalsha append`, `evalsha refresh`). Installed
 * only by the rows that use Redis, before their server starts: the memory rows never load `ioredis`.
 */
import { createHash } from 'node:crypto';
import * as scripts from '../../src/server/redis/scripts.js';

/** Commands sent so far, by name (`evalsha append`, `ping`, `publish`, ...). */
export type RedisCommandCounts = Record<string, number>;

/**
 * Commands the Redis engine sends on a clock rather than per change: the heartbeat's PING and the
 * presence refresh (every third of the presence expiry, per followed channel).
 */
export const TIMED_COMMANDS: ReadonlySet<string> = new Set(['ping', 'evalsha refresh', 'eval refresh']);

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** The engine's scripts by SHA1, named after their export (`APPEND_SCRIPT` → `append`). */
const SCRIPT_NAMES = new Map(
  Object.entries(scripts as Record<string, unknown>)
    .filter(([name, lua]) => name.endsWith('_SCRIPT') && typeof lua === 'string')
    .map(([name, lua]) => [sha1(String(lua)), name.slice(0, -'_SCRIPT'.length).toLowerCase()]),
);

function commandName(name: string, args: readonly unknown[]): string {
  if (name !== 'evalsha' && name !== 'eval') return name;
  const sha = name === 'eval' ? sha1(String(args[0])) : String(args[0]);
  return `${name} ${SCRIPT_NAMES.get(sha) ?? 'other'}`;
}

export async function countRedisCommands(): Promise<() => RedisCommandCounts> {
  const { Redis } = await import('ioredis');
  const counts: RedisCommandCounts = {};
  const sendCommand = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function countedSendCommand(this: InstanceType<typeof Redis>, ...args: Parameters<typeof sendCommand>) {
    const name = commandName(args[0].name, args[0].args);
    counts[name] = (counts[name] ?? 0) + 1;
    return sendCommand.apply(this, args);
  };
  return () => ({ ...counts });
}
