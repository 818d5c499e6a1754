/**
 * `useModel`: a value selected from a Model's data, re-rendered at the connection's coalesced
 * render (at most once per frame) and only when the selected value changed.
 */
import { useCallback, useRef, useSyncExternalStore } from 'react';
import type { Channel } from '../channel.js';
import type { Connection } from '../connection.js';
import type { Store } from '../store.js';
import type { AnyModel, DataOf } from '../types.js';
import { noConnection, useOptionalConnection } from './connection.js';
import { framesOf } from './frames.js';

/** What `useModel` returns: the last value the selector returned, and what it threw since (null when it did not). */
export interface ModelSelection<T> {
  value: T;
  error: unknown;
}

interface Cache<D, T> {
  owner: object;
  version: number;
  /** The data read at `version` (`failed`: `read()` threw there). */
  data: D | typeof failed;
  select: ((data: D) => T) | undefined;
  /** Whether `result.value` is a value the selector gave (else `isEqual` is not asked about it). */
  good: boolean;
  result: ModelSelection<T | undefined>;
}

const noSubscription = () => () => {};
const failed: unique symbol = Symbol('read failed');
/** What the server rendered, and what hydration renders again before the data: nothing yet. */
const nothing: ModelSelection<undefined> = Object.freeze({ value: undefined, error: null });
const serverSelection = () => nothing;

/**
 * The selection of `read()`'s data, read again at each frame of `owner`'s connection (a connection
 * or a channel handle; null: nothing to follow, `read` is called once per render). A `read()`, a
 * selector or an `isEqual` that throws gives `error` and keeps the last good value (until one of
 * them no longer throws). On the server and during hydration: `{ value: undefined, error: null }`.
 */
export function useFrameSelection<D, T>(
  owner: object | null,
  read: () => D,
  select: ((data: D) => T) | undefined,
  isEqual: (a: T, b: T) => boolean,
): ModelSelection<T | undefined> {
  const frames = owner === null ? null : framesOf(owner);
  const cache = useRef<Cache<D, T> | null>(null);
  const subscribe = useCallback((listener: () => void) => frames?.subscribe(listener) ?? (() => {}), [frames]);
  const getSnapshot = (): ModelSelection<T | undefined> => {
    const version = frames?.version ?? 0;
    const last = cache.current !== null && cache.current.owner === (owner ?? read) ? cache.current : null;
    let data: D | typeof failed;
    // between frames the data of the last frame stands (no torn reads); a new selector runs on it
    if (last !== null && last.version === version && frames !== null) data = last.data;
    else {
      try {
        data = read();
      } catch (error) {
        data = failed;
        const result = { value: last?.result.value, error };
        cache.current = { owner: owner ?? read, version, data, select, good: last?.good ?? false, result };
        return result;
      }
    }
    if (last !== null && last.data === data && last.select === select) {
      last.version = version;
      return last.result;
    }
    let result: ModelSelection<T | undefined>;
    let good = true;
    try {
      if (data === failed) throw last?.result.error;
      const value = select === undefined ? (data as unknown as T) : select(data);
      // isEqual is asked even after an error (an inline selector runs again at every render): its throw stays reported
      const same = last !== null && last.good && isEqual(last.result.value as T, value);
      result = same && last.result.error === null ? last.result : same ? { value: last.result.value, error: null } : { value, error: null };
    } catch (error) {
      good = last?.good ?? false;
      result = last !== null && last.result.error === error ? last.result : { value: last?.result.value, error };
    }
    cache.current = { owner: owner ?? read, version, data, select, good, result };
    return result;
  };
  return useSyncExternalStore(frames === null ? noSubscription : subscribe, getSnapshot, serverSelection as () => ModelSelection<T | undefined>);
}

/** What `useModel` follows: a connection, a channel handle; null: nothing yet; undefined: the provider's connection. */
export type ModelSource<M extends AnyModel> = Connection<M, never> | Channel<M> | null | undefined;

/**
 * The data of a connection's Model (or a channel's), or the part `selector` picks, re-rendered at
 * most once per frame and only when that part changed (`isEqual`, `Object.is` by default). A
 * selector, an `isEqual` or a Model's `getData()` that throws gives `error` and keeps `value` at
 * the last good value (undefined before the first); the component does not crash. Models must
 * return a new object from `getData()` when their data changes (`createStore()` does).
 *
 * `target` null (`useChannel(name).channel` before the channel is held) follows nothing:
 * `{ value: undefined, error: null }`, the selector not called. `target` undefined (or left out)
 * is the nearest `<ConnectionProvider>`'s connection. On the server and during hydration the
 * value is undefined (what the server rendered); the data follows right after.
 *
 * @example
 * ```ts
 * const { value: price } = useModel(connection, (data) => data['BTC-USD']);
 * ```
 * @throws StatesocketError `ERR_NO_CONNECTION` when `target` is undefined outside a provider
 */
export function useModel<M extends AnyModel>(target: Connection<M, never> | Channel<M>): ModelSelection<DataOf<M>>;
export function useModel<M extends AnyModel = Store>(target?: ModelSource<M>): ModelSelection<DataOf<M> | undefined>;
export function useModel<M extends AnyModel, T>(
  target: ModelSource<M>,
  selector: (data: DataOf<M>) => T,
  isEqual?: (a: T, b: T) => boolean,
): ModelSelection<T | undefined>;
export function useModel<M extends AnyModel, T>(
  target?: ModelSource<M>,
  selector?: (data: DataOf<M>) => T,
  isEqual: (a: T, b: T) => boolean = Object.is,
): ModelSelection<T | undefined> {
  // called in every render either way (the rules of hooks); throws only for undefined outside a provider
  const shared = useOptionalConnection();
  if (target === undefined && shared === null) throw noConnection('useModel()', 'a connection or a channel');
  const source = (target === undefined ? shared : target) as Connection<M, never> | Channel<M> | null;
  const read = useCallback(() => source?.model.getData() as DataOf<M>, [source]);
  return useFrameSelection(source, read, source === null ? undefined : selector, isEqual);
}
