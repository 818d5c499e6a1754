/**
 * One `upgrade` listener per HTTP server for every sync server mounted on it (hostile review of
 * issue 12, items 1, 3 and 5). Each sync server used to add a listener of its own: two on one
 * path crashed the process at the first upgrade (ws: "handleUpgrade() was called more than once"),
 * and with two on different paths an upgrade to a third was left by each to the other, answered
 * by nobody, uncounted by every cap, forever.
 *
 * ```
 *   'upgrade' ──▶ another listener answered it already? ──▶ leave it (warn once if it was on a path of ours)
 *             ──▶ on a route's path? ── ws's WebSocketServer({ server }) listens too? ──▶ leave it to ws, warn once
 *                                     └▶ that route upgrades it (another listener that ends it next: warn once)
 *             ──▶ no listener but ours? ──▶ 404, closed
 *             ──▶ otherwise another listener's: every route keeps counting it as not upgraded;
 *                 nobody answered within a route's hello deadline? ──▶ destroyed
 * ```
 *
 * "Answered" is what engine.io checks too: something was written on the socket since the
 * 'upgrade' event began (or it was ended, destroyed, or taken by a ws WebSocketServer). Nothing
 * here ever writes into a socket another listener answered.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';

/** A sync server's side of its HTTP server's upgrades. */
export interface UpgradeRoute {
  /** The path it serves; undefined: every path. */
  readonly path: string | undefined;
  /**
   * Upgrades a socket on its path. Returns whether the WebSocket is still open on this side,
   * read once the HTTP server's other listeners have seen the upgrade.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): () => boolean;
  /** Stops counting the socket as not yet upgraded: another route's WebSocket, or another listener answered it. Idempotent. */
  release(socket: Duplex): void;
  /**
   * Keeps counting a socket left to another listener, and calls `expire` once its hello deadline
   * passes (not after `release`, nor once the socket closed or the route closed).
   */
  hold(socket: Duplex, expire: () => void): void;
}

/** The `code` of the warning `process.emitWarning` gets when another upgrade listener conflicts. */
export const UPGRADE_CONFLICT_WARNING = 'STATESOCKET_UPGRADE_CONFLICT';

const SEE = 'see "Next to another WebSocket server" in docs/server.md';

interface Dispatcher {
  routes: UpgradeRoute[];
  /** Prepended: what was written on each socket before any listener saw its upgrade. */
  mark: (req: IncomingMessage, socket: Duplex) => void;
  dispatch: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  warned: boolean;
}

type AnyServer = HttpServer | HttpsServer;

const dispatchers = new WeakMap<AnyServer, Dispatcher>();
const writtenBefore = new WeakMap<Duplex, number>();

const bytesWritten = (socket: Duplex): number => (socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;

/** ws marks a socket it upgraded with `Symbol('websocket')` (lib/constants.js, kWebSocket). */
const takenByWs = (socket: Duplex): boolean => Object.getOwnPropertySymbols(socket).some((symbol) => symbol.description === 'websocket');

/** Whether a listener other than ours answered (or closed, or upgraded) the socket. */
function answered(socket: Duplex): boolean {
  return socket.destroyed || socket.writableEnded || bytesWritten(socket) > (writtenBefore.get(socket) ?? 0) || takenByWs(socket);
}

const wsServerListeners = new WeakMap<object, boolean>();
/**
 * Whether `listener` is the one ws's `new WebSocketServer({ server })` adds (ws 7 and 8,
 * lib/websocket-server.js): it answers 400 to every upgrade off its `path` and takes every
 * upgrade without one, so nothing else can serve upgrades on that HTTP server. A bundler that
 * renames its variables hides it; the checks at the upgrade still see what it does.
 */
function isWsServerOption(listener: (...args: never[]) => unknown): boolean {
  let known = wsServerListeners.get(listener);
  if (known === undefined) {
    known = /\.handleUpgrade\(\s*req,\s*socket,\s*head,\s*emitConnection\s*\)/.test(Function.prototype.toString.call(listener));
    wsServerListeners.set(listener, known);
  }
  return known;
}

const WS_SERVER_OPTION =
  "ws's new WebSocketServer({ server }) listens for upgrades on this HTTP server: it answers 400 to every upgrade off its path " +
  '(or takes every upgrade, without one), so a sync server cannot share the HTTP server with it; upgrades to the sync ' +
  "server's paths are left to it. Create it with { noServer: true } and call its handleUpgrade() from an 'upgrade' listener " +
  `of yours for its own path only; ${SEE}`;

/**
 * Throws when a sync server already serves `path` on `server` (or every path, or `path` is every
 * path): two would both upgrade the same socket. Called before anything else is set up.
 */
export function assertPathFree(server: AnyServer, path: string | undefined, caller: string): void {
  const taken = dispatchers.get(server)?.routes.find((route) => route.path === undefined || path === undefined || route.path === path);
  if (taken === undefined) return;
  const what = path === undefined ? 'every path' : `path ${JSON.stringify(path)}`;
  throw new RangeError(
    `${caller}: ${what} is already served by another sync server on this HTTP server; ` +
      `give each sync server a path of its own, or close() the other first`,
  );
}

/** Adds a route to the server's dispatcher (created with the first route); returns its removal. */
export function addUpgradeRoute(server: AnyServer, route: UpgradeRoute, caller: string): () => void {
  assertPathFree(server, route.path, caller);
  let dispatcher = dispatchers.get(server);
  if (dispatcher === undefined) {
    dispatcher = createDispatcher(server);
    dispatchers.set(server, dispatcher);
    server.prependListener('upgrade', dispatcher.mark);
    server.on('upgrade', dispatcher.dispatch);
  }
  const own = dispatcher;
  own.routes.push(route);
  if (foreignListeners(server, own).some(isWsServerOption)) warnOnce(own, WS_SERVER_OPTION);
  return () => {
    const index = own.routes.indexOf(route);
    if (index === -1) return;
    own.routes.splice(index, 1);
    if (own.routes.length > 0) return;
    server.off('upgrade', own.mark);
    server.off('upgrade', own.dispatch);
    dispatchers.delete(server);
  };
}

function foreignListeners(server: AnyServer, dispatcher: Dispatcher) {
  return server.listeners('upgrade').filter((listener) => listener !== dispatcher.mark && listener !== dispatcher.dispatch) as Array<
    (...args: never[]) => unknown
  >;
}

function warnOnce(dispatcher: Dispatcher, message: string): void {
  if (dispatcher.warned) return;
  dispatcher.warned = true;
  process.emitWarning(message, { code: UPGRADE_CONFLICT_WARNING });
}

function notFound(socket: Duplex): void {
  // Destroyed once written: the HTTP server allows half-open sockets, and a peer that never ends
  // its side would otherwise hold this one.
  socket.once('finish', () => socket.destroy());
  socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}

function createDispatcher(server: AnyServer): Dispatcher {
  const dispatcher: Dispatcher = {
    routes: [],
    warned: false,
    mark(_req, socket) {
      writtenBefore.set(socket, bytesWritten(socket));
    },
    dispatch(req, socket, head) {
      const { routes } = dispatcher;
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      const route = routes.find((candidate) => candidate.path === undefined || candidate.path === pathname);
      const releaseEverywhere = () => {
        for (const each of routes) each.release(socket);
      };
      if (answered(socket)) {
        releaseEverywhere();
        if (route !== undefined) {
          warnOnce(
            dispatcher,
            `an upgrade to ${pathname}, a sync server's path, was answered by another 'upgrade' listener on this HTTP server ` +
              `before the sync server saw it (ws's WebSocketServer({ server }) answers 400 to every path but its own): ${SEE}`,
          );
        }
        return;
      }
      const foreign = foreignListeners(server, dispatcher);
      if (route !== undefined) {
        if (foreign.some(isWsServerOption)) {
          // Upgrading it would make ws write a 400 into the WebSocket, or throw ("called more than once").
          releaseEverywhere();
          warnOnce(dispatcher, WS_SERVER_OPTION);
          return;
        }
        releaseEverywhere();
        const isOpen = route.accept(req, socket, head);
        if (foreign.length === 0) return;
        process.nextTick(() => {
          if (!isOpen() || !(socket.destroyed || socket.writableEnded)) return;
          warnOnce(
            dispatcher,
            `another 'upgrade' listener on this HTTP server ended a WebSocket the sync server had accepted on ${pathname}: ` +
              `a listener of yours must leave the sync server's paths alone (no socket.destroy() for paths it does not serve); ${SEE}`,
          );
        });
        return;
      }
      if (foreign.length === 0) return notFound(socket);
      // Another listener's, maybe: counted until it is answered, destroyed if nobody does in time.
      const expire = () => {
        if (answered(socket)) releaseEverywhere();
        else socket.destroy();
      };
      for (const each of routes) each.hold(socket, expire);
      process.nextTick(() => {
        if (answered(socket)) releaseEverywhere();
      });
    },
  };
  return dispatcher;
}
