/**
 * What can happen in a simulated run, with its weight: ops and feed changes, and every fault
 * (drops, closes with any code, stalls, latency spikes, refused dials, restarts that lose the
 * replay log, long outages, garbage and oversized frames, failing URL providers, clock jumps,
 * offline periods, hidden and cached pages, late events from replaced sockets, user actions).
 */
import type { Connection } from '../../connection.js';
import { isStatesocketError } from '../../errors.js';
import type { SyncServer } from '../../server/sync-server.js';
import { createOp } from '../../sync/client-protocol.js';
import type { TestClock } from '../clock.js';
import { InvariantError } from './invariants.js';
import type { SimNetwork } from './network.js';
import type { SimQueue } from './queue.js';

/** What a run counts; the URL provider fails while `urlFailures` > 0. */
export interface SimTally {
  outages: number;
  opsSent: number;
  urlFailures: number;
}

export interface FaultContext {
  seed: number;
  random: () => number;
  int(low: number, high: number): number;
  chance(p: number): boolean;
  clock: TestClock;
  queue: SimQueue;
  trace(line: string): void;
  server: SyncServer;
  network: SimNetwork;
  connection: Connection;
  /** The client's largest message: the oversized fault sends one byte more. */
  maxMessageBytes: number;
  tally: SimTally;
}

/** Returns the function that draws the next action (weighted), as `[weight, label, run]`. */
export function createFaults(context: FaultContext): () => readonly [number, string, () => void] {
  const { seed, random, int, chance, clock, queue, trace, server, network, connection, maxMessageBytes, tally } = context;
  const actions: Array<[number, string, () => void]> = [
    [10, 'op', () => {
      const id = `op-${seed}-${tally.opsSent}`;
      try {
        connection.send(createOp({ set: { [`c${tally.opsSent % 40}`]: tally.opsSent } }, id));
        tally.opsSent++;
      } catch (error) {
        if (!isStatesocketError(error, 'ERR_OUTBOX_FULL') && !isStatesocketError(error, 'ERR_STOPPED')) throw error;
      }
    }],
    [8, 'feed', () => {
      const key = `s${int(0, 9)}`;
      // server.change applies the same value rule and limits as client ops (src/sync/values.ts):
      // a value they refuse throws ChangeRefusedError and fails the run as unexpected.
      server.change(chance(0.2) ? { delete: [key] } : { set: { [key]: int(0, 1000) } });
    }],
    [4, 'drop', () => {
      tally.outages++;
      for (const link of network.liveLinks()) link.socket.drop();
    }],
    [3, 'close', () => {
      tally.outages++;
      const code = [1000, 1001, 1011, 1012, 1013, 1006 /* as a drop */, 4401][int(0, chance(0.97) ? 5 : 6)] as number;
      for (const link of network.liveLinks()) {
        if (code === 1006) link.socket.drop();
        else if (!link.serverGone) network.closeFromServer(link, code);
      }
    }],
    [3, 'stall', () => {
      tally.outages++;
      const ms = int(500, 8_000);
      for (const link of network.liveLinks()) link.stalledUntil = clock.now() + ms;
      trace(`sim: stall ${ms} ms`);
    }],
    [2, 'latency spike', () => {
      network.latencySpikeUntil = clock.now() + int(500, 5_000);
    }],
    [2, 'refuse', () => {
      tally.outages++;
      network.refusing += int(1, 4);
    }],
    [2, 'restart', () => {
      tally.outages++;
      server.restart();
      for (const link of network.liveLinks()) link.socket.drop();
    }],
    [1, 'outage', () => {
      tally.outages++;
      network.serverUp = false;
      for (const link of network.liveLinks()) link.socket.drop();
      queue.after(int(5_000, 60_000), 'server back', () => {
        network.serverUp = true;
        trace('sim: server back up');
      });
    }],
    [2, 'garbage', () => {
      for (const link of network.liveLinks()) link.deliver('toClient', 'garbage', () => link.socket.arrive('{"type":"patch",'));
    }],
    [1, 'oversized', () => {
      const frame = JSON.stringify({ type: 'patch', epoch: server.epoch, seq: server.seq + 1, set: { big: 'x'.repeat(maxMessageBytes) } });
      for (const link of network.liveLinks()) link.deliver('toClient', 'oversized', () => link.socket.arrive(frame));
    }],
    [1, 'url failure', () => {
      tally.urlFailures += int(1, 3);
    }],
    [1, 'clock jump', () => {
      const ms = int(10_000, 300_000);
      trace(`sim: clock jumps ${ms} ms (sleep)`);
      clock.jump(ms);
    }],
    [1, 'offline', () => {
      tally.outages++;
      connection.setOnline(false);
      queue.after(int(100, 10_000), 'online', () => connection.setOnline(true));
    }],
    [1, 'page hidden', () => {
      connection.actor.send({ type: 'page.hidden' });
      queue.after(int(100, 20_000), 'page visible', () => connection.actor.send({ type: 'page.visible' }));
    }],
    [1, 'back-forward cache', () => {
      tally.outages++;
      connection.actor.send({ type: 'page.suspended' });
      queue.after(int(100, 20_000), 'page resumed', () => connection.actor.send({ type: 'page.resumed' }));
    }],
    [1, 'stale event', () => {
      const { socketId } = connection.actor.getSnapshot().context;
      if (socketId < 2) return;
      const before = connection.model.getData();
      const state = connection.getStatus().state;
      connection.actor.send({ type: 'message.received', socketId: socketId - 1, at: clock.now(), messages: [{ type: 'snapshot', epoch: 'stale', seq: 999, data: { stale: true } }] });
      connection.actor.send({ type: 'socket.closed', socketId: socketId - 1, at: clock.now(), code: 1006, reason: '', wasClean: false });
      if (connection.model.getData() !== before || connection.getStatus().state !== state) {
        throw new InvariantError('an event from a replaced socket changed the client');
      }
    }],
    [1, 'user retry', () => connection.retry()],
    [1, 'user reconnect', () => {
      if (connection.getStatus().state === 'closed') connection.connect();
      else if (chance(0.3)) {
        connection.disconnect(1000, 'user');
        queue.after(int(10, 3_000), 'user connect', () => connection.connect());
      }
    }],
  ];
  const totalWeight = actions.reduce((sum, [weight]) => sum + weight, 0);
  const pickAction = () => {
    let roll = random() * totalWeight;
    for (const action of actions) {
      roll -= action[0];
      if (roll < 0) return action;
    }
    return actions[0] as (typeof actions)[number];
  };

  return pickAction;
}
