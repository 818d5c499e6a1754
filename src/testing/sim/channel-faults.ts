/**
 * What can happen in a version 2 run, with its weight: ops on channels and feed changes; random
 * subscribes, unsubscribes and resubscribes; changes of the rule table `authorize` reads; token
 * trouble (a token function that fails or is slow for a while); and every fault of version 1
 * (sim/faults.ts), aimed at one client or at all of them. With several instances
 * (`SimOptions.instances`) the restart is an instance crash, and an engine outage joins them.
 */
import type { TestClock } from '../clock.js';
import type { ChannelWatch, SimUser, createChannelWatch } from './channel-invariants.js';
import { CHANNEL_NAMES, type SimServers } from './channels.js';
import { InvariantError } from './invariants.js';
import type { SimNetwork } from './network.js';
import type { SimQueue } from './queue.js';

export interface ChannelFaultContext {
  seed: number;
  random: () => number;
  int(low: number, high: number): number;
  chance(p: number): boolean;
  clock: TestClock;
  queue: SimQueue;
  trace(line: string): void;
  /** The server, or the instances sharing one store. */
  servers: SimServers;
  network: SimNetwork;
  users: readonly SimUser[];
  /** The rule table `authorize` reads: `user channel action` → allowed. */
  rules: Map<string, boolean>;
  tally: { outages: number; urlFailures: number };
  channelTally: { unsubscribes: number; permissionChanges: number; tokenTrouble: number };
  open(user: SimUser, name: string): ChannelWatch | null;
  watch: ReturnType<typeof createChannelWatch>;
  /** The clients' largest message: the oversized fault sends one byte more. */
  maxMessageBytes: number;
}

/** Returns the function that draws the next action (weighted), as `[weight, label, run]`. */
export function createChannelFaults(context: ChannelFaultContext): () => readonly [number, string, () => void] {
  const { random, int, chance, clock, queue, trace, servers, network, users, rules, tally, channelTally, open, watch, maxMessageBytes } = context;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const someUser = () => pick(users);
  /** One client's links, or (a third of the time) everyone's. */
  const someLinks = () => (chance(0.33) ? network.liveLinks() : network.liveLinks(someUser().net));
  const held = (user: SimUser) => [...user.handles.values()].filter((watched) => !['failed', 'ended', 'unsubscribing'].includes(watched.handle.getStatus().state));

  const actions: Array<[number, string, () => void]> = [
    [12, 'op', () => {
      const user = someUser();
      const channels = held(user);
      if (channels.length > 0) watch.sendOp(user, pick(channels), `k${int(0, 11)}`);
    }],
    [7, 'feed', () => {
      const name = pick(CHANNEL_NAMES);
      // notes gets large values now and then: its snapshot then goes in chunks
      const value = name === 'notes' && chance(0.3) ? 'n'.repeat(int(200, 1_200)) : int(0, 1000);
      const key = `s${int(0, 7)}`;
      servers.change(chance(0.15) ? { delete: [key] } : { set: { [key]: value } }, name);
    }],
    [4, 'subscribe', () => {
      const user = someUser();
      const names = CHANNEL_NAMES.filter((name) => !held(user).some((watched) => watched.name === name));
      if (names.length > 0) {
        const name = pick(names);
        trace(`sim: ${user.label} opens ${name}`);
        open(user, name);
      }
    }],
    [3, 'unsubscribe', () => {
      const user = someUser();
      const channels = held(user).filter((watched) => watched.name !== 'default');
      if (channels.length === 0) return;
      const watched = pick(channels);
      trace(`sim: ${user.label} unsubscribes ${watched.name}`);
      channelTally.unsubscribes++;
      watched.handle.unsubscribe();
    }],
    [1, 'resubscribe', () => {
      const user = someUser();
      const channels = held(user).filter((watched) => watched.name !== 'default');
      if (channels.length === 0) return;
      const watched = pick(channels);
      trace(`sim: ${user.label} unsubscribes ${watched.name} and opens it again`);
      channelTally.unsubscribes++;
      watched.handle.unsubscribe();
      open(user, watched.name);
    }],
    [3, 'permission change', () => {
      const user = someUser();
      const name = pick(CHANNEL_NAMES);
      const action = chance(0.75) ? 'subscribe' : 'publish';
      const key = `${user.name} ${name} ${action}`;
      const allowed = !(rules.get(key) ?? true);
      rules.set(key, allowed);
      channelTally.permissionChanges++;
      trace(`sim: ${user.name} may ${allowed ? '' : 'no longer '}${action} ${name}`);
    }],
    [2, 'token trouble', () => {
      const user = someUser();
      user.tokenMode = chance(0.5) ? 'slow' : 'fail';
      channelTally.tokenTrouble++;
      const ms = int(1_000, 30_000);
      trace(`sim: ${user.label} token function ${user.tokenMode} for ${ms} ms`);
      queue.after(ms, `${user.label} token function well`, () => {
        user.tokenMode = 'ok';
      });
    }],
    [4, 'drop', () => {
      tally.outages++;
      for (const link of someLinks()) link.socket.drop();
    }],
    [3, 'close', () => {
      tally.outages++;
      const code = [1000, 1001, 1011, 1012, 1013, 1006 /* as a drop */, 4401][int(0, chance(0.97) ? 5 : 6)] as number;
      for (const link of someLinks()) {
        if (code === 1006) link.socket.drop();
        else if (!link.serverGone) network.closeFromServer(link, code);
      }
    }],
    [3, 'stall', () => {
      tally.outages++;
      const ms = int(500, 8_000);
      for (const link of someLinks()) link.stalledUntil = clock.now() + ms;
      trace(`sim: stall ${ms} ms`);
    }],
    [2, 'latency spike', () => {
      network.latencySpikeUntil = clock.now() + int(500, 5_000);
    }],
    [2, 'refuse', () => {
      tally.outages++;
      network.refusing += int(1, 4);
    }],
    [2, servers.tally.instances === 1 ? 'restart' : 'instance crash', () => {
      tally.outages++;
      servers.restart();
      // One server: every connection drops and the members go with the process. Several: the
      // crashed instance's links end without a word from it; its members stay for their grace period.
      if (servers.tally.instances === 1) {
        watch.restarted();
        for (const link of network.liveLinks()) link.socket.drop();
      }
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
      for (const link of someLinks()) link.deliver('toClient', 'garbage', () => link.socket.arrive('{"type":"patch",'));
    }],
    [1, 'oversized', () => {
      const name = pick(CHANNEL_NAMES);
      const frame = JSON.stringify({ type: 'patch', channel: name, epoch: 'x', seq: 1, set: { big: 'x'.repeat(maxMessageBytes) } });
      for (const link of someLinks()) link.deliver('toClient', 'oversized', () => link.socket.arrive(frame));
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
      const { connection, label } = someUser();
      connection.setOnline(false);
      queue.after(int(100, 10_000), `${label} online`, () => connection.setOnline(true));
    }],
    [1, 'page hidden', () => {
      const { connection, label } = someUser();
      connection.actor.send({ type: 'page.hidden' });
      queue.after(int(100, 20_000), `${label} page visible`, () => connection.actor.send({ type: 'page.visible' }));
    }],
    [1, 'back-forward cache', () => {
      tally.outages++;
      const { connection, label } = someUser();
      connection.actor.send({ type: 'page.suspended' });
      queue.after(int(100, 20_000), `${label} page resumed`, () => connection.actor.send({ type: 'page.resumed' }));
    }],
    [1, 'stale event', () => {
      const user = someUser();
      const { connection } = user;
      const { socketId } = connection.actor.getSnapshot().context;
      if (socketId < 2) return;
      const before = [...user.handles.values()].map((watched) => watched.handle.model.getData());
      const state = connection.getStatus().state;
      const channel = pick([...user.handles.keys(), 'room:1']);
      connection.actor.send({ type: 'message.received', socketId: socketId - 1, at: clock.now(), messages: [{ type: 'snapshot', channel, epoch: 'stale', seq: 999, data: { stale: true } }] });
      connection.actor.send({ type: 'socket.closed', socketId: socketId - 1, at: clock.now(), code: 1006, reason: '', wasClean: false });
      const after = [...user.handles.values()].map((watched) => watched.handle.model.getData());
      if (after.some((data, i) => data !== before[i]) || connection.getStatus().state !== state) {
        throw new InvariantError('an event from a replaced socket changed the client');
      }
    }],
    [1, 'user retry', () => someUser().connection.retry()],
    [1, 'user reconnect', () => {
      const { connection, label } = someUser();
      if (connection.getStatus().state === 'closed') connection.connect();
      else if (chance(0.3)) {
        connection.disconnect(1000, 'user');
        queue.after(int(10, 3_000), `${label} connect`, () => connection.connect());
      }
    }],
  ];
  // Several instances: the store they share becomes unreachable for a while (a fault of its own, so one server's runs draw as before).
  if (servers.engineOutage !== undefined) {
    actions.push([1, 'engine outage', () => {
      tally.outages++;
      servers.engineOutage?.();
    }]);
  }
  const totalWeight = actions.reduce((sum, [weight]) => sum + weight, 0);
  return () => {
    let roll = random() * totalWeight;
    for (const action of actions) {
      roll -= action[0];
      if (roll < 0) return action;
    }
    return actions[0] as (typeof actions)[number];
  };
}
