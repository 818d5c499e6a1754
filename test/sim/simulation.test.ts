import { describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/testing/sim.js';
import regressions from './regressions.json' with { type: 'json' };

/** Seeds CI runs every time: about half a minute on these machines. */
const CI_SEEDS = Number(process.env.SIM_SEEDS ?? 300);

function failures(seeds: number[]) {
  return seeds
    .map((seed) => runSimulation({ seed }))
    .filter((result) => !result.ok)
    .map((result) => `seed ${result.seed}: ${result.failure}\n  replay: npm run sim -- --seed ${result.seed} --trace`);
}

describe('fault simulation', () => {
  it('replays every seed that ever failed', () => {
    expect(failures(regressions.seeds)).toEqual([]);
  });

  it(`holds every invariant for seeds 1..${CI_SEEDS}`, () => {
    expect(failures(Array.from({ length: CI_SEEDS }, (_, i) => i + 1))).toEqual([]);
  }, 300_000);

  it('is deterministic: the same seed gives the same run', () => {
    const a = runSimulation({ seed: 7, steps: 80 });
    const b = runSimulation({ seed: 7, steps: 80 });
    expect(b).toEqual(a);
    expect(a.outages).toBeGreaterThan(0);
  });
});
