/**
 * The sync server on a real network (Node only): `createSyncServer`'s logic
 * behind a `ws` WebSocketServer mounted on an `http.Server` (yours, with
 * `attachSyncServer`, or one of its own, with `startSyncServer` in start.ts),
 * with every limit of issue 11 applied at accept, plus what a test bench needs
 * around it: a live feed, ws-level heartbeat, an atomic data file, and (opt-in)
 * fault injection over HTTP (control-routes.ts).
 *
 * ```
 *   client                         this file                       sync-server.ts
 *   ──────                         ─────────                       ──────────────
 *   HTTP upgrade ───────────────▶  accept (always; never reject:
 *                                  a browser would see only 1006)
 *                                  Origin not own/allowed? ──▶ close 4403
 *                                  over a connection cap? ──▶ close 1013
 *                                  address failed auth? ──▶ hold (or close 1013)
 *                                  hello deadline starts (close 1013 when it passes)
 *                                  core.connect(peer, {urlToken}) ──▶ token wrong? close 4401
 *   text / binary frame ────────▶  session.receive ───────────────────▶  hello / op / ping
 *                               ◀──  peer.send (held while stalled)  ◀──  snapshot / patch / ack
 *   POST /control/<fault> ──────▶  (with `control`) loopback peer + Host, no foreign Origin, Bearer control token,
 *                                  JSON body ──▶ drop · close · stall · garbage · oversized · restart · change
 * ```
 *
 * Imports `ws` and `node:*`: never reachable from the browser entry.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { addressGroup, clientAddress, judgeOrigin, parseHost, parseOrigin, serverNames } from './access.js';
import { createAuthThrottle, type AuthTicket } from './auth-throttle.js';
import { createControlRoutes, reply } from './control-routes.js';
import { DataFileError, loadDataFile, writeDataFileAtomic } from './data-file.js';
import { holdFeedLease, startFeed } from './feed.js';
import { SERVER_LIMITS, resolveServerOptions, type NodeServerOptions, type ResolvedServerOptions } from './server-options.js';
import type { FaultCounters, ServerStats } from './server-stats.js';
import { SyncCloseCode, type Changes } from '../sync/messages.js';
import { DEFAULT_CHANNEL } from '../sync/messages-v2.js';
import { ChangeRefusedError, InitialStateError, createSyncServer, type PersistedState, type Peer, type SyncServer } from './sync-server.js';
import { countUnupgradedSockets } from './admission.js';
import { builtFrame, fitCloseReason, frameInput, type Client, type Held } from './ws-client.js';
import { FrameWriter, sharedFrames } from './ws-frames.js';
import { addUpgradeRoute, assertPathFree } from './upgrade-routes.js';

// ── the mounted server ─────────────────────────────────────────────────────

/** The options of `attachSyncServer`: those of `startSyncServer` but the ones about its own HTTP server. */
export type AttachSyncServerOptions = Omit<NodeServerOptions, 'host' | 'port' | 'staticHandler'>;

/** The sync server mounted on an HTTP server: what `attachSyncServer` returns. */
export interface AttachedSyncServer {
  /** The path WebSocket upgrades are accepted on (`path`); undefined for every path (`startSyncServer` without `path`). */
  readonly path: string | undefined;
  /** The secret the `/control/` routes require (`Authorization: Bearer <controlToken>`), when `control` is on. */
  readonly controlToken: string | undefined;
  /** The sync logic: epoch, seq, data, counters, `change()`, `restart()`. */
  readonly core: SyncServer;
  /** Counters of the whole server: the core's, the limits', the feed's, the data file's, the faults'. */
  stats(): ServerStats;
  /**
   * A server-side change on a channel (`default` unless named): appended through the engine
   * (persisted with `dataFile`) and sent to every client holding the channel as one patch.
   * @throws ChangeRefusedError when the value rule or `maxDataBytes` refuses it, or the channel name (nothing
   *   changes), or (code `ERR_STOPPED`) after `close()` (nothing changes, nothing is written); on an
   *   engine that answers later, the promise rejects with what it cannot tell at once
   * @returns the patch's epoch and seq, once the patch went out
   */
  change(changes: Changes, channel?: string): Promise<{ epoch: string; seq: number }>;
  /**
   * Answers a `/control/*` request when `control` is on and returns true; returns false for any
   * other request (or with `control` off, or after `close()`), which is then yours to answer.
   */
  handleControl(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Stops the live feed (no more server-side changes from it); the server keeps serving.
   * The demo calls it before comparing the client's model with the data, so both are at the same seq.
   */
  stopFeed(): void;
  /**
   * Terminates every WebSocket, clears every timer, writes pending feed changes and removes its
   * listeners from the HTTP server, which keeps running (closing it is yours). Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Mounts the sync server on your HTTP (or HTTPS) server: WebSocket upgrades on `path` are
 * the sync server's, every other request and upgrade stays yours. Every limit applies as with
 * `startSyncServer`: origin check, connection caps (and the caps on sockets not yet upgraded,
 * which count every socket of `server`), the hello deadline (which also lowers
 * `server.headersTimeout` to it when longer, at least `SERVER_LIMITS.minHttpTimeoutMs`),
 * the failed-authentication delay, value and data limits, slow consumers, dedup retention.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { attachSyncServer } from 'statesocket/server';
 *
 * const http = createServer((req, res) => {
 *   res.end('my app');
 * });
 * const sync = attachSyncServer(http, { path: '/sync', feedRatePerSec: 2 });
 * http.listen(8080); // clients connect to ws://localhost:8080/sync
 * // later: await sync.close(); http.close();
 * ```
 * @throws TypeError / RangeError for a bad option, naming it; DataFileError for an unreadable or corrupt data file
 */
export function attachSyncServer(server: HttpServer | HttpsServer, options: AttachSyncServerOptions = {}): AttachedSyncServer {
  if (!isHttpServer(server)) {
    const looksLikePort = typeof server === 'number' || (typeof server === 'object' && server !== null && 'port' in server);
    throw new TypeError(
      `attachSyncServer: the first argument must be your HTTP server (node:http createServer(), or node:https); received ${describeArgument(server)}` +
        (looksLikePort ? '; to listen on a port of its own, use startSyncServer({ port })' : ''),
    );
  }
  if (typeof options === 'object' && options !== null) {
    for (const key of ['host', 'port', 'staticHandler'] as const) {
      if (!(key in options)) continue;
      throw new TypeError(
        `attachSyncServer: ${key} is an option of startSyncServer, which creates and listens on an HTTP server of its own; ` +
          (key === 'staticHandler' ? 'your server answers its own requests' : 'your server listens where its listen() call says'),
      );
    }
  }
  const opts = resolveServerOptions(options, 'attachSyncServer');
  if (opts.redis !== undefined) {
    throw new TypeError(
      "attachSyncServer: redis is startSyncServer's (it builds the engine for you); here pass engine: redisEngine({ url, prefix }) from 'statesocket/server/redis' and close it after the server",
    );
  }
  return mountSyncServer(server, { ...opts, path: opts.path ?? '/' });
}

/** A `node:http` / `node:https` server (or one like it): what the upgrade routes and the timeouts need. */
function isHttpServer(value: unknown): value is HttpServer | HttpsServer {
  const server = value as Partial<HttpServer> | null;
  return typeof server === 'object' && server !== null && typeof server.prependListener === 'function' && typeof server.listeners === 'function' && 'headersTimeout' in server;
}

/** The wrong first argument, described without dumping a whole object. */
function describeArgument(value: unknown): string {
  if (typeof value !== 'object' || value === null) return value === undefined ? 'undefined' : typeof value === 'string' ? JSON.stringify(value) : String(value);
  const keys = Object.keys(value);
  const name = value.constructor?.name;
  const kind = name === undefined || name === 'Object' ? 'an object' : `a ${name}`;
  return keys.length === 0 ? `${kind} with no keys` : `${kind} with keys ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}`;
}

/** `attachSyncServer` with its options resolved (`startSyncServer` resolves them itself, `host` and `port` included). */
export function mountSyncServer(server: HttpServer | HttpsServer, opts: ResolvedServerOptions, caller = 'attachSyncServer'): AttachedSyncServer {
  // Before anything is loaded or started: a second sync server on a path would crash the first upgrade.
  assertPathFree(server, opts.path, caller);
  const { dataFile } = opts;

  const stats = {
    originFailures: 0,
    controlRefusals: 0,
    helloTimeouts: 0,
    connectionsRefused: 0,
    socketsRefused: 0,
    authHeld: 0,
    authThrottled: 0,
    heartbeatKills: 0,
    oversizedFrames: 0,
    feedChanges: 0,
    feedRefused: 0,
    feedFailures: 0,
    persists: 0,
    persistFailures: 0,
  };
  const faults: FaultCounters = { drop: 0, close: 0, stall: 0, garbage: 0, oversized: 0, restart: 0, total: 0 };

  // ── persistence: ops synchronously before anyone sees them; feed changes and refusals throttled ──
  // (a refusal settles its op: the client never re-sends it, so losing the last ~200 ms of
  // refusals to a crash applies nothing twice; writing each one would let any client make the
  // server rewrite and fsync the whole file per invalid op)
  let inFeed = false;
  let feedDirty = false;
  let persistTimer: NodeJS.Timeout | undefined;

  const persist = (state: PersistedState) => {
    if (dataFile === undefined) return;
    try {
      writeDataFileAtomic(dataFile, state);
    } catch (error) {
      stats.persistFailures++;
      throw error;
    }
    stats.persists++;
    feedDirty = false;
  };
  const persistFeed = () => {
    persistTimer = undefined;
    if (!feedDirty) return;
    try {
      persist(core.persisted());
    } catch {
      // Counted; the next change tries again. A timer has nobody to throw to.
    }
  };

  const initial = dataFile === undefined ? undefined : loadDataFile(dataFile);
  const coreOptions = {
    logSize: opts.logSize,
    maxHellosPerMinute: opts.maxHellosPerMinute,
    now: () => opts.clock.now(),
    maxBufferedBytes: opts.maxBufferedBytes,
    maxValueDepth: opts.maxValueDepth,
    maxOpBytes: opts.maxOpBytes,
    maxDataBytes: opts.maxDataBytes,
    maxPayloadBytes: opts.maxPayloadBytes,
    maxChannelsPerConnection: opts.maxChannelsPerConnection,
    maxChannelsInMemory: opts.maxChannelsInMemory,
    maxSubscribesPerMinute: opts.maxSubscribesPerMinute,
    presenceGraceMs: opts.presenceGraceMs,
    refreshBeforeMs: opts.refreshBeforeMs,
    channelIdleMs: opts.channelIdleMs,
    timers: opts.clock,
    random: opts.random,
    // The engine's own options go to the memory engine; an engine given was built with its own.
    ...(opts.engine === undefined
      ? {
          dedupSize: opts.dedupSize,
          dedupRetentionMs: opts.dedupRetentionMs,
          maxStoredChannels: opts.maxStoredChannels,
          maxClientsPerChannel: opts.maxClientsPerChannel,
          markRetentionMs: opts.markRetentionMs,
          maxRefusalsPerClient: opts.maxRefusalsPerClient,
          maxClientIds: opts.maxClientIds,
        }
      : { engine: opts.engine }),
    ...(opts.token === undefined ? {} : { token: opts.token }),
    ...(opts.authenticate === undefined ? {} : { authenticate: opts.authenticate }),
    ...(opts.authorize === undefined ? {} : { authorize: opts.authorize }),
    ...(initial === undefined ? {} : { initial }),
    ...(dataFile === undefined
      ? {}
      : {
          onChange: (state: () => PersistedState, what: 'change' | 'refusal' | 'client') => {
            if (!inFeed && what === 'change') return persist(state());
            feedDirty = true;
            persistTimer ??= setTimeout(persistFeed, SERVER_LIMITS.feedPersistIntervalMs);
          },
        }),
  };
  let core: SyncServer;
  try {
    core = createSyncServer(coreOptions);
  } catch (error) {
    // Only the initial data can make it throw: a value the rule or the limits refuse.
    if (!(error instanceof InitialStateError)) throw error;
    const problem = error.message.replace(/^initial data (of channel \S+ )?breaks the value rule: /, '');
    const where = error.channel === DEFAULT_CHANNEL ? '' : ` in channel ${error.channel}`;
    const message =
      error.rule === 'size'
        ? `data file ${dataFile} holds ${error.bytes} bytes of data as JSON${where}, over --max-data-bytes (${opts.maxDataBytes}): its snapshots would be larger than clients accept (maxMessageBytes, 1 MiB by default). Raise --max-data-bytes (and the clients' maxMessageBytes with it) or shrink the file`
        : error.rule === 'depth'
          ? `data file ${dataFile} holds a value nested too deep${where} (${problem}); raise --max-value-depth or fix the file`
          : `data file ${dataFile} holds a value the value rule refuses${where} (${problem}); no flag allows it: fix the file`;
    throw new DataFileError(dataFile ?? '', message, { cause: error });
  }
  // Writes the file now: a missing directory or a read-only disk fails at startup, not at the first op.
  if (dataFile !== undefined) persist(core.persisted());

  // ── connections ──
  const clients = new Set<Client>();
  let closing: Promise<void> | undefined;

  const { clock } = opts;

  const shared = sharedFrames();

  /** Sends through the stall: held while the link is stalled, dropped once the socket is not open. */
  const transmit = (client: Client, item: Held) => {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    if (client.held !== null) {
      client.held.push(item);
      if (item.kind === 'frame') client.heldBytes += Buffer.byteLength(item.data) + SERVER_LIMITS.frameOverheadBytes;
      return;
    }
    if (item.kind === 'frame') return client.frames.write(builtFrame(item.data));
    client.frames.flush(); // the close frame must not pass the frames sent before it
    if (item.code === undefined) client.ws.close();
    else client.ws.close(item.code, item.reason);
    // A client that reads nothing never answers the close: free its socket and buffers soon.
    client.closeTimer ??= clock.setTimeout(() => client.ws.terminate(), SERVER_LIMITS.closeGraceMs);
  };

  /** Names whose pages count as this server's own origin (see `allowedOrigins`). */
  const wsNames = serverNames(
    opts.host,
    [...opts.allowedOrigins].map((entry) => parseHost(parseOrigin(entry)?.host)?.name ?? ''),
  );

  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayloadBytes, clientTracking: false });

  // ── who gets in: caps, the failed-authentication delay, the hello deadline ──
  let admitted = 0;
  const perAddress = new Map<string, number>();
  const throttle = createAuthThrottle(opts.authThrottle, () => clock.now());
  /** Frames read while a connection is held for the authentication delay; more closes it (it should be waiting). */
  const maxEarlyFrames = 16;

  const release = (client: Client) => {
    clock.clearTimeout(client.helloTimer);
    clock.clearTimeout(client.holdTimer);
    clock.clearTimeout(client.closeTimer);
    if (!client.counted) return;
    client.counted = false;
    admitted--;
    const left = (perAddress.get(client.address) ?? 1) - 1;
    if (left > 0) perAddress.set(client.address, left);
    else perAddress.delete(client.address);
  };

  /** Sends a close frame (terminated after `closeGraceMs` if its peer never answers it). */
  const closeAndReap = (client: Client, code: number, reason: string) =>
    transmit(client, { kind: 'close', code, reason: fitCloseReason(reason) });

  /** Closes a connection the server will not serve now; 1013 tells the client to come back later. */
  const refuse = (client: Client, reason: string) => closeAndReap(client, SyncCloseCode.TRY_AGAIN_LATER, reason);

  const accept = (ws: WebSocket, req: IncomingMessage) => {
    // Per-address limits count per IPv4 address or IPv6 /64 (one host is given a whole /64).
    const address = addressGroup(clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], opts.trustProxy));
    let session: ReturnType<SyncServer['connect']> | undefined;
    const client: Client = {
      ws,
      address,
      counted: false,
      helloTimer: undefined,
      holdTimer: undefined,
      closeTimer: undefined,
      alive: true,
      held: null,
      heldBytes: 0,
      frames: new FrameWriter(ws, () => session?.drained()),
      stallTimer: undefined,
    };
    clients.add(client);
    let ticket: AuthTicket | undefined;
    ws.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') stats.oversizedFrames++;
      // Otherwise ws closes the socket itself (1002, 1007, ...); 'close' follows.
    });
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('close', () => {
      clients.delete(client);
      clearTimeout(client.stallTimer);
      release(client);
      if (ticket !== undefined) throttle.settle(ticket, null); // no-op once the token was judged
      session?.closed();
    });

    const origin = req.headers.origin;
    if (judgeOrigin(origin, req.headers.host, wsNames, opts.allowedOrigins) === 'refused') {
      stats.originFailures++;
      return closeAndReap(client, SyncCloseCode.FORBIDDEN, `origin ${origin} is not allowed`);
    }

    if (admitted >= opts.maxConnections) {
      stats.connectionsRefused++;
      return refuse(client, `server at its limit of ${opts.maxConnections} connections; try again later`);
    }
    const fromAddress = perAddress.get(address) ?? 0;
    if (fromAddress >= opts.maxConnectionsPerAddress) {
      stats.connectionsRefused++;
      return refuse(client, `too many connections from ${address} (limit ${opts.maxConnectionsPerAddress}); try again later`);
    }
    client.counted = true;
    admitted++;
    perAddress.set(address, fromAddress + 1);

    let waitMs = 0;
    if (opts.token !== undefined || opts.authenticate !== undefined) {
      const admission = throttle.admit(address);
      if (!admission.admitted) {
        stats.authThrottled++;
        return refuse(client, `too many failed authentications from ${address}; retry in ${Math.ceil(admission.retryAfterMs / 1000)} s`);
      }
      ticket = admission.ticket;
      waitMs = ticket.waitMs;
    }

    client.helloTimer = clock.setTimeout(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      stats.helloTimeouts++;
      closeAndReap(client, SyncCloseCode.TRY_AGAIN_LATER, `expected the statesocket sync protocol's hello within ${opts.helloTimeoutMs} ms`);
    }, waitMs + opts.helloTimeoutMs);

    const peer: Peer = {
      send: (frame) => transmit(client, { kind: 'frame', data: shared(frame) }),
      close: (code, reason) => transmit(client, { kind: 'close', code, reason: fitCloseReason(reason) }),
      get bufferedAmount() {
        // ws counts only the bytes; each queued write also holds buffers and a write request.
        return ws.bufferedAmount + client.frames.pendingWrites * SERVER_LIMITS.frameOverheadBytes + client.heldBytes + client.frames.queuedBytes;
      },
    };
    const deliver = (data: RawData, isBinary: boolean) => {
      // What the frame is answered with now (an op's patch to this client and its ack) goes out as one write.
      client.frames.cork();
      try {
        session?.receive(frameInput(data, isBinary));
      } catch {
        // The core answers every frame itself (a failed write closes with 1011 there); a throw here
        // is a bug. It is not the op's fault: no error frame with its id, close with 1011 so the
        // client sends the op again.
        transmit(client, { kind: 'close', code: SyncCloseCode.INTERNAL_ERROR, reason: 'internal error' });
      } finally {
        client.frames.uncork();
      }
    };
    const early: Array<[RawData, boolean]> = [];
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (session !== undefined) return deliver(data, isBinary);
      // ws may still emit frames it had buffered when the hold paused it.
      early.push([data, isBinary]);
      if (early.length > maxEarlyFrames) ws.terminate();
    });

    const urlToken = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    const start = () => {
      client.holdTimer = undefined;
      if (ws.readyState !== WebSocket.OPEN) return;
      session = core.connect(peer, {
        urlToken,
        owner: address,
        onAuthenticated: (ok) => {
          if (ticket !== undefined) throttle.settle(ticket, ok);
        },
        onGreeted: () => {
          clock.clearTimeout(client.helloTimer);
          client.helloTimer = undefined;
        },
      });
      for (const [data, isBinary] of early.splice(0)) deliver(data, isBinary);
      if (waitMs > 0 && client.held === null) ws.resume(); // a stall that began meanwhile keeps it paused
    };
    if (waitMs === 0) return start();
    // Held: nothing is read (so the token is not judged) until this address's turn.
    stats.authHeld++;
    ws.pause();
    client.holdTimer = clock.setTimeout(start, waitMs);
  };

  // ── HTTP: control routes (opt-in), upgrades ──
  const { controlToken, trustProxy } = opts;
  const control =
    controlToken === undefined ? undefined : createControlRoutes({ clients, core, faults, stats, transmit, snapshotStats, opts: { controlToken, trustProxy } });

  // Headers within the hello deadline (floored: Node checks on the wall clock, every
  // connectionsCheckingInterval): hostile review a4 held 2,000 half-sent upgrade requests for
  // Node's default 60 s. Only lowered: a server of yours with a tighter timeout keeps it.
  const httpTimeoutMs = Math.max(opts.helloTimeoutMs, SERVER_LIMITS.minHttpTimeoutMs);
  const headersTimeoutBefore = server.headersTimeout;
  if (server.headersTimeout === 0 || server.headersTimeout > httpTimeoutMs) server.headersTimeout = httpTimeoutMs;

  // ── sockets before the upgrade (admission.ts) ──
  const unupgradedSockets = countUnupgradedSockets(opts, stats);

  // Upgrades reach it through one dispatcher per HTTP server (upgrade-routes.ts): its path, other
  // sync servers' paths, 404 or other listeners'.
  /** Sockets left to another upgrade listener, with their deadline. */
  const heldUpgrades = new Map<Duplex, unknown>();
  const stopHolding = (socket: Duplex) => {
    clock.clearTimeout(heldUpgrades.get(socket));
    heldUpgrades.delete(socket);
  };
  const removeRoute = addUpgradeRoute(
    server,
    {
      path: opts.path,
      accept(req, socket, head) {
        if (closing !== undefined) {
          socket.destroy();
          return () => false;
        }
        let upgraded: WebSocket | undefined;
        // Accept first, refuse after: a browser shown a rejected upgrade reports only 1006 and retries forever.
        wss.handleUpgrade(req, socket, head, (ws) => {
          upgraded = ws;
          accept(ws, req);
        });
        return () => upgraded?.readyState === WebSocket.OPEN;
      },
      release(socket) {
        // From here the socket counts as a WebSocket (admitted/perAddress) or not at all, not as unupgraded.
        unupgradedSockets.upgraded(socket);
        stopHolding(socket);
      },
      hold(socket, expire) {
        if (heldUpgrades.has(socket) || socket.destroyed) return;
        heldUpgrades.set(
          socket,
          clock.setTimeout(() => {
            heldUpgrades.delete(socket);
            expire();
          }, opts.helloTimeoutMs),
        );
        socket.once('close', () => stopHolding(socket));
      },
    },
    caller,
  );
  server.on('connection', unupgradedSockets.onConnection);

  // ── timers: the feed and the ws-level heartbeat ──
  let stopFeed: (() => void) | undefined;
  if (opts.feedRatePerSec > 0) {
    // Of the instances sharing an engine, the one holding the lease runs the feed.
    const lease = holdFeedLease(core.engine, opts.feedChannel, core.instanceId);
    const stopTicks = startFeed(
      core,
      opts.feedChannel,
      opts.feedRatePerSec,
      opts.random,
      stats,
      (tick) => {
        inFeed = true;
        try {
          tick();
        } finally {
          inFeed = false;
        }
      },
      lease.held,
    );
    stopFeed = () => {
      stopTicks();
      lease.stop();
    };
  }

  let heartbeatTimer: NodeJS.Timeout | undefined;
  if (opts.heartbeatMs > 0) {
    heartbeatTimer = setInterval(() => {
      for (const client of clients) {
        // A stalled link cannot read its pongs: the stall decides its fate, not the heartbeat.
        if (client.held !== null || client.ws.readyState !== WebSocket.OPEN) continue;
        if (!client.alive) {
          stats.heartbeatKills++;
          client.ws.terminate();
          continue;
        }
        client.alive = false;
        client.ws.ping();
      }
    }, opts.heartbeatMs);
  }

  function snapshotStats(): ServerStats {
    let stalled = 0;
    let heldFrames = 0;
    for (const client of clients) {
      if (client.held === null) continue;
      stalled++;
      heldFrames += client.held.length;
    }
    return { ...core.counters, open: clients.size, unupgraded: unupgradedSockets.count(), stalled, heldFrames, ...stats, faults: { ...faults } };
  }

  return {
    path: opts.path,
    controlToken: opts.controlToken,
    core,
    stats: snapshotStats,
    change(changes, channel) {
      if (closing !== undefined) {
        throw new ChangeRefusedError('ERR_STOPPED', 'this sync server was closed with close(); the change was not applied nor written');
      }
      return core.change(changes, channel).then((patch) => ({ epoch: patch.epoch, seq: patch.seq }));
    },
    handleControl(req, res) {
      // Closed, it answers nothing: a control change would still rewrite the data file.
      if (control === undefined || closing !== undefined) return false;
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (!url.pathname.startsWith('/control/')) return false;
      control(req, res, url).catch((error: unknown) => {
        if (!res.headersSent) reply(res, 500, { ok: false, error: (error as Error).message });
      });
      return true;
    },
    stopFeed() {
      stopFeed?.();
      stopFeed = undefined;
    },
    close() {
      closing ??= (async () => {
        stopFeed?.();
        clearInterval(heartbeatTimer);
        clearTimeout(persistTimer);
        core.close();
        for (const client of clients) {
          clearTimeout(client.stallTimer);
          release(client);
          client.ws.terminate();
        }
        if (feedDirty) persistFeed();
        wss.close();
        server.off('connection', unupgradedSockets.onConnection);
        removeRoute();
        for (const socket of [...heldUpgrades.keys()]) stopHolding(socket);
        if (server.headersTimeout === httpTimeoutMs) server.headersTimeout = headersTimeoutBefore;
      })();
      return closing;
    },
  };
}
