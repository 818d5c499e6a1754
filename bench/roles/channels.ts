/**
 * Scenario 8, client side: channels over a real `ws` socket to the reference server (a child of
 * its own, bench/roles/sync-server.ts). Run with --expose-gc. Two parts:
 *
 * 1. Subscribe latency. Interleaved, one at a time, on two connections held open:
 *    - `ping`: a raw `ws` socket greeted with version 2 sends the protocol's `ping` and waits for
 *      `pong`: one round trip through the server's frame handling, the floor of any request.
 *    - `raw subscribe`: the same socket sends `subscribe {channel}` and waits for its `synced`
 *      (the snapshot comes first): the server's cost of a subscribe, no client library.
 *    - `channel()`: `connection.channel(name)` on a statesocket connection (createChannelProtocol)
 *      until the channel's status is `subscribed` and live with its snapshot applied to its Model.
 *    Every channel is new to the connection and seeded by the server with the same rows. Then,
 *    fewer times, a whole connection: `createConnection` to the first snapshot applied, with
 *    version 1 (`createSyncProtocol`) and version 2 (its default channel).
 * 2. One connection holding `channels` channels: heap per channel after GC (client side), the
 *    time to subscribe them all, then `drops` times: the parent has the server drop every socket
 *    (`/control/drop`, 1006) and change every channel once before anyone can be back; this side
 *    reports when it saw the connection down, when the new socket opened (its `open` event,
 *    before statesocket writes the hello and the subscribes), and when every channel was live again,
 *    with what each channel received meanwhile (a snapshot means it started over, a patch before
 *    `synced` that it resumed by replay).
 */
import { WebSocket } from 'ws';
import { createConnection } from '../../src/node.js';
import type { WebSocketConstructor } from '../../src/types.js';
import { timedWebSocket } from '../adapters.js';
import type { Channel } from '../../src/channel.js';
import type { Connection } from '../../src/connection.js';
import { createStore, type Store } from '../../src/store.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import { createChannelProtocol } from '../../src/sync/client-protocol-v2.js';
import { Counter } from '../lib/counter.js';
import { finish, next, send } from '../lib/ipc.js';
import { sleep, wallNow, withTimeout } from '../lib/time.js';
import { PING, helloV2Text, subscribeText } from '../wire.js';

export interface ChannelsParams {
  url: string;
  /** Timed subscribes of each kind (after `warmup` untimed ones). */
  subscribes: number;
  warmup: number;
  /** Timed whole connections of each version. */
  connects: number;
  /** Channels on the one connection of part 2. */
  channels: number;
  drops: number;
  /** The reconnect wait after the drop, ms: the window in which the server changes every channel. */
  reconnectWaitMs: number;
  timeoutMs: number;
}

/** Channel name prefixes; the parent seeds the same names on the server. */
export const CHANNEL_PREFIX = { raw: 'raw-', lat: 'lat-', many: 'many-' } as const;

/** A store that counts what reached it and whether its channel was live at the time. */
interface CountingModel extends Store {
  snapshots: number;
  patches: number;
  /** Patches applied while the channel was not live: a replay after a resubscribe. */
  replayed: number;
  /** Kept by the bench from the channel's status. */
  live: boolean;
}

function countingModel(onSnapshot?: () => void): CountingModel {
  const store = createStore();
  const model: CountingModel = {
    snapshots: 0,
    patches: 0,
    replayed: 0,
    live: false,
    update(message) {
      store.update(message);
      if ((message as { type?: string }).type === 'snapshot') {
        model.snapshots++;
        onSnapshot?.();
      } else {
        model.patches++;
        if (!model.live) model.replayed++;
      }
    },
    getData: () => store.getData(),
    position: () => store.position(),
    get lastMessage() {
      return store.lastMessage;
    },
    get applied() {
      return store.applied;
    },
  };
  return model;
}

async function collectHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the channels role needs node --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

/** Resolves once `predicate` holds for the channel's status (checked now and on every change). */
function whenChannel(channel: Channel<CountingModel>, predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (predicate()) return Promise.resolve();
  let stop = () => {};
  const reached = new Promise<void>((resolve) => {
    stop = channel.subscribe(() => {
      if (predicate()) resolve();
    });
  });
  return withTimeout(reached, timeoutMs, what).finally(() => stop());
}

function whenOpen(connection: Connection<never, never>, timeoutMs: number): Promise<void> {
  if (connection.getStatus().state === 'open') return Promise.resolve();
  let stop = () => {};
  const opened = new Promise<void>((resolve) => {
    stop = connection.subscribe((status) => {
      if (status.state === 'open') resolve();
    });
  });
  return withTimeout(opened, timeoutMs, 'the connection to open').finally(() => stop());
}

/** A raw `ws` socket greeted with version 2, answering one awaited frame at a time. */
async function rawClient(url: string, timeoutMs: number): Promise<{ request(text: string, done: (frame: { type: string; channel?: string }) => boolean): Promise<void>; close(): void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => {});
  let waiting: { done: (frame: { type: string; channel?: string }) => boolean; resolve: () => void } | null = null;
  ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString('utf8')) as { type: string; channel?: string };
    if (waiting !== null && waiting.done(frame)) {
      const { resolve } = waiting;
      waiting = null;
      resolve();
    }
  });
  const request = (text: string, done: (frame: { type: string; channel?: string }) => boolean) =>
    withTimeout(
      new Promise<void>((resolve) => {
        waiting = { done, resolve };
        if (text !== '') ws.send(text);
      }),
      timeoutMs,
      `an answer to ${text.slice(0, 60)}`,
    );
  await withTimeout(new Promise<void>((resolve) => ws.once('open', () => resolve())), timeoutMs, 'the raw socket to open');
  await request(helloV2Text('bench-raw'), (frame) => frame.type === 'welcome');
  return { request, close: () => ws.terminate() };
}

async function subscribeLatency(params: ChannelsParams): Promise<Record<string, number[]>> {
  const { url, timeoutMs } = params;
  const samples: Record<string, number[]> = { ping: [], 'raw subscribe': [], 'channel()': [], 'connect v1': [], 'connect v2': [] };
  const raw = await rawClient(url, timeoutMs);
  const connection = createConnection({ url, protocol: createChannelProtocol({ defaultChannel: false }) });
  await whenOpen(connection as never, timeoutMs);
  const channels: Channel<CountingModel>[] = [];
  const kinds: Array<(i: number) => Promise<number>> = [
    async () => {
      const t0 = wallNow();
      await raw.request(PING, (frame) => frame.type === 'pong');
      return wallNow() - t0;
    },
    async (i) => {
      const name = `${CHANNEL_PREFIX.raw}${i}`;
      const t0 = wallNow();
      await raw.request(subscribeText(name), (frame) => frame.type === 'synced' && frame.channel === name);
      return wallNow() - t0;
    },
    async (i) => {
      const t0 = wallNow();
      const model = countingModel();
      const channel = connection.channel(`${CHANNEL_PREFIX.lat}${i}`, { model });
      channels.push(channel);
      await whenChannel(channel, () => channel.getStatus().state === 'subscribed' && channel.getStatus().live && model.snapshots > 0, timeoutMs, `lat-${i} to be subscribed`);
      return wallNow() - t0;
    },
  ];
  const names = ['ping', 'raw subscribe', 'channel()'];
  const total = params.warmup + params.subscribes;
  for (let i = 0; i < total; i++) {
    // Rotated, so no kind always runs right after another.
    for (let j = 0; j < kinds.length; j++) {
      const k = (i + j) % kinds.length;
      const ms = await kinds[k]!(i);
      if (i >= params.warmup) samples[names[k]!]!.push(ms);
    }
  }
  raw.close();
  connection.stop();

  for (let i = 0; i < params.connects + 2; i++) {
    for (const version of i % 2 === 0 ? (['v1', 'v2'] as const) : (['v2', 'v1'] as const)) {
      const first = new Counter();
      const model = countingModel(() => first.add());
      const t0 = wallNow();
      const c =
        version === 'v1'
          ? createConnection({ url, protocol: createSyncProtocol(), model })
          : createConnection({ url, protocol: createChannelProtocol(), model });
      await first.reach(1, timeoutMs, `a ${version} connection's first snapshot`);
      const ms = wallNow() - t0;
      c.stop();
      if (i >= 2) samples[`connect ${version}`]!.push(ms);
    }
  }
  return samples;
}

export async function channelsRole(params: ChannelsParams): Promise<never> {
  const latency = await subscribeLatency(params);
  await send({ type: 'latency', samples: latency });

  // Part 2: one connection, many channels.
  const { url, timeoutMs } = params;
  let socketOpenAt = NaN;
  const connection = createConnection({
    url,
    // The socket's own open, stamped before the library sees it.
    WebSocket: timedWebSocket(
      () => {},
      (at) => {
        socketOpenAt = at;
      },
    ) as unknown as WebSocketConstructor,
    protocol: createChannelProtocol({ defaultChannel: false }),
    // A fixed wait (no jitter): random 0.5 of a 2 × reconnectWaitMs ceiling.
    reconnect: { initialDelayMs: 2 * params.reconnectWaitMs, maxDelayMs: 2 * params.reconnectWaitMs, factor: 1 },
    random: () => 0.5,
  });
  const warm = connection.channel('many-warm', { model: countingModel() });
  await whenChannel(warm as Channel<CountingModel>, () => warm.getStatus().live, timeoutMs, 'the first channel to be live');
  const heapBefore = await collectHeap();
  const models: CountingModel[] = [];
  const channels: Channel<CountingModel>[] = [];
  const live = new Counter();
  const subscribing = wallNow();
  for (let i = 0; i < params.channels; i++) {
    const model = countingModel();
    const channel = connection.channel(`${CHANNEL_PREFIX.many}${i}`, { model });
    channel.subscribe((status) => {
      if (status.live !== model.live) {
        model.live = status.live;
        if (status.live) live.add();
      }
    });
    models.push(model);
    channels.push(channel);
  }
  const loopMs = wallNow() - subscribing;
  await live.reach(params.channels, timeoutMs, 'every channel to be live');
  const subscribeAllMs = wallNow() - subscribing;
  const heapAfter = await collectHeap();
  await send({ type: 'many', heapPerChannel: (heapAfter - heapBefore) / params.channels, subscribeAllMs, loopMs, channels: params.channels });

  let downAt = NaN;
  let armed = false;
  connection.subscribe((status) => {
    if (armed && status.state !== 'open' && Number.isNaN(downAt)) downAt = wallNow();
  });
  for (let rep = 0; rep < params.drops; rep++) {
    downAt = NaN;
    const before = models.map((m) => ({ snapshots: m.snapshots, patches: m.patches, replayed: m.replayed }));
    live.value = 0;
    armed = true;
    await send({ type: 'armed' });
    // Every channel goes stale with the socket, then live again.
    await live.reach(params.channels, timeoutMs, 'every channel to be live again after the drop');
    const liveAt = wallNow();
    armed = false;
    let snapshots = 0;
    let patches = 0;
    let replayed = 0;
    models.forEach((m, i) => {
      snapshots += m.snapshots - before[i]!.snapshots;
      patches += m.patches - before[i]!.patches;
      replayed += m.replayed - before[i]!.replayed;
    });
    await send({ type: 'resubscribed', downAt, openAt: socketOpenAt, liveAt, snapshots, patches, replayed });
    await next('next');
  }
  const stopping = wallNow();
  connection.stop();
  return finish({ type: 'result', stopMs: wallNow() - stopping });
}
