/**
 * What a channel's `send()` promise says, end to end against the Node server on 127.0.0.1 (issue
 * 13's review): resolved exactly when the op applied, rejected with a "never applied" code only for
 * ops never written, `ERR_OP_UNCONFIRMED` when the fate cannot be known, and settled at `stop()`.
 */
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createChannelProtocol, createConnection, type Channel, type Connection, type ConnectionOptions, type Store } from '../../src/node.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { waitForChannel } from './channels-support.js';
import type { ChannelProtocolOptions } from '../../src/sync/client-protocol-v2.js';

async function serve(): Promise<RunningServer> {
  const server = await startSyncServer({ port: 0, host: '127.0.0.1', control: true });
  onCleanup(() => server.close());
  return server;
}

async function dataOf(server: RunningServer, channel: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/state?channel=${channel}`, {
    headers: { authorization: `Bearer ${server.controlToken}` },
  });
  return ((await response.json()) as { data: Record<string, unknown> }).data;
}

function client(
  url: string,
  protocol: ChannelProtocolOptions = {},
  maxMessageBytes?: number,
  outbox?: ConnectionOptions<Store>['outbox'],
): Connection<Store> {
  const connection = createConnection<Store>({
    url,
    protocol: createChannelProtocol({ defaultChannel: false, ...protocol }),
    reconnect: { initialDelayMs: 50, maxDelayMs: 300, serviceRestartDelayMs: 400 },
    ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    ...(outbox === undefined ? {} : { outbox }),
  });
  onCleanup(() => connection.stop());
  return connection;
}

const live = (channel: Channel<Store>): Promise<unknown> => waitForChannel(channel, (status) => status.live, `${channel.name} live`);

/** The promise's fate: 'resolved', or the rejection's code. */
const fate = (promise: Promise<void>): Promise<string> =>
  withTimeout(
    promise.then(
      () => 'resolved',
      (error: { code?: string }) => error.code ?? String(error),
    ),
    'the send() promise to settle',
  );

describe('op numbering with a stored client id', () => {
  it('applies ops sent right after channel() on a new connection that reuses the id', async () => {
    const server = await serve();
    const clientId = 'stored-id-1';
    const first = client(server.url, { clientId });
    const a = first.channel('numbers');
    for (let i = 1; i <= 3; i++) await a.send({ set: { [`a${i}`]: i } });
    first.stop();

    const second = client(server.url, { clientId });
    const b = second.channel('numbers');
    const fates = await Promise.all([1, 2, 3, 4].map((i) => fate(b.send({ set: { [`b${i}`]: i } }))));
    expect(fates).toEqual(['resolved', 'resolved', 'resolved', 'resolved']);
    expect(await dataOf(server, 'numbers')).toEqual({ a1: 1, a2: 2, a3: 3, b1: 1, b2: 2, b3: 3, b4: 4 });
  });

  it('keeps the order of one channel, and lets other channels go on while it waits for its mark', async () => {
    const server = await serve();
    const clientId = 'stored-id-2';
    const first = client(server.url, { clientId });
    await first.channel('held').send({ set: { x0: 0 } });
    first.stop();

    const second = client(server.url, { clientId });
    const held = second.channel('held');
    const other = second.channel('other');
    const sends = [held.send({ set: { x1: 1 } }), other.send({ set: { y: 1 } }), held.send({ set: { x2: 2, x1: 'second' } })];
    expect(await Promise.all(sends.map(fate))).toEqual(['resolved', 'resolved', 'resolved']);
    expect(await dataOf(server, 'held')).toEqual({ x0: 0, x1: 'second', x2: 2 });
    expect(await dataOf(server, 'other')).toEqual({ y: 1 });
  });
});

describe('ops written before their channel ends', () => {
  it('settles by the ack: unsubscribe, channel again, send, unsubscribe in one tick', async () => {
    const server = await serve();
    const connection = client(server.url);
    const first = connection.channel('race');
    await live(first);
    first.unsubscribe();
    const second = connection.channel('race');
    const sent = second.send({ set: { applied: true } });
    second.unsubscribe();
    expect(await fate(sent)).toBe('resolved');
    expect(await dataOf(server, 'race')).toEqual({ applied: true });
  });

  it('waits for the ack of an op written behind the subscribe of a channel that fails on the client (ERR_PAYLOAD_TOO_LARGE)', async () => {
    const server = await serve();
    const seed = client(server.url);
    await seed.channel('big').send({ set: { blob: 'x'.repeat(20_000) } });
    seed.stop();

    const small = client(server.url, { maxReassemblyBytes: 10_000 }, 4096);
    const big = small.channel('big');
    const sent = big.send({ set: { tag: 1 } });
    expect(await fate(sent)).toBe('resolved');
    expect(big.getStatus().lastError?.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect((await dataOf(server, 'big')).tag).toBe(1);
  });

  it('rejects with ERR_OP_UNCONFIRMED an op written on a lost socket, when its channel is unsubscribed offline', async () => {
    const server = await serve();
    const proxy = await startTcpProxy({ port: server.port });
    onCleanup(() => proxy.close());
    const connection = client(`ws://127.0.0.1:${proxy.port}/`);
    const notes = connection.channel('offline-unsub');
    await live(notes);
    proxy.pause('hold');
    const sent = notes.send({ set: { k: 1 } });
    proxy.pause('drop');
    await withTimeout(
      new Promise<void>((resolve) => {
        if (connection.getStatus().state !== 'open') return resolve();
        const off = connection.subscribe((status) => status.state !== 'open' && (off(), resolve()));
      }),
      'the connection to lose its socket',
    );
    notes.unsubscribe();
    expect(await fate(sent)).toBe('ERR_OP_UNCONFIRMED');
  });
});

/**
 * A bare ws server answering as statesocket/server does, in order, scripted for issue 13's
 * t32-stale-orphan: channel X's first subscription holds, and its first op is answered by an
 * oversized chunk (the client fails X with ERR_PAYLOAD_TOO_LARGE) and then its ack; every later
 * subscribe is refused for a while (`unsubscribed`, ERR_CHANNEL_FULL, retryAfterMs) and an op of a
 * channel not held is answered ERR_NOT_SUBSCRIBED.
 */
async function staleOrphanServer(): Promise<string> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await withTimeout(new Promise((resolve) => server.once('listening', resolve)), 'the server to listen');
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of server.clients) socket.terminate();
        server.close(() => resolve());
      }),
  );
  const subscribes = new Map<string, number>();
  const held = new Set<string>();
  server.on('connection', (socket) =>
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; channel: string; client: string; n: number };
      const reply = (message: object): void => socket.send(JSON.stringify(message));
      const { channel } = frame;
      if (frame.type === 'hello') reply({ type: 'welcome', v: 2, client: frame.client, user: null, maxMessageBytes: 1_048_576, time: 0 });
      if (frame.type === 'subscribe') {
        subscribes.set(channel, (subscribes.get(channel) ?? 0) + 1);
        if (channel === 'X' && subscribes.get(channel) === 1) {
          held.add(channel);
          reply({ type: 'snapshot', channel, epoch: 'e', seq: 0, data: {} });
          reply({ type: 'synced', channel, epoch: 'e', seq: 0 });
        } else reply({ type: 'unsubscribed', channel, code: 'ERR_CHANNEL_FULL', message: 'full, retry later', retryAfterMs: 60_000 });
      }
      if (frame.type === 'unsubscribe') {
        held.delete(channel);
        reply({ type: 'unsubscribed', channel });
      }
      if (frame.type !== 'op') return;
      if (channel === 'X' && subscribes.get(channel) === 1) reply({ type: 'chunk', id: 1, channel, i: 0, count: 2, bytes: 1e9, data: '{' });
      if (held.has(channel)) reply({ type: 'ack', channel, n: frame.n });
      else reply({ type: 'error', code: 'ERR_NOT_SUBSCRIBED', message: `op ${frame.n}: this connection does not hold ${channel}`, channel });
    }),
  );
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe('an op acked after its channel failed on the client', () => {
  it('takes no later ERR_NOT_SUBSCRIBED of its channel: the op that answer is for settles', async () => {
    const connection = client(await staleOrphanServer());
    const first = connection.channel('X');
    await live(first);
    // written, then X fails client-side before the ack comes: the op waits for its answer, the ack
    expect(await fate(first.send({ set: { a: 1 } }))).toBe('resolved');
    expect(first.getStatus().lastError?.code).toBe('ERR_PAYLOAD_TOO_LARGE');

    // X again, and a control channel Y that never failed: the subscribe is refused for a while,
    // and the op written behind it is answered ERR_NOT_SUBSCRIBED (never applied)
    const fates = new Map<string, string>();
    for (const name of ['X', 'Y']) {
      const channel = connection.channel(name);
      const sent = channel.send({ set: { b: 2 } });
      const settled = sent.then(
        () => fates.set(name, 'resolved'),
        (error: { code?: string }) => fates.set(name, error.code ?? String(error)),
      );
      await waitForChannel(channel, (status) => status.state === 'retrying', `${name} refused for a while`);
      channel.unsubscribe();
      // Y's answer comes after X's on the socket: once Y's op settled, X's has had its answer
      if (name === 'Y') await withTimeout(settled, "Y's op to settle");
    }
    expect(Object.fromEntries(fates)).toEqual({ X: 'ERR_NOT_SUBSCRIBED', Y: 'ERR_NOT_SUBSCRIBED' });
  });
});

describe("outbox.overflow 'drop-oldest'", () => {
  // every op's fate agrees with the server's data: resolved ⇔ applied, ERR_OUTBOX_FULL ⇔ never applied
  it('drops the new op, never one already written, when every queued op is in flight', async () => {
    const server = await serve();
    const connection = client(server.url, {}, undefined, { limit: 2, overflow: 'drop-oldest' });
    const channel = connection.channel('in-flight');
    await live(channel);
    const fates = await Promise.all([1, 2, 3].map((i) => fate(channel.send({ set: { [`op${i}`]: i } }))));
    expect(fates).toEqual(['resolved', 'resolved', 'ERR_OUTBOX_FULL']);
    expect(await dataOf(server, 'in-flight')).toEqual({ op1: 1, op2: 2 });
    expect(connection.getStatus().counters.dropped).toBe(1);
  });

  it('drops the oldest op not yet written', async () => {
    const server = await serve();
    const connection = client(server.url, {}, undefined, { limit: 2, overflow: 'drop-oldest' });
    const channel = connection.channel('queued');
    const fates = Promise.all([1, 2, 3].map((i) => fate(channel.send({ set: { [`op${i}`]: i } }))));
    expect(await fates).toEqual(['ERR_OUTBOX_FULL', 'resolved', 'resolved']);
    expect(await dataOf(server, 'queued')).toEqual({ op2: 2, op3: 3 });
  });
});

describe('stop() settles every send() promise', () => {
  it('rejects an op in flight with ERR_OP_UNCONFIRMED and a queued one never written with ERR_STOPPED', async () => {
    const server = await serve();
    const online = client(server.url);
    const a = online.channel('stop-a');
    await live(a);
    const inFlight = a.send({ set: { x: 1 } });
    online.stop();
    expect(await fate(inFlight)).toBe('ERR_OP_UNCONFIRMED');

    const offline = client('ws://127.0.0.1:1/');
    const queued = offline.channel('stop-b').send({ set: { x: 1 } });
    offline.stop();
    expect(await fate(queued)).toBe('ERR_STOPPED');
  });
});
