/**
 * Sizes and repetitions per mode. `quick` (the default) finishes in about five
 * minutes on a 2-core machine; `full` repeats more and adds the 10k fan-out
 * (opening 10k statesocket connections alone takes longer than the quick
 * budget); `tiny` (picked by `CI=true`) runs every scenario at toy sizes in
 * about a minute so it cannot rot.
 */
export type Mode = 'tiny' | 'quick' | 'full';

export interface Profile {
  mode: Mode;
  /** Scenario 1: `warmup` patches untimed, then `messages` timed (at most `maxSeconds`), per client process. */
  throughput: { warmup: number; messages: number; maxSeconds: number; repetitions: number };
  /** Scenario 2: `judgedRepetitions` for raw ws and statesocket (the targets compare them), `repetitions` for the others. */
  fanout: { sizes: number[]; ratePerSec: number; windowMs: number; repetitions: number; judgedRepetitions: number; batch: number };
  reconnect: { cycles: number; outageMs: number; settleMs: number };
  storm: { clients: number; outageMs: number; repetitions: number; waitMs: number; batch: number };
  halfOpen: { intervalMs: number; timeoutMs: number; repetitions: number; graceMs: number };
  render: { updates: number; durationMs: number; repetitions: number };
  machine: { events: number; repetitions: number };
  slowConsumer: { connections: number; feedRatePerSec: number; maxBufferedBytes: number; waitMs: number };
  /** Scenario 8: timed subscribes of each kind, whole connections, channels on one connection, drops. */
  channels: { subscribes: number; warmup: number; connects: number; channels: number; drops: number; reconnectWaitMs: number };
  /** Scenario 9: connections × perConnection subscriptions over `channels` names, from `processes` load processes. */
  channelServer: {
    connections: number;
    perConnection: number;
    channels: number;
    processes: number;
    windowMs: number;
    feedRatePerSec: number;
    opsRatePerSec: number;
    batch: number;
  };
  /** Scenario 10: one feed to `connections` receivers (held by `receivers` processes) from each server kind. */
  serverFanout: {
    connections: number;
    receivers: number;
    /** The steady feed, as deliveries a second (changes/s × connections). */
    offeredDeliveriesPerSec: number;
    windowMs: number;
    repetitions: number;
    batch: number;
    /** Saturation: the rate offered, deliveries a second (above what any server here sends). */
    saturationDeliveriesPerSec: number;
    /** Saturation: deliveries (changes × connections) the feed may be ahead of the slowest receiver. */
    aheadDeliveries: number;
  };
  /**
   * Scenario 11: this checkout's server against the one of bench/lib/baseline.ts (before the
   * engine interface), `repetitions` of each in turn. Ops as fast as acks allow: `floodConnections`
   * connections on `floodChannels` channels, `floodWindow` ops in flight each. Feed + ops:
   * `connections` × `perConnection` subscriptions over `channels` names, the feed and ops at
   * scenario 9's rates. Every window `windowMs`.
   */
  /** Scenario 12: a page receiving `messages` in Chromium, statesocket against the bare WebSocket, `repetitions` pairs. */
  browser: { messages: number; repetitions: number };
  engineBaseline: {
    repetitions: number;
    floodConnections: number;
    floodChannels: number;
    floodWindow: number;
    connections: number;
    perConnection: number;
    channels: number;
    feedRatePerSec: number;
    opsRatePerSec: number;
    windowMs: number;
    batch: number;
  };
}

export const PROFILES: Record<Mode, Profile> = {
  tiny: {
    mode: 'tiny',
    throughput: { warmup: 1_000, messages: 2_000, maxSeconds: 2, repetitions: 1 },
    fanout: { sizes: [50], ratePerSec: 4, windowMs: 500, repetitions: 1, judgedRepetitions: 1, batch: 50 },
    reconnect: { cycles: 2, outageMs: 300, settleMs: 50 },
    storm: { clients: 50, outageMs: 300, repetitions: 1, waitMs: 8_000, batch: 50 },
    halfOpen: { intervalMs: 300, timeoutMs: 200, repetitions: 1, graceMs: 500 },
    render: { updates: 5_000, durationMs: 500, repetitions: 1 },
    machine: { events: 500, repetitions: 5 },
    slowConsumer: { connections: 10, feedRatePerSec: 10_000, maxBufferedBytes: 262_144, waitMs: 20_000 },
    channels: { subscribes: 30, warmup: 5, connects: 5, channels: 100, drops: 1, reconnectWaitMs: 100 },
    channelServer: { connections: 50, perConnection: 10, channels: 500, processes: 1, windowMs: 300, feedRatePerSec: 200, opsRatePerSec: 100, batch: 25 },
    serverFanout: { connections: 50, receivers: 1, offeredDeliveriesPerSec: 1_000, windowMs: 500, repetitions: 1, batch: 25, saturationDeliveriesPerSec: 100_000, aheadDeliveries: 10_000 },
    browser: { messages: 2_000, repetitions: 1 },
    engineBaseline: { repetitions: 1, floodConnections: 10, floodChannels: 2, floodWindow: 8, connections: 20, perConnection: 5, channels: 100, feedRatePerSec: 200, opsRatePerSec: 100, windowMs: 300, batch: 25 },
  },
  quick: {
    mode: 'quick',
    throughput: { warmup: 60_000, messages: 200_000, maxSeconds: 1.2, repetitions: 5 },
    fanout: { sizes: [1_000], ratePerSec: 2, windowMs: 3_000, repetitions: 1, judgedRepetitions: 5, batch: 500 },
    reconnect: { cycles: 20, outageMs: 300, settleMs: 50 },
    storm: { clients: 1_000, outageMs: 300, repetitions: 1, waitMs: 15_000, batch: 250 },
    halfOpen: { intervalMs: 500, timeoutMs: 250, repetitions: 3, graceMs: 500 },
    render: { updates: 50_000, durationMs: 1_000, repetitions: 1 },
    machine: { events: 20_000, repetitions: 5 },
    slowConsumer: { connections: 50, feedRatePerSec: 10_000, maxBufferedBytes: 262_144, waitMs: 30_000 },
    channels: { subscribes: 500, warmup: 20, connects: 50, channels: 1_000, drops: 5, reconnectWaitMs: 100 },
    channelServer: { connections: 1_000, perConnection: 10, channels: 10_000, processes: 2, windowMs: 3_000, feedRatePerSec: 1_000, opsRatePerSec: 500, batch: 25 },
    serverFanout: { connections: 1_000, receivers: 2, offeredDeliveriesPerSec: 20_000, windowMs: 3_000, repetitions: 1, batch: 25, saturationDeliveriesPerSec: 500_000, aheadDeliveries: 100_000 },
    browser: { messages: 20_000, repetitions: 5 },
    engineBaseline: { repetitions: 5, floodConnections: 20, floodChannels: 4, floodWindow: 16, connections: 500, perConnection: 10, channels: 5_000, feedRatePerSec: 1_000, opsRatePerSec: 500, windowMs: 2_000, batch: 25 },
  },
  full: {
    mode: 'full',
    throughput: { warmup: 60_000, messages: 200_000, maxSeconds: 5, repetitions: 7 },
    fanout: { sizes: [1_000, 10_000], ratePerSec: 2, windowMs: 5_000, repetitions: 3, judgedRepetitions: 5, batch: 500 },
    reconnect: { cycles: 20, outageMs: 300, settleMs: 150 },
    storm: { clients: 1_000, outageMs: 300, repetitions: 3, waitMs: 15_000, batch: 250 },
    halfOpen: { intervalMs: 1_000, timeoutMs: 500, repetitions: 7, graceMs: 1_000 },
    render: { updates: 50_000, durationMs: 1_000, repetitions: 7 },
    machine: { events: 30_000, repetitions: 5 },
    slowConsumer: { connections: 50, feedRatePerSec: 10_000, maxBufferedBytes: 262_144, waitMs: 30_000 },
    channels: { subscribes: 2_000, warmup: 50, connects: 200, channels: 1_000, drops: 7, reconnectWaitMs: 100 },
    channelServer: { connections: 1_000, perConnection: 10, channels: 10_000, processes: 2, windowMs: 10_000, feedRatePerSec: 1_000, opsRatePerSec: 500, batch: 25 },
    serverFanout: { connections: 5_000, receivers: 2, offeredDeliveriesPerSec: 20_000, windowMs: 5_000, repetitions: 3, batch: 25, saturationDeliveriesPerSec: 500_000, aheadDeliveries: 100_000 },
    browser: { messages: 20_000, repetitions: 5 },
    engineBaseline: { repetitions: 5, floodConnections: 20, floodChannels: 4, floodWindow: 16, connections: 1_000, perConnection: 10, channels: 10_000, feedRatePerSec: 1_000, opsRatePerSec: 500, windowMs: 5_000, batch: 25 },
  },
};

export const SCENARIOS = ['throughput', 'fanout', 'reconnect', 'storm', 'half-open', 'render', 'machine', 'slow-consumer', 'channels', 'channel-server', 'server-fanout', 'engine-baseline', 'browser'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

/** `LIBRARIES` rotated by `rep`, so no library always runs first (or last) on a drifting machine. */
export function rotate<T>(items: readonly T[], rep: number): T[] {
  const k = rep % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
