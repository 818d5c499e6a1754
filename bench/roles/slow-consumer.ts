/**
 * Scenario 7, server side: the reference server (`startSyncServer`, the real one,
 * not the bench server) with its live feed, in a process of its own started
 * with --expose-gc so its heap can be measured after GC. The parent connects
 * non-reading sockets and says `watch`; this role samples the heap and the
 * server's counters until the server has closed them all (or the wait ends).
 */
import { startSyncServer } from '../../src/server/start.js';
import { finish, next, send } from '../lib/ipc.js';
import { sleep, wallNow } from '../lib/time.js';

export interface SlowConsumerParams {
  feedRatePerSec: number;
  maxBufferedBytes: number;
  waitMs: number;
}

/** Stats are read this often while watching; the heap (after a GC) every `HEAP_EVERY` reads. */
const SAMPLE_MS = 20;
const HEAP_EVERY = 5;

function heapAfterGc(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the slow-consumer role needs node --expose-gc');
  gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed + usage.external + usage.arrayBuffers, rss: usage.rss };
}

export async function slowConsumerRole(params: SlowConsumerParams): Promise<never> {
  const server = await startSyncServer({ host: '127.0.0.1', port: 0, feedRatePerSec: params.feedRatePerSec, maxBufferedBytes: params.maxBufferedBytes });
  await sleep(300); // the feed's first ticks: the document and the log reach their working size
  const base = heapAfterGc();
  await send({ type: 'listening', port: server.port });

  const watch = await next('watch');
  const count = Number(watch.count);
  const since = Number(watch.since);
  const deadline = wallNow() + params.waitMs;
  let peak = base;
  let firstClosedAt: number | null = null;
  let allClosedAt: number | null = null;
  for (let i = 0; wallNow() < deadline; i++) {
    const stats = server.stats();
    if (firstClosedAt === null && stats.slowConsumers > 0) firstClosedAt = wallNow();
    if (stats.slowConsumers >= count && stats.open === 0) {
      allClosedAt = wallNow();
      break;
    }
    if (i % HEAP_EVERY === 0) {
      const now = heapAfterGc();
      if (now.heap > peak.heap) peak = { heap: now.heap, rss: Math.max(peak.rss, now.rss) };
      else peak = { heap: peak.heap, rss: Math.max(peak.rss, now.rss) };
    }
    await sleep(SAMPLE_MS);
  }
  const after = heapAfterGc();
  const stats = server.stats();
  await server.close();
  return finish({
    type: 'result',
    base,
    peak,
    after,
    firstCloseMs: firstClosedAt === null ? null : firstClosedAt - since,
    allClosedMs: allClosedAt === null ? null : allClosedAt - since,
    slowConsumers: stats.slowConsumers,
    open: stats.open,
    feedChanges: stats.feedChanges,
  });
}
