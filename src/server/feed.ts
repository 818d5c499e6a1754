/**
 * The live feed of the test bench: server-side changes at a steady rate, prices of a few
 * symbols (`BTC-USD`, `ETH-USD`, …) on a random walk, applied in batches per timer tick,
 * one patch per change.
 */
import type { Engine } from './engine.js';
import { SERVER_LIMITS } from './server-options.js';
import { ChangeRefusedError, type SyncServer } from './sync-server.js';

const FEED_SYMBOLS: ReadonlyArray<readonly [string, number]> = [
  ['BTC-USD', 64_000],
  ['ETH-USD', 3_200],
  ['SOL-USD', 150],
  ['ADA-USD', 0.45],
  ['DOT-USD', 7],
  ['XRP-USD', 0.6],
];

/** What the feed counts: changes made, changes the document's size limit refused, changes that failed otherwise (a write, the store). */
export interface FeedCounters {
  feedChanges: number;
  feedRefused: number;
  feedFailures: number;
}

/**
 * Starts the feed (`feedRatePerSec` > 0) on `channel`; returns the function that stops it.
 * `batch` runs one tick's changes (the server persists a batch once, throttled). A tick runs only
 * while `mayRun()` says so, asked at every tick (this instance holds the feed's lease and its
 * deadline has not passed: `holdFeedLease`).
 */
export function startFeed(
  core: SyncServer,
  channel: string,
  feedRatePerSec: number,
  random: () => number,
  stats: FeedCounters,
  batch: (tick: () => void) => void,
  mayRun: () => boolean = () => true,
): () => void {
  const tickMs = Math.max(SERVER_LIMITS.feedTickMinMs, 1000 / feedRatePerSec);
  const perTick = (feedRatePerSec * tickMs) / 1000;
  const prices = new Map<string, number>(FEED_SYMBOLS);
  /** The prices go on from the channel's document (a restart from the data file, the feed of another instance before). */
  const goOnFrom = (data: Record<string, unknown>) => {
    for (const [symbol] of FEED_SYMBOLS) {
      const current = data[symbol];
      if (typeof current === 'number' && current > 0) prices.set(symbol, current);
    }
  };
  /** The channel's prices, when it is loaded now; false when it is not (or cannot be). */
  const readPrices = (): boolean => {
    try {
      goOnFrom(core.channelState(channel).data);
      return true;
    } catch (error) {
      if (!(error instanceof ChangeRefusedError)) throw error;
      return false;
    }
  };
  /**
   * The prices are the channel's: read when this instance starts (or takes over) the feed. Until
   * they are, no tick makes a change: a tick from this instance's own prices (the built-in ones,
   * or where it left off before another instance ran the feed) would set them back.
   */
  let pricesRead = false;
  let reading = false;
  /** Reads the channel's prices now, or once the channel is loaded (an engine that answers later). */
  const resume = () => {
    if (readPrices()) {
      pricesRead = true;
      return;
    }
    if (reading) return;
    reading = true;
    core.loadChannel(channel).then(
      () => {
        reading = false;
        pricesRead = running && readPrices();
      },
      () => {
        reading = false; // not loadable now: the next tick tries again
      },
    );
  };
  let running = false;
  let due = 0;
  const timer = setInterval(() => {
    if (!mayRun()) {
      running = false;
      pricesRead = false;
      due = 0;
      return;
    }
    running = true;
    if (!pricesRead) resume();
    if (!pricesRead) return;
    due += perTick;
    const count = Math.floor(due);
    due -= count;
    batch(() => {
      for (let i = 0; i < count; i++) {
        const [symbol] = FEED_SYMBOLS[Math.floor(random() * FEED_SYMBOLS.length)] ?? FEED_SYMBOLS[0]!;
        const price = Number(((prices.get(symbol) ?? 1) * (1 + (random() - 0.5) * 0.004)).toPrecision(6));
        const refused = (error: unknown) => {
          // A document at maxDataBytes refuses a longer price, a full server the channel: skip it
          // (counted). Anything else (the store unavailable: the server closed its clients) is
          // counted too: a timer has nobody to throw to, and the next tick tries again.
          if (error instanceof ChangeRefusedError) stats.feedRefused++;
          else stats.feedFailures++;
        };
        /**
         * A price is taken as the next one's base when its change is made, before it is stored
         * (several changes of a tick, or of the next, are in flight at once). One that fails was
         * not stored: the next tick reads the channel's prices again (its document: every change
         * before the failure that was stored, none after), or the walk would go on from a price
         * nobody saw, a jump of several steps at once.
         */
        const failed = (error: unknown) => {
          refused(error);
          pricesRead = false;
        };
        try {
          core.change({ set: { [symbol]: price } }, channel).then(() => {
            stats.feedChanges++;
          }, failed);
        } catch (error) {
          refused(error);
          continue;
        }
        prices.set(symbol, price);
      }
    });
  }, tickMs);
  return () => clearInterval(timer);
}

/** How long the feed's lease runs without a renewal; it is renewed every third of it. */
export const FEED_LEASE_MS = 10_000;

/**
 * Takes and keeps renewing the lease `feed:<channel>` for `owner` (an instance), so that of the
 * instances sharing an engine exactly one runs the feed, never N times its rate; another takes over
 * within `leaseMs` of its holder dying. The memory engine answers at once: a lone instance holds it
 * from the start.
 *
 * `held()` is false once the lease's deadline passed without a renewal: a renewal that went out at
 * `t` and came back yes keeps the lease in the engine until at least `t + leaseMs`, so the instance
 * stops before the engine can give it to another, whatever happens to the renewals after (one that
 * hangs, a process stalled past the deadline): two instances never run the feed at once, but for
 * the difference between their clocks' rates.
 */
export function holdFeedLease(
  engine: Engine,
  channel: string,
  owner: string,
  options: { now?: () => number; leaseMs?: number } = {},
): { held(): boolean; stop(): void } {
  const name = `feed:${channel}`;
  const now = options.now ?? (() => performance.now());
  const leaseMs = options.leaseMs ?? FEED_LEASE_MS;
  let held = false;
  /** Until when the engine keeps the lease for us at least (the start of the last renewal it said yes to + leaseMs). */
  let deadline = -Infinity;
  let stopped = false;
  const answered = (mine: boolean, sentAt: number) => {
    held = mine && !stopped;
    if (held) deadline = Math.max(deadline, sentAt + leaseMs);
  };
  const renew = () => {
    const sentAt = now();
    try {
      const answer = engine.lease(name, owner, leaseMs);
      if (typeof answer === 'boolean') answered(answer, sentAt);
      else
        answer.then(
          (mine) => answered(mine, sentAt),
          () => {
            held = false; // the store is away: nobody can be sure to hold it
          },
        );
    } catch {
      held = false;
    }
  };
  renew();
  const timer = setInterval(renew, leaseMs / 3);
  timer.unref?.();
  return {
    held: () => held && now() < deadline,
    stop() {
      stopped = true;
      clearInterval(timer);
      if (!held) return;
      held = false;
      try {
        const answer = engine.releaseLease(name, owner);
        if (typeof answer === 'object' && answer !== null) answer.then(undefined, () => {});
      } catch {
        // It runs out by itself within leaseMs.
      }
    },
  };
}
