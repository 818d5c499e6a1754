/**
 * The parent side of the reference server child (bench/roles/sync-server.ts): starts it, asks
 * for its heap and event-loop delay, seeds and feeds its channels, drops its sockets.
 */
import { readFileSync } from 'node:fs';
import { openFilesSoftLimit } from '../../src/server/admission.js';
import type { SyncServerParams } from '../roles/sync-server.js';
import { bundle, forkRole, type Child } from './children.js';

export interface HeapReading {
  heapUsed: number;
  external: number;
  rss: number;
  stats: Record<string, number>;
}

export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  samples: number;
  /** CPU time of the server process over the window, as a share of one core. */
  cpuShare: number;
}

export class SyncServerChild {
  private constructor(
    readonly child: Child,
    readonly url: string,
  ) {}

  /**
   * Starts the reference server of this checkout, or with `modulePath` the one bundled there
   * (the engine-baseline scenario's server built from git history, bench/lib/baseline.ts).
   */
  static async start(name: string, options: SyncServerParams['options'], modulePath?: string, wrapper?: readonly string[]): Promise<SyncServerChild> {
    const entry = modulePath ?? (await bundle('scripts/bench-client.ts'));
    const child = forkRole(name, entry, 'sync-server', { options } satisfies SyncServerParams, { exposeGc: true, ...(wrapper === undefined ? {} : { wrapper }) });
    const listening = await child.next('listening', wrapper === undefined ? 15_000 : 300_000);
    return new SyncServerChild(child, String(listening.url));
  }

  async heap(): Promise<HeapReading> {
    this.child.send({ type: 'heap' });
    return (await this.child.next('heap', 30_000)) as unknown as HeapReading;
  }

  async stats(): Promise<Record<string, number>> {
    this.child.send({ type: 'stats' });
    return (await this.child.next('stats', 10_000)).stats as Record<string, number>;
  }

  async loopDelay(windowMs: number): Promise<LoopDelay> {
    this.child.send({ type: 'eld', windowMs });
    return (await this.child.next('eld', windowMs + 30_000)) as unknown as LoopDelay;
  }

  /** Sets `keys` rows on each of `channels`. */
  async seed(channels: readonly string[], keys: number): Promise<void> {
    this.child.send({ type: 'seed', channels: [...channels], keys });
    await this.child.next('seeded', 60_000);
  }

  async feed(prefix: string, count: number, ratePerSec: number): Promise<void> {
    this.child.send({ type: 'feed', prefix, count, ratePerSec });
    await this.child.next('feeding', 10_000);
  }

  /** `total` changes round robin over `prefix0 … prefix{count-1}`, `perTick` a tick; resolves when all are made. */
  async feedCount(prefix: string, count: number, total: number, perTick: number, timeoutMs: number): Promise<void> {
    this.child.send({ type: 'feed-count', prefix, count, total, perTick });
    await this.child.next('fed', timeoutMs);
  }

  async stopFeed(): Promise<number> {
    this.child.send({ type: 'feed-stop' });
    return Number((await this.child.next('feed-stopped', 10_000)).changes);
  }

  /** `/control/drop`, then one change on each of `prefix0 … prefix{count-1}`. */
  async dropAndChange(prefix: string, count: number): Promise<{ at: number; changedAt: number; sockets: number }> {
    this.child.send({ type: 'drop-and-change', prefix, count });
    const dropped = await this.child.next('dropped', 30_000);
    return { at: Number(dropped.at), changedAt: Number(dropped.changedAt), sockets: Number(dropped.sockets) };
  }

  async stop(): Promise<void> {
    this.child.send({ type: 'finish' });
    await this.child.kill(5_000);
  }
}

/** This process's soft limit of open files (`ulimit -n`), which its children inherit; undefined when unknown. */
export function openFilesLimit(): number | undefined {
  try {
    return openFilesSoftLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}
