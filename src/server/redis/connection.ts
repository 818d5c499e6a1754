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
        if (this.errorReported) return;
        this.errorReported = true;
        this.options.onError(error);
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

  /** Reads, at every connect, which Redis this is and whether it fsyncs every write. */
  private async probe(): Promise<void> {
    try {
      const info = await this.cmd.info('server');
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
    } catch {
      return; // the connection dropped again: the next 'ready' probes anew
    }
    this.update();
  }

  onStatus(listener: (status: EngineStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once both connections are ready; rejects after `timeoutMs` saying how to start Redis. */
  ready(timeoutMs: number): Promise<void> {
    if (this.reported === 'available') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new EngineUnavailableError(`could not reach Redis at ${redactUrl(this.options.url)} within ${timeoutMs} ms; start one (redis-server --port 6379 --save '' --appendonly no) or give the right URL`));
      }, timeoutMs);
      const stop = this.onStatus((status) => {
        if (status !== 'available') return;
        clearTimeout(timer);
        stop();
        resolve();
      });
    });
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
      await this.cmd.ping();
      this.silentBeats = 0;
      this.healthy = true;
    } catch {
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
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_, auth: string) => `//${auth.includes(':') ? `${auth.slice(0, auth.indexOf(':'))}:***` : '***'}@`);
}
