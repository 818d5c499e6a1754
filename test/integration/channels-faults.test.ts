/**
 * Several version 2 clients × several channels, with ops and the server's feed, under the control
 * endpoint's faults (drop, close 1012, stall, restart) and SIGKILL plus a restart of the server process on
 * its --data-file. At every step's end each channel's Model equals the server's document and
 * position, every acked op is applied exactly once (each op sets a key of its own: its patch is
 * counted in every Model), presence converges, and a channel gets a snapshot only where the epoch
 * changed (snapshots counted per channel through the Model).
 *
 * The faults here mostly strike after the round's acks arrived (the server's counters show no
 * duplicate in a run, and turning the server's duplicate check off passes), so the path of an op
 * applied whose ack was lost is made certain in channels-resend.test.ts, through a relay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, Connection } from '../../src/node.js';
import { channelClient, countingStore, stopV2Connections, until, waitForChannel, type CountingStore } from './channels-support.js';
import { control, kill, killAll, startServerProcess, type ServerProcess } from './server-process.js';

const dirs: string[] = [];
afterEach(async () => {
  stopV2Connections();
  await killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface ChannelState {
  epoch: string;
  seq: number;
  data: Record<string, unknown>;
  members: Array<{ client: string }>;
  counters: Record<string, unknown>;
}

async function channelState(server: ServerProcess, channel: string): Promise<ChannelState> {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/state?channel=${encodeURIComponent(channel)}`, {
    headers: { authorization: `Bearer ${server.controlToken}` },
  });
  if (!response.ok) throw new Error(`GET /control/state?channel=${channel}: ${response.status}`);
  return (await response.json()) as ChannelState;
}

const CLIENTS = 3;
// the proof: 3 clients x 20 channels (one of them with presence, one more for the feed)
const CHANNELS = ['room:1', ...Array.from({ length: 19 }, (_, i) => `notes/${i}`)];
const FEED = 'prices';
const OPS_PER_CHANNEL = 3;
type Fault = 'drop' | '1012' | 'stall' | 'restart' | 'sigkill';
// every fault at least twice; the order is fixed so a failure names its step
const FAULTS: Fault[] = ['drop', '1012', 'stall', 'restart', 'sigkill', 'drop', 'sigkill', 'stall', '1012', 'restart'];
const CHANGES_EPOCH: Record<Fault, boolean> = { drop: false, '1012': false, stall: false, restart: true, sigkill: true };

interface Held {
  connection: Connection;
  clientId: string;
  channels: Map<string, Channel<CountingStore>>;
}

describe('channels under faults, against the server process with a data file', () => {
  it('ends every channel equal to the server, every acked op applied once, snapshots only on a new epoch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'statesocket-channel-faults-'));
    dirs.push(dir);
    const args = ['--data-file', join(dir, 'data.json'), '--feed-rate', '20', '--feed-channel', FEED];
    let server = await startServerProcess(args);
    const clients: Held[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const clientId = `client-${c}`;
      const connection = channelClient(server.url, { clientId, defaultChannel: false }) as unknown as Connection;
      const channels = new Map<string, Channel<CountingStore>>();
      for (const name of [...CHANNELS, FEED]) {
        channels.set(name, connection.channel(name, { model: countingStore(), presence: name === 'room:1' }));
      }
      clients.push({ connection, clientId, channels });
    }
    const every = () => clients.flatMap((held) => [...held.channels.values()]);
    const acked: Array<{ channel: string; key: string; value: number }> = [];

    /** Every channel live and at the server's position with its data; presence of room:1 lists every client. */
    async function converged(step: string): Promise<void> {
      for (const channel of every()) await waitForChannel(channel, (s) => s.live, `${step}: ${channel.name} live`);
      for (const name of [...CHANNELS, FEED]) {
        const atServer = (state: ChannelState) =>
          clients.every((held) => {
            const position = held.channels.get(name)!.model.position();
            return position?.epoch === state.epoch && position.seq === state.seq;
          });
        // the server is read again on every try: the feed's channel moves on while we look
        let state = await channelState(server, name);
        for (let i = 0; i < 300 && !atServer(state); i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          state = await channelState(server, name);
        }
        for (const held of clients) {
          const model = held.channels.get(name)!.model;
          expect(model.position(), `${step}: ${held.clientId} ${name} position`).toEqual({ epoch: state.epoch, seq: state.seq });
          expect(model.getData(), `${step}: ${held.clientId} ${name} data`).toEqual(state.data);
        }
      }
      const ids = clients.map((held) => held.clientId).sort();
      await until(
        () => clients.every((held) => held.channels.get('room:1')!.presence!.getData().map((member) => member.client).sort().join() === ids.join()),
        `${step}: presence of room:1 lists every client at every client`,
        () => clients.map((held) => held.channels.get('room:1')!.presence!.getData().map((member) => member.client)),
      );
      const room = await channelState(server, 'room:1');
      expect(room.members.map((member) => member.client).sort(), `${step}: the server's members`).toEqual(ids);
    }

    await converged('start');
    for (const channel of every()) expect(channel.model.snapshots, `start: ${channel.name}`).toBe(1);

    for (const [round, fault] of FAULTS.entries()) {
      const step = `round ${round} (${fault})`;
      const snapshotsBefore = every().map((channel) => channel.model.snapshots);
      const appliedBefore = (await channelState(server, CHANNELS[0]!)).counters.opsApplied as number;
      // ops in flight while the fault strikes: some answered before it, some resent after it
      const sends: Array<Promise<void>> = [];
      for (const held of clients) {
        for (const name of CHANNELS) {
          for (let i = 0; i < OPS_PER_CHANNEL; i++) {
            const key = `${held.clientId}.r${round}.${i}`;
            const value = round * 100 + i;
            sends.push(held.channels.get(name)!.send({ set: { [key]: value } }).then(() => void acked.push({ channel: name, key, value })));
          }
        }
      }
      if (fault === 'drop') expect((await control(server, 'drop')).ok).toBe(true);
      if (fault === '1012') expect((await control(server, 'close?code=1012')).ok).toBe(true);
      // frames held both ways for a while, then delivered: late, not lost (no heartbeat here)
      if (fault === 'stall') expect((await control(server, 'stall?ms=300')).ok).toBe(true);
      if (fault === 'restart') expect((await control(server, 'restart')).ok).toBe(true);
      if (fault === 'sigkill') {
        await kill(server);
        server = await startServerProcess(args, server.port);
      }
      await Promise.all(sends);
      await converged(step);
      every().forEach((channel, i) => {
        const added = channel.model.snapshots - snapshotsBefore[i]!;
        // a new epoch makes one snapshot per channel; anything else is a replay
        expect(added, `${step}: snapshots on ${channel.name}`).toBe(CHANGES_EPOCH[fault] ? 1 : 0);
      });
      if (fault !== 'sigkill') {
        // the same process all along: its counter says every op of the round was applied once, resends answered as duplicates
        const applied = (await channelState(server, CHANNELS[0]!)).counters.opsApplied as number;
        expect(applied - appliedBefore, `${step}: ops applied by the server`).toBe(CLIENTS * CHANNELS.length * OPS_PER_CHANNEL);
      }
    }

    expect(acked).toHaveLength(FAULTS.length * CLIENTS * CHANNELS.length * OPS_PER_CHANNEL);
    for (const name of CHANNELS) {
      const state = await channelState(server, name);
      for (const op of acked.filter((entry) => entry.channel === name)) expect(state.data[op.key], `${name} ${op.key}`).toBe(op.value);
    }
    // exactly once: every Model saw at most one patch setting each op's key (a second application is a second patch)
    for (const held of clients) {
      for (const name of CHANNELS) {
        const twice = [...held.channels.get(name)!.model.setsOf].filter(([, count]) => count > 1);
        expect(twice, `${held.clientId} ${name}: keys set by more than one patch`).toEqual([]);
      }
    }
  }, 120_000);
});
