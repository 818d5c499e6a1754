/**
 * `useChannel`: holds `connection.channel(name)` while a component uses it. A handle is shared by
 * name on its connection, so the hooks count the components holding each one: the channel is
 * unsubscribed when the last of them unmounts (a microtask later, so that StrictMode's second
 * mount takes it up again: one subscribe). The connection's own channel (its Model's), and a
 * handle that code outside them also took from `connection.channel()`, are never unsubscribed by them.
 */
import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import type { Channel, ChannelOptions, ChannelStatus, ChangesOptions } from '../channel.js';
import { channelTakes } from '../connection.js';
import { StatesocketError, describeThrown, isStatesocketError } from '../errors.js';
import type { PresenceData } from '../presence.js';
import type { ChangelogPage } from '../protocol.js';
import type { Store } from '../store.js';
import type { Changes } from '../sync/messages.js';
import type { AnyModel, DataOf } from '../types.js';
import { useConnectionFrom, type AnyConnection } from './connection.js';
import { useFrameSelection } from './model.js';

/** Options of `useChannel`: the channel's (fixed by the first component that holds it) and the connection to use. */
export interface UseChannelOptions<M extends AnyModel = Store> extends ChannelOptions<M> {
  /**
   * The connection the channel is on.
   * @default the nearest `<ConnectionProvider>`'s
   */
  connection?: AnyConnection;
}

/** What `useChannel` returns. */
export interface UseChannelResult<M extends AnyModel = Store> {
  /** The channel's data (its Model's `getData()`), at most once per frame; undefined until the channel is held (the first effect). */
  data: DataOf<M> | undefined;
  /** The channel's status; `unsubscribed` until held, `failed` with `lastError` when `channel()` refused it. */
  status: ChannelStatus;
  /**
   * `channel.send(op)`: an op, applied exactly once, its promise settled by the server's answer.
   * Never throws: rejects with `ERR_NOT_SUBSCRIBED` before the channel is held and after the
   * component unmounted, and with whatever `channel.send` throws.
   */
  send(op: Changes): Promise<void>;
  /** `channel.changes(options)`: past patches; never throws: rejects with `ERR_NOT_SUBSCRIBED` before the channel is held and after unmount. */
  changes(options?: ChangesOptions): Promise<ChangelogPage>;
  /** The members, with the `presence` option; else null. */
  presence: PresenceData | null;
  /** The handle itself, once held. */
  channel: Channel<M> | null;
}

interface Hold {
  handle: Channel<AnyModel>;
  holders: number;
  /** The connection's own channel: it goes on with the connection. */
  own: boolean;
}

const holds = new WeakMap<AnyConnection, Map<string, Hold>>();

function hold(connection: AnyConnection, name: string, options: ChannelOptions<AnyModel>): Hold {
  let byName = holds.get(connection);
  if (byName === undefined) {
    byName = new Map();
    holds.set(connection, byName);
  }
  let held = byName.get(name);
  if (held === undefined) {
    const handle = connection.channel(name, options);
    held = { handle, holders: 0, own: handle.model === connection.model };
    byName.set(name, held);
  }
  held.holders += 1;
  return held;
}

function release(connection: AnyConnection, name: string, held: Hold): void {
  held.holders -= 1;
  queueMicrotask(() => {
    const byName = holds.get(connection);
    if (held.holders > 0 || byName?.get(name) !== held) return;
    byName.delete(name);
    // the connection's own channel goes on, and so does a handle code outside the hooks took from
    // connection.channel() (before or while they held it): only the hooks' own call returned it
    if (!held.own && channelTakes(held.handle) === 1) held.handle.unsubscribe();
  });
}

/** The status shown before the channel is held, or when `channel()` refused it. */
function placeholderStatus(name: string, error: unknown): ChannelStatus {
  return {
    channel: name,
    state: error === null ? 'unsubscribed' : 'failed',
    live: false,
    lastError:
      error === null
        ? null
        : { code: isStatesocketError(error) ? (error.code as never) : 'ERR_INVALID_CHANNEL', message: describeThrown(error), cause: error },
    retryDelayMs: null,
    resubscribes: 0,
    presenceError: null,
  };
}

const noSubscription = () => () => {};

/** `call()`'s promise; what it throws (or returns as an error: not held) as a rejected one, never a synchronous throw. */
function settled<T>(call: () => Promise<T> | StatesocketError): Promise<T> {
  let result: Promise<T> | StatesocketError;
  try {
    result = call();
  } catch (error) {
    return Promise.reject(error);
  }
  return result instanceof StatesocketError ? Promise.reject(result) : result;
}

const notHeld = (name: string, what: string) =>
  new StatesocketError('ERR_NOT_SUBSCRIBED', `${what}: channel ${name} is not held yet (it is, from the component's first effect on)`);

/**
 * Holds the channel `name` of the connection (`options.connection`, else the nearest provider's)
 * while the component is mounted; its data and presence re-render at most once per frame, its
 * status when it changes. A failure (a refused name, the server's refusal) is `status`
 * (`failed`, with `lastError`), never a throw during render.
 * @throws StatesocketError `ERR_NO_CONNECTION` without a connection outside a provider
 */
export function useChannel<M extends AnyModel = Store>(name: string, options: UseChannelOptions<M> = {}): UseChannelResult<M> {
  const { connection: given, ...channelOptions } = options;
  const connection = useConnectionFrom(given, `useChannel(${JSON.stringify(name)})`);
  const [held, setHeld] = useState<{ connection: AnyConnection; name: string; handle: Channel<M> | null; error: unknown } | null>(null);
  useEffect(() => {
    let current: Hold;
    try {
      current = hold(connection, name, channelOptions as ChannelOptions<AnyModel>);
    } catch (error) {
      setHeld({ connection, name, handle: null, error });
      return;
    }
    setHeld({ connection, name, handle: current.handle as unknown as Channel<M>, error: null });
    return () => release(connection, name, current);
    // the channel's options are fixed by the first holder (docs/react.md)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [connection, name]);
  const mine = held !== null && held.connection === connection && held.name === name ? held : null;
  const handle = mine?.handle ?? null;
  const error = mine?.error ?? null;

  const placeholder = useMemo(() => placeholderStatus(name, error), [name, error]);
  const subscribe = useCallback((listener: () => void) => handle?.subscribe(listener) ?? (() => {}), [handle]);
  const getStatus = useCallback(() => handle?.getStatus() ?? placeholder, [handle, placeholder]);
  const status = useSyncExternalStore(handle === null ? noSubscription : subscribe, getStatus, () => placeholder);

  const readData = useCallback(() => handle?.model.getData() as DataOf<M> | undefined, [handle]);
  const data = useFrameSelection(handle, readData, undefined, Object.is).value;
  const readPresence = useCallback(() => handle?.presence?.getData() ?? null, [handle]);
  const presence = useFrameSelection(handle, readPresence, undefined, Object.is).value ?? null;

  const send = useCallback((op: Changes) => settled(() => (handle === null ? notHeld(name, 'send()') : handle.send(op))), [handle, name]);
  const changes = useCallback(
    (request?: ChangesOptions) => settled(() => (handle === null ? notHeld(name, 'changes()') : handle.changes(request))),
    [handle, name],
  );
  return { data, status, send, changes, presence, channel: handle };
}
