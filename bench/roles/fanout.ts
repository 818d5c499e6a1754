/**
 * Scenario 2, client side: `connections` connections from this one process
 * (run with --expose-gc). Heap and RSS are read after GC before the first
 * connection and again with every connection open and fed, and the event-loop
 * delay is sampled while the server broadcasts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, type BenchConnection, type Library } from '../adapters.js';
import { Counter } from '../lib/counter.js';
import { finish, next, send } from '../lib/ipc.js';
import { median } from '../lib/stats.js';
import { sleep, wallNow } from '../lib/time.js';
import { createCountingStore } from '../workload.js';

export interface FanoutParams {
  library: Library;
  url: string;
  connections: number;
  /** Connections opened at a time. */
  batch: number;
  openTimeoutMs: number;
}

async function collect(): Promise<NodeJS.MemoryUsage> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the fan-out client needs --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  return process.memoryUsage();
}

export async function fanoutRole(params: FanoutParams): Promise<never> {
  const { connections } = params;
  const baseline = await collect();
  const handles: BenchConnection[] = [];
  const received = new Uint32Array(connections);
  const ready = new Counter();
  const started = wallNow();
  for (let first = 0; first < connections; first += params.batch) {
    const last = Math.min(connections, first + params.batch);
    for (let i = first; i < last; i++) {
      const model = createCountingStore();
      model.onApplied = () => {
        const count = received[i]!;
        received[i] = count + 1;
        if (count === 0) ready.add();
      };
      handles.push(connect(params.library, { url: params.url, model, reconnect: 'default' }));
    }
    await ready.reach(last, params.openTimeoutMs, 'connections to open and apply their snapshot');
  }
  await send({ type: 'ready', connectSeconds: (wallNow() - started) / 1000 });

  const { windowMs, expected, catchUpMs } = (await next('measure')) as unknown as { windowMs: number; expected: number; catchUpMs: number };
  const before = Uint32Array.from(received);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  await sleep(windowMs);
  delay.disable();
  const inWindow = Array.from(received, (count, i) => count - before[i]!);
  // Let a client that fell behind catch up (bounded) so the heap holds what every connection holds.
  const caughtUp = wallNow() + catchUpMs;
  while (wallNow() < caughtUp && received.some((count, i) => count - before[i]! < expected)) await sleep(50);
  const total = Array.from(received, (count, i) => count - before[i]!);
  const memory = await collect();
  return finish({
    type: 'result',
    connections,
    heapPerConnection: (memory.heapUsed - baseline.heapUsed) / connections,
    rssPerConnection: (memory.rss - baseline.rss) / connections,
    externalPerConnection: (memory.external - baseline.external) / connections,
    eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
    eventLoopDelayMaxMs: delay.max / 1e6,
    receivedInWindowMedian: median(inWindow),
    receivedMin: Math.min(...total),
    expected,
    open: handles.length,
  });
}
