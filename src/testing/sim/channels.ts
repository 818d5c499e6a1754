/**
 * Version 2 runs of the simulator (docs/simulation.md, "Channel runs"): two or three clients,
 * each a real connection with `createChannelProtocol()` holding several channels, against the
 * real server logic with its version 2 sessions, on the simulated clock (the server's presence
 * grace, token refreshes and idle unloading run on it too).
 *
 * Besides every fault of version 1 (sim/channel-faults.ts), a run subscribes, unsubscribes and
 * resubscribes at random, changes who may subscribe or publish where (the server's `authorize`
 * reads a rule table the run changes), issues tokens that expire on the simulated clock (the
 * clients' token functions are async, and sometimes slow or failing, so both the refresh on the
 * same socket and the 4419 close are taken), and watches presence with a grace period.
 * The invariants per channel live in sim/channel-invariants.ts.
 *
 * With `instances` > 1 the clients talk to that many server instances sharing one engine whose
 * answers come on the simulated clock (sim/engine.ts; `createInstances` below): a load balancer
 * picks an instance per connection, instances crash and start again, the store goes away for a
 * while (docs/simulation.md, "Several instances").
 */
import type { Channel } from '../../channel.js';
import type { Connection } from '../../connection.js';
import { createConnectionFactory } from '../../connection.js';
import { isStatesocketError } from '../../errors.js';
import type { Engine } from '../../server/engine.js';
import { EngineUnavailableError } from '../../server/engine.js';
import { memoryEngine } from '../../server/engines/memory.js';
import type { Identity, ServerCounters, SyncServer, SyncServerOptions } from '../../server/sync-server.js';
import { createSyncServer } from '../../server/sync-server.js';
import type { Changes } from '../../sync/messages.js';
import { DEFAULT_CHANNEL } from '../../sync/messages-v2.js';
import { createStore } from '../../store.js';
import { createChannelProtocol } from '../../sync/client-protocol-v2.js';
import type { WebSocketConstructor } from '../../types.js';
import type { SimOptions, SimResult } from '../sim.js';
import { createChannelFaults } from './channel-faults.js';
import { createChannelWatch, type ChannelWatch, type SimUser } from './channel-invariants.js';
import { createSimEngine, type SimEngine, type SimEngineHandle } from './engine.js';
import { InvariantError, checkStopped, createStepCheck, sortKeys, watchStatus, watchStore } from './invariants.js';
import { createNetwork, type SimClient, type SimRoute } from './network.js';
import { createSimQueue, type SimQueue } from './queue.js';
import type { TestClock } from '../clock.js';
import { startRun } from './run.js';

/** What a version 2 run counts (`SimResult.channels`). */
export interface ChannelTally {
  clients: number;
  /** `connection.channel()` calls, the first of each client's channels included. */
  subscribes: number;
  unsubscribes: number;
  /** Changes of the rule table `authorize` reads. */
  permissionChanges: number;
  /** Channels failed with `ERR_CHANNEL_FORBIDDEN`. */
  forbidden: number;
  /** Token function calls, and how many of them failed or were slow on purpose. */
  tokenCalls: number;
  tokenTrouble: number;
  /** The server's counters at the end: `auth` frames accepted, 4419 closes, snapshots, replays, presence. */
  tokenRefreshes: number;
  tokenExpiries: number;
  snapshots: number;
  replays: number;
  presenceJoins: number;
  presenceLeaves: number;
  /** Ops sent on channels, acked, refused by the server. */
  opsSent: number;
  opsAcked: number;
  opsRefused: number;
}

/** The clients' settings: as in version 1 runs (small, for many outages per run). */
const CLIENT = {
  reconnect: { initialDelayMs: 100, maxDelayMs: 5_000, stableAfterMs: 2_000, serviceRestartDelayMs: 1_000 },
  connectTimeoutMs: 3_000,
  closeTimeoutMs: 1_000,
  heartbeat: { intervalMs: 4_000, timeoutMs: 1_500 },
  maxMessageBytes: 4_096,
  outbox: { limit: 50, overflow: 'reject' as const },
};

const USERS = ['ann', 'bob', 'cy'] as const;
/** The channels a client may hold; the rooms with presence. `notes` gets large values (chunked snapshots). */
export const CHANNEL_NAMES = ['room:1', 'room:2', 'notes', 'prices', 'vault'] as const;
export const PRESENCE_CHANNELS: ReadonlySet<string> = new Set(['room:1', 'room:2']);

/** Everything microtasks have to finish (a token function's promise, the dial behind it) runs before the next event. */
const flushMicrotasks: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise<void>((resolve) => setImmediate(resolve))
    : async () => {
        for (let i = 0; i < 64; i++) await null;
      };

export async function runChannelSimulation(options: SimOptions): Promise<SimResult> {
  const { seed, steps = 200 } = options;
  const { random, int, chance, tail, clock, trace } = startRun(options, 80);
  const queue = createSimQueue(clock);
  /** A promise the run waits for was made or settled: flush microtasks before the next event. */
  let asyncWork = false;

  const tally = { outages: 0, urlFailures: 0 };
  const channelTally: ChannelTally = {
    clients: int(2, 3),
    subscribes: 0,
    unsubscribes: 0,
    permissionChanges: 0,
    forbidden: 0,
    tokenCalls: 0,
    tokenTrouble: 0,
    tokenRefreshes: 0,
    tokenExpiries: 0,
    snapshots: 0,
    replays: 0,
    presenceJoins: 0,
    presenceLeaves: 0,
    opsSent: 0,
    opsAcked: 0,
    opsRefused: 0,
  };

  // ── the rule table authorize reads, and the token service ─────────────────
  /** `user channel action` → allowed; absent: allowed. The run flips entries at random. */
  const rules = new Map<string, boolean>();
  rules.set(`bob vault subscribe`, false);
  const tokens = new Map<string, Identity>();
  let tokenSerial = 0;
  const tokenLifetimeMs = () => int(8_000, 60_000);
  const issueToken = (user: string) => {
    const token = `tok-${user}-${++tokenSerial}`;
    tokens.set(token, { user, expiresAt: Math.floor(clock.now()) + tokenLifetimeMs() });
    return token;
  };

  // ── the server (or several instances sharing one store) ───────────────────
  const logSize = int(3, 40);
  const graceMs = int(1_000, 8_000);
  const watch: { current: ReturnType<typeof createChannelWatch> | null } = { current: null };
  const serverOptions: SyncServerOptions = {
    random,
    // whole milliseconds, as Date.now() gives them: frames carry times as whole numbers (joinedAt, expiresAt)
    timers: { now: () => Math.floor(clock.now()), setTimeout: (callback, ms) => clock.setTimeout(callback, ms), clearTimeout: (handle) => clock.clearTimeout(handle as number) },
    logSize,
    presenceGraceMs: graceMs,
    refreshBeforeMs: int(1_000, 3_000),
    channelIdleMs: int(5_000, 60_000),
    authenticate: (token) => tokens.get(token) ?? null,
    authorize: ({ user, channel, action }) => {
      const allowed = rules.get(`${user} ${channel} ${action}`) ?? true;
      if (!allowed) watch.current?.denied(user ?? '', channel, action);
      return allowed;
    },
    onApply: (id) => watch.current?.applied(id),
  };
  const instanceCount = options.instances ?? 1;
  const servers = instanceCount === 1 ? oneServer(createSyncServer(serverOptions)) : createInstances(instanceCount, serverOptions, {
    ...options,
    clock,
    int,
    chance,
    queue,
    trace,
    random,
    logSize,
    graceMs,
    settled: () => {
      asyncWork = true;
    },
    applied: (id) => watch.current?.applied(id),
    crashed: (instance) => network.crash(instance),
  });

  // ── the network and the clients ───────────────────────────────────────────
  const network = createNetwork({ clock, int, queue, trace }, servers.route);
  const users: SimUser[] = [];
  const watchRef = () => watch.current as ReturnType<typeof createChannelWatch>;
  for (let i = 0; i < channelTally.clients; i++) {
    const name = USERS[i] as string;
    const label = `(${name[0]})`;
    const user: SimUser = {
      index: i,
      name,
      label,
      clientId: `sim-${name}`,
      tokenMode: 'ok',
      connection: undefined as unknown as Connection,
      handles: new Map(),
      net: undefined as unknown as SimClient,
      check: () => {},
      fatalClose: () => null,
      refusal: null,
    };
    const net: SimClient = {
      label,
      readState: () => ({
        data: [user.connection.model.getData(), ...[...user.handles.values()].map((held) => held.handle.model.getData())],
        rejected: user.connection.getStatus().counters.rejected,
      }),
      sent: (frame, socketId) => watchRef().sent(user, frame, socketId),
      arrived: (frame) => {
        if (frame.startsWith('{"type":"refresh"')) asyncWork = true; // the client calls its token function in a microtask
      },
      wrote: (frame) => watchRef().wrote(user, frame),
      received: (frame, receive, socketId) => watchRef().received(user, frame, receive, socketId),
      closedByServer: (code, socketId) => watchRef().closedByServer(user, code, socketId),
      gone: (socketId) => watchRef().gone(user, socketId),
    };
    user.net = net;
    const SimSocket = network.socketClass(net);
    const createConnection = createConnectionFactory(() => SimSocket as unknown as WebSocketConstructor);
    const watched = watchStore(createStore());
    const token = (): Promise<string> => {
      asyncWork = true;
      channelTally.tokenCalls++;
      switch (user.tokenMode) {
        case 'fail':
          trace(`sim: ${label} token function fails`);
          return Promise.reject(new Error('token service down'));
        case 'slow': {
          // issued now, handed over later: it may have expired on the way
          const issued = issueToken(name);
          const ms = int(500, 6_000);
          trace(`sim: ${label} token function takes ${ms} ms`);
          return new Promise((resolve) =>
            queue.after(ms, `token for ${label}`, () => {
              asyncWork = true;
              resolve(issued);
            }),
          );
        }
        default:
          return Promise.resolve(issueToken(name));
      }
    };
    user.connection = createConnection({
      ...CLIENT,
      model: watched.store,
      protocol: createChannelProtocol({ clientId: user.clientId, token, defaultChannel: i === 0 }),
      url: () => {
        if (tally.urlFailures > 0) {
          tally.urlFailures--;
          return 'not a url';
        }
        return 'ws://sim.test/';
      },
      random,
      clock,
      now: () => clock.now(),
    });
    const status = watchStatus(user.connection, clock, (line) => trace(`${label} ${line}`), CLIENT.reconnect.stableAfterMs);
    user.fatalClose = status.fatalClose;
    user.check = createStepCheck({
      connection: user.connection,
      store: user.connection.model,
      sockets: network.socketsOf(net),
      applyCounts: new Map(),
      outboxLimit: CLIENT.outbox.limit,
      violations: [status.violation, watched.violation],
    });
    users.push(user);
  }
  watch.current = createChannelWatch({ clock, trace, stateOf: servers.stateOf, instances: instanceCount, users, logSize, graceMs, tally: channelTally });
  const channelWatch = watch.current;

  /** Opens `name` on `user` (a new handle when the last one ended or failed). */
  const open = (user: SimUser, name: string): ChannelWatch | null => {
    channelTally.subscribes++;
    const presence = PRESENCE_CHANNELS.has(name);
    let handle: Channel;
    try {
      handle = user.connection.channel(name, { presence });
    } catch (error) {
      if (isStatesocketError(error, 'ERR_STOPPED')) return null;
      throw error;
    }
    return channelWatch.track(user, handle, presence);
  };
  for (const user of users) {
    if (user.index === 0) channelWatch.track(user, user.connection.channel('default'), false);
    for (const name of CHANNEL_NAMES) if (chance(0.6)) open(user, name);
  }

  const check = () => {
    for (const user of users) user.check();
    channelWatch.check();
    servers.check();
  };

  /** Runs the queue and every timer (the clients' and the server's) up to `target`, checking after each step. */
  const runUntil = async (target: number) => {
    for (;;) {
      if (asyncWork) {
        asyncWork = false;
        await flushMicrotasks();
        check();
        continue;
      }
      const queued = queue.nextAt();
      const timer = clock.nextDeadline() ?? Infinity;
      const next = Math.min(queued, timer);
      if (next > target) break;
      if (timer <= queued) clock.advance(Math.max(0, timer - clock.now()));
      else {
        clock.advance(Math.max(0, queued - clock.now()));
        queue.runNext();
      }
      check();
    }
    if (target > clock.now()) clock.advance(target - clock.now());
    check();
  };

  const pickAction = createChannelFaults({
    seed,
    random,
    int,
    chance,
    clock,
    queue,
    trace,
    servers,
    network,
    users,
    rules,
    tally,
    channelTally,
    open,
    watch: channelWatch,
    maxMessageBytes: CLIENT.maxMessageBytes,
  });

  const stopAll = () => {
    for (const user of users) {
      try {
        user.connection.stop();
      } catch {
        // already broken
      }
    }
    servers.close();
  };
  const result = (ok: boolean, failure?: string): SimResult => {
    const counters = servers.counters();
    Object.assign(channelTally, {
      tokenRefreshes: counters.tokenRefreshes,
      tokenExpiries: counters.tokenExpiries,
      snapshots: counters.snapshotsSent,
      replays: counters.replays,
      presenceJoins: counters.presenceJoins,
      presenceLeaves: counters.presenceLeaves,
    });
    const base = { seed, protocol: 2 as const, ...(instanceCount > 1 ? { instances: servers.tally } : {}), ok, outages: tally.outages + counters.tokenExpiries, opsSent: channelTally.opsSent, simulatedMs: clock.now(), tail, channels: channelTally };
    return failure === undefined ? base : { ...base, failure };
  };

  try {
    check();
    for (let step = 0; step < steps; step++) {
      const [, label, run] = pickAction();
      trace(`sim: ${label}`);
      run();
      check();
      await runUntil(clock.now() + int(1, 1_500));
    }

    // ── heal, then every channel must converge ──────────────────────────────
    trace('sim: heal');
    network.serverUp = true;
    network.refusing = 0;
    tally.urlFailures = 0;
    network.latencySpikeUntil = 0;
    for (const link of network.liveLinks()) link.stalledUntil = 0;
    for (const user of users) user.tokenMode = 'ok';
    await runUntil(clock.now() + 61_000);
    for (const user of users) {
      user.connection.setOnline(true);
      user.connection.actor.send({ type: 'page.visible' });
      user.connection.actor.send({ type: 'page.resumed' });
      if (user.connection.getStatus().state === 'closed') {
        trace(`sim: ${user.label} closed (${user.fatalClose() ?? user.connection.getStatus().lastError?.code ?? 'by the user'}): the user connects again`);
        user.connection.connect();
      }
    }
    const healedAt = clock.now();
    const bound = Math.max(CLIENT.reconnect.maxDelayMs, CLIENT.reconnect.serviceRestartDelayMs) + CLIENT.connectTimeoutMs + 1_000;
    const allOpen = () => users.every((user) => user.connection.getStatus().state === 'open');
    while (!allOpen() && clock.now() - healedAt <= bound) await runUntil(clock.now() + 50);
    for (const user of users) {
      const state = user.connection.getStatus().state;
      if (state !== 'open') throw new InvariantError(`${user.label} not open ${clock.now() - healedAt} ms after healing (bound ${bound} ms): ${state}`);
    }
    // quiesce: answers delivered, subscribes answered, waits for retries over; then the grace periods end
    const quiet = () => queue.length === 0 && channelWatch.settled();
    for (let i = 0; i < 1_300 && !quiet(); i++) await runUntil(clock.now() + 100);
    await runUntil(clock.now() + graceMs + 100);
    for (let i = 0; i < 200 && !quiet(); i++) await runUntil(clock.now() + 100);
    await flushMicrotasks(); // the ops' answers (promises) settle
    await servers.quiet();
    channelWatch.checkConverged();
    stopAll();
    checkStopped(clock, network.sockets);
    return result(true);
  } catch (error) {
    const failure = `t=${clock.now()} ${error instanceof InvariantError ? error.message : `unexpected ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`}`;
    stopAll();
    return result(false, failure);
  }
}


/** What a run with several instances counts (`SimResult.instances`). */
export interface InstanceTally {
  instances: number;
  /** Instance crashes, and the requests to the store they left unanswered (some landed, some not). */
  crashes: number;
  unansweredAtCrash: number;
  /** Times the store was unreachable. */
  engineOutages: number;
  /** Connections that reached another instance than their client's previous one (a reconnect through the load balancer). */
  moves: number;
}

/** The server side of a channel run, one instance or several: what the run, the faults and the watch use. */
export interface SimServers {
  route: SimRoute;
  /** A server change (the feed) on `channel`, through some instance; never throws: what fails is traced. */
  change(changes: Changes, channel: string): void;
  /**
   * The restart fault: one server restarts (losing its log; its links are the caller's to drop);
   * of several, one instance that is up crashes soon (at its next request to the store, so some are
   * in flight), its links end, and it starts again 1 to 20 s later.
   */
  restart(): void;
  /** Several instances only: the store becomes unreachable for a while (every instance closes its clients with 1013). */
  engineOutage?(): void;
  stateOf(channel: string): { data: Record<string, unknown>; members: readonly unknown[] };
  counters(): ServerCounters;
  /** Rules broken outside a frame (the store's, with several instances). */
  check(): void;
  /** Reads what the convergence check compares (the store's answers, when it answers later). */
  quiet(): Promise<void>;
  close(): void;
  tally: InstanceTally;
}

function oneServer(server: SyncServer): SimServers {
  return {
    route: server,
    change: (changes, channel) => {
      // server.change applies the same value rule and limits as client ops (src/sync/values.ts):
      // a value they refuse throws ChangeRefusedError and fails the run as unexpected.
      void server.change(changes, channel);
    },
    restart: () => server.restart(),
    stateOf: (channel) => server.channelState(channel),
    counters: () => server.counters,
    check: () => {},
    quiet: async () => {},
    close: () => server.close(),
    tally: { instances: 1, crashes: 0, unansweredAtCrash: 0, engineOutages: 0, moves: 0 },
  };
}

interface InstanceContext {
  clock: TestClock;
  int(low: number, high: number): number;
  chance(p: number): boolean;
  queue: SimQueue;
  trace(line: string): void;
  random: () => number;
  logSize: number;
  graceMs: number;
  settled(): void;
  applied(id: string): void;
  /** An instance crashed: its links end. */
  crashed(instance: number): void;
  engine?: SimOptions['engine'];
}

/**
 * `instances` servers sharing one engine through sim/engine.ts (its answers on the simulated
 * clock). A dial goes to a random instance that is up (a load balancer), so a client that
 * reconnects may land elsewhere; a crashed instance comes back 1 to 20 s later.
 */
function createInstances(count: number, serverOptions: SyncServerOptions, context: InstanceContext): SimServers {
  const { clock, int, chance, queue, trace, random, logSize, graceMs } = context;
  const timers = serverOptions.timers as NonNullable<SyncServerOptions['timers']>;
  const inner: Engine = context.engine?.({ random, now: () => Math.floor(clock.now()), timers, logSize }) ?? memoryEngine({ random, now: () => Math.floor(clock.now()), timers, logSize });
  const store: SimEngine = createSimEngine(
    { clock, int, chance, queue, trace, settled: context.settled, applied: context.applied, graceMs, channels: [DEFAULT_CHANNEL, ...CHANNEL_NAMES] },
    inner,
  );
  const { onApply: _counted, ...options } = serverOptions; // ops are counted where they land: in the store
  const tally: InstanceTally = { instances: count, crashes: 0, unansweredAtCrash: 0, engineOutages: 0, moves: 0 };
  const every: SyncServer[] = [];
  const slots: Array<{ server: SyncServer; handle: SimEngineHandle } | null> = [];
  const start = (index: number) => {
    const handle = store.connect(index);
    const server = createSyncServer({ ...options, engine: handle });
    every.push(server);
    slots[index] = { server, handle };
  };
  for (let i = 0; i < count; i++) start(i);
  let failure: string | null = null;
  const states = new Map<string, { data: Record<string, unknown>; members: readonly unknown[] }>();
  const up = () => slots.flatMap((slot, instance) => (slot === null ? [] : [{ server: slot.server, instance }]));

  return {
    route: (previous) => {
      const live = up();
      if (live.length === 0) return null;
      const target = live[int(0, live.length - 1)] as { server: SyncServer; instance: number };
      if (previous !== null && previous !== target.instance) tally.moves++;
      return target;
    },
    change(changes, channel) {
      const live = up();
      if (live.length === 0) return trace(`sim: feed on ${channel}: no instance up`);
      const { server, instance } = live[int(0, live.length - 1)] as { server: SyncServer; instance: number };
      const failed = (error: unknown) => {
        if (error instanceof EngineUnavailableError) trace(`sim: feed on ${channel} through instance ${instance}: ${error.message}`);
        else failure ??= `the server change on ${channel} through instance ${instance} failed: ${error instanceof Error ? error.message : String(error)}`;
      };
      try {
        server.change(changes, channel).then(undefined, failed);
      } catch (error) {
        failed(error);
      }
    },
    restart() {
      const live = up();
      if (live.length === 0) return;
      const { instance } = live[int(0, live.length - 1)] as { instance: number };
      const slot = slots[instance] as { server: SyncServer; handle: SimEngineHandle };
      trace(`sim: instance ${instance} will crash`);
      store.crashSoon(slot.handle, int(0, 2_000), () => {
        if (slots[instance] !== slot) return;
        slots[instance] = null;
        tally.crashes++;
        trace(`sim: instance ${instance} crashes`);
        tally.unansweredAtCrash += store.crash(slot.handle);
        context.crashed(instance);
        // The process is gone: its sessions are not told (no grace, no leaves from it), its timers stop.
        slot.server.restart();
        slot.server.close();
        queue.after(int(1_000, 20_000), `instance ${instance} back`, () => {
          trace(`sim: instance ${instance} starts again`);
          start(instance);
        });
      });
    },
    engineOutage() {
      if (!store.available) return;
      tally.engineOutages++;
      store.outage(int(500, 20_000));
    },
    stateOf(channel) {
      const state = states.get(channel);
      if (state === undefined) throw new InvariantError(`the store's state of ${channel} was not read`);
      return state;
    },
    counters() {
      const sum = { ...(every[0] as SyncServer).counters };
      for (const server of every.slice(1)) for (const key of Object.keys(sum) as Array<keyof ServerCounters>) sum[key] += server.counters[key];
      return sum;
    },
    check() {
      const broken = failure ?? store.violation();
      if (broken !== null) throw new InvariantError(broken);
    },
    async quiet() {
      for (const name of [DEFAULT_CHANNEL, ...CHANNEL_NAMES]) {
        const state = await store.state(name);
        const members = state.members.map(({ client, user, info, joinedAt }) => (info === undefined ? { client, user, joinedAt } : { client, user, info, joinedAt }));
        states.set(name, { data: state.data, members });
        // Every instance's copy, where it has one, is the store's document.
        for (const { server, instance } of up()) {
          if (!server.channelNames().includes(name)) continue;
          let copy: Record<string, unknown>;
          try {
            copy = server.channelState(name).data;
          } catch {
            continue; // still loading: nothing to compare
          }
          const [mine, stored] = [JSON.stringify(sortKeys(copy)), JSON.stringify(sortKeys(state.data))];
          if (mine !== stored) throw new InvariantError(`instance ${instance}'s copy of ${name} differs from the store's document:\n  copy  ${mine}\n  store ${stored}`);
          trace(`sim: instance ${instance}'s copy of ${name} is the store's document`);
        }
      }
      this.check();
    },
    close() {
      for (const slot of slots) slot?.server.close();
      store.close();
      Promise.resolve(inner.close()).then(undefined, (error: unknown) => {
        failure ??= `the engine's close failed: ${error instanceof Error ? error.message : String(error)}`;
      });
    },
    tally,
  };
}

