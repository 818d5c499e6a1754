import { describe, expect, it } from 'vitest';
import type { AppendResult, ChannelListener, Engine } from '../../src/server/engine.js';
import { memoryEngine } from '../../src/server/engines/memory.js';
import { runSimulation, type SimEngineOptions } from '../../src/testing/sim.js';

/**
 * Runs with several server instances sharing one engine (docs/simulation.md, "Several
 * instances"). About 3 s on a quiet machine for the default count (35 s for 12 seeds under heavy load) (`SIM_INSTANCE_SEEDS`).
 */
const SEEDS = Number(process.env.SIM_INSTANCE_SEEDS ?? 16);

/** A memory engine that does not know a duplicate: an op sent again is applied again. */
function forgetfulEngine(options: SimEngineOptions): Engine {
  const inner = memoryEngine(options);
  return {
    ...inner,
    append(channel, changes, op) {
      const result = inner.append(channel, changes, op) as AppendResult; // the memory engine answers at once
      if (result.status !== 'duplicate' || op?.mark === undefined) return result;
      // the bug: the resend is applied as if new (its entry goes out, the op counts as applied)
      return inner.append(channel, changes);
    },
  };
}

/** A memory engine that tells followers every fifth batch of entries after the next one. */
function reorderingEngine(options: SimEngineOptions): Engine {
  const inner = memoryEngine(options);
  return {
    ...inner,
    follow(channel, listener) {
      let calls = 0;
      let held: (() => void) | null = null;
      const swapping: ChannelListener = {
        entries(epoch, entries) {
          const now = () => listener.entries(epoch, entries);
          if (held === null && ++calls % 5 === 0) {
            held = now;
            return;
          }
          now();
          const late = held;
          held = null;
          late?.();
        },
        reset: (state) => listener.reset(state),
        presence: (change) => listener.presence(change),
      };
      return inner.follow(channel, swapping);
    },
  };
}

/** The first of `seeds` that fails, with its failure. */
async function firstFailure(seeds: number, options: { instances: number; engine: (options: SimEngineOptions) => Engine }) {
  for (let seed = 1; seed <= seeds; seed++) {
    const result = await runSimulation({ seed, steps: 120, ...options });
    if (!result.ok) return result.failure ?? '';
  }
  return null;
}

describe('several server instances', () => {
  it(`holds every invariant across instances for seeds 1..${SEEDS} (2 and 3 instances), crashes and engine outages included`, async () => {
    const failed: string[] = [];
    const tally = { crashes: 0, unansweredAtCrash: 0, engineOutages: 0, moves: 0, opsAcked: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const instances = 2 + (seed % 2);
      const result = await runSimulation({ seed, instances });
      expect(result.protocol).toBe(2);
      expect(result.instances?.instances).toBe(instances);
      for (const key of ['crashes', 'unansweredAtCrash', 'engineOutages', 'moves'] as const) tally[key] += result.instances?.[key] ?? 0;
      tally.opsAcked += result.channels?.opsAcked ?? 0;
      if (!result.ok) failed.push(`seed ${seed} (${instances} instances): ${result.failure}\n  replay: npm run sim -- --seed ${seed} --instances ${instances} --trace`);
    }
    expect(failed).toEqual([]);
    // each path taken: crashes with requests in flight, outages of the store, clients moving between instances
    if (SEEDS >= 8) for (const [key, count] of Object.entries(tally)) expect(count, key).toBeGreaterThan(0);
  }, 120_000);

  it('is deterministic: the same seed gives the same trace', async () => {
    const run = async () => {
      const lines: string[] = [];
      const result = await runSimulation({ seed: 11, steps: 80, instances: 3, trace: (line) => lines.push(line) });
      return { result, lines };
    };
    const a = await run();
    const b = await run();
    expect(a.lines.some((line) => line.includes('reaches instance 2'))).toBe(true);
    expect(b.lines).toEqual(a.lines);
    expect(b.result).toEqual(a.result);
  });

  it('catches an engine that applies an op sent again', async () => {
    expect(await firstFailure(10, { instances: 2, engine: forgetfulEngine })).toMatch(/applied 2 times/);
  }, 60_000);

  it('catches an engine that tells followers entries out of order', async () => {
    expect(await firstFailure(5, { instances: 2, engine: reorderingEngine })).toMatch(/engine: .* (was told|appended) seq \d+ after \d+/);
  }, 60_000);

  it('refuses instances it cannot run', async () => {
    await expect(runSimulation({ seed: 1, instances: 0 })).rejects.toThrow(RangeError);
    await expect(runSimulation({ seed: 1, instances: 2.5 })).rejects.toThrow(/instances must be a whole number from 1 to 8; received 2.5/);
    await expect(runSimulation({ seed: 1, instances: 2, protocol: 1 })).rejects.toThrow(/needs protocol 2/);
    await expect(runSimulation({ seed: 1, engine: memoryEngine })).rejects.toThrow(TypeError);
  });
});
