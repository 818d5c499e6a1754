/**
 * The shared store of a run with several server instances (`SimOptions.instances`): ONE engine
 * (the memory engine unless `SimOptions.engine` gives another) behind a simulated network. Each
 * instance gets its own handle (`connect`), an `Engine` whose every answer is a promise that
 * settles on the simulated clock:
 *
 * ```
 *   instance 1 ──requests (FIFO, seeded delay)──▶ ┌──────────────┐ ──answers, entries, presence──▶ instance 1
 *   instance 2 ──requests (FIFO, seeded delay)──▶ │ shared engine │ ──(one FIFO per instance)─────▶ instance 2
 *                                                  └──────────────┘
 * ```
 *
 * A request lands (runs on the shared engine, atomically) after its delay, in the order its
 * instance sent it, as commands on one connection to a store do; what the engine answers or tells
 * the instance (entries, presence changes) comes back through one FIFO per instance, so a
 * channel's notifications keep their order and follow the `follow` answer they belong to.
 *
 * Faults: `crash` (the instance's requests still in flight land or not, seeded; nothing reaches it
 * again; the store notices the dead instance: its follows end and its presence members start their
 * grace period), and `outage` (every call fails with `EngineUnavailableError`, every instance is
 * told `unavailable`, requests in flight land or not and their answers are lost; the store keeps
 * its data, and instances follow again when it is `available`).
 *
 * The store side is watched: the wrapper follows every channel itself (so, as with a store that
 * outlives its instances, a channel keeps its epoch, log and presence while instances come and
 * go), and checks that each channel's entries come with seqs rising by one, that every follower
 * is told its entries in order without a gap, and counts each op the engine applied.
 */
import { EngineUnavailableError, type Answer, type ChannelListener, type ChannelState, type Engine, type EngineStatus, type Following, type PresenceChange } from '../../server/engine.js';
import { splitMarkKey } from '../../server/marks.js';
import type { Json } from '../../store.js';
import type { TestClock } from '../clock.js';
import type { SimQueue } from './queue.js';

/** What the wrapper draws on. */
export interface SimEngineContext {
  clock: TestClock;
  int(low: number, high: number): number;
  chance(p: number): boolean;
  queue: SimQueue;
  trace(line: string): void;
  /** A promise the run waits for was settled: microtasks must run before the next event. */
  settled(): void;
  /** The engine applied op `n` of `client` on `channel` (the server's `onApply` id: `channel client n`). */
  applied(id: string): void;
  /** The presence grace period: a crashed instance's members leave after it. */
  graceMs: number;
  /** The channels a run uses: the store follows each from the start. */
  channels: readonly string[];
}

/** One instance's handle on the shared engine. */
export interface SimEngineHandle extends Engine {
  readonly instance: number;
}

export interface SimEngine {
  /** A handle for (a new incarnation of) instance `instance`. */
  connect(instance: number): SimEngineHandle;
  /** The instance dies (see the file's comment); returns how many of its requests were unanswered. */
  crash(handle: SimEngineHandle): number;
  /**
   * `crash` calls `die` as soon as the instance sends its next request (so a crash finds requests
   * in flight), or after `ms` when it sends none.
   */
  crashSoon(handle: SimEngineHandle, ms: number, die: () => void): void;
  /** The store is unreachable for `ms`. */
  outage(ms: number): void;
  readonly available: boolean;
  /** The store's own view of a channel (its document and members), read once the run is quiet. */
  state(channel: string): Promise<ChannelState>;
  /** The first rule the engine broke, or null. */
  violation(): string | null;
  /** Ends the store's own follows (the engine itself is the run's to close). */
  close(): void;
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

/** A call the store makes on its own (a dead instance's cleanup): a failure of it changes nothing the run checks. */
function quietly(call: () => Answer<unknown>): void {
  try {
    const answer = call();
    if (isThenable(answer)) answer.then(undefined, () => {});
  } catch {
    // the store's own cleanup: nothing to report
  }
}

/** Wraps `inner`, the one engine every instance shares. */
export function createSimEngine(context: SimEngineContext, inner: Engine): SimEngine {
  const { clock, int, chance, queue, trace, settled, applied, graceMs } = context;
  let available = true;
  let violation: string | null = null;
  const fail = (message: string) => {
    violation ??= message;
  };

  // ── the store's own follows: every channel, for the whole run ──
  const anchors = new Map<string, { epoch: string; seq: number; unfollow: () => Answer<void> }>();
  const anchorListener = (channel: string): ChannelListener => ({
    entries(epoch, entries) {
      const anchor = anchors.get(channel);
      if (anchor === undefined) return;
      for (const entry of entries) {
        if (epoch === anchor.epoch && entry.seq !== anchor.seq + 1) fail(`engine: ${channel} appended seq ${entry.seq} after ${anchor.seq} in epoch ${epoch} (a gap or a repeat)`);
        anchor.epoch = epoch;
        anchor.seq = entry.seq;
      }
    },
    reset(state) {
      const anchor = anchors.get(channel);
      if (anchor !== undefined) Object.assign(anchor, { epoch: state.epoch, seq: state.seq });
    },
    presence() {},
  });
  for (const channel of context.channels) {
    const started = (following: Following) => anchors.set(channel, { epoch: following.epoch, seq: following.seq, unfollow: following.unfollow });
    const answer = inner.follow(channel, anchorListener(channel));
    if (isThenable(answer)) void Promise.resolve(answer).then(started);
    else started(answer);
  }

  interface Follow {
    unfollow: () => Answer<void>;
    ended: boolean;
  }
  /** One incarnation of an instance: its two FIFOs, its requests, its follows and the presence holders it made. */
  interface Incarnation {
    readonly instance: number;
    dead: boolean;
    /** When its last request lands / its last answer arrives: each FIFO keeps its order. */
    toStoreDue: number;
    fromStoreDue: number;
    /** Sent and not yet answered. */
    readonly requests: Set<Request>;
    readonly follows: Set<Follow>;
    /** `channel key` → the member it joined (a crash or an outage detaches them). */
    readonly holders: Map<string, { channel: string; key: string; holder: string }>;
    readonly statusListeners: Set<(status: EngineStatus) => void>;
    /** Armed by `crashSoon`: called once, after the next request is sent. */
    dieSoon: (() => void) | null;
  }
  interface Request {
    landed: boolean;
    /** Decided at a crash or an outage before it landed: it never lands. */
    lost: boolean;
    /** The instance died or the store went away before its answer: it is rejected (or never comes). */
    unanswered: boolean;
  }
  const incarnations = new Map<SimEngineHandle, Incarnation>();
  const unavailable = (label: string) => new EngineUnavailableError(`the simulated store went away (${label})`);

  /**
   * Runs `run` on the instance's side after the store's delay, in order; never for a dead
   * instance. What it settles (an answer, or a delivery an ack waits for) runs before the next event.
   */
  function toInstance(self: Incarnation, label: string, run: () => void): void {
    self.fromStoreDue = Math.max(self.fromStoreDue, clock.now() + int(0, 8));
    queue.at(self.fromStoreDue, `engine→i${self.instance} ${label}`, () => {
      if (self.dead) return;
      run();
      settled();
    });
  }

  /** Sends a request: it lands after a seeded delay (in order) and runs on the shared engine; its answer comes back the same way. */
  function call<T>(self: Incarnation, label: string, run: () => Answer<T>, landed?: (value: T) => void): Promise<T> {
    if (!available) throw new EngineUnavailableError(`the simulated store is unavailable (${label})`);
    if (self.dead) return new Promise<T>(() => {}); // a dead process waits for nothing
    const request: Request = { landed: false, lost: false, unanswered: false };
    self.requests.add(request);
    self.toStoreDue = Math.max(self.toStoreDue, clock.now() + int(0, 8));
    const die = self.dieSoon;
    if (die !== null) {
      self.dieSoon = null;
      queue.after(0, `instance ${self.instance} dies`, die);
    }
    return new Promise<T>((resolve, reject) => {
      const answer = (result: { value: T } | { error: unknown }) =>
        toInstance(self, label, () => {
          self.requests.delete(request);
          if (request.unanswered) reject(unavailable(label));
          else if ('value' in result) resolve(result.value);
          else reject(result.error);
        });
      queue.at(self.toStoreDue, `i${self.instance}→engine ${label}`, () => {
        if (request.lost) return answer({ error: unavailable(label) });
        request.landed = true;
        const take = (result: { value: T } | { error: unknown }) => {
          if ('value' in result) landed?.(result.value);
          answer(result);
        };
        let result: Answer<T>;
        try {
          result = run();
        } catch (error) {
          return take({ error });
        }
        if (!isThenable(result)) return take({ value: result });
        settled();
        Promise.resolve(result).then(
          (value) => take({ value }),
          (error: unknown) => take({ error }),
        );
      });
    });
  }

  /** The store notices an instance's connections broke: its follows end, its members start their grace period. */
  function forget(self: Incarnation): void {
    for (const { channel, key, holder } of self.holders.values()) quietly(() => inner.detach(channel, key, holder, graceMs));
    self.holders.clear();
    for (const follow of self.follows) endFollow(follow);
    self.follows.clear();
  }
  function endFollow(follow: Follow): void {
    if (follow.ended) return;
    follow.ended = true;
    quietly(follow.unfollow);
  }
  /** Requests in flight when the instance died or the store went away: those not landed yet land or not; no answer comes. */
  function orphan(self: Incarnation): number {
    let lost = 0;
    for (const request of self.requests) {
      request.unanswered = true;
      if (!request.landed && chance(0.5)) {
        request.lost = true;
        lost++;
      }
    }
    return lost;
  }

  function connect(instance: number): SimEngineHandle {
    const self: Incarnation = {
      instance,
      dead: false,
      toStoreDue: 0,
      fromStoreDue: 0,
      requests: new Set(),
      follows: new Set(),
      holders: new Map(),
      statusListeners: new Set(),
      dieSoon: null,
    };

    /** What the store tells the instance about a channel: checked, then through the instance's FIFO. */
    const relay = (channel: string, listener: ChannelListener, from: { epoch: string; seq: number }, follow: Follow): ChannelListener => ({
      entries(epoch, entries) {
        for (const entry of entries) {
          if (epoch === from.epoch && entry.seq !== from.seq + 1) fail(`engine: a follower of ${channel} on instance ${instance} was told seq ${entry.seq} after ${from.seq} (epoch ${epoch})`);
          from.epoch = epoch;
          from.seq = entry.seq;
        }
        toInstance(self, `entries ${channel}`, () => {
          if (!follow.ended) listener.entries(epoch, entries);
        });
      },
      reset(state) {
        Object.assign(from, { epoch: state.epoch, seq: state.seq });
        toInstance(self, `reset ${channel}`, () => {
          if (!follow.ended) listener.reset(state);
        });
      },
      presence(change: PresenceChange) {
        toInstance(self, `presence ${channel}`, () => {
          if (!follow.ended) listener.presence(change);
        });
      },
    });

    const forgetHolder = (channel: string, key: string, holder: string) => {
      if (self.holders.get(`${channel} ${key}`)?.holder === holder) self.holders.delete(`${channel} ${key}`);
    };
    const handle: SimEngineHandle = {
      instance,
      follow(channel, listener) {
        const from = { epoch: '', seq: 0 };
        const follow: Follow = { unfollow: () => undefined, ended: false };
        return call(self, `follow ${channel}`, () => {
          const answer = inner.follow(channel, relay(channel, listener, from, follow));
          const started = (following: Following): Following => {
            Object.assign(from, { epoch: following.epoch, seq: following.seq });
            follow.unfollow = following.unfollow;
            self.follows.add(follow);
            // It landed for an instance that died, or a store that went away, meanwhile: it ends now.
            if (self.dead || !available) forget(self);
            return {
              ...following,
              unfollow: () => {
                if (follow.ended) return;
                follow.ended = true;
                self.follows.delete(follow);
                if (!available) return;
                return call(self, `unfollow ${channel}`, () => following.unfollow());
              },
            };
          };
          return isThenable(answer) ? Promise.resolve(answer).then(started) : started(answer);
        });
      },
      append: (channel, changes, op) =>
        call(self, `append ${channel}`, () => inner.append(channel, changes, op), (result) => {
          if (result.status !== 'applied') return;
          if (op?.mark !== undefined) applied(`${channel} ${splitMarkKey(op.mark.key).client} ${op.mark.n}`);
          if (op?.v1 !== undefined) applied(op.v1.id);
        }),
      refuse: (channel, code, op) => call(self, `refuse ${channel}`, () => inner.refuse(channel, code, op)),
      subscribed: (channel, key, acked, at) => call(self, `subscribed ${channel}`, () => inner.subscribed(channel, key, acked, at)),
      claimClient: (client, user, at) => call(self, `claim ${client}`, () => inner.claimClient(client, user, at)),
      readLog: (channel, epoch, since) => call(self, `readLog ${channel}`, () => inner.readLog(channel, epoch, since)),
      join: (channel, member, holder, at) =>
        call(self, `join ${channel}`, () => inner.join(channel, member, holder, at), () => {
          self.holders.set(`${channel} ${member.key}`, { channel, key: member.key, holder });
          if (self.dead || !available) forget(self);
        }),
      leave: (channel, key, holder) => call(self, `leave ${channel}`, () => inner.leave(channel, key, holder), () => forgetHolder(channel, key, holder)),
      detach: (channel, key, holder, ms) => call(self, `detach ${channel}`, () => inner.detach(channel, key, holder, ms), () => forgetHolder(channel, key, holder)),
      lease: (name, owner, ttlMs) => call(self, `lease ${name}`, () => inner.lease(name, owner, ttlMs)),
      releaseLease: (name, owner) => call(self, `release ${name}`, () => inner.releaseLease(name, owner)),
      onStatus(listener) {
        self.statusListeners.add(listener);
        return () => self.statusListeners.delete(listener);
      },
      close() {
        // The instance's own: the shared store is closed by the run.
      },
    };
    incarnations.set(handle, self);
    return handle;
  }

  return {
    connect,
    crash(handle) {
      const self = incarnations.get(handle);
      if (self === undefined) throw new Error(`instance ${handle.instance}: not a live handle of this engine`);
      self.dead = true;
      incarnations.delete(handle);
      const inFlight = self.requests.size;
      const lost = orphan(self);
      trace(`engine: instance ${handle.instance} died with ${inFlight} request(s) unanswered (${lost} never land)`);
      forget(self);
      return inFlight;
    },
    crashSoon(handle, ms, die) {
      const self = incarnations.get(handle);
      if (self === undefined) return;
      let done = false;
      const once = () => {
        if (done) return;
        done = true;
        self.dieSoon = null;
        die();
      };
      self.dieSoon = once;
      queue.after(ms, `instance ${handle.instance} dies (no request)`, once);
    },
    outage(ms) {
      if (!available) return;
      available = false;
      trace(`engine: the store is unreachable for ${ms} ms`);
      for (const self of incarnations.values()) {
        orphan(self);
        forget(self);
        for (const listener of [...self.statusListeners]) listener('unavailable');
      }
      queue.after(ms, 'engine back', () => {
        available = true;
        trace('engine: the store is reachable again');
        for (const self of incarnations.values()) for (const listener of [...self.statusListeners]) listener('available');
      });
    },
    get available() {
      return available;
    },
    async state(channel) {
      const following = await inner.follow(channel, { entries() {}, reset() {}, presence() {} });
      await following.unfollow();
      return { epoch: following.epoch, seq: following.seq, data: following.data as Record<string, Json>, members: following.members };
    },
    violation: () => violation,
    close() {
      for (const anchor of anchors.values()) quietly(anchor.unfollow);
      anchors.clear();
    },
  };
}
