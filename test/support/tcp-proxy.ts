/**
 * A TCP proxy on 127.0.0.1 in front of a server (a Redis of the test's own), that a test can cut:
 * `pause('hold')` is a network partition (nothing gets through; what was sent waits and arrives after
 * `resume()`, as TCP delivers it once the network heals), `pause('drop')` resets every connection and
 * refuses new ones (the server is gone). Importing this module installs the afterAll that closes
 * every proxy a test file left open.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll } from 'vitest';

export type PauseMode = 'hold' | 'drop';

export interface TcpProxy {
  readonly port: number;
  /** Connections passing through now. */
  connections(): number;
  /** Bytes waiting in the proxy while paused with 'hold', both directions. */
  heldBytes(): number;
  /** Cuts the way through (see the module comment); a second pause changes the mode. */
  pause(mode?: PauseMode): void;
  /** Lets traffic through again: held bytes first, in order; new connections are accepted. */
  resume(): void;
  /** Destroys every connection and stops listening. Idempotent. */
  close(): Promise<void>;
}

const open = new Set<TcpProxy>();
afterAll(async () => {
  await Promise.allSettled([...open].map((proxy) => proxy.close()));
});

/** One client connection and its connection to the target; while held, the bytes each way wait here. */
interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: PauseMode | undefined;

  const flush = (pair: Pair) => {
    if (pair.upstream !== undefined) for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk);
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
  };
  const connectUpstream = (pair: Pair) => {
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port });
    pair.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => (mode === undefined ? pair.client.write(chunk) : pair.toClient.push(chunk)));
    upstream.once('connect', () => {
      if (mode === undefined) flush(pair);
    });
    upstream.on('error', () => pair.client.destroy());
    upstream.once('close', () => pair.client.end());
  };
  const drop = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream?.resetAndDestroy();
  };

  const server = createServer((client) => {
    if (mode === 'drop') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: undefined, toUpstream: [], toClient: [] };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (mode === undefined && pair.upstream?.readyState === 'open') pair.upstream.write(chunk);
      else pair.toUpstream.push(chunk);
    });
    client.on('error', () => pair.upstream?.destroy());
    client.once('close', () => {
      pairs.delete(pair);
      pair.upstream?.end();
    });
    // A connection that arrives during a partition reaches the target only once it heals.
    if (mode === undefined) connectUpstream(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  let closing: Promise<void> | undefined;
  const proxy: TcpProxy = {
    port: (server.address() as AddressInfo).port,
    connections: () => pairs.size,
    heldBytes: () => [...pairs].reduce((sum, pair) => sum + [...pair.toUpstream, ...pair.toClient].reduce((bytes, chunk) => bytes + chunk.length, 0), 0),
    pause(next = 'hold') {
      mode = next;
      if (next === 'drop') for (const pair of [...pairs]) drop(pair);
    },
    resume() {
      mode = undefined;
      for (const pair of pairs) {
        if (pair.upstream === undefined) connectUpstream(pair);
        else flush(pair);
      }
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        open.delete(proxy);
        for (const pair of [...pairs]) drop(pair);
        server.close(() => resolve());
      });
      return closing;
    },
  };
  open.add(proxy);
  return proxy;
}
