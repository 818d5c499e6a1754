/**
 * `useModel`: a value selected from a Model's data, re-rendered at the connection's coalesced
 * render (at most once per frame) and only when the selected value changed.
 */
import { useCallback, useRef, useSyncExternalStore } from 'react';
import type { Channel } from '../channel.js';
import type { Connection } from '../connection.js';
import type { AnyModel, DataOf } from '../types.js';
import { framesOf } from './frames.js';

/** What `useModel` returns: the last value the selector returned, and what it threw since (null when it did not). */
export interface ModelSelection<T> {
  value: T;
  error: unknown;
}

interface Cache<D, T> {
  owner: object;
  version: number;
  data: D;
  select: ((data: D) => T) | undefined;
  result: ModelSelection<T | undefined>;
}

const noSubscription = () => () => {};

/**
 * The selection of `read()`'s data, read again at each frame of `owner`'s connection (a connection
 * or a channel handle; null: nothing to follow, `read` is called once per render). A selector or an
 * `isEqual` that throws gives `error` and keeps the last good value.
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
    // between frames the data of the last frame stands (no torn reads); a new selector runs on it
    const data = last !== null && last.version === version && frames !== null ? last.data : read();
    if (last !== null && last.data === data && last.select === select) {
      last.version = version;
      return last.result;
    }
    let result: ModelSelection<T | undefined>;
    try {
      const value = select === undefined ? (data as unknown as T) : select(data);
      result = last !== null && last.result.error === null && isEqual(last.result.value as T, value) ? last.result : { value, error: null };
    } catch (error) {
      result = { value: last?.result.value, error };
    }
    cache.current = { owner: owner ?? read, version, data, select, result };
    return result;
  };
  return useSyncExternalStore(frames === null ? noSubscription : subscribe, getSnapshot, getSnapshot);
}

/**
 * The data of a connection's Model (or a channel's), or the part `selector` picks, re-rendered at
 * most once per frame and only when that part changed (`isEqual`, `Object.is` by default). A
 * selector that throws gives `error` and keeps `value` at the last good value (undefined before
 * the first); the component does not crash. Models must return a new object from `getData()` when
 * their data changes (`createStore()` does).
 *
 * @example
 * ```ts
 * const { value: price } = useModel(connection, (data) => data['BTC-USD']);
 * ```
 */
export function useModel<M extends AnyModel>(target: Connection<M, never> | Channel<M>): ModelSelection<DataOf<M>>;
export function useModel<M extends AnyModel, T>(
  target: Connection<M, never> | Channel<M>,
  selector: (data: DataOf<M>) => T,
  isEqual?: (a: T, b: T) => boolean,
): ModelSelection<T | undefined>;
export function useModel<M extends AnyModel, T>(
  target: Connection<M, never> | Channel<M>,
  selector?: (data: DataOf<M>) => T,
  isEqual: (a: T, b: T) => boolean = Object.is,
): ModelSelection<T | undefined> {
  const read = useCallback(() => target.model.getData() as DataOf<M>, [target]);
  return useFrameSelection(target, read, selector, isEqual);
}
