/**
 * Scenarios 8 and 9, server side: the reference server (`startSyncServer` from
 * `statesocket/server`, the real one, not the bench server of bench/server.ts) in a process
 * of its own, started with --expose-gc so its heap can be read after GC. The parent drives it
 * over IPC (never over the network, so a loaded server cannot delay its own control channel):
 *
 * - `heap`: heap, external and RSS after a forced GC, with the server's counters.
 * - `eld {windowMs}`: the event-loop delay (`monitorEventLoopDelay`, 1 ms resolution) and the
 *   process's CPU time over a window.
 * - `seed {channels, keys}`: `keys` rows set on each channel named.
 * - `feed {prefix, count, ratePerSec}` / `feed-stop`: server-side changes (`handle.change`), one
 *   row each, round robin over the channels at a steady rate: each reaches the channel's holders
 *   as one patch, as the reference server's `--feed-rate` does for its one feed channel.
 * - `feed-count {prefix, count, total, perTick}`: `total` such changes, `perTick` a tick, then `fed`.
 * - `drop-and-change {prefix, count}`: the real `/control/drop` fault (every socket terminated,
 *   the clients see 1006), then, before any client can be back, one change on each channel: a
 *   client that resumes from its position gets that patch by replay.
 * - `stats`: `handle.stats()`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { NodeServerOptions } from '../../src/server/server-options.js';
import type { RunningServer } from '../../src/server/start.js';
import type { Changes } from '../../src/sync/messages.js';
import type { Json } from '../../src/store.js';
import { next, on, send } from '../lib/ipc.js';
import { sleep, wallNow } from '../lib/time.js';
import { rowFor } from '../wire.js';

export interface SyncServerParams {
  /** Limits raised for the bench (the scenarios say which, and why). */
  options: Pick<NodeServerOptions, 'maxConnectionsPerAddress' | 'maxConnections' | 'maxChannelsPerConnection' | 'maxChannelsInMemory'>;
}

/** The feed's timer period: changes due are applied in one batch per tick, as the reference feed does. */
export const FEED_TICK_MS = 10;
/** The event-loop delay histogram's sampling period, ms (the smallest Node allows). */
export const ELD_RESOLUTION_MS = 1;

export interface HeapReading {
  heapUsed: number;
  external: number;
  rss: number;
}

/** Heap, external memory and RSS after a forced GC (the process runs with node --expose-gc). */
export async function heapAfterGc(): Promise<HeapReading> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('this bench role needs node --expose-gc');
  // Several passes with a turn of the loop between them: sockets and timers released by the last
  // pass's finalizers are collected by the next.
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, external: usage.external + usage.arrayBuffers, rss: usage.rss };
}

/**
 * What the role needs of a server: the part of `startSyncServer`'s answer that the reference
 * server has had since before issue 14 (commit 7a19d3a), so the engine-baseline scenario runs
 * this same role over the server built from that commit (bench/lib/baseline.ts).
 */
export type BenchSyncServer = Pick<RunningServer, 'port' | 'url' | 'controlToken' | 'stats' | 'close'> & {
  change(changes: Changes, channel: string): unknown;
};

/** `startSyncServer` as the role calls it: this checkout's, or the baseline's. */
export type StartBenchSyncServer = (options: SyncServerParams['options'] & { host: string; port: number; control: true }) => Promise<BenchSyncServer>;

export async function syncServerRole(params: SyncServerParams, startSyncServer: StartBenchSyncServer): Promise<never> {
  const server = await startSyncServer({ host: '127.0.0.1', port: 0, control: true, ...params.options });
  const controlToken = server.controlToken!;
  let feedTimer: NodeJS.Timeout | undefined;
  let feedChanges = 0;
  let changeSeq = 0;
  const changeOne = (channel: string) => {
    changeSeq++;
    server.change({ set: { [`row-${changeSeq % 100}`]: rowFor(changeSeq) as unknown as Json } }, channel);
  };

  on('heap', () => {
    void heapAfterGc().then((heap) => send({ type: 'heap', ...heap, stats: server.stats() }));
  });
  on('stats', () => void send({ type: 'stats', stats: server.stats() }));
  on('eld', (message) => {
    const windowMs = Number(message.windowMs);
    const histogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    const cpuBefore = process.cpuUsage();
    const started = wallNow();
    histogram.enable();
    void sleep(windowMs).then(() => {
      histogram.disable();
      const elapsedMs = wallNow() - started;
      const cpu = process.cpuUsage(cpuBefore);
      void send({
        type: 'eld',
        p50Ms: histogram.percentile(50) / 1e6,
        p99Ms: histogram.percentile(99) / 1e6,
        maxMs: histogram.max / 1e6,
        meanMs: histogram.mean / 1e6,
        samples: histogram.count,
        cpuShare: (cpu.user + cpu.system) / 1000 / elapsedMs,
        elapsedMs,
      });
    });
  });
  on('seed', (message) => {
    const set: Record<string, Json> = {};
    for (let k = 0; k < Number(message.keys); k++) set[`row-${k}`] = rowFor(k + 1) as unknown as Json;
    for (const channel of message.channels as string[]) server.change({ set }, channel);
    void send({ type: 'seeded' });
  });
  on('feed', (message) => {
    clearInterval(feedTimer);
    const prefix = String(message.prefix);
    const count = Number(message.count);
    const ratePerSec = Number(message.ratePerSec);
    const started = wallNow();
    let applied = 0;
    let cursor = 0;
    feedTimer = setInterval(() => {
      const due = Math.floor(((wallNow() - started) * ratePerSec) / 1000);
      for (; applied < due; applied++) {
        changeOne(`${prefix}${cursor}`);
        cursor = (cursor + 1) % count;
        feedChanges++;
      }
    }, FEED_TICK_MS);
    void send({ type: 'feeding' });
  });
  // A fixed number of changes (`total`, `perTick` per tick, round robin as `feed`): the same work
  // for two servers whatever their speed (bench/probes/feed-ops-instructions.ts).
  on('feed-count', (message) => {
    clearInterval(feedTimer);
    const prefix = String(message.prefix);
    const count = Number(message.count);
    const total = Number(message.total);
    const perTick = Number(message.perTick);
    let cursor = 0;
    let made = 0;
    feedTimer = setInterval(() => {
      for (let i = 0; i < perTick && made < total; i++, made++) {
        changeOne(`${prefix}${cursor}`);
        cursor = (cursor + 1) % count;
      }
      if (made < total) return;
      clearInterval(feedTimer);
      void send({ type: 'fed', changes: made });
    }, FEED_TICK_MS);
  });
  on('feed-stop', () => {
    clearInterval(feedTimer);
    void send({ type: 'feed-stopped', changes: feedChanges });
  });
  on('drop-and-change', (message) => {
    const prefix = String(message.prefix);
    const count = Number(message.count);
    const at = wallNow();
    fetch(`http://127.0.0.1:${server.port}/control/drop`, { method: 'POST', headers: { authorization: `Bearer ${controlToken}` } })
      .then(async (response) => {
        const body = (await response.json()) as { sockets?: number };
        if (!response.ok) throw new Error(`POST /control/drop answered ${response.status}`);
        // Synchronous: no reconnect is accepted before every channel has its change.
        for (let i = 0; i < count; i++) changeOne(`${prefix}${i}`);
        return send({ type: 'dropped', at, changedAt: wallNow(), sockets: body.sockets ?? 0 });
      })
      .catch((error: unknown) => send({ type: 'error', message: `drop-and-change: ${(error as Error).message}` }));
  });

  await send({ type: 'listening', port: server.port, url: server.url });
  await next('finish');
  clearInterval(feedTimer);
  await server.close();
  process.exit(0);
}
