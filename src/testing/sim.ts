/**
 * Seeded fault simulation: the real chart, socket actor, store and sync
 * protocol against the real server logic (`createSyncServer`) over an
 * in-memory network, on a simulated clock, driven by one seeded random source.
 * The same seed replays the same run, step for step. A run speaks the sync
 * protocol's version 1 (one client, this file) or version 2 (several clients
 * holding channels, with tokens, permissions and presence: sim/channels.ts).
 *
 * The network keeps TCP's promise (no reordering inside one socket) and breaks
 * every other one: refused connections, drops without a close frame, closes
 * with any code, stalls (half-open links), latency spikes, garbage and oversized
 * frames, server restarts that lose the replay log, long outages, failing URL
 * providers, clock jumps, offline periods, and late events from replaced sockets.
 * After every step the invariants below are checked; the first one broken ends
 * the run with a message that names it.
 */
import type { Connection } from '../connection.js';
import { createConnectionFactory } from '../connection.js';
import type { SyncServer } from '../server/sync-server.js';
import { createSyncServer } from '../server/sync-server.js';
import { createStore } from '../store.js';
import { createSyncProtocol } from '../sync/client-protocol.js';
import type { WebSocketConstructor } from '../types.js';
import { createFaults, type SimTally } from './sim/faults.js';
import { InvariantError, checkConverged, checkStopped, createStepCheck, watchStatus, watchStore } from './sim/invariants.js';
import { runChannelSimulation, type ChannelTally, type InstanceTally } from './sim/channels.js';
import type { Engine } from '../server/engine.js';
import { createNetwork } from './sim/network.js';
import { createSimQueue } from './sim/queue.js';
import { startRun } from './sim/run.js';

export interface SimOptions {
  seed: number;
  /**
   * The sync protocol of the run: `1`, one client on one document (`createSyncProtocol()`), or
   * `2`, several clients holding channels (`createChannelProtocol()`) with token expiry,
   * permission changes and presence.
   * @default 1 for odd seeds, 2 for even ones
   */
  protocol?: 1 | 2;
  /**
   * Random actions (faults, ops, feed changes, user actions) in one run.
   * @default 200
   */
  steps?: number;
  /** Receives every trace line as it happens (events, states, frames). */
  trace?: (line: string) => void;
  /**
   * Server instances (version 2 runs): with more than one, they share ONE engine whose answers
   * settle on the simulated clock after a seeded delay (sim/engine.ts); each connection goes to a
   * random instance that is up, as through a load balancer; the restart fault becomes an instance
   * crash (its sockets drop, its requests in flight land or not) and a later restart, and an
   * engine outage (every instance closes its clients with 1013) joins the faults. More than one
   * instance makes version 2 the default; `protocol: 1` with it is a RangeError.
   * @default 1 (one server with its own memory engine, answering at once)
   */
  instances?: number;
  /**
   * The engine the instances share (runs with `instances` > 1): called once per run with the
   * run's seeded random source, clock and timers. For testing an engine of your own against the
   * simulator's invariants.
   * @default memoryEngine(options)
   */
  engine?: (options: SimEngineOptions) => Engine;
}

/** What `SimOptions.engine` is given: the run's seeded randomness, simulated clock and timers. */
export interface SimEngineOptions {
  random: () => number;
  /** The simulated time, in whole ms. */
  now: () => number;
  timers: { setTimeout(callback: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
  /** Entries to keep per channel for `readLog`. */
  logSize: number;
}

/** The most instances a run takes. */
const MAX_INSTANCES = 8;

export interface SimResult {
  seed: number;
  /** The sync protocol the run spoke. */
  protocol: 1 | 2;
  ok: boolean;
  /** The broken invariant, with the simulated time. */
  failure?: string;
  /** Outages injected (drops, closes, stalls, restarts, refusals, offline periods). */
  outages: number;
  opsSent: number;
  simulatedMs: number;
  /** The last trace lines before the end (all of them with `trace`). */
  tail: string[];
  /** Version 2 runs: what happened to the channels (see docs/simulation.md). */
  channels?: ChannelTally;
  /** Runs with `instances` > 1: crashes, engine outages, clients moving between instances. */
  instances?: InstanceTally;
}

/** The client's settings in every run: small enough for many outages per run. */
const CLIENT = {
  reconnect: { initialDelayMs: 100, maxDelayMs: 5_000, stableAfterMs: 2_000, serviceRestartDelayMs: 1_000 },
  connectTimeoutMs: 3_000,
  closeTimeoutMs: 1_000,
  heartbeat: { intervalMs: 4_000, timeoutMs: 1_500 },
  maxMessageBytes: 4_096,
  outbox: { limit: 50, overflow: 'reject' as const },
};

/**
 * Runs one seeded simulation: `steps` random actions over the simulated network (sim/network.ts),
 * the invariants checked after each; then heals everything and checks that every client converges
 * on the server's data. Version 2 runs wait for the clients' token functions (promises), hence
 * the promise; the same seed still gives the same run.
 */
export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const instances = options.instances ?? 1;
  if (!Number.isInteger(instances) || instances < 1 || instances > MAX_INSTANCES) {
    throw new RangeError(`runSimulation: instances must be a whole number from 1 to ${MAX_INSTANCES}; received ${String(options.instances)}`);
  }
  if (instances > 1 && options.protocol === 1) {
    throw new RangeError(`runSimulation: instances (${instances}) needs protocol 2 (channels); received protocol 1`);
  }
  if (options.engine !== undefined && instances === 1) {
    throw new TypeError('runSimulation: engine is the store instances share; give it with instances > 1');
  }
  const protocol = options.protocol ?? (instances === 1 && options.seed % 2 === 1 ? 1 : 2);
  return protocol === 1 ? runVersion1(options) : runChannelSimulation(options);
}

/**
 * Version 1: `steps` random actions (sim/faults.ts), the invariants (sim/invariants.ts) checked
 * after each; then heal, and the one client converges on the server's data.
 */
function runVersion1(options: SimOptions): SimResult {
  const { seed, steps = 200 } = options;
  const { random, int, chance, tail, clock, trace } = startRun(options, 60);
  const queue = createSimQueue(clock);

  // ── the server ────────────────────────────────────────────────────────────
  const applyCounts = new Map<string, number>();
  const server: SyncServer = createSyncServer({
    random,
    now: () => clock.now(), // the dedup retention and the hello bound run on simulated time
    logSize: int(3, 40),
    onApply: (id) => applyCounts.set(id, (applyCounts.get(id) ?? 0) + 1),
  });

  // ── the network ───────────────────────────────────────────────────────────
  const network = createNetwork({ clock, int, queue, trace }, server);
  const client = {
    label: '',
    readState: () => ({ data: [connection.model.getData()], rejected: connection.getStatus().counters.rejected }),
  };
  const SimSocket = network.socketClass(client);

  // ── the client ────────────────────────────────────────────────────────────
  const tally: SimTally = { outages: 0, opsSent: 0, urlFailures: 0 };
  const createConnection = createConnectionFactory(() => SimSocket as unknown as WebSocketConstructor);
  const watched = watchStore(createStore());
  const connection: Connection = createConnection({
    ...CLIENT,
    model: watched.store,
    protocol: createSyncProtocol(),
    url: () => {
      if (tally.urlFailures > 0) {
        tally.urlFailures--;
        return chance(0.5) ? Promise.reject(new Error('token service down')) : 'not a url';
      }
      return 'ws://sim.test/';
    },
    random,
    clock,
    now: () => clock.now(),
  });
  const store = connection.model;
  const status = watchStatus(connection, clock, trace, CLIENT.reconnect.stableAfterMs);

  // ── invariants checked after every step ───────────────────────────────────
  const check = createStepCheck({
    connection,
    store,
    sockets: network.socketsOf(client),
    applyCounts,
    outboxLimit: CLIENT.outbox.limit,
    violations: [status.violation, watched.violation],
  });

  /** Runs the queue and the client's timers up to `target`, checking after each step. */
  const runUntil = (target: number) => {
    for (;;) {
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

  // ── what can happen ───────────────────────────────────────────────────────
  const pickAction = createFaults({ seed, random, int, chance, clock, queue, trace, server, network, connection, maxMessageBytes: CLIENT.maxMessageBytes, tally });

  try {
    check();
    for (let step = 0; step < steps; step++) {
      const [, label, run] = pickAction();
      trace(`sim: ${label}`);
      run();
      check();
      runUntil(clock.now() + int(1, 1_500));
    }

    // ── heal, then everything must converge ─────────────────────────────────
    trace('sim: heal');
    network.serverUp = true;
    network.refusing = 0;
    tally.urlFailures = 0;
    network.latencySpikeUntil = 0;
    for (const link of network.liveLinks()) link.stalledUntil = 0;
    // let pending sim events (servers coming back, users reconnecting) settle first
    runUntil(clock.now() + 61_000);
    connection.setOnline(true);
    connection.actor.send({ type: 'page.visible' });
    connection.actor.send({ type: 'page.resumed' });
    if (connection.getStatus().state === 'closed') {
      trace(`sim: client closed (${status.fatalClose() ?? connection.getStatus().lastError?.code ?? 'by the user'}): the user connects again`);
      connection.connect();
    }
    const healedAt = clock.now();
    const bound = Math.max(CLIENT.reconnect.maxDelayMs, CLIENT.reconnect.serviceRestartDelayMs) + CLIENT.connectTimeoutMs + 1_000;
    while (connection.getStatus().state !== 'open' && clock.now() - healedAt <= bound) runUntil(clock.now() + 50);
    if (connection.getStatus().state !== 'open') {
      throw new InvariantError(`not open ${clock.now() - healedAt} ms after healing (bound ${bound} ms): ${connection.getStatus().state}`);
    }
    // quiesce: deliver everything in flight
    for (let i = 0; i < 200 && (queue.length > 0 || connection.getStatus().outboxSize > 0); i++) runUntil(clock.now() + 100);
    checkConverged(connection, server, applyCounts, Array.from({ length: tally.opsSent }, (_, n) => `op-${seed}-${n}`));
    connection.stop();
    checkStopped(clock, network.sockets);
    return { seed, protocol: 1, ok: true, outages: tally.outages, opsSent: tally.opsSent, simulatedMs: clock.now(), tail };
  } catch (error) {
    const failure = `t=${clock.now()} ${error instanceof InvariantError ? error.message : `unexpected ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`}`;
    try {
      connection.stop();
    } catch {
      // already broken
    }
    return { seed, protocol: 1, ok: false, failure, outages: tally.outages, opsSent: tally.opsSent, simulatedMs: clock.now(), tail };
  }
}
