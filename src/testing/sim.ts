/**
 * Seeded fault simulation: the real chart, socket actor, store and sync
 * protocol against the real server logic (`createSyncServer`) over an
 * in-memory network, on a simulated clock, driven by one seeded random source.
 * The same seed replays the same run, step for step.
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
import { stateNameOf } from '../status.js';
import { isStatesocketError } from '../errors.js';
import type { Peer, Session, SyncServer } from '../server/sync-server.js';
import { createSyncServer } from '../server/sync-server.js';
import { createStore, type Store, type StoreData } from '../store.js';
import { createOp, createSyncProtocol } from '../sync/client-protocol.js';
import type { Frame, WebSocketConstructor, WebSocketLike } from '../types.js';
import { TestClock, seededRandom } from './clock.js';

export interface SimOptions {
  seed: number;
  /**
   * Random actions (faults, ops, feed changes, user actions) in one run.
   * @default 200
   */
  steps?: number;
  /** Receives every trace line as it happens (events, states, frames). */
  trace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** The broken invariant, with the simulated time. */
  failure?: string;
  /** Outages injected (drops, closes, stalls, restarts, refusals, offline periods). */
  outages: number;
  opsSent: number;
  simulatedMs: number;
  /** The last trace lines before the end (all of them with `trace`). */
  tail: string[];
}

class InvariantError extends Error {}

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** The client's settings in every run: small enough for many outages per run. */
const CLIENT = {
  reconnect: { initialDelayMs: 100, maxDelayMs: 5_000, stableAfterMs: 2_000, serviceRestartDelayMs: 1_000 },
  connectTimeoutMs: 3_000,
  closeTimeoutMs: 1_000,
  heartbeat: { intervalMs: 4_000, timeoutMs: 1_500 },
  maxMessageBytes: 4_096,
  outbox: { limit: 50, overflow: 'reject' as const },
};

interface QueuedEvent {
  at: number;
  order: number;
  label: string;
  run: () => void;
}

export function runSimulation(options: SimOptions): SimResult {
  const { seed, steps = 200 } = options;
  const random = seededRandom(seed);
  const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const chance = (p: number) => random() < p;

  const tail: string[] = [];
  const clock = new TestClock();
  const trace = (line: string) => {
    const text = `t=${clock.now()} ${line}`;
    options.trace?.(text);
    tail.push(text);
    if (tail.length > 60 && options.trace === undefined) tail.shift();
  };

  // ── the simulator's own event queue (separate from the client's timers) ─────
  const queue: QueuedEvent[] = [];
  let order = 0;
  const at = (time: number, label: string, run: () => void) => {
    const event = { at: time, order: order++, label, run };
    let i = queue.length;
    while (i > 0 && (queue[i - 1] as QueuedEvent).at > time) i--;
    queue.splice(i, 0, event);
  };
  const after = (ms: number, label: string, run: () => void) => at(clock.now() + ms, label, run);

  // ── the server ────────────────────────────────────────────────────────────
  const applyCounts = new Map<string, number>();
  const server: SyncServer = createSyncServer({
    random,
    now: () => clock.now(), // the dedup retention and the hello bound run on simulated time
    logSize: int(3, 40),
    onApply: (id) => applyCounts.set(id, (applyCounts.get(id) ?? 0) + 1),
  });
  let serverUp = true;
  let refusing = 0; // pending refusals of new connections

  // ── the network ───────────────────────────────────────────────────────────
  let latencyBase = int(1, 20);
  let latencySpikeUntil = 0;
  const latency = () => (clock.now() < latencySpikeUntil ? int(200, 2_000) : latencyBase + int(0, 5));

  interface Delivery {
    due: number;
    label: string;
    run: () => void;
  }

  class Link {
    stalledUntil = 0;
    session: Session | null = null;
    serverGone = false;
    /** One FIFO per direction, drained by one pump each: TCP never reorders inside a socket. */
    private readonly pending = { toClient: [] as Delivery[], toServer: [] as Delivery[] };
    constructor(readonly socket: SimSocket) {}

    /** Schedules an in-order delivery in one direction; a stall holds it and everything behind it. */
    deliver(direction: 'toClient' | 'toServer', label: string, run: () => void) {
      const queue = this.pending[direction];
      const due = Math.max(clock.now() + latency(), queue.at(-1)?.due ?? 0);
      queue.push({ due, label, run });
      if (queue.length === 1) this.schedulePump(direction);
    }

    private schedulePump(direction: 'toClient' | 'toServer') {
      const head = this.pending[direction][0];
      if (head !== undefined) at(Math.max(head.due, this.stalledUntil), head.label, () => this.pump(direction));
    }

    private pump(direction: 'toClient' | 'toServer') {
      const queue = this.pending[direction];
      while (queue.length > 0 && (queue[0] as Delivery).due <= clock.now() && clock.now() >= this.stalledUntil) {
        (queue.shift() as Delivery).run();
      }
      // Everything that arrived together is one read, as TCP coalesces segments (after a stall, a burst).
      if (direction === 'toClient') this.socket.endRead();
      this.schedulePump(direction);
    }

    /** The server side forgets the connection. */
    serverSideGone() {
      if (this.serverGone) return;
      this.serverGone = true;
      this.session?.closed();
      links.delete(this);
    }
  }

  const links = new Set<Link>();
  const sockets: SimSocket[] = [];

  class SimSocket implements WebSocketLike {
    readyState = CONNECTING;
    bufferedAmount = 0;
    binaryType = 'blob';
    /* eslint-disable @typescript-eslint/no-explicit-any */
    onopen: ((event: any) => void) | null = null;
    onmessage: ((event: any) => void) | null = null;
    onerror: ((event: any) => void) | null = null;
    onclose: ((event: any) => void) | null = null;
    onreadend: (() => void) | null = null;
    /* eslint-enable @typescript-eslint/no-explicit-any */
    readonly id = sockets.length + 1;
    readonly link = new Link(this);

    constructor(readonly url: string) {
      sockets.push(this);
      const refused = !serverUp || refusing > 0;
      if (refusing > 0) refusing--;
      trace(`net: socket#${this.id} dials ${refused ? '(will be refused)' : ''}`);
      after(latency(), `handshake socket#${this.id}`, () => {
        if (this.readyState !== CONNECTING) return;
        if (refused || !serverUp) {
          this.readyState = CLOSED;
          this.onerror?.({ message: 'connect ECONNREFUSED' });
          this.onclose?.({ code: 1006, reason: '', wasClean: false });
          return;
        }
        this.readyState = OPEN;
        links.add(this.link);
        const link = this.link;
        const peer: Peer = {
          send: (frame) => {
            if (link.serverGone) return;
            link.deliver('toClient', `s→c socket#${this.id}`, () => this.arrive(frame));
          },
          close: (code, reason) => {
            link.serverSideGone();
            link.deliver('toClient', `close ${code} socket#${this.id}`, () => this.closedBy(code, reason, true));
          },
          bufferedAmount: 0,
        };
        link.session = server.connect(peer, { urlToken: null });
        this.onopen?.({});
      });
    }

    /** The frames of the read in progress, and the client as it was before it. */
    private read: { frames: string[]; data: unknown; rejected: number } | null = null;

    private arrive(frame: string) {
      if (this.readyState !== OPEN) return;
      trace(`s→c socket#${this.id} ${frame.length > 120 ? `${frame.slice(0, 120)}… (${frame.length} chars)` : frame}`);
      this.read ??= { frames: [], data: connection.model.getData(), rejected: connection.getStatus().counters.rejected };
      this.read.frames.push(frame);
      this.onmessage?.({ data: frame });
    }

    /** The read is over: the client applies its frames together. */
    endRead() {
      const read = this.read;
      if (read === null) return;
      this.read = null;
      if (read.frames.length > 1) trace(`net: socket#${this.id} reads ${read.frames.length} frames at once`);
      this.onreadend?.();
      // rejected frames never change the model: a read of nothing but rejected frames leaves it as it was
      const rejected = connection.getStatus().counters.rejected - read.rejected;
      if (rejected >= read.frames.length && connection.model.getData() !== read.data) {
        throw new InvariantError(`rejected frames changed the model: ${read.frames.map((f) => f.slice(0, 60)).join(' | ')}`);
      }
    }

    closedBy(code: number, reason: string, wasClean: boolean) {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      trace(`net: socket#${this.id} closed ${code}${reason ? ` ${reason}` : ''}`);
      this.onclose?.({ code, reason, wasClean });
    }

    send(data: Frame): void {
      if (this.readyState !== OPEN) return;
      const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
      trace(`c→s socket#${this.id} ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`);
      const link = this.link;
      link.deliver('toServer', `c→s socket#${this.id}`, () => {
        if (!link.serverGone) link.session?.receive(text);
      });
    }

    close(code?: number, reason?: string): void {
      if (this.readyState === CLOSED || this.readyState === 2) return;
      const wasOpen = this.readyState === OPEN;
      this.readyState = 2;
      const link = this.link;
      if (!wasOpen) {
        after(0, `abort socket#${this.id}`, () => this.closedBy(1006, '', false));
        return;
      }
      link.deliver('toServer', `close→s socket#${this.id}`, () => {
        link.serverSideGone();
        link.deliver('toClient', `close-ack socket#${this.id}`, () => this.closedBy(code ?? 1005, reason ?? '', true));
      });
    }

    terminate(): void {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      const link = this.link;
      after(latency(), `fin socket#${this.id}`, () => link.serverSideGone());
    }

    /** The connection dies without a close frame: the client sees 1006 (after latency), the server forgets it. */
    drop() {
      const link = this.link;
      link.serverSideGone();
      after(latency(), `drop socket#${this.id}`, () => this.closedBy(1006, '', false));
    }
  }

  // ── the client ────────────────────────────────────────────────────────────
  let urlFailures = 0;
  const createConnection = createConnectionFactory(() => SimSocket as unknown as WebSocketConstructor);
  // The real store, watched: a message it refuses must leave its data exactly as it was.
  const realStore = createStore();
  let storeViolation: string | null = null;
  // Everything but `update` is the real store's (its members are closures, so delegation is enough).
  const watchedStore = Object.create(realStore) as Store;
  watchedStore.update = (message) => {
    const before = realStore.getData();
    try {
      realStore.update(message);
    } catch (error) {
      if (realStore.getData() !== before) {
        storeViolation ??= `a message the store refused changed its data: ${JSON.stringify(message).slice(0, 80)}`;
      }
      throw error;
    }
  };
  const connection: Connection = createConnection({
    ...CLIENT,
    model: watchedStore,
    protocol: createSyncProtocol(),
    url: () => {
      if (urlFailures > 0) {
        urlFailures--;
        return chance(0.5) ? Promise.reject(new Error('token service down')) : 'not a url';
      }
      return 'ws://sim.test/';
    },
    random,
    clock,
    now: () => clock.now(),
  });
  const store = connection.model;

  let outages = 0;
  let opsSent = 0;
  let lastState = stateNameOf(connection.actor.getSnapshot());
  let lastPosition = store.position();
  let attemptAtConnect = 0;
  let openedAt: number | null = null;
  let fatalClose: string | null = null;
  /** Broken in a subscriber (which must not throw into XState): reported by the next check. */
  let violation: string | null = null;

  connection.subscribe((status) => {
    if (status.state !== lastState) {
      trace(
        `client: ${lastState} → ${status.state}${status.lastError && status.state !== 'open' ? ` (${status.lastError.code}${status.lastError.closeCode ? ` ${status.lastError.closeCode}` : ''})` : ''} attempt ${status.attempt}`,
      );
      if (status.state === 'connecting') attemptAtConnect = status.attempt;
      if (status.state === 'open') openedAt = clock.now();
      if (status.state === 'errored' && openedAt !== null && lastState === 'open') {
        // the attempt counter resets only after a connection stayed open for stableAfterMs
        if (clock.now() - openedAt < CLIENT.reconnect.stableAfterMs && status.attempt < attemptAtConnect) {
          violation ??= (
            `attempt counter reset after ${clock.now() - openedAt} ms open (< stableAfterMs ${CLIENT.reconnect.stableAfterMs}): ${attemptAtConnect} → ${status.attempt}`
          );
        }
      }
      if (status.state === 'closed' && status.lastError?.code === 'ERR_FATAL_CLOSE') {
        fatalClose = `fatal close ${status.lastError.closeCode}`;
      }
      lastState = status.state;
    }
  });

  // ── invariants checked after every step ───────────────────────────────────
  const check = () => {
    if (violation !== null) throw new InvariantError(violation);
    if (storeViolation !== null) throw new InvariantError(storeViolation);
    const snapshot = connection.actor.getSnapshot();
    if (snapshot.status !== 'active') throw new InvariantError(`the actor is ${snapshot.status}: ${String(snapshot.error)}`);
    const state = stateNameOf(snapshot);
    if (!['idle', 'connecting', 'open', 'errored', 'closed'].includes(state)) throw new InvariantError(`invalid state ${state}`);
    const attached = sockets.filter((s) => s.readyState !== CLOSED && s.onmessage !== null);
    if (attached.length > 1) throw new InvariantError(`${attached.length} live sockets: #${attached.map((s) => s.id).join(', #')}`);
    const { outbox } = snapshot.context;
    if (outbox.length > CLIENT.outbox.limit) throw new InvariantError(`outbox holds ${outbox.length} > limit ${CLIENT.outbox.limit}`);
    for (let i = 1; i < outbox.length; i++) {
      if ((outbox[i] as { id: number }).id <= (outbox[i - 1] as { id: number }).id) throw new InvariantError('the outbox reordered');
    }
    const position = store.position();
    if (position !== null && lastPosition !== null && position.epoch === lastPosition.epoch && position.seq < lastPosition.seq) {
      throw new InvariantError(`seq went backwards: ${lastPosition.seq} → ${position.seq} in epoch ${position.epoch}`);
    }
    if (position !== null) lastPosition = position;
    for (const [id, count] of applyCounts) if (count > 1) throw new InvariantError(`op ${id} applied ${count} times`);
  };

  /** Runs the queue and the client's timers up to `target`, checking after each step. */
  const runUntil = (target: number) => {
    for (;;) {
      const queued = queue[0]?.at ?? Infinity;
      const timer = clock.nextDeadline() ?? Infinity;
      const next = Math.min(queued, timer);
      if (next > target) break;
      if (timer <= queued) clock.advance(Math.max(0, timer - clock.now()));
      else {
        clock.advance(Math.max(0, queued - clock.now()));
        const event = queue.shift() as QueuedEvent;
        event.run();
      }
      check();
    }
    if (target > clock.now()) clock.advance(target - clock.now());
    check();
  };

  // ── what can happen ───────────────────────────────────────────────────────
  const liveLinks = () => [...links];
  const actions: Array<[number, string, () => void]> = [
    [10, 'op', () => {
      const id = `op-${seed}-${opsSent}`;
      try {
        connection.send(createOp({ set: { [`c${opsSent % 40}`]: opsSent } }, id));
        opsSent++;
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
      outages++;
      for (const link of liveLinks()) link.socket.drop();
    }],
    [3, 'close', () => {
      outages++;
      const code = [1000, 1001, 1011, 1012, 1013, 1006 /* as a drop */, 4401][int(0, chance(0.97) ? 5 : 6)] as number;
      for (const link of liveLinks()) {
        if (code === 1006) link.socket.drop();
        else if (!link.serverGone) closeFromServer(link, code);
      }
    }],
    [3, 'stall', () => {
      outages++;
      const ms = int(500, 8_000);
      for (const link of liveLinks()) link.stalledUntil = clock.now() + ms;
      trace(`sim: stall ${ms} ms`);
    }],
    [2, 'latency spike', () => {
      latencySpikeUntil = clock.now() + int(500, 5_000);
    }],
    [2, 'refuse', () => {
      outages++;
      refusing += int(1, 4);
    }],
    [2, 'restart', () => {
      outages++;
      server.restart();
      for (const link of liveLinks()) link.socket.drop();
    }],
    [1, 'outage', () => {
      outages++;
      serverUp = false;
      for (const link of liveLinks()) link.socket.drop();
      after(int(5_000, 60_000), 'server back', () => {
        serverUp = true;
        trace('sim: server back up');
      });
    }],
    [2, 'garbage', () => {
      for (const link of liveLinks()) link.deliver('toClient', 'garbage', () => (link.socket as unknown as { arrive(f: string): void }).arrive('{"type":"patch",'));
    }],
    [1, 'oversized', () => {
      const frame = JSON.stringify({ type: 'patch', epoch: server.epoch, seq: server.seq + 1, set: { big: 'x'.repeat(CLIENT.maxMessageBytes) } });
      for (const link of liveLinks()) link.deliver('toClient', 'oversized', () => (link.socket as unknown as { arrive(f: string): void }).arrive(frame));
    }],
    [1, 'url failure', () => {
      urlFailures += int(1, 3);
    }],
    [1, 'clock jump', () => {
      const ms = int(10_000, 300_000);
      trace(`sim: clock jumps ${ms} ms (sleep)`);
      clock.jump(ms);
    }],
    [1, 'offline', () => {
      outages++;
      connection.setOnline(false);
      after(int(100, 10_000), 'online', () => connection.setOnline(true));
    }],
    [1, 'page hidden', () => {
      connection.actor.send({ type: 'page.hidden' });
      after(int(100, 20_000), 'page visible', () => connection.actor.send({ type: 'page.visible' }));
    }],
    [1, 'back-forward cache', () => {
      outages++;
      connection.actor.send({ type: 'page.suspended' });
      after(int(100, 20_000), 'page resumed', () => connection.actor.send({ type: 'page.resumed' }));
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
        after(int(10, 3_000), 'user connect', () => connection.connect());
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

  function closeFromServer(link: Link, code: number) {
    link.serverSideGone();
    link.deliver('toClient', `close ${code}`, () => link.socket.closedBy(code, code === 4401 ? 'unauthorized' : 'closing', true));
  }

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
    serverUp = true;
    refusing = 0;
    urlFailures = 0;
    latencySpikeUntil = 0;
    for (const link of links) link.stalledUntil = 0;
    // let pending sim events (servers coming back, users reconnecting) settle first
    runUntil(clock.now() + 61_000);
    connection.setOnline(true);
    connection.actor.send({ type: 'page.visible' });
    connection.actor.send({ type: 'page.resumed' });
    if (connection.getStatus().state === 'closed') {
      trace(`sim: client closed (${fatalClose ?? connection.getStatus().lastError?.code ?? 'by the user'}): the user connects again`);
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
    const outbox = connection.getStatus().outboxSize;
    if (outbox > 0) throw new InvariantError(`${outbox} op(s) still unacknowledged after healing`);
    const expected = server.data();
    const actual = connection.model.getData();
    if (JSON.stringify(sortKeys(actual)) !== JSON.stringify(sortKeys(expected))) {
      throw new InvariantError(`model differs from the server's data:\n  client ${JSON.stringify(sortKeys(actual))}\n  server ${JSON.stringify(sortKeys(expected))}`);
    }
    for (let n = 0; n < opsSent; n++) {
      const id = `op-${seed}-${n}`;
      if (applyCounts.get(id) !== 1) throw new InvariantError(`op ${id} applied ${applyCounts.get(id) ?? 0} times`);
    }
    connection.stop();
    if (clock.pendingTimers > 0) throw new InvariantError(`${clock.pendingTimers} timer(s) left after stop()`);
    const live = sockets.filter((s) => s.readyState !== CLOSED && s.onmessage !== null);
    if (live.length > 0) throw new InvariantError(`${live.length} socket(s) left after stop()`);
    return { seed, ok: true, outages, opsSent, simulatedMs: clock.now(), tail };
  } catch (error) {
    const failure = `t=${clock.now()} ${error instanceof InvariantError ? error.message : `unexpected ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`}`;
    try {
      connection.stop();
    } catch {
      // already broken
    }
    return { seed, ok: false, failure, outages, opsSent, simulatedMs: clock.now(), tail };
  }

  function sortKeys(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}
