/**
 * `startSyncServer`: the sync server on an HTTP server of its own, listening on `host:port`.
 * The HTTP side answers the control routes (with `control`), then `staticHandler`, then 404;
 * WebSocket upgrades on `path` go to the sync server mounted by `mountSyncServer`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reply } from './control-routes.js';
import { mountSyncServer, type AttachedSyncServer } from './node-server.js';
import type { Engine } from './engine.js';
import { SERVER_LIMITS, resolveServerOptions, type NodeServerOptions, type ResolvedServerOptions } from './server-options.js';

/** The sync server on its own port: what `startSyncServer` returns. */
export interface RunningServer extends AttachedSyncServer {
  /** `ws://host:port` plus `path` (`/` without one): what clients connect to. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** Terminates every socket, clears every timer, writes pending feed changes, closes the HTTP server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the sync server on `host:port` and resolves once it listens.
 *
 * @example
 * ```ts
 * const server = await startSyncServer({ port: 0, feedRatePerSec: 5, control: true });
 * const connection = createConnection({ url: server.url });
 * await fetch(`http://127.0.0.1:${server.port}/control/drop`, {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${server.controlToken}` },
 * }); // the client sees 1006
 * await server.close();
 * ```
 * @throws TypeError / RangeError for a bad option, naming it; DataFileError for an unreadable or corrupt data file
 * @returns the running server; rejects with the listen error (e.g. EADDRINUSE)
 */
export async function startSyncServer(options: NodeServerOptions = {}): Promise<RunningServer> {
  return start(resolveServerOptions(options, 'startSyncServer'));
}

/**
 * The name `startSyncServer` had before `attachSyncServer` existed; its control routes are on
 * unless `control: false`.
 * @deprecated Use `startSyncServer` (with `control: true` for the control routes).
 */
export async function startServer(options: NodeServerOptions = {}): Promise<RunningServer & { readonly controlToken: string }> {
  const running = await start(resolveServerOptions({ control: true, ...options }, 'startServer'));
  if (running.controlToken === undefined) throw new RangeError('startServer: control: false has no control token; use startSyncServer');
  return running as RunningServer & { readonly controlToken: string };
}

/**
 * `redis: { url, prefix }`: the Redis engine, built here (its module, and the optional peer
 * `ioredis`, are loaded only then) and closed with the server. The server starts while Redis is
 * down too: it closes its clients with 1013 until Redis answers (docs/scaling.md).
 */
async function redisBacked(opts: ResolvedServerOptions): Promise<{ opts: ResolvedServerOptions; engine: Engine | undefined }> {
  if (opts.redis === undefined) return { opts, engine: undefined };
  let redisModule: typeof import('./redis/index.js');
  try {
    redisModule = await import('./redis/index.js');
  } catch (error) {
    throw new Error(`redis: the Redis engine needs the package ioredis (npm install ioredis): ${(error as Error).message}`, { cause: error });
  }
  // Reported as the engine goes; a URL that cannot work is reported by the startup error alone.
  let started = false;
  const engine = redisModule.redisEngine({
    url: opts.redis.url,
    onError: (error) => {
      if (started || !(error instanceof redisModule.RedisConfigError)) console.error(`statesocket redis engine: ${error.message}`);
    },
    ...(opts.redis.prefix === undefined ? {} : { prefix: opts.redis.prefix }),
    logSize: opts.logSize,
    channelIdleMs: opts.channelIdleMs,
    maxClientsPerChannel: opts.maxClientsPerChannel,
    markRetentionMs: opts.markRetentionMs,
    maxRefusalsPerClient: opts.maxRefusalsPerClient,
    maxStoredChannels: opts.maxStoredChannels,
    maxClientIds: opts.maxClientIds,
    dedupSize: opts.dedupSize,
    dedupRetentionMs: opts.dedupRetentionMs,
    presenceTtlMs: opts.presenceGraceMs,
  });
  // Serve from the start when Redis answers; when it does not (yet), start anyway: clients are
  // closed with 1013 until it does, and the engine has reported the error. A URL that cannot work
  // (a wrong password or database, a host that does not resolve, a server that is not Redis) is
  // a startup error: no wait would change it.
  try {
    await engine.ready(REDIS_READY_WAIT_MS);
  } catch (error) {
    if (error instanceof redisModule.RedisConfigError) {
      await engine.close();
      throw error;
    }
  }
  started = true;
  return { opts: { ...opts, engine }, engine };
}

/** How long `startSyncServer({ redis })` waits for Redis to answer before it starts without it. */
const REDIS_READY_WAIT_MS = 5_000;

async function start(resolved: ResolvedServerOptions): Promise<RunningServer> {
  const { opts, engine: ownEngine } = await redisBacked(resolved);
  const closeOwnEngine = async () => {
    await ownEngine?.close();
  };
  const server = createServer({ connectionsCheckingInterval: SERVER_LIMITS.httpCheckIntervalMs }, (req, res) => {
    if (sync.handleControl(req, res)) return;
    try {
      if (opts.staticHandler?.(req, res) === true) return;
    } catch (error) {
      if (!res.headersSent) reply(res, 500, { ok: false, error: (error as Error).message });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    reply(res, 404, { ok: false, error: `no route for ${req.method} ${url.pathname}` });
  });
  // Headers and the whole request within the hello deadline, whichever way it goes (on a server of
  // yours, mountSyncServer only lowers headersTimeout).
  const httpTimeoutMs = Math.max(opts.helloTimeoutMs, SERVER_LIMITS.minHttpTimeoutMs);
  server.headersTimeout = httpTimeoutMs;
  server.requestTimeout = httpTimeoutMs;
  let sync: AttachedSyncServer;
  try {
    sync = mountSyncServer(server, opts);
  } catch (error) {
    await closeOwnEngine();
    throw error;
  }

  const closeHttp = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Keep-alive HTTP connections (fetch keeps them) would hold close() open.
      server.closeAllConnections();
    });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await sync.close();
    await closeOwnEngine();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const host = opts.host;
  let closing: Promise<void> | undefined;
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}${opts.path ?? '/'}`,
    port,
    host,
    path: sync.path,
    controlToken: sync.controlToken,
    core: sync.core,
    stats: () => sync.stats(),
    change: (changes, channel) => sync.change(changes, channel),
    handleControl: (req, res) => sync.handleControl(req, res),
    stopFeed: () => sync.stopFeed(),
    close() {
      closing ??= sync.close().then(closeHttp).then(closeOwnEngine);
      return closing;
    },
  };
}
