/**
 * The live feed of the test bench: server-side changes at a steady rate, prices of a few
 * symbols (`BTC-USD`, `ETH-USD`, …) on a random walk, applied in batches per timer tick,
 * one patch per change.
 */
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

/** What the feed counts: changes made, and changes the document's size limit refused. */
export interface FeedCounters {
  feedChanges: number;
  feedRefused: number;
}

/**
 * Starts the feed (`feedRatePerSec` > 0) on `channel`; returns the function that stops it.
 * `batch` runs one tick's changes (the server persists a batch once, throttled).
 */
export function startFeed(
  core: SyncServer,
  channel: string,
  feedRatePerSec: number,
  random: () => number,
  stats: FeedCounters,
  batch: (tick: () => void) => void,
): () => void {
  const tickMs = Math.max(SERVER_LIMITS.feedTickMinMs, 1000 / feedRatePerSec);
  const perTick = (feedRatePerSec * tickMs) / 1000;
  const prices = new Map<string, number>();
  const data = core.channelState(channel).data;
  for (const [symbol, base] of FEED_SYMBOLS) {
    const current = data[symbol];
    prices.set(symbol, typeof current === 'number' && current > 0 ? current : base);
  }
  let due = 0;
  const timer = setInterval(() => {
    due += perTick;
    const count = Math.floor(due);
    due -= count;
    batch(() => {
      for (let i = 0; i < count; i++) {
        const [symbol] = FEED_SYMBOLS[Math.floor(random() * FEED_SYMBOLS.length)] ?? FEED_SYMBOLS[0]!;
        const price = Number(((prices.get(symbol) ?? 1) * (1 + (random() - 0.5) * 0.004)).toPrecision(6));
        try {
          core.change({ set: { [symbol]: price } }, channel);
        } catch (error) {
          // A document at maxDataBytes refuses a longer price, a full server the channel: skip it (counted).
          if (!(error instanceof ChangeRefusedError)) throw error;
          stats.feedRefused++;
          continue;
        }
        prices.set(symbol, price);
        stats.feedChanges++;
      }
    });
  }, tickMs);
  return () => clearInterval(timer);
}
