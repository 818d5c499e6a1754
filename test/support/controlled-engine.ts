/**
 * An engine for server tests: the memory engine behind answers that come later (promises), which
 * a test can hold and release one by one, entries told to followers late, and an outage to switch
 * on and off (every call rejects with `EngineUnavailableError`, the status listeners are told).
 */
import { EngineUnavailableError, type Answer, type ChannelListener, type Engine, type EngineStatus } from '../../src/server/engine.js';
import { memoryEngine, type MemoryEngineOptions } from '../../src/server/engines/memory.js';

type Method = Exclude<keyof Engine, 'onStatus' | 'restartFault' | 'close'>;

export function controlledEngine(options: MemoryEngineOptions = {}) {
  const inner = memoryEngine(options);
  /** Calls made, in order, by method name. */
  const calls: Method[] = [];
  const held: Array<{ method: Method; run: () => void }> = [];
  const holding = new Set<Method>();
  const lateEntries: Array<() => void> = [];
  let entriesLate = false;
  let down = false;
  const statusListeners = new Set<(status: EngineStatus) => void>();

  function call<T>(method: Method, run: () => Answer<T>): Promise<T> {
    calls.push(method);
    if (down) return Promise.reject(new EngineUnavailableError('the test engine is down'));
    return new Promise<T>((resolve, reject) => {
      const go = () => {
        if (down) return reject(new EngineUnavailableError('the test engine is down'));
        try {
          Promise.resolve(run()).then(resolve, reject);
        } catch (error) {
          reject(error);
        }
      };
      if (holding.has(method)) held.push({ method, run: go });
      else queueMicrotask(go);
    });
  }

  /** Wraps a listener so entries can be told late (after the append resolved). */
  function late(listener: ChannelListener): ChannelListener {
    return {
      entries: (epoch, entries) => {
        if (!entriesLate) return listener.entries(epoch, entries);
        lateEntries.push(() => listener.entries(epoch, entries));
      },
      reset: (state) => listener.reset(state),
      presence: (change) => listener.presence(change),
    };
  }

  const engine: Engine = {
    follow: (channel, listener) => call('follow', () => inner.follow(channel, late(listener))),
    append: (channel, changes, op, limit) => call('append', () => inner.append(channel, changes, op, limit)),
    refuse: (channel, code, op) => call('refuse', () => inner.refuse(channel, code, op)),
    subscribed: (channel, key, acked, at) => call('subscribed', () => inner.subscribed(channel, key, acked, at)),
    claimClient: (client, user, at) => call('claimClient', () => inner.claimClient(client, user, at)),
    readLog: (channel, epoch, since) => call('readLog', () => inner.readLog(channel, epoch, since)),
    join: (channel, member, holder, at) => call('join', () => inner.join(channel, member, holder, at)),
    leave: (channel, key, holder) => call('leave', () => inner.leave(channel, key, holder)),
    detach: (channel, key, holder, graceMs) => call('detach', () => inner.detach(channel, key, holder, graceMs)),
    lease: (name, owner, ttlMs) => call('lease', () => inner.lease(name, owner, ttlMs)),
    releaseLease: (name, owner) => call('releaseLease', () => inner.releaseLease(name, owner)),
    onStatus(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    close: () => inner.close(),
  };

  const tell = (status: EngineStatus) => {
    for (const listener of [...statusListeners]) listener(status);
  };

  return {
    engine,
    inner,
    calls,
    /** Calls of `method` wait from now on until released. */
    hold(method: Method): void {
      holding.add(method);
    },
    /** Calls of `method` go at once again (those waiting still wait for `releaseOne`). */
    unhold(method: Method): void {
      holding.delete(method);
    },
    /** How many calls of `method` wait. */
    waiting: (method: Method): number => held.filter((h) => h.method === method).length,
    /** Lets the oldest waiting call of `method` go. */
    releaseOne(method: Method): void {
      const index = held.findIndex((h) => h.method === method);
      if (index < 0) throw new Error(`no ${method} call is waiting`);
      const [entry] = held.splice(index, 1);
      entry!.run();
    },
    /** From now on, entries reach followers only when `tellEntries` is called. */
    entriesLate(): void {
      entriesLate = true;
    },
    tellEntries(): void {
      for (const tellOne of lateEntries.splice(0)) tellOne();
    },
    /** The store goes away: every call rejects, waiting ones too; status listeners are told. */
    goDown(): void {
      down = true;
      tell('unavailable');
    },
    comeBack(): void {
      down = false;
      tell('available');
    },
  };
}

/** Lets promise callbacks run (a few turns of the microtask queue and one of the event loop). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
