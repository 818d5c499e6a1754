import { describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/testing/sim.js';
import regressions from './regressions.json' with { type: 'json' };

/**
 * Seeds CI runs every time: odd ones speak version 1 (one client), even ones version 2 (channels,
 * two or three clients, about three to four times the work of a version 1 run). About 15 s on these machines (18 s of CPU under load).
 */
const CI_SEEDS = Number(process.env.SIM_SEEDS ?? 120);

/** What the channel runs did, in all: each must have happened. */
const PATHS = ['forbidden', 'permissionChanges', 'unsubscribes', 'tokenRefreshes', 'tokenExpiries', 'tokenTrouble', 'replays', 'presenceJoins', 'presenceLeaves', 'opsRefused'] as const;

async function failures(runs: Array<{ seed: number; protocol?: 1 | 2 }>, paths?: Record<string, number>) {
  const failed: string[] = [];
  for (const run of runs) {
    const result = await runSimulation(run);
    if (paths !== undefined && result.channels !== undefined) for (const path of PATHS) paths[path] = (paths[path] ?? 0) + result.channels[path];
    if (!result.ok) {
      failed.push(`seed ${result.seed} (version ${result.protocol}): ${result.failure}\n  replay: npm run sim -- --seed ${result.seed} --protocol ${result.protocol} --trace`);
    }
  }
  return failed;
}

describe('fault simulation', () => {
  it('replays every seed that ever failed', async () => {
    expect(await failures(regressions.runs.map(({ seed, protocol }) => ({ seed, protocol: protocol as 1 | 2 })))).toEqual([]);
  }, 60_000);

  it(`holds every invariant for seeds 1..${CI_SEEDS}, channel runs taking every path`, async () => {
    const paths: Record<string, number> = {};
    expect(await failures(Array.from({ length: CI_SEEDS }, (_, i) => ({ seed: i + 1 })), paths)).toEqual([]);
    // forbidden subscribes, token refreshes and 4419 closes, replays, presence joins and leaves, ...
    if (CI_SEEDS >= 20) for (const path of PATHS) expect(paths[path], path).toBeGreaterThan(0);
  }, 300_000);

  it('is deterministic: the same seed gives the same run', async () => {
    for (const protocol of [1, 2] as const) {
      const a = await runSimulation({ seed: 7, steps: 80, protocol });
      const b = await runSimulation({ seed: 7, steps: 80, protocol });
      expect(b).toEqual(a);
      expect(a.outages).toBeGreaterThan(0);
    }
  });
});
