/**
 * `useConnection` and `<ConnectionProvider>`: a connection owned by a component, or shared with a
 * subtree. The connection object is made during render, idle: no socket, no timer (XState's actor
 * in `idle` holds nothing). Its socket opens in an effect, a microtask after the commit, so that
 * StrictMode's mount, unmount and mount again (all in one commit) start it once: one socket.
 * Effects torn down and set up again later with the component's state kept (`<Activity>` hidden,
 * then visible) stop it, then put a new one in its place: a stopped connection cannot start again.
 */
import { createContext, createElement, useContext, useEffect, useReducer, useRef, type ReactNode } from 'react';
import { createConnection } from '../index.js';
import type { Connection } from '../connection.js';
import { StatesocketError } from '../errors.js';
import type { ConnectionOptions } from '../options.js';
import type { Store } from '../store.js';
import type { SyncOutbound } from '../sync/client-protocol.js';
import type { AnyModel, View, WebSocketConstructor } from '../types.js';

/** Any connection, whatever its Model and messages. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyConnection = Connection<any, any>;

const SharedConnection = createContext<AnyConnection | null>(null);

/** The socket constructor where the platform has none (Node 20 rendering on the server): the connection is made, never started there. */
const NoWebSocket = class {
  constructor() {
    throw new TypeError(
      'statesocket: this platform has no global WebSocket; pass the `WebSocket` option (from "ws" in Node) to useConnection or ConnectionProvider',
    );
  }
} as unknown as WebSocketConstructor;

/** One owned connection, kept across renders while its `url` stays the same. */
interface Owned {
  /** The url it was made with (a url provider: any function, called through `latest`). */
  url: unknown;
  connection: AnyConnection;
  /** Effects holding it now: StrictMode's second mount takes it up again before the first one's release settles. */
  holders: number;
  /** Past the mount: started (or, with `autoStart: false`, left to the user); a release then stops it at once. */
  settled: boolean;
  /** Stopped by its last release: effects that come back (`<Activity>` visible again) need a new connection. */
  stopped: boolean;
}

/** The url part of the key: a string as is; any url provider the same (the latest one is called through a ref). */
function sameUrl(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'function' && typeof b === 'function');
}

/**
 * Makes the idle connection: `url` (a provider) and `view` are read through `latest`; everything else is fixed here.
 * `model`: the Model of the connection it replaces, when the options name none (its data stays on show).
 */
function create(
  options: ConnectionOptions<AnyModel, unknown>,
  latest: { current: ConnectionOptions<AnyModel, unknown> | undefined },
  model?: AnyModel,
): AnyConnection {
  const { url, view, WebSocket, ...rest } = options;
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const followedView: View<unknown> | undefined =
    view === undefined ? undefined : { render: (data, status) => (latest.current?.view ?? view).render(data as never, status) };
  return createConnection({
    ...rest,
    ...(rest.model === undefined && model !== undefined ? { model } : {}),
    url: typeof url === 'function' ? () => (typeof latest.current?.url === 'function' ? latest.current.url : url)() : url,
    ...(followedView === undefined ? {} : { view: followedView }),
    WebSocket: WebSocket ?? platform ?? NoWebSocket,
    autoStart: false,
  });
}

/**
 * The connection a component owns (`options` given), made during render and started in an effect;
 * null without options. Stopped on unmount, and when `url` changes (a new one takes its place).
 */
function useOwnedConnection(options: ConnectionOptions<AnyModel, unknown> | undefined): AnyConnection | null {
  const latest = useRef(options);
  latest.current = options;
  const owned = useRef<Owned | null>(null);
  const [, renderAgain] = useReducer((renders: number) => renders + 1, 0);
  if (options === undefined) owned.current = null;
  else if (owned.current === null || !sameUrl(owned.current.url, options.url)) {
    owned.current = { url: options.url, connection: create(options, latest), holders: 0, settled: false, stopped: false };
  }
  const current = owned.current;
  const autoStart = options?.autoStart !== false;
  useEffect(() => {
    if (current === null) return;
    if (current.stopped) {
      // Effects set up again with the state kept (<Activity> visible again): a new connection in place of the
      // stopped one, on the latest options and the same Model; the render this asks for starts it.
      const options = latest.current;
      if (owned.current === current && options !== undefined) {
        owned.current = { url: options.url, connection: create(options, latest, current.connection.model), holders: 0, settled: false, stopped: false };
      }
      renderAgain();
      return;
    }
    current.holders += 1;
    queueMicrotask(() => {
      if (current.holders === 0 || current.settled) return;
      current.settled = true;
      if (autoStart) current.connection.start();
    });
    return () => {
      current.holders -= 1;
      if (current.settled) {
        if (current.holders === 0) release(current);
        return;
      }
      // released before it started: StrictMode takes it up again in this same commit, or it was a real unmount
      queueMicrotask(() => {
        if (current.holders === 0 && !current.settled) release(current);
      });
    };
    // autoStart is read once, at the start
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [current]);
  return current?.connection ?? null;
}

/** Stops an owned connection nothing holds any more (an unmount, or effects torn down: `<Activity>` hidden). */
function release(owned: Owned): void {
  owned.stopped = true;
  owned.connection.stop();
}

/** The connection given, else the nearest provider's. @throws StatesocketError `ERR_NO_CONNECTION` when there is neither */
export function useConnectionFrom(given: AnyConnection | undefined, hook: string): AnyConnection {
  const shared = useContext(SharedConnection);
  const connection = given ?? shared;
  if (connection === null) throw noConnection(hook, 'a connection');
  return connection;
}

/** The nearest provider's connection, or null outside one. */
export function useOptionalConnection(): AnyConnection | null {
  return useContext(SharedConnection);
}

export function noConnection(hook: string, what: string): StatesocketError {
  return new StatesocketError('ERR_NO_CONNECTION', `statesocket/react: ${hook} found no connection: render it inside a <ConnectionProvider>, or pass ${what}`);
}

/**
 * With options: creates a connection and owns it for the component's life (stopped on unmount;
 * a changed `url` replaces it with a new one; other changed options do not reconnect: see
 * docs/react.md for each option). Without: the nearest `<ConnectionProvider>`'s connection.
 * Options win when both are there: the component owns its own connection.
 *
 * @example
 * ```ts
 * const connection = useConnection({ url: 'wss://example.com/live' });
 * const status = useConnectionStatus(connection);
 * ```
 * @throws StatesocketError `ERR_NO_CONNECTION` without options outside a provider
 */
export function useConnection<M extends AnyModel = Store, TOut = SyncOutbound>(options?: ConnectionOptions<M, TOut>): Connection<M, TOut> {
  const owned = useOwnedConnection(options as ConnectionOptions<AnyModel, unknown> | undefined);
  // called in every render either way (the rules of hooks)
  const shared = useContext(SharedConnection);
  if (owned !== null) return owned as Connection<M, TOut>;
  if (shared === null) throw noConnection('useConnection()', 'the connection options');
  return shared as Connection<M, TOut>;
}

/** The props of `<ConnectionProvider>`: the options of a connection it owns, or a connection made elsewhere (never stopped by it). */
export type ConnectionProviderProps<M extends AnyModel = Store, TOut = SyncOutbound> =
  | { options: ConnectionOptions<M, TOut>; connection?: undefined; children?: ReactNode }
  | { connection: Connection<M, TOut>; options?: undefined; children?: ReactNode };

/**
 * Shares one connection with its subtree (`useConnection()`, `useChannel`, `useConnectionStatus()`).
 * With `options` it owns it as `useConnection(options)` does; with `connection` it only passes on
 * one made elsewhere, and never stops it: whoever made it does.
 * @throws StatesocketError `ERR_NO_CONNECTION` when both or neither of `options` and `connection` are given
 */
export function ConnectionProvider<M extends AnyModel = Store, TOut = SyncOutbound>(props: ConnectionProviderProps<M, TOut>): ReactNode {
  const given = props.connection;
  const options = props.options;
  if ((given === undefined) === (options === undefined)) {
    throw new StatesocketError(
      'ERR_NO_CONNECTION',
      'statesocket/react: <ConnectionProvider> takes either `options` (a connection it owns) or `connection` (one made elsewhere), not both nor neither',
    );
  }
  const owned = useOwnedConnection(options as ConnectionOptions<AnyModel, unknown> | undefined);
  return createElement(SharedConnection.Provider, { value: owned ?? (given as AnyConnection) }, props.children);
}

