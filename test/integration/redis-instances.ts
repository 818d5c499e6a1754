/**
 * Server instances on one Redis (`startSyncServer({ redis })`, in this process: a process apiece
 * costs seconds of start-up the CI budget has not got), and version 2 clients that keep
 * sending ops to them: for the tests that take Redis away (redis-durability, redis-unreachable).
 * Every op sets a key of its own, so a document whose seq equals its number of keys applied no op
 * twice (no deletes, no feed), and a key set by two patches at a client is an op delivered twice.
 */
import { expect } from 'vitest';
import type { Channel, Connection } from '../../src/node.js';
import { channelClient, countingStore, waitForChannel, type CountingStore } from './channels-support.js';
import { startSyncServer, type RunningServer } from '../../src/server/index.js';

export type Instance = RunningServer & { readonly controlToken: string };

export const CHANNELS = ['doc:a', 'doc:b'];

export interface ChannelState {
  epoch: string;
  seq: number;
  data: Record<string, unknown>;
}

/** `/control/state?channel=NAME` of one instance. */
export async function channelState(server: Instance, channel: string): Promise<ChannelState> {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/state?channel=${encodeURIComponent(channel)}`, {
    headers: { authorization: `Bearer ${server.controlToken}` },
  });
  if (!response.ok) throw new Error(`GET /control/state?channel=${channel} on port ${server.port}: ${response.status} ${await response.text()}`);
  return (await response.json()) as ChannelState;
}

const running = new Set<Instance>();

/** `count` instances on the Redis at `url`, with their control routes; closed by `closeInstances`. */
export async function startInstances(url: string, count: number): Promise<Instance[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const instance = (await startSyncServer({ port: 0, host: '127.0.0.1', control: true, redis: { url, prefix: 'durability:' } })) as Instance;
      running.add(instance);
      return instance;
    }),
  );
}

export async function closeInstances(): Promise<void> {
  const closing = [...running].map((instance) => instance.close());
  running.clear();
  await Promise.all(closing);
}

export interface Writer {
  clientId: string;
  connection: Connection;
  channels: Map<string, Channel<CountingStore>>;
  /** Every close code the connection saw, in order. */
  closeCodes: number[];
}

export interface Op {
  channel: string;
  key: string;
  value: number;
  /** Set when the op's send() resolved (its ack). */
  acked: boolean;
}

/** `count` clients spread over the instances, each holding every channel of CHANNELS; resolves once all are live. */
export async function startWriters(instances: readonly Instance[], count: number): Promise<Writer[]> {
  const writers: Writer[] = [];
  for (let c = 0; c < count; c++) {
    const clientId = `writer-${c}`;
    const connection = channelClient(instances[c % instances.length]!.url, { clientId, defaultChannel: false }) as unknown as Connection;
    const channels = new Map(CHANNELS.map((name) => [name, connection.channel(name, { model: countingStore() })] as const));
    const closeCodes: number[] = [];
    let lastClose: unknown = null;
    connection.subscribe((status) => {
      if (status.lastClose === null || status.lastClose === lastClose) return;
      lastClose = status.lastClose;
      closeCodes.push(status.lastClose.code);
    });
    writers.push({ clientId, connection, channels, closeCodes });
  }
  await Promise.all(writers.flatMap((writer) => [...writer.channels.values()].map((channel) => waitForChannel(channel, (s) => s.live, `${channel.name} live`))));
  return writers;
}

/**
 * Every `everyMs`, each writer sends one op on each channel without waiting for the answer (ops
 * queue in its outbox while it is cut off). `stop()` stops sending and resolves once every op
 * sent was answered (bounded); a refused or thrown send fails the test there.
 */
export function keepSending(writers: readonly Writer[], everyMs: number) {
  const ops: Op[] = [];
  const answers: Array<Promise<void>> = [];
  const failures: string[] = [];
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    for (const writer of writers) {
      for (const [name, channel] of writer.channels) {
        const op: Op = { channel: name, key: `${writer.clientId}.${tick}`, value: tick, acked: false };
        ops.push(op);
        try {
          answers.push(channel.send({ set: { [op.key]: op.value } }).then(
            () => void (op.acked = true),
            (error: unknown) => void failures.push(`${name} ${op.key}: ${String(error)}`),
          ));
        } catch (error) {
          failures.push(`${name} ${op.key} (thrown): ${String(error)}`);
        }
      }
    }
  }, everyMs);
  return {
    ops,
    acked: () => ops.filter((op) => op.acked).length,
    async stop(answerWithinMs = 20_000): Promise<void> {
      clearInterval(timer);
      let guard: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        guard = setTimeout(() => reject(new Error(`${ops.filter((op) => !op.acked).length} of ${ops.length} ops unanswered after ${answerWithinMs} ms; failures: ${failures.join('; ')}`)), answerWithinMs);
      });
      try {
        await Promise.race([Promise.all(answers), late]);
      } finally {
        clearTimeout(guard);
      }
      expect(failures, 'sends refused or thrown').toEqual([]);
    },
  };
}

/** Polls until `ok` holds, at most `tries` × 50 ms (a bounded wait, not a timing assertion). */
export async function until(ok: () => boolean, what: string, describe: () => unknown = () => undefined, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (ok()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never saw ${what}; last: ${JSON.stringify(describe())}`);
}

/**
 * Every instance reports the same epoch, seq and document for each channel, and every writer's
 * Model is there too; returns each channel's state (from the first instance).
 */
export async function converged(instances: readonly Instance[], writers: readonly Writer[], step: string): Promise<Map<string, ChannelState>> {
  const states = new Map<string, ChannelState>();
  for (const name of CHANNELS) {
    const agree = (read: ChannelState[]) =>
      read.every((state) => state.epoch === read[0]!.epoch && state.seq === read[0]!.seq) &&
      writers.every((writer) => {
        const position = writer.channels.get(name)!.model.position();
        return position?.epoch === read[0]!.epoch && position.seq === read[0]!.seq;
      });
    let read = await Promise.all(instances.map((instance) => channelState(instance, name)));
    for (let i = 0; i < 300 && !agree(read); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      read = await Promise.all(instances.map((instance) => channelState(instance, name)));
    }
    const [first] = read;
    if (first === undefined) throw new Error('no instance');
    for (const [i, state] of read.entries()) {
      expect({ epoch: state.epoch, seq: state.seq, data: state.data }, `${step}: ${name} on instance ${i}`).toEqual({ epoch: first.epoch, seq: first.seq, data: first.data });
    }
    for (const writer of writers) {
      const model = writer.channels.get(name)!.model;
      expect(model.position(), `${step}: ${writer.clientId} ${name} position`).toEqual({ epoch: first.epoch, seq: first.seq });
      expect(model.getData(), `${step}: ${writer.clientId} ${name} data`).toEqual(first.data);
    }
    states.set(name, first);
  }
  return states;
}

/**
 * No op applied twice: each channel's seq is its number of keys (every op adds a key of its own),
 * and no writer's Model got two patches setting one key.
 */
export function expectAppliedOnce(states: ReadonlyMap<string, ChannelState>, writers: readonly Writer[], step: string): void {
  for (const [name, state] of states) {
    expect(Object.keys(state.data).length, `${step}: ${name}: keys vs seq`).toBe(state.seq);
    for (const writer of writers) {
      const twice = [...writer.channels.get(name)!.model.setsOf].filter(([, count]) => count > 1);
      expect(twice, `${step}: ${writer.clientId} ${name}: keys set by more than one patch`).toEqual([]);
    }
  }
}

/** The snapshots each writer's Model got, per channel, in writer order. */
export const snapshotsOf = (writers: readonly Writer[]) => writers.map((writer) => CHANNELS.map((name) => writer.channels.get(name)!.model.snapshots));
