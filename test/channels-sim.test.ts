/**
 * Channels under seeded faults: a real connection holding several channels against a small
 * scripted version 2 server (replay log, marks, transient refusals, restarts) through the fake
 * socket, on a TestClock. Drops, restarts, refusals, feed changes and ops in random order; then
 * the faults stop and every channel's Model must equal the server's document, and every op must
 * have applied exactly once with its send() resolved.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from '../src/channel.js';
import { createChannelProtocol } from '../src/sync/client-protocol-v2.js';
import { createTestConnection, seededRandom, type FakeWebSocket } from '../src/testing/index.js';

type Data = Record<string, unknown>;
interface ServerChannel {
  epoch: string;
  seq: number;
  data: Data;
  log: Array<{ seq: number; set: Data }>;
  mark: number;
}

function runSeed(seed: number, steps: number): { outages: number; ops: number; refusals: number; replays: number; answers: Array<Promise<void>> } {
  const random = seededRandom(seed);
  const chance = (p: number) => random() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const names = ['prices', 'notes', 'room/1', 'c:4'];
  let epochs = 0;
  const fresh = (): ServerChannel => ({ epoch: `e${++epochs}`, seq: 0, data: {}, log: [], mark: 0 });
  const server = new Map(names.map((name) => [name, fresh()]));
  const applied = new Map<string, number>();
  const t = createTestConnection({ protocol: createChannelProtocol({ clientId: 'sim', defaultChannel: false }), random, reconnect: { initialDelayMs: 50, maxDelayMs: 400 } });
  const channels = new Map<string, Channel>(names.map((name) => [name, t.connection.channel(name)]));
  const answers: Array<Promise<void>> = [];
  let socket: FakeWebSocket | null = null;
  let read = 0;
  let held = new Set<string>();
  let outbound: unknown[] = [];
  let outages = 0;
  let ops = 0;
  let faults = true;
  let refusals = 0;
  let replays = 0;

  const patch = (name: string, set: Data) => {
    const channel = server.get(name)!;
    channel.seq++;
    Object.assign(channel.data, set);
    channel.log.push({ seq: channel.seq, set });
    if (channel.log.length > 5) channel.log.shift();
    if (held.has(name)) outbound.push({ type: 'patch', channel: name, epoch: channel.epoch, seq: channel.seq, set });
  };

  /** The server reads what the client wrote since last time, in order, and queues its answers. */
  const serve = () => {
    if (socket === null || socket.readyState !== 1) return;
    const frames = socket.sentMessages().slice(read) as Array<Record<string, any>>;
    read += frames.length;
    for (const frame of frames) {
      const name = frame.channel as string;
      const channel = server.get(name)!;
      switch (frame.type) {
        case 'hello':
          outbound.push({ type: 'welcome', v: 2, client: 'sim', user: null, maxMessageBytes: 1_048_576, time: t.clock.now() });
          break;
        case 'subscribe': {
          if (faults && chance(0.1)) {
            held.delete(name);
            refusals++;
            outbound.push({ type: 'unsubscribed', channel: name, code: 'ERR_CHANNEL_UNAVAILABLE', message: 'later', retryAfterMs: 30 });
            break;
          }
          held.add(name);
          const oldest = channel.log[0]?.seq ?? channel.seq + 1;
          if (frame.epoch === channel.epoch && frame.since <= channel.seq && frame.since >= oldest - 1) {
            replays++;
            for (const entry of channel.log) if (entry.seq > frame.since) outbound.push({ type: 'patch', channel: name, epoch: channel.epoch, seq: entry.seq, set: entry.set });
          } else outbound.push({ type: 'snapshot', channel: name, epoch: channel.epoch, seq: channel.seq, data: { ...channel.data } });
          outbound.push({ type: 'synced', channel: name, epoch: channel.epoch, seq: channel.seq, ...(channel.mark > 0 ? { mark: channel.mark } : {}) });
          break;
        }
        case 'op':
          if (!held.has(name)) {
            outbound.push({ type: 'error', channel: name, code: 'ERR_NOT_SUBSCRIBED', message: 'not held' });
          } else if (frame.n <= channel.mark) {
            outbound.push({ type: 'ack', channel: name, n: frame.n });
          } else {
            channel.mark = frame.n;
            applied.set(`${name} ${frame.n}`, (applied.get(`${name} ${frame.n}`) ?? 0) + 1);
            patch(name, frame.set);
            outbound.push({ type: 'ack', channel: name, n: frame.n });
          }
          break;
      }
    }
  };

  /** Delivers some (or all) of the server's queued frames in one read. */
  const deliver = (all: boolean) => {
    if (socket === null || socket.readyState !== 1 || outbound.length === 0) return;
    const count = all ? outbound.length : 1 + Math.floor(random() * outbound.length);
    const batch = outbound.slice(0, count);
    outbound = outbound.slice(count);
    socket.receive(...batch);
  };

  const lose = () => {
    held = new Set();
    outbound = [];
  };

  const tick = () => {
    if (socket !== t.sockets.all.at(-1) && t.sockets.all.length > 0) {
      const latest = t.sockets.latest;
      if (latest.readyState === 0) {
        latest.open();
        socket = latest;
        read = 0;
        lose();
      }
    }
    serve();
    deliver(!faults);
    serve();
  };

  t.sockets.latest.open();
  socket = t.sockets.latest;
  for (let step = 0; step < steps; step++) {
    const roll = random();
    if (roll < 0.08 && socket?.readyState === 1) {
      outages++;
      lose();
      socket.drop();
    } else if (roll < 0.11) {
      outages++;
      for (const name of names) {
        const next = fresh();
        server.set(name, { ...next, data: server.get(name)!.data, mark: server.get(name)!.mark });
      }
      lose();
      socket?.drop();
    } else if (roll < 0.35) {
      patch(pick(names), { [`k${Math.floor(random() * 6)}`]: Math.floor(random() * 1000) });
    } else if (roll < 0.55) {
      const name = pick(names);
      ops++;
      answers.push(channels.get(name)!.send({ set: { [`op${Math.floor(random() * 6)}`]: step } }));
    }
    t.advance(Math.floor(random() * 40));
    tick();
  }
  // heal: no faults; run until quiet
  faults = false;
  for (let round = 0; round < 200; round++) {
    t.advance(50);
    tick();
  }
  for (const name of names) {
    const channel = channels.get(name)!;
    expect(channel.getStatus(), `seed ${seed}: ${name}`).toMatchObject({ state: 'subscribed', live: true });
    expect(channel.model.getData(), `seed ${seed}: ${name}'s data`).toEqual(server.get(name)!.data);
  }
  expect([...applied.values()].every((count) => count === 1), `seed ${seed}: an op applied twice`).toBe(true);
  expect(applied.size, `seed ${seed}: ops applied`).toBe(ops);
  expect(t.connection.getOutbox(), `seed ${seed}: outbox`).toEqual([]);
  t.connection.stop();
  expect(t.clock.pendingTimers).toBe(0);
  return { outages, ops, refusals, replays, answers };
}

describe('channels under seeded faults', () => {
  const totals = { refusals: 0, replays: 0 };

  it.each(Array.from({ length: 12 }, (_, i) => i + 1))('converges with every op applied exactly once (seed %i)', async (seed) => {
    const { outages, ops, refusals, replays, answers } = runSeed(seed, 300);
    expect(outages).toBeGreaterThan(0);
    expect(ops).toBeGreaterThan(0);
    // every send() was answered by its ack
    await expect(Promise.all(answers)).resolves.toBeDefined();
    totals.refusals += refusals;
    totals.replays += replays;
  });

  it('met transient refusals and resumed by replay along the way', () => {
    expect(totals.refusals).toBeGreaterThan(0);
    expect(totals.replays).toBeGreaterThan(0);
  });
});
