/**
 * The Redis engine's two connections (one for commands and scripts, one for pub/sub), how their
 * failures become `EngineUnavailableError`, and the engine's status (docs/scaling.md, "When Redis
 * is unavailable").
 *
 * Commands never wait for Redis: with the offline queue off, a command issued while a connection
 * is down rejects at once, and one in flight when it drops rejects then (it is not resent: its
 * outcome is unknown, and the client's resend is judged by its mark). A Redis that stops answering
 * without closing the connection (paused, a stalled network) is caught by `commandTimeoutMs` and
 * by the heartbeat, which reports `unavailable` and, after three silent beats, drops both
 * connections so they reconnect afresh.
 */
import { createHash } from 'node:crypto';
import { Redis, ReplyError } from 'ioredis';
import { EngineUnavailableError, type EngineStatus } from '../engine.js';

/** Replies that mean "not now" rather than "never": the store is loading, busy, or failing over. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/** Replies to the connection's setup that no retry will change: a wrong user or password, a database Redis does not have. */
const CONFIG_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)\b|^ERR (invalid password|AUTH|Client sent AUTH|DB index|invalid DB index|SELECT is not allowed)/i;

/**
 * The URL cannot work as given (a wrong password or user, a database Redis refuses, a host that
 * does not resolve, a server that is not Redis): `ready()` rejects with it at once, and
 * `startSyncServer({ redis })` fails to start. Once running, the engine keeps retrying (clients
 * get 1013) and reports it once per outage.
 */
export class RedisConfigError extends Error {
  readonly code = 'ERR_REDIS_CONFIG';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisConfigError';
  }
}

/** The connection's error as a `RedisConfigError` when it is one (see above), else undefined. */
function configErrorOf(error: Error, url: string): RedisConfigError | undefined {
  if (error instanceof RedisConfigError) return error;
  const where = `Redis at ${redactUrl(url)}`;
  if ((error as NodeJS.ErrnoException).code === 'ENOTFOUND') {
    return new RedisConfigError(`${where}: the host does not resolve (${error.message}); check the host in the URL`, { cause: error });
  }
  if (error instanceof ReplyError && CONFIG_REPLY.test(error.message)) {
    const hint = /DB index|SELECT/i.test(error.message) ? 'check the database number in the URL (Redis has `databases` of them, from 0)' : 'check the user and password in the URL';
    return new RedisConfigError(`${where} refused the connection: ${error.message}; ${hint}`, { cause: error });
  }
  return undefined;
}

/**
 * A reply the engine did not expect (a server that is not Redis, a proxy that answers for it):
 * reported as unavailability, so clients are closed with 1013 and retry, never refused for good.
 */
export class UnexpectedReplyError extends EngineUnavailableError {
  constructor(readonly what: string, readonly reply: unknown) {
    super(`Redis is unavailable: unexpected reply to ${what}: ${describeReply(reply)}`);
  }
}

function describeReply(reply: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(reply) ?? String(reply);
  } catch {
    text = String(reply);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * A failure of a Redis call as the engine reports it: unavailability (a connection that is down,
 * a timeout, a transient reply) as `EngineUnavailableError`; any other reply error (a script bug,
 * `OOM` under `noeviction`) as itself: the change was not kept.
 */
export function engineError(error: unknown): Error {
  if (error instanceof EngineUnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ReplyError && !TRANSIENT_REPLY.test(message)) return error as Error;
  return new EngineUnavailableError(`Redis is unavailable: ${message}`, { cause: error });
}

/** Whether `error` is Redis's NOSCRIPT: the script is not in its cache (a restart, SCRIPT FLUSH). */
export function isNoScript(error: unknown): boolean {
  return error instanceof ReplyError && String((error as Error).message).startsWith('NOSCRIPT');
}

/** A Lua script run by EVALSHA, loaded again by EVAL when Redis no longer has it (a restart, SCRIPT FLUSH). */
export class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return await redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

export interface ConnectionOptions {
  url: string;
  commandTimeoutMs: number;
  heartbeatMs: number;
  /** Connection errors, for logs (they are expected while Redis is down, and reported once per outage). */
  onError(error: Error): void;
}

/** How soon an unhealthy connection is pinged again. */
const UNHEALTHY_BEAT_MS = 250;

/** Reconnect after 50 ms, then up to 1 s apart: an instance serves again within a second of Redis. */
const retryStrategy = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 5), 1000);

function clientOptions(commandTimeoutMs: number) {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 1000),
    retryStrategy,
    lazyConnect: false,
  } as const;
}

/** The connections, the heartbeat and the status they add up to. */
export class Connections {
  readonly cmd: Redis;
  readonly sub: Redis;
  private readonly listeners = new Set<(status: EngineStatus) => void>();
  private healthy = true;
  private silentBeats = 0;
  private reported: EngineStatus = 'unavailable';
  private errorReported = false;
  /** The Redis connected to (known after the probe that follows each connect). */
  private server: { runId: string; fsyncAlways: boolean } | undefined;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private retryBeat: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(private readonly options: ConnectionOptions) {
    this.cmd = new Redis(options.url, clientOptions(options.commandTimeoutMs));
    this.sub = new Redis(options.url, clientOptions(options.commandTimeoutMs));
    for (const redis of [this.cmd, this.sub]) {
      redis.on('ready', () => this.update());
      redis.on('close', () => this.update());
      redis.on('error', (error: Error) => {
        const config = configErrorOf(error, options.url);
        if (config !== undefined) this.configFailed(config);
        else this.reportOnce(error);
      });
    }
    this.cmd.on('ready', () => {
      this.healthy = true;
      this.silentBeats = 0;
      void this.probe();
    });
    this.cmd.on('close', () => {
      this.server = undefined;
    });
    this.heartbeat = setInterval(() => void this.beat(), options.heartbeatMs);
    this.heartbeat.unref?.();
  }

  get status(): EngineStatus {
    return this.reported;
  }

  /**
   * What the engine tells its scripts about the Redis it is connected to: '' when Redis fsyncs
   * every write (appendonly yes, appendfsync always: a restart loses nothing acked), else its
   * run id, which changes at every restart (or failover): see `ensure` in scripts.ts.
   */
  get restartMark(): string {
    const server = this.server;
    return server === undefined || server.fsyncAlways ? '' : server.runId;
  }

  /** Connected, and the Redis it is connected to known. */
  get probed(): boolean {
    return this.server !== undefined;
  }

  /** The setup's error that no retry changes (see `RedisConfigError`), until a connect succeeds. */
  private configError: RedisConfigError | undefined;

  private reportOnce(error: Error): void {
    if (this.errorReported || this.closed) return;
    this.errorReported = true;
    try {
      this.options.onError(error);
    } catch {
      // the reporter's own failure changes nothing
    }
  }

  private configFailed(error: RedisConfigError): void {
    const first = this.configError === undefined;
    this.configError = error;
    this.reportOnce(error);
    if (first) for (const listener of [...this.configListeners]) listener(error);
  }

  private readonly configListeners = new Set<(error: RedisConfigError) => void>();

  /**
   * Reads, at every connect, which Redis this is and whether it fsyncs every write. It also makes
   * sure the connection is on the database the URL names: ioredis reports a refused `SELECT` as an
   * error event and goes on, on database 0.
   */
  private async probe(): Promise<void> {
    try {
      const db = Number(this.cmd.options.db ?? 0);
      try {
        const selected: unknown = await this.cmd.select(db);
        if (selected !== 'OK') throw new UnexpectedReplyError(`SELECT ${db}`, selected);
      } catch (error) {
        const config = error instanceof ReplyError ? configErrorOf(error as Error, this.options.url) : undefined;
        if (config === undefined) throw error;
        return this.configFailed(config);
      }
      const info: unknown = await this.cmd.info('server');
      if (typeof info !== 'string' || !/^redis_version:/m.test(info)) {
        return this.configFailed(new RedisConfigError(`the server at ${redactUrl(this.options.url)} is not Redis: INFO answered ${describeReply(info)}; check the host and port in the URL`));
      }
      const runId = /^run_id:(\w+)/m.exec(info)?.[1] ?? '';
      let fsyncAlways = false;
      try {
        const [, appendonly] = (await this.cmd.config('GET', 'appendonly')) as string[];
        const [, appendfsync] = (await this.cmd.config('GET', 'appendfsync')) as string[];
        fsyncAlways = appendonly === 'yes' && appendfsync === 'always';
      } catch {
        // CONFIG disabled (a managed Redis): assume a restart may lose acked writes
      }
      this.server = { runId, fsyncAlways };
      this.configError = undefined;
    } catch (error) {
      // The connection dropped again: the next 'ready' probes anew. A reply that makes no sense is reported.
      if (error instanceof UnexpectedReplyError) this.reportOnce(error);
      return;
    }
    this.update();
  }

  onStatus(listener: (status: EngineStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once both connections are ready; rejects after `timeoutMs` saying how to start Redis,
   * or at once with `RedisConfigError` when the URL cannot work as given.
   */
  ready(timeoutMs: number): Promise<void> {
    if (this.reported === 'available') return Promise.resolve();
    if (this.configError !== undefined) return Promise.reject(this.configError);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        stopStatus();
        this.configListeners.delete(refused);
      };
      const timer = setTimeout(() => {
        done();
        reject(new EngineUnavailableError(`could not reach Redis at ${redactUrl(this.options.url)} within ${timeoutMs} ms; start one (redis-server --port 6379 --save '' --appendonly no) or give the right URL`));
      }, timeoutMs);
      const refused = (error: RedisConfigError) => {
        done();
        reject(error);
      };
      this.configListeners.add(refused);
      const stopStatus = this.onStatus((status) => {
        if (status !== 'available') return;
        done();
        resolve();
      });
    });
  }

  /** A reply that makes no sense: reported once (with the reply), and the connection suspected. */
  unexpected(error: UnexpectedReplyError): void {
    this.reportOnce(error);
    this.suspect();
  }

  /**
   * A call failed for unavailability (a timeout, a dropped connection): report `unavailable` now
   * and `available` again once Redis answers a ping (engine.ts: an engine that threw
   * `EngineUnavailableError` must say `available` when the store answers again).
   */
  suspect(): void {
    if (this.closed || !this.healthy) return;
    this.healthy = false;
    this.update();
    void this.beat();
  }

  private async beat(): Promise<void> {
    if (this.closed || this.cmd.status !== 'ready') return;
    try {
      const pong: unknown = await this.cmd.ping();
      if (pong !== 'PONG') throw new UnexpectedReplyError('PING', pong);
      this.silentBeats = 0;
      this.healthy = true;
    } catch (error) {
      if (error instanceof UnexpectedReplyError) this.reportOnce(error);
      this.healthy = false;
      // A connection that stays silent may be dead without a close (a half-open TCP connection): start afresh.
      if (++this.silentBeats >= 3 && !this.closed) {
        this.silentBeats = 0;
        this.cmd.disconnect(true);
        this.sub.disconnect(true);
      }
      // While unhealthy, ping again soon rather than at the next heartbeat: serve again promptly.
      if (this.retryBeat === undefined && !this.closed) {
        this.retryBeat = setTimeout(() => {
          this.retryBeat = undefined;
          void this.beat();
        }, Math.min(this.options.heartbeatMs, UNHEALTHY_BEAT_MS));
        this.retryBeat.unref?.();
      }
    }
    this.update();
  }

  private update(): void {
    if (this.closed) return;
    const up = this.cmd.status === 'ready' && this.sub.status === 'ready' && this.healthy && this.server !== undefined;
    const status: EngineStatus = up ? 'available' : 'unavailable';
    if (status === this.reported) return;
    this.reported = status;
    if (up) this.errorReported = false;
    for (const listener of [...this.listeners]) {
      try {
        listener(status);
      } catch {
        // a listener that throws must not stop the others, nor the connections
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retryBeat);
    this.listeners.clear();
    this.configListeners.clear();
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_, auth: string) => `//${auth.includes(':') ? `${auth.slice(0, auth.indexOf(':'))}:***` : '***'}@`);
}
