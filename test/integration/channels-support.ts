/**
 * Helpers for the channel integration tests: version 2 clients from the Node entry (registered for
 * cleanup with the other connections), a counting store per channel, and bounded waits.
 */
import { createChannelProtocol, createConnection, createStore, type Channel, type ChannelStatus, type Store } from '../../src/node.js';
import type { Connection } from '../../src/connection.js';
import type { ChannelProtocolOptions } from '../../src/sync/client-protocol-v2.js';

const v2Connections = new Set<{ stop(): void }>();

/** A version 2 connection with quick reconnects, stopped by `stopV2Connections`. */
export function channelClient(url: string, protocol: ChannelProtocolOptions = {}): Connection<Store> {
  const connection = createConnection<Store>({
    url,
    protocol: createChannelProtocol(protocol),
    reconnect: { initialDelayMs: 50, maxDelayMs: 300, serviceRestartDelayMs: 400 },
  });
  v2Connections.add(connection);
  return connection;
}

/** A version 2 connection whose own Model (the `default` channel) is `model`. */
export function createV2WithModel<M extends Store>(url: string, model: M, protocol: ChannelProtocolOptions = {}): Connection<M> {
  const connection = createConnection<M>({
    url,
    model,
    protocol: createChannelProtocol(protocol),
    reconnect: { initialDelayMs: 50, maxDelayMs: 300, serviceRestartDelayMs: 400 },
  });
  v2Connections.add(connection);
  return connection;
}

export function stopV2Connections(): void {
  for (const connection of v2Connections) connection.stop();
  v2Connections.clear();
}

/** A store that counts what it was given: snapshots, and the patches that set each key. */
export interface CountingStore extends Store {
  snapshots: number;
  patches: number;
  setsOf: Map<string, number>;
}

export function countingStore(): CountingStore {
  const inner = createStore();
  const counted: CountingStore = {
    snapshots: 0,
    patches: 0,
    setsOf: new Map(),
    update(message) {
      const frame = message as { type?: string; set?: Record<string, unknown> };
      if (frame.type === 'snapshot') counted.snapshots++;
      if (frame.type === 'patch') {
        counted.patches++;
        for (const key of Object.keys(frame.set ?? {})) counted.setsOf.set(key, (counted.setsOf.get(key) ?? 0) + 1);
      }
      inner.update(message);
    },
    getData: () => inner.getData(),
    position: () => inner.position(),
    get lastMessage() {
      return inner.lastMessage;
    },
    get applied() {
      return inner.applied;
    },
  };
  return counted;
}

/** Resolves when `predicate(status)` holds for the channel; rejects after a generous safety timeout. */
export function waitForChannel<M extends Store>(
  channel: Channel<M>,
  predicate: (status: ChannelStatus) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<ChannelStatus> {
  return new Promise((resolve, reject) => {
    if (predicate(channel.getStatus())) return resolve(channel.getStatus());
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; status ${JSON.stringify(channel.getStatus())}`));
    }, timeoutMs);
    const unsubscribe = channel.subscribe((status) => {
      if (!predicate(status)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(status);
    });
  });
}

/** Polls a synchronous condition (a Model's data) a bounded number of times. */
export async function until(ok: () => boolean, what: string, describe: () => unknown = () => undefined, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (ok()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never saw ${what}; last: ${JSON.stringify(describe())}`);
}
