/**
 * Redis for integration tests. `sharedRedis()`: the machine's Redis (127.0.0.1:6379 or REDIS_URL),
 * for tests that only read and write, under a random key prefix deleted afterwards. `startOwnRedis()`:
 * a redis-server of the test's own, on a free port with its own `--dir`, for tests that kill, restart
 * or pause it (never the shared one). Importing this module under vitest installs the afterAll that
 * stops and removes whatever a test file left running; a plain script (test/server/redis/measure.ts)
 * stops what it started itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { freePort } from '../../scripts/cluster/child.js';
import { checkRedis, DEFAULT_REDIS_URL, redisCommand, START_REDIS_HINT, type RedisReply } from '../../scripts/cluster/resp.js';

/** Bounds of the waits below (the machine may be busy); never a timing assertion. */
export const REDIS_WAIT_MS = 15_000;

const leftovers = new Set<() => Promise<void>>();
if (process.env.VITEST !== undefined) {
  afterAll(async () => {
    const cleanups = [...leftovers];
    leftovers.clear();
    await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
  });
}

// ---- the shared Redis ----

export interface SharedRedis {
  /** REDIS_URL, else redis://127.0.0.1:6379. */
  readonly url: string;
  /** A key prefix of this test file's own (`test:<random>:`); its keys are deleted by `deleteKeys()` and afterAll. */
  readonly prefix: string;
  command(...args: string[]): Promise<RedisReply>;
  /** Deletes every key under `prefix`. */
  deleteKeys(): Promise<void>;
}

/**
 * The machine's Redis; throws, saying how to start one, when it does not answer (a test that needs
 * Redis fails rather than skips).
 */
export async function sharedRedis(url = process.env.REDIS_URL || DEFAULT_REDIS_URL): Promise<SharedRedis> {
  await checkRedis(url);
  const prefix = `test:${randomBytes(6).toString('hex')}:`;
  const command = (...args: string[]) => redisCommand(url, args);
  const deleteKeys = async () => {
    let cursor = '0';
    // SCAN ends when the cursor comes back to 0; the bound only stops a Redis that never says so.
    for (let round = 0; round < 10_000; round++) {
      const [next, keys] = (await command('SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000')) as [string, string[]];
      if (keys.length > 0) await command('UNLINK', ...keys);
      cursor = next;
      if (cursor === '0') return;
    }
    throw new Error(`SCAN of ${prefix}* did not finish`);
  };
  leftovers.add(deleteKeys);
  return { url, prefix, command, deleteKeys };
}

// ---- a redis-server of the test's own ----

export interface OwnRedisOptions {
  /**
   * `always`: append-only with `appendfsync always` (every acknowledged write survives a SIGKILL);
   * `everysec`: append-only, fsync every second (a restart may have lost the last writes, and the
   * engine must assume it did); `none`: nothing on disk. @default 'none'
   */
  persistence?: 'always' | 'everysec' | 'none';
}

export interface OwnRedis {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** Its `--dir` (the append-only files): same across restarts, removed by `stop()`. */
  readonly dir: string;
  /** The running process's id (a new one after `restart()`). */
  readonly pid: number;
  command(...args: string[]): Promise<RedisReply>;
  /** Sends the signal (a SIGKILL is a crash; a paused one is resumed first) and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: it keeps its connections and answers nothing (a hung Redis) until `resume()`. */
  pause(): void;
  resume(): void;
  /** Starts it again on the same port and dir (killing it first if it still runs); resolves once it answers PING. */
  restart(): Promise<void>;
  /** Stops it (SIGKILL: nothing to save) and removes its dir. Idempotent. */
  stop(): Promise<void>;
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Resolves once the process has exited, SIGKILLing it if the signal did not end it in time. */
async function ended(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT'); // a paused one handles no signal but SIGKILL until it runs again
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), REDIS_WAIT_MS);
  await exited;
  clearTimeout(timer);
}

/** Starts redis-server as a child process and resolves once it answers PING (after loading its files). */
async function launch(port: number, dir: string, persistence: NonNullable<OwnRedisOptions['persistence']>): Promise<{ child: ChildProcess; output: () => string }> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--daemonize', 'no', '--logfile', '', '--maxmemory-policy', 'noeviction'];
  args.push(...(persistence === 'none' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', persistence]));
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  const record = (chunk: Buffer) => (printed = (printed + chunk.toString()).slice(-4_000));
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  let failure: Error | undefined;
  child.once('error', (error) => (failure = new Error(`redis-server could not be started (${error.message}): is it installed? ${START_REDIS_HINT}`)));
  const deadline = Date.now() + REDIS_WAIT_MS;
  while (Date.now() < deadline) {
    if (failure !== undefined) throw failure;
    if (!isRunning(child)) throw new Error(`redis-server on port ${port} exited with ${String(child.exitCode ?? child.signalCode)}:\n${printed}`);
    // LOADING (replaying the append-only file) or a refused connection: not yet.
    if (await redisCommand(`redis://127.0.0.1:${port}`, ['PING'], 1_000).then((reply) => reply === 'PONG', () => false)) return { child, output: () => printed };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await ended(child, 'SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING within ${REDIS_WAIT_MS} ms:\n${printed}`);
}

/** A redis-server of the test's own, on a free port of 127.0.0.1 with its own `--dir`. */
export async function startOwnRedis(options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const persistence = options.persistence ?? 'none';
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-redis-'));
  let port = 0;
  let running: ChildProcess | undefined;
  let lastError: unknown;
  // A free port can be taken between the check and redis-server's bind: try another.
  for (let attempt = 0; attempt < 3 && running === undefined; attempt++) {
    port = await freePort();
    try {
      running = (await launch(port, dir, persistence)).child;
    } catch (error) {
      lastError = error;
      if (!/Address already in use/.test((error as Error).message)) break;
    }
  }
  if (running === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }
  let child = running;
  const url = `redis://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= ended(child, 'SIGKILL').then(() => rmSync(dir, { recursive: true, force: true }));
    leftovers.delete(stop);
    return stopped;
  };
  leftovers.add(stop);
  return {
    port,
    url,
    dir,
    get pid() {
      return child.pid ?? 0;
    },
    command: (...args) => redisCommand(url, args),
    kill: (signal = 'SIGKILL') => ended(child, signal),
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async restart() {
      if (stopped !== undefined) throw new Error('restart() after stop(): this Redis and its dir are gone');
      await ended(child, 'SIGKILL');
      child = (await launch(port, dir, persistence)).child;
    },
    stop,
  };
}
