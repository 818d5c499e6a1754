/**
 * Scenario 5: render coalescing under a flood. `updates` patches go through
 * the full client path (fake socket → socket actor → machine → sync protocol →
 * model.update → renderView) over `durationMs` of wall time, with a real
 * render scheduler on real timers:
 *
 * - `frame`: `frameScheduler()`, what a connection uses in Node (a 1000/60 ms frame);
 * - `animation-frame`: `animationFrameScheduler()` on a browser-like
 *   `requestAnimationFrame` (callbacks on a 60 Hz vsync grid).
 *
 * Reports the render rate (from the median gap between renders), the renders
 * in the busiest 1-second window, the shortest gap between two renders, and
 * whether the final render shows exactly the final data.
 */
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { createConnectionFactory } from '../../src/connection.js';
import { animationFrameScheduler, frameScheduler } from '../../src/scheduler.js';
import type { StoreData } from '../../src/store.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import { createFakeSockets } from '../../src/testing/fake-websocket.js';
import { finish } from '../lib/ipc.js';
import { maxInWindow, median } from '../lib/stats.js';
import { sleep, wallNow } from '../lib/time.js';
import { BLAST_EPOCH, expectedRows, patchText, snapshotText } from '../wire.js';
import { createCountingStore, createRowsView } from '../workload.js';

export interface RenderParams {
  scheduler: 'frame' | 'animation-frame';
  updates: number;
  durationMs: number;
}

const VSYNC_MS = 1000 / 60;
/**
 * Updates delivered per turn of the event loop at most, as a socket hands over
 * one read's worth of frames at a time (a browser, one message per task):
 * timers, and so renders, get their turn between slices even when the client
 * cannot keep up with the flood.
 */
const MAX_PER_TURN = 100;

/**
 * A browser-like requestAnimationFrame: callbacks run on a 60 Hz vsync grid,
 * never two within half an interval (a frame that ran late, behind a long
 * task, does not get a second one at the very next vsync).
 */
function installAnimationFrame(): void {
  const origin = performance.now();
  let lastFrameAt = -Infinity;
  const g = globalThis as unknown as {
    requestAnimationFrame: (cb: (t: number) => void) => NodeJS.Timeout;
    cancelAnimationFrame: (id: NodeJS.Timeout) => void;
  };
  g.requestAnimationFrame = (callback) => {
    const now = performance.now();
    const earliest = Math.max(now, lastFrameAt + VSYNC_MS / 2);
    const nextVsync = origin + Math.ceil((earliest - origin) / VSYNC_MS) * VSYNC_MS;
    return setTimeout(() => {
      lastFrameAt = performance.now();
      callback(lastFrameAt);
    }, nextVsync - now);
  };
  g.cancelAnimationFrame = (id) => clearTimeout(id);
}

export async function renderRole(params: RenderParams): Promise<never> {
  if (params.scheduler === 'animation-frame') installAnimationFrame();
  const schedule = params.scheduler === 'animation-frame' ? animationFrameScheduler() : frameScheduler();
  const sockets = createFakeSockets();
  const createConnection = createConnectionFactory(() => sockets.WebSocket);
  const model = createCountingStore();
  const view = createRowsView({ keepTimes: true });
  const connection = createConnection({
    url: 'ws://bench.invalid/',
    protocol: createSyncProtocol(),
    model,
    view,
    schedule,
  });
  const socket = sockets.latest;
  socket.open();
  socket.receive(snapshotText(BLAST_EPOCH, 0, {}));
  const frames = Array.from({ length: params.updates }, (_, i) => patchText(BLAST_EPOCH, i + 1));
  await sleep(50);
  const rendersBefore = view.renders;

  const start = wallNow();
  let delivered = 0;
  let lastDeliveredAt = start;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(params.updates, delivered + MAX_PER_TURN, Math.ceil((params.updates * (wallNow() - start)) / params.durationMs));
      while (delivered < due) socket.receive(frames[delivered++]!);
      lastDeliveredAt = wallNow();
      if (delivered >= params.updates) resolve();
      else setImmediate(tick);
    };
    tick();
  });
  const floodMs = lastDeliveredAt - start;
  await sleep(100);

  const times = view.renderTimes.filter((t) => t >= start);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  const status = connection.getStatus();
  const correct =
    isDeepStrictEqual({ ...model.getData() }, expectedRows(params.updates)) &&
    view.lastData === model.getData() &&
    (times.at(-1) ?? 0) >= lastDeliveredAt &&
    status.counters.rejected === 0;
  connection.stop();
  return finish({
    type: 'result',
    updates: params.updates,
    floodMs,
    updatesPerSec: params.updates / (floodMs / 1000),
    renders: view.renders - rendersBefore,
    // The steady rate, from the median gap between renders: a 60 Hz source reads 60, a late or early straggler does not count.
    rendersPerSec: gaps.length === 0 ? NaN : 1000 / median(gaps),
    maxRendersInAnySecond: maxInWindow(times, 1000),
    shortestGapMs: gaps.length === 0 ? NaN : Math.min(...gaps),
    correct,
  });
}
