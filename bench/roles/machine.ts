/**
 * Scenario 6: the cost of the machine in isolation, no network. Events per
 * second through `connectionMachine`, at four depths:
 *
 * - `actor`: a bare `createActor(connectionMachine)` (the chart's placeholder
 *   effects, no facade): `message.received` sent straight to the actor. XState alone.
 * - `connection (raw)`: `createTestConnection` (the real facade, socket actor
 *   and model wiring on a TestClock and a FakeWebSocket): frames received on the
 *   fake socket with the raw protocol.
 * - `connection (sync)`: the same with the sync protocol (frames validated,
 *   sequence checked), one frame per read: one machine event per frame.
 * - `connection (sync, reads of 100)`: the same frames, 100 to a read, as `ws`
 *   hands them over from one TCP read under load: one machine event per read.
 * - `channel (v2), one frame per read`: the sync protocol's version 2, the same patches on a
 *   channel (`connection.channel()`), one frame per read: what a message on a channel costs
 *   beside `connection (sync)`, a message on a connection without channels (issue 13: at most 1.2×).
 *
 * and the floor: the same frames parsed and applied to the store with no
 * connection at all.
 *
 * `connection.send()` while open (issue 15), each call timed on its own (the acks that keep the
 * outbox at its length are read between calls, untimed):
 *
 * - `send floor`: the op encoded (`JSON.stringify`) and written to the same fake socket, no connection;
 * - `send (raw)`: the raw protocol, which has no acks: nothing awaits one;
 * - `send (sync, 1 awaiting)`: the sync protocol, the op sent the only one awaiting its ack;
 * - `send (sync, 1,000 awaiting)`: the same with 999 older ops awaiting theirs: what a send costs
 *   against the outbox's length.
 *
 * Every repetition runs every variant once, in an order rotated by the repetition, so each ratio to
 * its floor is taken from the same repetition (the targets are judged on the worst of them).
 */
import { createActor } from 'xstate';
import { connectionMachine } from '../../machines/connection.js';
import { resolveOptions } from '../../src/options.js';
import { rawProtocol } from '../../src/protocol.js';
import { createStore, type Json, type StoreData } from '../../src/store.js';
import { createSyncProtocol, type OpMessage } from '../../src/sync/client-protocol.js';
import { createChannelProtocol } from '../../src/sync/client-protocol-v2.js';
import { TestClock } from '../../src/testing/clock.js';
import { FakeWebSocket } from '../../src/testing/fake-websocket.js';
import { createTestConnection } from '../../src/testing/test-connection.js';
import type { WebSocketConstructor } from '../../src/types.js';
import { performance } from 'node:perf_hooks';
import { finish } from '../lib/ipc.js';
import { rotate } from '../lib/profile.js';
import { BLAST_EPOCH, channelPatchText, keyFor, patchText, rowFor, snapshotText } from '../wire.js';

export interface MachineParams {
  events: number;
  repetitions: number;
  /** The rows this process times (all by default); the heap and channel figures only when every row but `actor` is here. */
  variants?: readonly MachineVariant[];
}

export const MACHINE_VARIANTS = [
  'floor',
  'actor',
  'connection (raw)',
  'connection (sync)',
  'channel (v2), one frame per read',
  'connection (sync, reads of 100)',
  'send floor',
  'send (raw)',
  'send (sync, 1 awaiting)',
  'send (sync, 1,000 awaiting)',
] as const;

/** Ops awaiting their ack in the long-outbox send row (the one just sent included). */
export const AWAITING_MANY = 1_000;

/** Frames per read in the batched row. */
const READ_FRAMES = 100;
export type MachineVariant = (typeof MACHINE_VARIANTS)[number];
type Variant = MachineVariant;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Runs `body(n)` and returns events per second. */
/** A read row: `read()` (the n events) is timed; making its connection and stopping it are not. */
interface ReadRig {
  read(): void;
  stop(): void;
}

/** Times one `read()` of a rig made for `n` events; returns events per second. */
function time(n: number, make: (n: number) => ReadRig): number {
  const rig = make(n);
  gc();
  const start = process.hrtime.bigint();
  rig.read();
  const ns = Number(process.hrtime.bigint() - start);
  rig.stop();
  return n / (ns / 1e9);
}

/** A send row: `send(i)` is timed, `after(i)` (reading acks) is not. */
interface SendRig {
  send(i: number): void;
  after(i: number): void;
  stop(): void;
}

/** Times `n` calls of `rig.send`, each on its own; returns sends per second of the time inside them. */
function timeSends(n: number, make: () => SendRig): number {
  const rig = make();
  gc();
  let ms = 0;
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    rig.send(i);
    ms += performance.now() - start;
    rig.after(i);
  }
  rig.stop();
  return n / (ms / 1000);
}

/** Instances kept alive at once to measure heap per instance. */
const HEAP_INSTANCES = 1_000;

/**
 * Heap per instance, in bytes, after GC: a bare actor of the chart in `open`,
 * and a whole connection in `open` (fake socket, default store), both with
 * their timers on a TestClock. What XState itself holds per connection, and
 * what statesocket adds, with no socket library in the figure.
 */
function heapPerInstance(): Record<string, number> {
  const measure = (make: () => unknown, stop: (instance: unknown) => void): number => {
    const kept: unknown[] = [];
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < HEAP_INSTANCES; i++) kept.push(make());
    gc();
    gc();
    const bytes = (process.memoryUsage().heapUsed - before) / HEAP_INSTANCES;
    for (const instance of kept) stop(instance);
    return bytes;
  };
  return {
    actor: measure(
      () => {
        const { config } = resolveOptions({ url: 'ws://bench.invalid/' }, FakeWebSocket as unknown as WebSocketConstructor);
        const actor = createActor(connectionMachine, { input: { config }, clock: new TestClock() });
        actor.start();
        actor.send({ type: 'client.connect' });
        actor.send({ type: 'socket.opened', url: 'ws://bench.invalid/', socketId: 1, at: 0 });
        return actor;
      },
      (actor) => (actor as { stop(): void }).stop(),
    ),
    connection: measure(
      () => {
        const t = createTestConnection({ protocol: createSyncProtocol() });
        t.open();
        return t.connection;
      },
      (connection) => (connection as { stop(): void }).stop(),
    ),
    'connection (v2, default channel)': measure(
      () => {
        const t = createTestConnection({ protocol: createChannelProtocol() });
        t.open();
        return t.connection;
      },
      (connection) => (connection as { stop(): void }).stop(),
    ),
  };
}

/** Channels on one connection in the channel figures. */
const CHANNELS = 1_000;

/**
 * One connection holding 1,000 channels (issue 13): heap per channel after GC; the time to
 * subscribe them all while open (each `channel()` call writes its subscribe); and, after the
 * connection drops, the time from the new socket's open to every channel live again (the hello,
 * 1,000 subscribes with positions written, 1,000 `synced` answers read in one socket read).
 */
function thousandChannels(): { heapPerChannel: number; subscribeMs: number; resubscribeMs: number } {
  const welcome = JSON.stringify({ type: 'welcome', v: 2, client: 'bench', user: null, maxMessageBytes: 1_048_576, time: 0 });
  const names = Array.from({ length: CHANNELS }, (_, i) => `ch-${i}`);
  const t = createTestConnection({ protocol: createChannelProtocol({ defaultChannel: false }) });
  let socket = t.open();
  socket.receive(welcome);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  const channels = names.map((name) => t.connection.channel(name));
  const subscribeMs = Number(process.hrtime.bigint() - started) / 1e6;
  socket.receive(...names.flatMap((name) => [{ type: 'snapshot', channel: name, epoch: 'E', seq: 1, data: {} }, { type: 'synced', channel: name, epoch: 'E', seq: 1 }]));
  gc();
  gc();
  const heapPerChannel = (process.memoryUsage().heapUsed - before) / CHANNELS;
  socket.drop();
  t.advance(t.connection.getStatus().nextDelayMs ?? 0);
  const again = process.hrtime.bigint();
  socket = t.open();
  socket.receive(welcome, ...names.map((name) => ({ type: 'synced', channel: name, epoch: 'E', seq: 1 })));
  const resubscribeMs = Number(process.hrtime.bigint() - again) / 1e6;
  if (!channels.every((channel) => channel.getStatus().live)) throw new Error('bench: not every channel is live again');
  t.connection.stop();
  return { heapPerChannel, subscribeMs, resubscribeMs };
}

/** A test connection opened and given `first` in one read; `read()` then hands it `n` frames, `perRead` to a read. */
function readRig(t: ReturnType<typeof createTestConnection>, first: readonly string[], frames: readonly string[], n: number, perRead: number): ReadRig {
  const socket = t.open();
  socket.receive(...first);
  return {
    read:
      perRead === 1
        ? () => {
            for (let i = 0; i < n; i++) socket.receive(frames[i]!);
          }
        : () => {
            for (let i = 0; i < n; i += perRead) socket.receive(...frames.slice(i, Math.min(n, i + perRead)));
          },
    stop: () => t.connection.stop(),
  };
}

export async function machineRole(params: MachineParams): Promise<never> {
  const { events } = params;
  const frames = Array.from({ length: events }, (_, i) => patchText(BLAST_EPOCH, i + 1));
  const parsed = frames.map((frame) => JSON.parse(frame) as unknown);
  const snapshot = snapshotText(BLAST_EPOCH, 0, {});
  const channelFrames = Array.from({ length: events }, (_, i) => channelPatchText('prices', BLAST_EPOCH, i + 1));
  const welcome = JSON.stringify({ type: 'welcome', v: 2, client: 'bench', user: null, maxMessageBytes: 1_048_576, time: 0 });
  const channelSnapshot = JSON.stringify({ type: 'snapshot', channel: 'prices', epoch: BLAST_EPOCH, seq: 0, data: {} });
  const channelSynced = JSON.stringify({ type: 'synced', channel: 'prices', epoch: BLAST_EPOCH, seq: 0 });

  const runs: Record<Exclude<Variant, `send${string}`>, (n: number) => ReadRig> = {
    floor: (n) => {
      const store = createStore();
      store.update(JSON.parse(snapshot));
      return {
        read: () => {
          for (let i = 0; i < n; i++) store.update(JSON.parse(frames[i]!));
        },
        stop: () => {},
      };
    },
    actor: (n) => {
      const { config } = resolveOptions({ url: 'ws://bench.invalid/' }, FakeWebSocket as unknown as WebSocketConstructor);
      const actor = createActor(connectionMachine, { input: { config }, clock: new TestClock() });
      actor.start();
      actor.send({ type: 'client.connect' });
      actor.send({ type: 'socket.opened', url: 'ws://bench.invalid/', socketId: 1, at: 0 });
      return {
        read: () => {
          for (let i = 0; i < n; i++) actor.send({ type: 'message.received', messages: [parsed[i]], socketId: 1, at: i });
        },
        stop: () => actor.stop(),
      };
    },
    'connection (raw)': (n) => readRig(createTestConnection({ protocol: rawProtocol, model: createStore() }), [snapshot], frames, n, 1),
    'connection (sync)': (n) => readRig(createTestConnection({ protocol: createSyncProtocol(), model: createStore() }), [snapshot], frames, n, 1),
    'channel (v2), one frame per read': (n) => {
      const t = createTestConnection({ protocol: createChannelProtocol({ defaultChannel: false }) });
      t.connection.channel('prices', { model: createStore() });
      return readRig(t, [welcome, channelSnapshot, channelSynced], channelFrames, n, 1);
    },
    'connection (sync, reads of 100)': (n) => readRig(createTestConnection({ protocol: createSyncProtocol(), model: createStore() }), [snapshot], frames, n, READ_FRAMES),
  };

  // The ops every send row sends: the sync protocol's op frame, one row set, ids made in advance.
  const opFor = (id: string, seq: number): OpMessage & { id: string } => ({ type: 'op', id, set: { [keyFor(seq)]: rowFor(seq) as unknown as Json } });
  const ops = Array.from({ length: events }, (_, i) => opFor(`op-${i}`, i + 1));
  const ackText = (id: string) => `{"type":"ack","id":"${id}"}`;
  /** The sync protocol's connection, open and synced, with `awaiting - 1` older ops awaiting their ack before each send. */
  const syncSender = (awaiting: number): SendRig => {
    const t = createTestConnection({ protocol: createSyncProtocol(), model: createStore(), outbox: { limit: awaiting + 1 } });
    const socket = t.open();
    socket.receive(snapshot);
    const unacked: string[] = [];
    for (let k = 1; k < awaiting; k++) {
      const op = opFor(`older-${k}`, k);
      t.connection.send(op);
      unacked.push(op.id);
    }
    return {
      send: (i) => t.connection.send(ops[i]!),
      after: (i) => {
        unacked.push(ops[i]!.id);
        socket.receive(ackText(unacked.shift()!));
      },
      stop: () => t.connection.stop(),
    };
  };
  const sends: Record<Extract<Variant, `send${string}`>, () => SendRig> = {
    'send floor': () => {
      const t = createTestConnection({ protocol: rawProtocol });
      const socket = t.open();
      return { send: (i) => socket.send(JSON.stringify(ops[i])), after: () => {}, stop: () => t.connection.stop() };
    },
    'send (raw)': () => {
      const t = createTestConnection({ protocol: rawProtocol });
      t.open();
      return { send: (i) => t.connection.send(ops[i]), after: () => {}, stop: () => t.connection.stop() };
    },
    'send (sync, 1 awaiting)': () => syncSender(1),
    'send (sync, 1,000 awaiting)': () => syncSender(AWAITING_MANY),
  };
  const measure = (variant: Variant, n: number): number =>
    variant in sends ? timeSends(n, sends[variant as keyof typeof sends]) : time(n, runs[variant as keyof typeof runs]);

  const results = Object.fromEntries(MACHINE_VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
  const variants = params.variants ?? MACHINE_VARIANTS;
  for (const variant of variants) measure(variant, Math.max(1, Math.floor(events / 10))); // warm-up: let the JIT settle
  // Every repetition runs every variant, in rotated order, so a row and its floor meet the same machine.
  for (let r = 0; r < params.repetitions; r++) {
    for (const variant of rotate(variants, r)) results[variant].push(measure(variant, events));
  }
  if (variants.includes('actor')) return finish({ type: 'result', eventsPerSec: results });
  return finish({ type: 'result', eventsPerSec: results, heapPerInstance: heapPerInstance(), channels: thousandChannels() });
}
