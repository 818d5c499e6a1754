/**
 * `startSyncServer`: the sync server on an HTTP server of its own, listening on `host:port`.
 * The HTTP side answers the control routes (with `control`), then `staticHandler`, then 404;
 * WebSocket upgrades on `path` go to the sync server mounted by `mountSyncServer`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reply } from './control-routes.js';
import { mountSyncServer, type AttachedSyncServer } from './node-server.js';
import { SERVER_LIMITS, resolveServerOptions, type NodeServerOptions } from './server-options.js';

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

async function start(opts: ReturnType<typeof resolveServerOptions>): Promise<RunningServer> {
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
  const sync = mountSyncServer(server, opts);

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
      closing ??= sync.close().then(closeHttp);
      return closing;
    },
  };
}
