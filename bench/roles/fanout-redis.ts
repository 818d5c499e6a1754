/**
 * Scenario 10: the Redis commands a server process sends, counted by name, for "Redis round trips
 * per op" (issue 14). The shared Redis's own `INFO commandstats` counts every client of that Redis
 * (other test runs included), so the bench counts in the process as well: every command of every
 * `ioredis` client (the Redis engine's command and pub/sub connections, socket.io's adapter) passes
 * through `Redis.prototype.sendCommand`, pipelined ones included, one call per command. Installed
 * only by the rows that use Redis, before their server starts: the memory rows never load `ioredis`.
 */

/** Commands sent so far, by lower-case name (`evalsha`, `ping`, `publish`, ...). */
export type RedisCommandCounts = Record<string, number>;

export async function countRedisCommands(): Promise<() => RedisCommandCounts> {
  const { Redis } = await import('ioredis');
  const counts: RedisCommandCounts = {};
  const sendCommand = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function countedSendCommand(this: InstanceType<typeof Redis>, ...args: Parameters<typeof sendCommand>) {
    const name = args[0].name;
    counts[name] = (counts[name] ?? 0) + 1;
    return sendCommand.apply(this, args);
  };
  return () => ({ ...counts });
}
