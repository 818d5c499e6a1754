/**
 * `npm run sim -- --seeds 5000 [--from N] [--seed N] [--steps M] [--trace]`
 *
 * Runs seeded fault simulations (src/testing/sim.ts). Reports throughput in
 * simulated outages per second of wall time, and every failing seed with a
 * one-line replay command. `--seed N --trace` prints one run step by step.
 * Exits 1 when a seed fails, 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import { runSimulation } from '../src/testing/sim.js';

const USAGE = 'usage: npm run sim -- [--seeds N] [--from N] [--seed N] [--steps M] [--trace]';

function readFlags() {
  try {
    const { values } = parseArgs({
      options: {
        seeds: { type: 'string', default: '200' },
        from: { type: 'string', default: '1' },
        seed: { type: 'string' },
        steps: { type: 'string', default: '200' },
        trace: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const whole = (name: string, text: string | undefined, min: number) => {
      const value = Number(text);
      if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number >= ${min}; received ${JSON.stringify(text)}`);
      return value;
    };
    return {
      seeds: whole('seeds', values.seeds, 1),
      from: whole('from', values.from, 0),
      seed: values.seed === undefined ? undefined : whole('seed', values.seed, 0),
      steps: whole('steps', values.steps, 1),
      trace: values.trace ?? false,
    };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const flags = readFlags();
const seeds = flags.seed !== undefined ? [flags.seed] : Array.from({ length: flags.seeds }, (_, i) => flags.from + i);
const started = performance.now();
let outages = 0;
let simulatedMs = 0;
const failures: Array<{ seed: number; failure: string; tail: string[] }> = [];

for (const seed of seeds) {
  const result = runSimulation({
    seed,
    steps: flags.steps,
    ...(flags.trace ? { trace: (line: string) => console.log(line) } : {}),
  });
  outages += result.outages;
  simulatedMs += result.simulatedMs;
  if (!result.ok) failures.push({ seed, failure: result.failure ?? 'failed', tail: result.tail });
}

const seconds = (performance.now() - started) / 1000;
for (const { seed, failure, tail } of failures) {
  console.log(`\nFAIL seed ${seed}: ${failure}`);
  if (!flags.trace) console.log(tail.slice(-15).map((line) => `    ${line}`).join('\n'));
  console.log(`  replay: npm run sim -- --seed ${seed} --steps ${flags.steps} --trace`);
}
console.log(
  `\n${seeds.length} seed(s), ${failures.length} failed · ${outages} outages in ${seconds.toFixed(2)} s wall ` +
    `(${Math.round(outages / seconds)} outages/s, ${(simulatedMs / 3_600_000).toFixed(1)} simulated hours)`,
);
process.exitCode = failures.length > 0 ? 1 : 0;
